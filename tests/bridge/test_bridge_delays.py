"""Brian2 export of networks with learnable synaptic delays and spiking convolutions: the
exported network (Synapses.delay, the convolution's shared weights expanded) reproduces
torch's spikes spike for spike (float64, Brian2's numpy target); files keep the delays."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs torch: pip install 'neurolearn[torch]'")

from neurolearn.bridge import load_network, save_network, spike_agreement, to_brian2
from neurolearn.torch import LeakyReadout, SpikingConv1d, SpikingLayer, SpikingNetwork

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]


def _check_identical(net, x, min_spikes=10):
    with torch.no_grad():
        readout = net(x).numpy()
    export = to_brian2(net, x, backend="numpy")
    for k, layer in enumerate(net.layers):
        spikes = net.spikes[k].numpy()
        agreement = spike_agreement(spikes, export.spikes[k])
        assert agreement["n_a"] >= min_spikes, (layer.name, agreement)
        assert agreement["n_a"] < 0.5 * spikes.size, (layer.name, "saturated")
        assert agreement["identical"], (layer.name, agreement)
    assert np.allclose(export.readout, readout, rtol=1e-9, atol=1e-12 * np.abs(readout).max())
    return export


@pytest.mark.parametrize(
    "model,mode,recurrent",
    [
        ("lif", "per_synapse", "none"),  # feed-forward, two hidden layers
        ("lif", "per_synapse", "per_synapse"),  # recurrent
        ("lif_cond", "per_presynaptic", "per_presynaptic"),
        ("alif", "per_connection", "per_synapse"),
    ],
)
def test_delayed_network_identical_in_brian2(model, mode, recurrent):
    g = torch.Generator().manual_seed(11)
    net = SpikingNetwork.build(
        10,
        [12, 8] if recurrent == "none" else [12],
        3,
        model=model,
        dt="0.5 ms",
        recurrent=recurrent != "none",
        heterogeneity="het_init_het_train",
        generator=g,
        dtype=torch.float64,
        weight_gain=3.0,
        delays=mode,
        recurrent_delays=recurrent,
        max_delay="4 ms",
    )
    # trained a little with smoothed delays first, then rounded as at the end of training
    x = (torch.rand(100, 2, 10, generator=g) < 0.1).double()
    net(x).sum().backward()
    with torch.no_grad():
        for p in net.delay_parameters():
            p -= 0.5 * p.grad.sign()
    net.project_parameters_()
    with pytest.raises(ValueError, match="round them"):
        to_brian2(net, x, run=False)
    net.round_delays_()
    delays = np.concatenate([d.rounded_numpy().ravel() for d in net.layers[0].delay_modules()])
    assert len(np.unique(delays)) > 1 or mode == recurrent == "per_connection"
    export = _check_identical(net, x)
    syn = export.synapses["syn_in_0_" + net.layers[0].targets[0]]
    assert np.all(np.asarray(syn.delay[:]) >= 0) and float(np.max(syn.delay[:])) > 0


def test_convolutional_network_identical_in_brian2_and_saved(tmp_path):
    g = torch.Generator().manual_seed(12)
    kw = dict(dt="0.5 ms", generator=g, dtype=torch.float64)
    conv = SpikingConv1d(
        "lif",
        10,
        3,
        4,
        stride=2,
        time_kernel=3,
        time_dilation=2,
        name="conv",
        weight_gain=2.0,
        **kw,
    )
    hidden = SpikingLayer(
        "lif",
        conv.n,
        8,
        recurrent=True,
        delays="per_synapse",
        recurrent_delays="per_presynaptic",
        max_delay="2 ms",
        weight_gain=3.0,
        name="hidden",
        **kw,
    )
    hidden.round_delays_()
    net = SpikingNetwork([conv, hidden], LeakyReadout(8, 3, **kw))
    x = (torch.rand(100, 2, 10, generator=g) < 0.15).double()
    export = _check_identical(net, x)
    # the shared weights are expanded: 3 maps x 4 positions x 4 channels x 3 taps per copy
    syn = export.synapses["syn_in_0_I_syn"]
    assert len(syn) == 2 * 3 * 4 * 4 * 3
    assert sorted(np.unique(np.round(np.asarray(syn.delay[:]) / 0.5e-3))) == [0, 2, 4]
    path = save_network(net, tmp_path / "conv.h5")
    loaded = load_network(path)
    assert isinstance(loaded.layers[0], SpikingConv1d)
    assert torch.equal(loaded.layers[1].delay_in.delay, hidden.delay_in.delay)
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))


def test_saved_network_keeps_smoothed_delays(tmp_path):
    g = torch.Generator().manual_seed(13)
    net = SpikingNetwork.build(
        6,
        [7],
        2,
        dt="1 ms",
        generator=g,
        dtype=torch.float64,
        delays="per_synapse",
        recurrent_delays="per_connection",
        max_delay="5 ms",
        weight_gain=3.0,
    )
    net.set_delay_sigma(1.3)
    x = (torch.rand(40, 2, 6, generator=g) < 0.2).double()
    loaded = load_network(save_network(net, tmp_path / "d.h5"))
    for a, b in zip(net.delay_parameters(), loaded.delay_parameters()):
        assert torch.equal(a, b)
    assert float(loaded.readout.delay_in.sigma) == 1.3
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))

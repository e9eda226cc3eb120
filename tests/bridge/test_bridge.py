"""The torch bridge against Brian2: spike-for-spike identity of random recurrent networks of
every supported zoo model (float64, Brian2's numpy target), save/load, reverse loading."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs torch: pip install 'neurolearn[torch]'")

from neurolearn.bridge import from_brian2, load_network, save_network, spike_agreement, to_brian2
from neurolearn.torch import SpikingNetwork

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]

MODELS = ["lif", "lif_cond", "lif_adaptive_threshold", "alif", "adex", "izhikevich", "srm0"]
# input drive per model so that the hidden layer fires sparsely but clearly
GAIN = {
    "lif": 3.0,
    "lif_cond": 3.0,
    "lif_adaptive_threshold": 3.0,
    "alif": 3.0,
    "adex": 1.0,
    "izhikevich": 0.5,
    "srm0": 1.0,
}


def _network(model, seed=0, n=20, channels=12, hidden_dt="0.1 ms"):
    g = torch.Generator().manual_seed(seed)
    net = SpikingNetwork.build(
        channels,
        [n],
        3,
        model=model,
        dt=hidden_dt,
        heterogeneity="het_init_het_train",
        generator=g,
        dtype=torch.float64,
        weight_gain=GAIN[model],
    )
    x = (torch.rand(150, 2, channels, generator=g) < 0.08).double()
    return net, x


@pytest.mark.parametrize("model", MODELS)
def test_spike_for_spike_identity_with_brian2_numpy(model):
    net, x = _network(model)
    # heterogeneous time constants really are heterogeneous
    taus = [net.layers[0].parameter_si(p) for p in net.layers[0].trainable]
    assert taus and all(np.std(t) / np.mean(t) > 0.2 for t in taus)
    with torch.no_grad():
        readout = net(x).numpy()
    spikes = net.spikes[0].numpy()
    export = to_brian2(net, x, backend="numpy")
    agreement = spike_agreement(spikes, export.spikes[0])
    assert agreement["n_a"] > 20, "too few spikes for a meaningful comparison"
    assert agreement["n_a"] < 0.5 * spikes.size, "saturated network"
    assert agreement["identical"], agreement
    # the readout traces agree to rounding
    assert np.allclose(export.readout, readout, rtol=1e-9, atol=1e-12 * np.abs(readout).max())
    # the batch copies are independent: different inputs give different spikes
    assert not np.array_equal(spikes[:, 0], spikes[:, 1])


def test_save_load_export_identical(tmp_path):
    net, x = _network("alif", seed=3)
    with torch.no_grad():
        ref = net(x)
    ref_spikes = net.spikes[0].clone()
    net.layers[0].clamp_counts["tau_m"] = 7
    path = save_network(net, tmp_path / "net.h5")
    loaded = load_network(path)
    assert loaded.layers[0].clamp_counts["tau_m"] == 7
    for name in net.layers[0].param_units:
        assert np.array_equal(
            net.layers[0].parameter_si(name), loaded.layers[0].parameter_si(name)
        ), name
    with torch.no_grad():
        out = loaded(x)
    assert torch.equal(out, ref)
    assert torch.equal(loaded.spikes[0], ref_spikes)
    export = to_brian2(loaded, x)
    assert np.array_equal(export.spikes[0], ref_spikes.numpy().astype(np.uint8))

    # reverse direction: change parameters in Brian2, load them into a fresh torch network
    export.groups["hidden0"].tau_m_[:20] = np.linspace(5, 40, 20) * 1e-3
    w = np.asarray(export.synapses["syn_in_0_I_syn"].w_[:])
    export.synapses["syn_in_0_I_syn"].w_[:] = 2 * w
    fresh = load_network(path)
    from_brian2(fresh, export)
    assert np.allclose(fresh.layers[0].parameter_si("tau_m"), np.linspace(5, 40, 20) * 1e-3)
    assert torch.allclose(fresh.layers[0].W_in, 2 * net.layers[0].W_in)
    assert torch.allclose(fresh.layers[0].W_rec, net.layers[0].W_rec, rtol=1e-14, atol=0)


def test_load_rejects_other_files(tmp_path):
    import h5py

    from neurolearn.spec import ModelError

    bad = tmp_path / "other.h5"
    with h5py.File(bad, "w") as f:
        f.attrs["format"] = "something else"
    with pytest.raises(ModelError, match="not a neurolearn network file"):
        load_network(bad)


def test_export_rejects_non_spike_input():
    net, x = _network("lif")
    with pytest.raises(ValueError, match=r"\[time, batch, channels\]"):
        to_brian2(net, x[:, :, :5])
    with pytest.raises(ValueError, match="spikes"):
        to_brian2(net, x * 0.5)


def _feedforward(model, heterogeneity, seed=5, weight_gain=1.0):
    """A feed-forward network 12 -> 16 -> 10 -> 3 (dt 0.1 ms, float64) and the generator
    that drew it (for the inputs)."""
    g = torch.Generator().manual_seed(seed)
    net = SpikingNetwork.build(
        12,
        [16, 10],
        3,
        model=model,
        dt="0.1 ms",
        recurrent=False,
        heterogeneity=heterogeneity,
        generator=g,
        dtype=torch.float64,
        weight_gain=weight_gain,
    )
    return net, g


def _assert_same_spikes_per_layer(net, export, min_spikes=10):
    for k in range(len(net.layers)):
        agreement = spike_agreement(net.spikes[k].numpy(), export.spikes[k])
        assert agreement["n_a"] > min_spikes, (k, agreement)
        assert agreement["identical"], (k, agreement)


def test_two_layer_feedforward_identity():
    """Layer 2 receives layer 1's step-n spikes in the same step's synaptic slot, in both
    engines."""
    net, g = _feedforward("lif_cond", "het_init_std_train", weight_gain=4.0)
    x = (torch.rand(150, 2, 12, generator=g) < 0.1).double()
    with torch.no_grad():
        readout = net(x).numpy()
    export = to_brian2(net, x)
    _assert_same_spikes_per_layer(net, export)
    assert np.allclose(export.readout, readout, rtol=1e-9, atol=1e-12 * np.abs(readout).max())


def test_layers_that_share_a_name_are_exported_each_to_its_own_group():
    """Layers made without ``name=`` are named after their model: two ``lif`` layers used to
    share one entry of the export's groups and monitors, so layer 0's spikes were read from
    layer 1's monitor and from_brian2 loaded one group into both layers."""
    net, g = _feedforward("lif", "het_init_het_train", weight_gain=12.0)
    for layer in net.layers:
        layer.name = "lif"
    assert net.layer_names() == ["lif", "lif_1", net.readout.name]
    x = (torch.rand(300, 2, 12, generator=g) < 0.1).double()  # 165 and 25 spikes
    with torch.no_grad():
        net(x)
    export = to_brian2(net, x)
    assert sorted(export.groups) == sorted(net.layer_names())
    assert len(export.groups["lif"]) == 2 * 16 and len(export.groups["lif_1"]) == 2 * 10
    _assert_same_spikes_per_layer(net, export)
    # back into a network of the same shape: each layer gets its own group's time constants
    other, _ = _feedforward("lif", "het_init_het_train", seed=9)
    for layer in other.layers:
        layer.name = "lif"
    from_brian2(other, export)
    for a, b in zip(net.layers, other.layers, strict=True):
        np.testing.assert_allclose(b.parameter_si("tau_m"), a.parameter_si("tau_m"), rtol=1e-12)

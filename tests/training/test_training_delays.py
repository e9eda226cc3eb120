"""Learnable synaptic delays and spiking convolutions in training configurations:
``[network] delays``, ``recurrent_delays``, ``max_delay_ms``, ``conv_*``, ``[optimizer]
lr_delay_steps``; the delay schedule of train_network (kernels narrowing over the epochs,
rounded at the end)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_training import ns as _tiny

from neurolearn.torch import SpikingConv1d, SpikingNetwork
from neurolearn.training import ConfigError, build_network, config_from_dict, train_network
from neurolearn.training.recipe import training_options

TemporalSet = _tiny["TemporalSet"]

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BASE = {"data": {"dataset": "fsdd", "dt_ms": 1.0}, "network": {"hidden": [12]}}


def _cfg(network=None, optimizer=None):
    data = {k: dict(v) for k, v in BASE.items()}
    data["network"].update(network or {})
    if optimizer:
        data["optimizer"] = optimizer
    return config_from_dict(data)


def test_default_keys_build_the_network_without_delays():
    net = build_network(_cfg(), 6, 3)
    assert net.delay_modules() == [] and not any(lay.convolutional for lay in net.layers)
    ref = build_network(_cfg({"delays": "none", "max_delay_ms": 30.0}), 6, 3)
    for (k, a), (_, b) in zip(net.state_dict().items(), ref.state_dict().items()):
        assert torch.equal(a, b), k


def test_config_builds_delays_and_convolution():
    cfg = _cfg(
        {
            "delays": "per_synapse",
            "recurrent_delays": "per_presynaptic",
            "max_delay_ms": 7.4,
            "conv_channels": 2,
            "conv_kernel": 3,
            "conv_stride": 1,
            "conv_time_kernel": 3,
            "conv_time_dilation": 2,
        },
        {"lr_delay_steps": 0.5},
    )
    net = build_network(cfg, 6, 3)
    conv, hidden = net.layers
    assert isinstance(conv, SpikingConv1d) and conv.n == 2 * 4 and conv.input_history == 4
    assert hidden.n_in == 8 and hidden.delay_in.mode == "per_synapse"
    assert hidden.delay_in.max_steps == 7 and hidden.delay_rec.mode == "per_presynaptic"
    assert hidden.delay_rec.bounds == (1.0, 7.0)
    assert net.readout.delay_in is not None and net.readout.delay_rec is None
    opts = training_options(cfg, net)
    assert opts["lr_delay"] == 0.5  # 0.5 steps of 1 ms


@pytest.mark.parametrize(
    "network,needles",
    [
        ({"delays": "per_axon"}, ["[network] delays", "per_synapse"]),
        ({"recurrent": False, "recurrent_delays": "per_synapse"}, ["recurrent_delays"]),
        ({"delays": "per_connection", "max_delay_ms": 0.2}, ["max_delay_ms", "half a time"]),
        ({"conv_time_kernel": 0}, ["conv_time_kernel"]),
    ],
)
def test_bad_delay_keys_name_the_key(network, needles):
    with pytest.raises(ConfigError) as err:
        _cfg(network)
    for needle in needles:
        assert needle in str(err.value)


def test_train_network_narrows_and_rounds_the_delays(tmp_path):
    g = torch.Generator().manual_seed(0)
    net = SpikingNetwork.build(
        6,
        [16],
        3,
        model="lif",
        dt="1 ms",
        recurrent=True,
        generator=g,
        delays="per_presynaptic",
        recurrent_delays="per_connection",
        max_delay="6 ms",
    )
    sigmas = []

    def after_batch(epoch, batch):
        if batch == 0:
            sigmas.append(float(net.delay_modules()[0].sigma))

    before = [p.detach().clone() for p in net.delay_parameters()]
    result = train_network(
        net,
        TemporalSet(64, 1),
        TemporalSet(16, 2),
        tmp_path / "run",
        epochs=4,
        batch_size=16,
        seed=0,
        lr_weights=1e-2,
        lr_delay=0.5,
        progress=False,
        after_batch=after_batch,
    )
    assert sigmas[0] == 2.0 and sigmas[1] < sigmas[0] and sigmas[2] == pytest.approx(0.23)
    assert all(np.isfinite(row["lr_delay"]) for row in result.metrics)
    for d, b in zip(net.delay_modules(), before):
        assert float(d.sigma) == 0.0
        ms = d.delay.detach().numpy()
        assert np.array_equal(ms, np.round(ms))  # whole steps of 1 ms
        assert not torch.equal(d.delay.detach(), b)  # trained
    with pytest.raises(ValueError, match="lr_delay"):
        train_network(
            net,
            TemporalSet(16, 1),
            TemporalSet(16, 2),
            tmp_path / "run2",
            epochs=1,
            batch_size=16,
            seed=0,
            progress=False,
        )

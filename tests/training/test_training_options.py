"""Training options beyond the loop itself: the device (``training.device``), training-time
augmentation (``input_dropout``, ``time_shift_ms``, ``channel_shift``, ``blend``), hidden-spike
dropout (``network.dropout``) and the readout time constants.

The CPU tests check the configuration, the refusal of an unavailable GPU, the exact effect
of every augmentation, that a disabled option leaves the run bit for bit as it was, that the
options change training but not evaluation or the Brian2 export, and resumption; the test
marked ``gpu`` (run with ``-m gpu`` on a machine with CUDA) trains the same small spiking
network on the CPU and on the GPU and resumes a GPU run on the CPU.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs torch: pip install 'neurolearn[torch]'")

from test_training import ns as _tiny

from neurolearn.torch import SpikingNetwork
from neurolearn.training import (
    ConfigError,
    config_from_dict,
    load_config,
    read_metrics,
    resolve_device,
    train_from_config,
    train_network,
)

TemporalSet = _tiny["TemporalSet"]


pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]


def _net(seed=0, **kwargs):
    g = torch.Generator().manual_seed(seed)
    return SpikingNetwork.build(
        6,
        [16],
        3,
        model="lif",
        dt="1 ms",
        recurrent=True,
        heterogeneity="hom_init_het_train",
        generator=g,
        **kwargs,
    )


def _fit(net, out, epochs=2, device=None, resume=False, **kwargs):
    return train_network(
        net,
        TemporalSet(64, 1),
        TemporalSet(16, 2),
        out,
        epochs=epochs,
        batch_size=16,
        seed=0,
        lr_weights=1e-2,
        lr_tau=0.1,
        tau_parameters=net.time_constant_parameters(),
        progress=False,
        device=device,
        resume=resume,
        **kwargs,
    )


# --- training.device ------------------------------------------------------------------------
def test_device_default_is_cpu_and_bad_values_name_the_key(tmp_path):
    cfg = config_from_dict({"data": {"dataset": "fsdd"}})
    assert cfg["training"]["device"] == "cpu"
    assert str(resolve_device(cfg)) == "cpu"
    for bad in ("gpu", "cuda:x", "CUDA"):
        path = tmp_path / "cfg.toml"
        path.write_text(f"[data]\ndataset = 'fsdd'\n[training]\ndevice = '{bad}'\n")
        with pytest.raises(ConfigError, match=r"\[training\] device") as info:
            load_config(path)
        assert str(path) in str(info.value) and bad in str(info.value)


def test_cuda_without_gpu_is_a_config_error_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    path = tmp_path / "cfg.toml"
    path.write_text("[data]\ndataset = 'fsdd'\n[training]\ndevice = 'cuda:1'\n")
    cfg = load_config(path)  # readable anywhere: a GPU run's folder can be evaluated on a CPU
    with pytest.raises(
        ConfigError,
        match=r"\[training\] device: 'cuda:1' asked for, but torch "
        r"finds no CUDA device",
    ):
        train_from_config(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "config.toml").exists()


def test_checkpoints_hold_cpu_tensors_and_explicit_cpu_changes_nothing(tmp_path):
    a = _fit(_net(), tmp_path / "a")
    _fit(_net(), tmp_path / "b", device="cpu")
    assert read_metrics(tmp_path / "a" / "metrics.csv") == read_metrics(
        tmp_path / "b" / "metrics.csv"
    )
    state = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert all(v.device.type == "cpu" for v in state["model"].values())
    assert a.metrics[-1]["train_loss"] < a.metrics[0]["train_loss"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_gpu_training_matches_cpu_and_resumes_on_cpu(tmp_path):
    cpu = _fit(_net(), tmp_path / "cpu", epochs=2)
    gpu = _fit(_net(), tmp_path / "gpu", epochs=2, device="cuda")
    assert next(gpu.model.parameters()).device.type == "cuda"
    for r, s in zip(cpu.metrics, gpu.metrics):
        # float32 on two devices: the same trajectory up to rounding
        assert s["train_loss"] == pytest.approx(r["train_loss"], rel=2e-2)
        assert abs(s["val_accuracy"] - r["val_accuracy"]) <= 2 / 16
    state = torch.load(tmp_path / "gpu" / "checkpoint.pt", weights_only=True)
    assert all(v.device.type == "cpu" for v in state["model"].values())

    # a GPU run interrupted in epoch 2 continues on the CPU from its checkpoint
    class Stop(Exception):
        pass

    def interrupt(epoch, batch):
        if epoch == 1:
            raise Stop

    with pytest.raises(Stop):
        _fit(_net(), tmp_path / "cut", epochs=2, device="cuda:0", after_batch=interrupt)
    more = _fit(_net(), tmp_path / "cut", epochs=2, resume=True)
    assert more.resumed_from == 1 and next(more.model.parameters()).device.type == "cpu"
    assert more.metrics[-1]["train_loss"] == pytest.approx(cpu.metrics[-1]["train_loss"], rel=2e-2)


# --- augmentation (training.input_dropout, time_shift_ms, channel_shift) ----------------------
def test_augment_spikes_shifts_and_deletes_exactly():
    from neurolearn.training import augment_spikes

    g = torch.Generator().manual_seed(3)
    x = (torch.rand(30, 5, 8, generator=g) < 0.3).float()
    assert augment_spikes(x, torch.Generator()) is x  # nothing enabled: untouched
    # a time shift moves every spike of a sample by the same number of steps (zero-padded)
    y = augment_spikes(x, torch.Generator().manual_seed(1), max_time_shift=4)
    shifts = torch.randint(-4, 5, (5,), generator=torch.Generator().manual_seed(1))
    for b, k in enumerate(shifts.tolist()):
        ref = torch.zeros(30, 8)
        if k >= 0:
            ref[k:] = x[: 30 - k, b]
        else:
            ref[: 30 + k] = x[-k:, b]
        assert torch.equal(y[:, b], ref)
    # a channel shift does the same across channels
    y = augment_spikes(x, torch.Generator().manual_seed(2), max_channel_shift=2)
    shifts = torch.randint(-2, 3, (5,), generator=torch.Generator().manual_seed(2))
    for b, k in enumerate(shifts.tolist()):
        ref = torch.zeros(30, 8)
        if k >= 0:
            ref[:, k:] = x[:, b, : 8 - k]
        else:
            ref[:, : 8 + k] = x[:, b, -k:]
        assert torch.equal(y[:, b], ref)
    # deletion keeps a subset of the spikes, about 1 - p of them (binomial, 5 SD)
    big = (torch.rand(200, 16, 40, generator=g) < 0.5).float()
    y = augment_spikes(big, torch.Generator().manual_seed(4), drop_probability=0.25)
    assert bool((y <= big).all())
    n = float(big.sum())
    assert abs(float(y.sum()) / n - 0.75) < 5 * (0.25 * 0.75 / n) ** 0.5
    # blending: a sample takes each bin from itself or from a sample of its own class
    labels = torch.tensor([0, 1, 0, 2, 1])
    y = augment_spikes(
        big[:, :5], torch.Generator().manual_seed(5), labels=labels, blend_probability=1.0
    )
    assert torch.equal(y[:, 3], big[:, 3])  # class 2: no partner
    for i, j in ((0, 2), (2, 0), (1, 4), (4, 1)):
        from_self, from_other = y[:, i] == big[:, i], y[:, i] == big[:, j]
        assert bool((from_self | from_other).all())
        differ = big[:, i] != big[:, j]
        frac = float(from_other[differ].float().mean())
        assert 0.4 < frac < 0.6  # half the bins from each
    with pytest.raises(ValueError, match="labels"):
        augment_spikes(x, g, blend_probability=0.5)
    with pytest.raises(ValueError, match="drop_probability"):
        augment_spikes(x, g, drop_probability=1.0)
    with pytest.raises(ValueError, match="shape"):
        augment_spikes(x[0], g)


@pytest.mark.parametrize(
    "section, key, value, needle",
    [
        ("training", "input_dropout", 1.0, "< 1"),
        ("training", "input_dropout", -0.1, ">= 0"),
        ("training", "time_shift_ms", -5.0, ">= 0"),
        ("training", "time_shift_ms", 4.0, "less than half a time step \\(dt_ms = 10\\)"),
        ("training", "channel_shift", 1.5, "integer"),
        ("training", "blend", 1.5, "<= 1"),
        ("network", "dropout", 1.0, "< 1"),
        ("network", "readout_tau_m_ms", 0.0, "> 0"),
        ("network", "readout_tau_syn_ms", "5 ms", "number"),
    ],
)
def test_new_keys_reject_bad_values_naming_the_key(section, key, value, needle):
    with pytest.raises(ConfigError, match=rf"\[{section}\] {key}: .*{needle}"):
        config_from_dict({"data": {"dataset": "fsdd"}, section: {key: value}})


def test_augmentation_off_is_the_same_run_on_changes_training_only(tmp_path):
    from neurolearn.training import SpikeAugmentation, build_augmentation, evaluate_model

    cfg = config_from_dict({"data": {"dataset": "fsdd"}})
    assert build_augmentation(cfg) is None
    plain = _fit(_net(), tmp_path / "plain")
    _fit(_net(), tmp_path / "off", transform=SpikeAugmentation())
    assert read_metrics(tmp_path / "off" / "metrics.csv") == read_metrics(
        tmp_path / "plain" / "metrics.csv"
    )

    aug = SpikeAugmentation(drop_probability=0.2, max_time_shift=1, blend_probability=0.5)

    on = _fit(_net(), tmp_path / "on", transform=aug)
    _fit(_net(), tmp_path / "again", transform=aug)  # same seed, same run
    assert read_metrics(tmp_path / "on" / "metrics.csv") == read_metrics(
        tmp_path / "again" / "metrics.csv"
    )
    assert on.metrics[0]["train_loss"] != plain.metrics[0]["train_loss"]
    # validation sees the data as they are: evaluation of the trained model repeats exactly
    val = TemporalSet(16, 2)
    assert evaluate_model(on.model, val)["loss"] == evaluate_model(on.model, val)["loss"]
    cfg = config_from_dict(
        {
            "data": {"dataset": "fsdd", "dt_ms": 10.0},
            "training": {"time_shift_ms": 24.0, "input_dropout": 0.1},
        }
    )
    x = torch.ones(20, 3, 4)
    y, _ = build_augmentation(cfg)(x, torch.zeros(3, dtype=torch.long))
    assert float(y.sum()) < float(x.sum())


def test_resume_with_dropout_and_augmentation_reproduces_the_run(tmp_path):
    from neurolearn.training import SpikeAugmentation

    aug = SpikeAugmentation(drop_probability=0.1, max_channel_shift=1)

    def net():
        n = _net()
        n.dropout = 0.3
        return n

    full = _fit(net(), tmp_path / "full", epochs=3, transform=aug)

    class Stop(Exception):
        pass

    def interrupt(epoch, batch):
        if epoch == 1 and batch == 1:
            raise Stop

    with pytest.raises(Stop):
        _fit(net(), tmp_path / "cut", epochs=3, transform=aug, after_batch=interrupt)
    _fit(net(), tmp_path / "cut", epochs=3, transform=aug, resume=True)
    assert read_metrics(tmp_path / "cut" / "metrics.csv") == read_metrics(
        tmp_path / "full" / "metrics.csv"
    )
    assert np.isfinite(full.metrics[-1]["train_loss"])


# --- network.dropout and the readout time constants ------------------------------------------
def test_network_dropout_acts_in_training_mode_only():
    net = _net()
    x = (torch.rand(12, 8, 6, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    net.train()
    ref = net(x)
    net.dropout = 0.5
    torch.manual_seed(0)
    dropped = net(x)
    assert not torch.equal(dropped, ref)
    torch.manual_seed(0)
    assert torch.equal(net(x), dropped)  # reproducible from torch's seed
    dropped.sum().backward()  # and differentiable
    assert net.layers[0].W_in.grad is not None
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(x), ref.detach())  # evaluation: the network as it is
    net.dropout = 0.0
    net.train()
    assert torch.equal(net(x), ref)  # p = 0: the same computation


def test_config_builds_readout_time_constants_and_the_export_is_exact(tmp_path):
    from neurolearn.bridge import load_network, save_network, to_brian2
    from neurolearn.training import build_network

    base = {
        "data": {"dataset": "fsdd", "dt_ms": 1.0},
        "heterogeneity": {"configuration": "hom_init_het_train"},
    }
    default = build_network(config_from_dict(base), 6, 3)
    plain = SpikingNetwork.build(
        6,
        [128],
        3,
        model="lif",
        dt=1e-3,
        recurrent=True,
        heterogeneity="hom_init_het_train",
        generator=torch.Generator().manual_seed(0),
    )
    # the default keys give exactly the readout the network had before they existed
    for name in ("tau_m", "tau_syn"):
        assert np.array_equal(default.readout.parameter_si(name), plain.readout.parameter_si(name))
    cfg = config_from_dict(
        {
            **base,
            "network": {
                "hidden": [16],
                "readout_tau_m_ms": 50.0,
                "readout_tau_syn_ms": 10.0,
                "dropout": 0.4,
            },
        }
    )
    net = build_network(cfg, 6, 3).double()
    assert net.dropout == 0.4
    assert np.allclose(net.readout.parameter_si("tau_m"), 50e-3)
    assert np.allclose(net.readout.parameter_si("tau_syn"), 10e-3)
    save_network(net, tmp_path / "net.h5")
    loaded = load_network(tmp_path / "net.h5").double()
    assert loaded.dropout == 0.0  # training-only: not part of the model
    assert np.allclose(loaded.readout.parameter_si("tau_m"), 50e-3)
    x = (torch.rand(30, 4, 6, generator=torch.Generator().manual_seed(1)) < 0.3).double()
    net.eval()
    with torch.no_grad():
        ref = net(x).numpy()
    export = to_brian2(loaded, x, backend="numpy")
    assert np.asarray(export.groups["readout"].tau_m) == pytest.approx(50e-3)
    assert np.allclose(export.readout, ref, atol=1e-9, rtol=1e-7)


def test_spike_augmentation_draws_per_epoch_and_restores_its_state(tmp_path):
    from neurolearn.training import SpikeAugmentation, augment_spikes
    from neurolearn.training.rng import epoch_generator

    x, labels = torch.ones(10, 4, 5), torch.tensor([0, 1, 0, 1])
    aug = SpikeAugmentation(drop_probability=0.3, max_time_shift=2, blend_probability=0.5, seed=2)
    options = dict(drop_probability=0.3, max_time_shift=2, blend_probability=0.5, labels=labels)
    # epoch e draws from epoch_generator(seed, e, stream=1), batch after batch
    aug.set_epoch(3)
    g = epoch_generator(2, 3, stream=1)
    for _ in range(2):
        y, same_labels = aug(x, labels)
        assert torch.equal(y, augment_spikes(x, g, **options)) and same_labels is labels
    # its state continues the draws where they were
    state = aug.state_dict()
    expected, _ = aug(x, labels)
    other = SpikeAugmentation(drop_probability=0.3, max_time_shift=2, blend_probability=0.5)
    other.load_state_dict(state)
    assert other.epoch == 3 and torch.equal(other(x, labels)[0], expected)
    assert not SpikeAugmentation().enabled and aug.enabled
    with pytest.raises(ValueError, match="drop_probability"):
        SpikeAugmentation(drop_probability=1.0)
    # the trainer stores it in the checkpoint, after the last epoch's draws
    net = _net()
    _fit(net, tmp_path / "run", epochs=2, transform=SpikeAugmentation(drop_probability=0.1))
    saved = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["transform"]
    assert saved["epoch"] == 1
    assert not torch.equal(saved["generator"], epoch_generator(0, 1, stream=1).get_state())

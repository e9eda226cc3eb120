"""The Perez-Nieves preset and the keys it sets: reset by subtraction, time constants trained as
decay factors with the paper's clipping, fixed readout time constants, uniform initial weights
with per-layer scales, the exponential-Euler updaters; data kept as bits, time-scale
augmentation, speaker-independent splits and files in the SHD layout.

Every key is an ordinary configuration key; a configuration without them trains as before
(their defaults leave the network bit for bit unchanged). The preset runs end to end on small
files in the SHD layout."""

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neurolearn.bridge import spike_agreement, to_brian2
from neurolearn.datasets import (
    PackedSpikeDataset,
    SpikeDataset,
    SpikeEvents,
    TimeScaledSpikes,
    speaker_split,
    write_shd,
)
from neurolearn.spec import ModelError, load_model, with_reset_rule
from neurolearn.torch import SpikingNetwork
from neurolearn.training import ConfigError, config_from_dict, load_config, train_from_config
from neurolearn.training.presets import PRESETS, apply_preset, preset_sections
from neurolearn.training.recipe import build_network, tau_floor_bounds
from neurolearn.training.schema import CONFIG_SCHEMA

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---- configuration ---------------------------------------------------------------------------
def test_every_preset_key_is_an_ordinary_config_key():
    for name in PRESETS:
        for section, values in preset_sections(name).items():
            assert section in CONFIG_SCHEMA, section
            for key in values:
                assert key in CONFIG_SCHEMA[section], (section, key)
    cfg = config_from_dict(apply_preset({"data": {"dataset": "fsdd"}}, "perez-nieves"))
    assert cfg["network"]["reset"] == "subtract"
    assert cfg["heterogeneity"]["tau_parameterization"] == "decay"
    assert cfg["heterogeneity"]["decay_min"] == pytest.approx(2 / math.e)
    assert cfg["heterogeneity"]["decay_max"] == 0.995
    assert cfg["heterogeneity"]["train_readout_tau"] is False
    assert cfg["data"]["dt_ms"] == 0.5
    assert cfg["surrogate"]["steepness"] == 100.0


def test_new_keys_default_to_the_old_behaviour():
    cfg = config_from_dict({"data": {"dataset": "fsdd"}})
    assert cfg["network"]["reset"] == "model"
    assert cfg["network"]["weight_distribution"] == "normal"
    assert cfg["network"]["input_weight_std"] is None
    assert cfg["heterogeneity"]["tau_parameterization"] == "direct"
    assert cfg["heterogeneity"]["train_readout_tau"] is True
    assert cfg["data"]["split"] == "official"
    assert cfg["training"]["time_scales"] is None


def test_file_keys_replace_the_preset_and_bad_values_name_the_key(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[data]\ndataset = "fsdd"\ndt_ms = 2.0\n[training]\nepochs = 5\n')
    cfg = load_config(path, preset="perez-nieves")
    assert cfg["data"]["dt_ms"] == 2.0 and cfg["training"]["epochs"] == 5
    assert cfg["network"]["reset"] == "subtract"
    with pytest.raises(ValueError, match="unknown preset 'nope'; presets: perez-nieves"):
        load_config(path, preset="nope")
    path.write_text('[data]\ndataset = "fsdd"\n[network]\nreset = "zero"\n')
    with pytest.raises(ConfigError, match=r"\[network\].*reset"):
        load_config(path)
    path.write_text('[data]\ndataset = "fsdd"\n[heterogeneity]\ndecay_max = 1.5\n')
    with pytest.raises(ConfigError, match="decay_max"):
        load_config(path)


def test_decay_clip_becomes_tau_bounds():
    # clamp(2/e, 0.995) at dt = 2 ms: tau in [2 ms / ln(e/2), 2 ms / -ln 0.995]
    b = tau_floor_bounds("lif", 1.0, 2.0, (2 / math.e, 0.995))
    lo, hi = b["tau_m"]
    assert lo == pytest.approx(2.0 / (1 - math.log(2)))
    assert hi == pytest.approx(-2.0 / math.log(0.995))
    assert b["tau_syn"] == (lo, hi)


# ---- reset rule ------------------------------------------------------------------------------
def test_reset_by_subtraction_rewrites_the_reset():
    lif = load_model("lif")
    assert with_reset_rule(lif, "model") is lif
    sub = with_reset_rule(lif, "subtract")
    assert sub.reset.strip() == "v = v - ((v_th) - (v_reset))"
    assert "reset by subtraction" in sub.title
    with pytest.raises(ValueError, match="reset rule must be one of model, subtract"):
        with_reset_rule(lif, "zero")
    izh = load_model("izhikevich")
    if not izh.threshold.strip().startswith("v >"):
        with pytest.raises(ModelError):
            with_reset_rule(izh, "subtract")


def _subtract_net(seed=0, **kw):
    g = torch.Generator().manual_seed(seed)
    return SpikingNetwork.build(
        8,
        [16],
        3,
        model=with_reset_rule(load_model("lif"), "subtract"),
        dt="0.5 ms",
        heterogeneity="het_init_het_train",
        generator=g,
        dtype=torch.float64,
        weight_gain=3.0,
        **kw,
    )


def test_reset_by_subtraction_is_spike_for_spike_identical_in_brian2():
    net = _subtract_net(tau_parameterization="decay", weight_distribution="uniform")
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(200, 2, 8, generator=g) < 0.1).double()
    with torch.no_grad():
        net(x)
    spikes = net.spikes[0].numpy()
    export = to_brian2(net, x, backend="numpy")
    agreement = spike_agreement(spikes, export.spikes[0])
    assert 20 < agreement["n_a"] < 0.5 * spikes.size
    assert agreement["identical"], agreement


def test_subtraction_keeps_the_overshoot():
    """One neuron, strong constant drive: after each spike v restarts at v - (v_th - v_reset)
    (above v_reset), so it fires more often than with v = v_reset."""
    counts = {}
    for rule in ("model", "subtract"):
        layer_net = SpikingNetwork.build(
            1,
            [1],
            1,
            model=with_reset_rule(load_model("lif"), rule),
            dt="1 ms",
            recurrent=False,
            dtype=torch.float64,
            generator=torch.Generator().manual_seed(0),
            params={"t_ref": "0 ms"},
        )
        with torch.no_grad():
            layer_net.layers[0].W_in.fill_(0.5)
            layer_net(torch.ones(300, 1, 1, dtype=torch.float64))
        counts[rule] = int(layer_net.spikes[0].sum())
    assert 100 < counts["model"] < 200
    assert counts["subtract"] > counts["model"] + 10


# ---- decay parameterisation ------------------------------------------------------------------
def test_decay_parameterisation_stores_exp_minus_dt_over_tau_and_runs_the_same():
    direct = _subtract_net()
    decay = _subtract_net(tau_parameterization="decay")
    layer = decay.layers[0]
    tau_ms = direct.layers[0].raw_parameter("tau_m").detach()
    assert torch.allclose(layer.raw["tau_m"], torch.exp(-0.5 / tau_ms))
    assert torch.allclose(layer.raw_parameter("tau_m"), tau_ms, rtol=1e-12)
    x = (torch.rand(100, 2, 8, generator=torch.Generator().manual_seed(2)) < 0.1).double()
    with torch.no_grad():
        a, b = direct(x), decay(x)
    assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)
    assert torch.equal(direct.spikes[0], decay.spikes[0])
    # chain rule: dL/dbeta = dL/dtau * dtau/dbeta with dtau/dbeta = tau^2 / (dt beta), so an
    # equal step in beta moves tau by about tau^2/dt times as much as a step in tau itself
    direct(x).sum().backward()
    decay(x).sum().backward()
    g_tau = direct.layers[0].raw["tau_m"].grad
    beta = layer.raw["tau_m"].detach()
    assert g_tau.abs().max() > 0
    assert torch.allclose(layer.raw["tau_m"].grad, g_tau * tau_ms**2 / (0.5 * beta), rtol=1e-6)
    layer.set_raw_parameter_("tau_m", torch.full((16,), 20.0))
    expected = torch.full((16,), math.exp(-0.5 / 20.0), dtype=torch.float64)
    assert torch.allclose(layer.raw["tau_m"], expected)


# ---- data ------------------------------------------------------------------------------------
def _events(n=24, channels=10, speakers=4, seed=0):
    rng = np.random.default_rng(seed)
    times, units, labels = [], [], []
    for k in range(n):
        label = k % 3
        m = 30
        t = np.sort(rng.uniform(0, 0.08, m) + 0.01 * label)
        u = (rng.integers(0, channels // 3, m) + label * (channels // 3)).astype(np.int64)
        times.append(t)
        units.append(u)
        labels.append(label)
    ev = SpikeEvents.from_lists(times, units, labels, channels, name="toy")
    ev.extra["speaker"] = np.arange(n) % speakers
    return ev


def test_packed_dataset_is_the_binned_samples_in_bits():
    ds = SpikeDataset(_events(), dt_ms=1.0, duration_ms=100.0, binary=True)
    packed = PackedSpikeDataset(ds)
    assert packed.bits.nbytes == len(ds) * 100 * 2
    for i in range(len(ds)):
        assert torch.equal(packed[i][0], ds[i][0])
        assert packed[i][1] == ds[i][1]
    with pytest.raises(ValueError, match="spike counts"):
        PackedSpikeDataset(SpikeDataset(_events(), binary=False))


def test_time_scaled_samples_stretch_spike_times():
    ds = SpikeDataset(_events(), dt_ms=1.0, duration_ms=300.0, binary=True)
    scaled = TimeScaledSpikes(ds, [0.5, 2.0], lambda e: torch.Generator().manual_seed(e))
    assert set(scaled.scales.tolist()) == {0.5, 2.0}
    for i in range(4):
        s = float(scaled.scales[i])
        ref = SpikeDataset(ds.events, dt_ms=1.0, duration_ms=300.0, binary=True, time_scale=s)
        assert torch.equal(scaled[i][0], ref[i][0])
    first = scaled.scales.clone()
    scaled.set_epoch(1)
    scaled.set_epoch(0)
    assert torch.equal(first, scaled.scales)
    with pytest.raises(ValueError, match="factors > 0"):
        TimeScaledSpikes(ds, [0.0], lambda e: torch.Generator())


def _write_files(tmp_path, **kw):
    ev = _events(**kw)
    half = len(ev) * 2 // 3
    write_shd(tmp_path / "train.h5", ev.subset(np.arange(half)))
    write_shd(tmp_path / "test.h5", ev.subset(np.arange(half, len(ev))))
    return tmp_path / "train.h5", tmp_path / "test.h5"


def test_speaker_split_keeps_speakers_disjoint(tmp_path):
    train, test = _write_files(tmp_path)
    opts = {"train": str(train), "test": str(test)}
    parts = speaker_split("shd_files", ["3"], ["2"], **opts)
    who = {k: set(np.asarray(v.extra["speaker"]).tolist()) for k, v in parts.items()}
    assert who == {"train": {0, 1}, "valid": {2}, "test": {3}}
    assert sum(len(v) for v in parts.values()) == 24
    with pytest.raises(ValueError, match="no speaker '9'"):
        speaker_split("shd_files", ["9"], **opts)
    with pytest.raises(ValueError, match="named once"):
        speaker_split("shd_files", ["1"], ["1"], **opts)


def _preset_config(train, test, **data):
    sections = apply_preset(
        {
            "data": {
                "dataset": "shd_files",
                "dt_ms": 2.0,
                "duration_ms": 100.0,
                "options": {"train": str(train), "test": str(test)},
                **data,
            },
            # the preset's input weights leave 16 neurons with 10 inputs silent
            "network": {"hidden": [16], "input_weight_std": 0.1},
            "heterogeneity": {"configuration": "hom_init_het_train"},
            "training": {"epochs": 2, "batch_size": 8, "seed": 1},
        },
        "perez-nieves",
    )
    return config_from_dict(sections)


def test_preset_trains_end_to_end_on_files_in_the_shd_layout(tmp_path):
    train, test = _write_files(tmp_path)
    cfg = _preset_config(train, test)
    net = build_network(cfg, 10, 3)
    hidden, readout = net.layers[0], net.readout
    assert "tau_m" in hidden.trainable and not readout.trainable
    assert hidden.raw["tau_m"].detach().allclose(torch.tensor(math.exp(-2.0 / 20.0)))
    summary = train_from_config(cfg, tmp_path / "run", progress=False)
    assert 0.0 <= summary["test_accuracy"] <= 1.0
    params = (tmp_path / "run" / "parameters.csv").read_text().splitlines()
    header = params[0].split(",")
    rows = [dict(zip(header, line.split(","))) for line in params[1:]]
    lo, hi = 2.0 / (1 - math.log(2)), -2.0 / math.log(0.995)
    hidden_tau = [float(r["tau_m_ms"]) for r in rows if r["layer"].startswith("hidden")]
    assert all(lo - 1e-6 <= t <= hi + 1e-6 for t in hidden_tau)
    assert np.std(hidden_tau) > 0  # trained
    readout_tau = [float(r["tau_m_ms"]) for r in rows if r["layer"].startswith("readout")]
    assert np.allclose(readout_tau, 20.0)  # fixed
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["epochs"] == 2


def test_speaker_split_and_time_scales_in_a_training_config(tmp_path):
    train, test = _write_files(tmp_path)
    cfg = _preset_config(
        train, test, split="speaker", test_speakers=["3"], validation_speakers=["2"]
    )
    cfg = config_from_dict(
        {**cfg.to_dict(), "training": {**cfg["training"], "time_scales": [0.5, 1.0]}}
    )
    summary = train_from_config(cfg, tmp_path / "run", progress=False)
    # speakers 0-3 take turns: 6 samples each; speaker 3 tests, 2 validates
    assert (summary["n_train"], summary["n_val"], summary["n_test"]) == (12, 6, 6)
    assert 0.0 <= summary["test_accuracy"] <= 1.0


def test_hidden_weights_take_the_papers_step_in_nA(tmp_path):
    # The paper's weights are in threshold units (20 mV / 100 Mohm = 0.2 nA). Adam's first
    # step moves every weight with a non-zero gradient by the learning rate whatever its unit,
    # so the preset's hidden weights (nA) must step by 1e-3 x 0.2 nA, the readout's
    # (dimensionless, as in the paper) by 1e-3.
    from neurolearn.training.optim import make_optimizer
    from neurolearn.training.recipe import training_options

    train, test = _write_files(tmp_path)
    cfg = _preset_config(train, test)
    assert cfg["optimizer"]["lr_hidden_weights"] == pytest.approx(1e-3 * 0.2)
    net = build_network(cfg, 10, 3)
    opts = training_options(cfg, net)
    opt = make_optimizer(
        net,
        "adam",
        opts["lr_weights"],
        opts["lr_tau"],
        tau_parameters=opts["tau_parameters"],
        hidden_weight_parameters=opts["hidden_weight_parameters"],
        lr_hidden_weights=opts["lr_hidden_weights"],
    )
    names = [g["name"] for g in opt.param_groups]
    assert names == ["weights", "tau", "hidden_weights"]
    hidden, readout = net.layers[0], net.readout
    before = {n: p.detach().clone() for n, p in (("in", hidden.W_in), ("out", readout.W_in))}
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(50, 4, 10, generator=g) < 0.2).to(torch.float32)
    out = net(x)
    torch.nn.functional.cross_entropy(out.max(0).values, torch.tensor([0, 1, 2, 0])).backward()
    opt.step()
    for name, param, lr in (("in", hidden.W_in, 2e-4), ("out", readout.W_in, 1e-3)):
        step = (param.detach() - before[name]).abs()
        moved = step[step > 0]
        assert moved.numel() >= 0.25 * step.numel()
        assert moved.double().median().item() == pytest.approx(lr, rel=1e-3)
    # without the key, one rate for every weight (the groups of earlier runs)
    plain = config_from_dict({**cfg.to_dict(), "optimizer": {"lr_hidden_weights": None}})
    opts = training_options(plain, net)
    assert opts["lr_hidden_weights"] is None
    names = [
        g["name"]
        for g in make_optimizer(
            net,
            "adam",
            1e-3,
            1e-3,
            **{
                "tau_parameters": opts["tau_parameters"],
                "hidden_weight_parameters": opts["hidden_weight_parameters"],
                "lr_hidden_weights": None,
            },
        ).param_groups
    ]
    assert names == ["weights", "tau"]

"""Fitting API: coincidence factor, targets, optimizers, bad input, population fits.

Parameter recovery uses data simulated with known parameters (allensdk's GlifNeuron for the
GLIF traces, Brian2 for the spike trains); the problems are small so that the default run
stays affordable on the numpy target.
"""

import json

import numpy as np
import pytest

from neurolearn.fitting import (
    FICurveTarget,
    FitError,
    SpikeTrainTarget,
    TraceTarget,
    coincidence_factor,
    fit,
    intrinsic_reliability,
    simulate_batch,
)


# --------------------------------------------------------------------------- coincidence factor
def test_gamma_identical_trains_is_one():
    rng = np.random.default_rng(1)
    train = np.sort(rng.uniform(0, 10, 150))
    assert coincidence_factor(train, train, 10.0, 0.004) == pytest.approx(1.0)


def test_gamma_independent_poisson_is_about_zero():
    rng = np.random.default_rng(2)
    T, rate = 200.0, 20.0
    vals = [
        coincidence_factor(
            np.sort(rng.uniform(0, T, rng.poisson(rate * T))),
            np.sort(rng.uniform(0, T, rng.poisson(rate * T))),
            T,
            0.004,
        )
        for _ in range(5)
    ]
    assert abs(np.mean(vals)) < 0.03
    assert max(abs(v) for v in vals) < 0.06


def test_gamma_hand_computed():
    # one coincidence; nu = 2 Hz, Delta = 2 ms: <N_coinc> = 2*2*0.002*2 = 0.016, N = 0.992
    g = coincidence_factor([0.1, 0.5], [0.101, 0.3], 1.0, 0.002)
    assert g == pytest.approx((1 - 0.016) / 2 / 0.992)
    with pytest.raises(ValueError, match="window"):
        coincidence_factor([0.1], [0.1], 1.0, 0.0)
    with pytest.raises(ValueError, match="repeated trials"):
        intrinsic_reliability([[0.1]], 1.0)


# --------------------------------------------------------------------------- parameter recovery
@pytest.fixture(scope="module")
def glif1_trace(data_dir):
    """A GLIF1 voltage trace simulated by allensdk (NaN in spike cuts) with known R and C."""
    from brian2 import second

    from neurolearn.analysis.glif import glif_check_stimuli, simulate_glif_allensdk
    from neurolearn.sources.glif import find_glif_configs, load_glif_config

    root = data_dir / "allen" / "glif_teeter2018"
    cfg = load_glif_config(find_glif_configs(root, 1, limit=1)[0])
    stim = glif_check_stimuli(cfg, duration=0.06 * second, seed=3)["noise"]
    ref = simulate_glif_allensdk(cfg, stim)
    assert len(ref["spike_steps"]) >= 1 and np.isnan(ref["v"]).any()
    return cfg, stim, ref


@pytest.mark.allensdk
def test_de_recovers_glif1_from_allensdk_trace(glif1_trace, tmp_path):
    cfg, stim, ref = glif1_trace
    with pytest.raises(ValueError, match="NaN"):
        TraceTarget(ref["v"], stim, cfg.dt)
    target = TraceTarget(ref["v"], stim, cfg.dt, nan_policy="omit")
    R, C = cfg.params["R_m"], cfg.params["C_m"]
    fixed = {k: v for k, v in cfg.params.items() if k not in ("R_m", "C_m")}
    res = fit(
        "glif1",
        target,
        bounds={"R_m": (0.5 * R, 2 * R), "C_m": (0.5 * C, 2 * C)},
        start={"R_m": R * 0.7, "C_m": C * 1.4},
        fixed=fixed,
        progress=False,
        optimizer_options=dict(popsize=6, maxiter=12, atol=1e-4),
        out=tmp_path,
    )
    assert float(res.params["R_m"] / R) == pytest.approx(1, abs=0.05)
    assert float(res.params["C_m"] / C) == pytest.approx(1, abs=0.05)
    assert res.loss < 0.5  # mV RMS
    saved = json.loads((tmp_path / "fit.json").read_text())
    assert saved["params"]["R_m"].endswith("ohm") and len(saved["loss_history"]) >= 2
    assert (tmp_path / "fit_traces.npz").is_file()


def test_de_recovers_lif_from_spike_trains():
    """Spike-train target (coincidence factor): recover R_m of an LIF driven by noise."""
    from brian2 import Mohm, ms

    from neurolearn import load_model

    spec = load_model("lif")
    dt = 0.1 * ms
    rng = np.random.default_rng(4)
    # four sweeps of fluctuation-driven firing (one group simulates them all)
    x = np.stack(
        [
            np.convolve(rng.standard_normal(1000), np.ones(30) / np.sqrt(30), "same")
            for _ in range(4)
        ],
        axis=1,
    )
    drive = 0.25e-9 + 0.3e-9 * x
    data = simulate_batch(spec, {"R_m": np.array([120.0]) * Mohm}, drive, dt)
    spikes = data.spike_times[0]
    assert sum(len(s) for s in spikes) >= 12
    target = SpikeTrainTarget(spikes, drive, dt, window=1 * ms)
    res = fit(
        "lif",
        target,
        bounds={"R_m": ("60 Mohm", "240 Mohm")},
        start={"R_m": "100 Mohm"},
        progress=False,
        optimizer_options=dict(popsize=10, maxiter=6, atol=1e-3),
    )
    assert float(res.params["R_m"] / (120 * Mohm)) == pytest.approx(1, abs=0.05)
    assert res.predictions["gamma"][0] > 0.9


# --------------------------------------------------------------------------- bad input
def _tiny_trace_target():
    from brian2 import ms

    from neurolearn import load_model

    stim = np.full((200, 1), 0.1e-9)
    out = simulate_batch(load_model("lif"), {}, stim, 0.1 * ms, record_v=True)
    return TraceTarget(out.v[0].T, stim, 0.1 * ms)


def test_bounds_excluding_start_and_other_bad_bounds():
    target = _tiny_trace_target()
    with pytest.raises(ValueError, match="model default of 'tau_m'.*outside its bounds"):
        fit("lif", target, bounds={"tau_m": ("30 ms", "50 ms")}, progress=False)
    with pytest.raises(ValueError, match="start value of 'tau_m'"):
        fit(
            "lif",
            target,
            bounds={"tau_m": ("5 ms", "50 ms")},
            start={"tau_m": "80 ms"},
            progress=False,
        )
    with pytest.raises(ValueError, match="low .* must be below high"):
        fit("lif", target, bounds={"tau_m": ("50 ms", "5 ms")}, progress=False)
    with pytest.raises(ValueError, match="not a parameter of model 'lif'"):
        fit("lif", target, bounds={"tau": ("5 ms", "50 ms")}, progress=False)
    with pytest.raises(ValueError, match="units"):
        fit("lif", target, bounds={"tau_m": ("5 mV", "50 mV")}, progress=False)
    with pytest.raises(ValueError, match="shared by all"):
        fit("lif", target, bounds={"t_ref": ("1 ms", "5 ms")}, progress=False)


def test_nan_in_recordings_and_missing_columns(tmp_path, data_dir):
    import pandas as pd

    from neurolearn.fitting import EphysFeatureTarget

    v = np.full((100, 1), -0.07)
    v[40] = np.nan
    with pytest.raises(ValueError, match=r"NaN.*index \(40, 0\).*4 ms"):
        TraceTarget(v, np.zeros((100, 1)), 0.1e-3)
    with pytest.raises(ValueError, match="sweep 0 contain NaN"):
        SpikeTrainTarget([[0.1, np.nan]], np.zeros(100), 0.1e-3)
    table = pd.read_csv(data_dir / "allen" / "cell_types" / "ephys_features.csv")
    with pytest.raises(ValueError, match="lacks column.*f_i_curve_slope"):
        EphysFeatureTarget.from_allen(
            table.drop(columns=["f_i_curve_slope"]), int(table.specimen_id[0])
        )
    broken = table.copy()
    broken.loc[0, "tau"] = np.nan
    with pytest.raises(ValueError, match="tau_ms.* are NaN"):
        EphysFeatureTarget.from_allen(broken, int(table.specimen_id[0]))


def test_non_convergence_keeps_results(tmp_path):
    target = _tiny_trace_target()
    with pytest.warns(RuntimeWarning, match="did not converge"):
        res = fit(
            "lif",
            target,
            bounds={"tau_m": ("5 ms", "50 ms"), "R_m": ("50 Mohm", "200 Mohm")},
            progress=False,
            out=tmp_path,
            optimizer_options=dict(popsize=3, maxiter=1, tol=0),
        )
    assert res.status == "not_converged" and not res.converged
    saved = json.loads((tmp_path / "fit.json").read_text())
    assert saved["status"] == "not_converged" and "tau_m" in saved["params"]


class _Exploding(TraceTarget):
    calls = 0

    def loss(self, result):
        type(self).calls += 1
        if type(self).calls >= 3:
            raise KeyboardInterrupt
        return super().loss(result)


def test_interrupted_fit_saves_partial_result(tmp_path):
    base = _tiny_trace_target()
    target = _Exploding(base.voltage, base.stimuli, base.dt)
    with pytest.raises(FitError) as info:
        fit(
            "lif",
            target,
            bounds={"tau_m": ("5 ms", "50 ms")},
            progress=False,
            out=tmp_path,
            optimizer_options=dict(popsize=3, maxiter=10),
        )
    assert info.value.partial.status == "interrupted"
    saved = json.loads((tmp_path / "fit.json").read_text())
    assert saved["status"] == "interrupted" and "tau_m" in saved["params"]
    assert json.loads((tmp_path / "fit_progress.json").read_text())["generation"] == 2


# --------------------------------------------------------------------------- f-I target, population
def test_fi_target_from_osb(data_dir):
    path = next((data_dir / "allen" / "osb_cell_types_sweeps").glob("*_analysis.json"))
    t = FICurveTarget.from_osb_json(path)
    m = t.measured()
    assert np.all(np.diff(m["amplitude_pA"]) > 0)
    assert np.all(m["rate_hz"][m["amplitude_pA"] < 0] == 0)
    # I-V: steady state below rest for hyperpolarizing steps, monotonic in the current
    sub = np.isfinite(m["v_steady_mV"])
    assert np.all(np.diff(m["v_steady_mV"][sub]) > 0)
    assert t.stimuli.shape[1] == len(m["amplitude_pA"])


def test_population_fit_and_network_parameters(data_dir, tmp_path):
    import pandas as pd
    from brian2 import Mohm

    from neurolearn import load_model
    from neurolearn.brian.build import make_neuron_group
    from neurolearn.fitting.population import (
        compare_with_glif1,
        fit_population,
        load_glif1_parameters,
        population_parameters,
    )

    feats = pd.read_csv(data_dir / "allen" / "cell_types" / "ephys_features.csv")
    glif1 = load_glif1_parameters(data_dir / "allen" / "glif_teeter2018")
    ids = [i for i in glif1.specimen_id if i in set(feats.specimen_id)][:3]
    out = tmp_path / "pop.csv"
    table = fit_population(
        feats,
        "lif",
        out=out,
        specimen_ids=ids,
        popsize=2,
        maxiter=1,
        progress=False,
        step_duration=0.2,
    )
    assert sorted(table.specimen_id) == sorted(ids) and out.is_file()
    row = table.iloc[0]
    data_ri = feats.set_index("specimen_id").loc[row.specimen_id, "ri"]
    assert 0.6 * data_ri <= row.R_mohm <= 1.6 * data_ri
    assert row.C_pf == pytest.approx(row.tau_ms / row.R_mohm * 1e3)
    # resume: nothing left to do, same table
    again = fit_population(feats, "lif", out=out, specimen_ids=ids, progress=False)
    assert len(again) == 3
    cmp = compare_with_glif1(table, glif1)
    assert cmp["n_cells"] == 3 and set(cmp["R_mohm"]) >= {"pearson_r", "median_relative_error"}
    params = population_parameters(table, "lif", n=10, rng=0)
    assert params["R_m"].shape == (10,) and params["R_m"].dim == Mohm.dim
    group = make_neuron_group(load_model("lif"), 10, params=params)
    assert np.all(
        np.isin(np.round(np.asarray(group.R_m / Mohm), 6), np.round(table.R_mohm.to_numpy(), 6))
    )


@pytest.mark.torch
def test_adam_recovers_lif_through_the_torch_bridge():
    """Gradient-based fit (bridge + Adam with bounds): the bridge's trajectory equals Brian2's
    at the true parameters, and Adam recovers tau_m and v_rest within 5 % from a
    subthreshold trace (through spikes the surrogate-gradient loss is rugged; DE is the
    robust choice there)."""
    import torch
    from brian2 import ms, mV

    from neurolearn import load_model
    from neurolearn.fitting.fit import parse_bounds
    from neurolearn.fitting.gradient import differentiable_loss

    spec = load_model("lif")
    i = np.zeros((200, 2))
    i[30:170, 0] = 0.15e-9
    i[:, 1] = 0.08e-9
    data = simulate_batch(
        spec, {"tau_m": [12.0] * ms, "v_rest": [-65.0] * mV}, i, 0.1 * ms, n_sets=1, record_v=True
    )
    assert data.counts.sum() == 0  # subthreshold: identifiable, smooth loss
    target = TraceTarget(data.v[0].T, i, 0.1 * ms)
    bounds = {"tau_m": ("5 ms", "30 ms"), "v_rest": ("-80 mV", "-55 mV")}
    loss = differentiable_loss(spec, target, parse_bounds(spec, bounds), {})
    truth = torch.tensor([(12 - 5) / 25, (-65 + 80) / 25], dtype=torch.float64)
    assert float(loss(truth)) < 1e-9  # mV: same trajectory as Brian2
    res = fit(
        "lif",
        target,
        bounds,
        optimizer="adam",
        progress=False,
        optimizer_options=dict(lr=0.1, steps=40),
    )
    assert float(res.params["tau_m"] / ms) == pytest.approx(12, rel=0.05)
    assert float(res.params["v_rest"] / mV) == pytest.approx(-65, rel=0.05)
    assert res.loss_history[-1] < res.loss_history[0]


def test_trace_target_from_allen_nwb_layout(tmp_path):
    """TraceTarget.from_allen_nwb reads sweeps as allensdk's NwbDataSet does (a file in the
    Allen ephys.nwb layout written here: 20 kHz, experiment epoch after a test pulse) and
    block-averages them to dt."""
    import h5py
    from brian2 import ms

    rate, n_pulse, n = 20000.0, 100, 400
    path = tmp_path / "ephys.nwb"
    rng = np.random.default_rng(0)
    traces = {}
    with h5py.File(path, "w") as f:
        for number in (3, 4):
            v = -0.07 + 0.001 * rng.standard_normal(n_pulse + n)
            i = np.where(np.arange(n_pulse + n) >= n_pulse, 1e-10 * number, 0.0)
            traces[number] = (v, i)
            for epoch, start, count in (("Sweep", 0, n_pulse + n), ("Experiment", n_pulse, n)):
                g = f.create_group(f"epochs/{epoch}_{number}")
                for kind, data in (("stimulus", i), ("response", v)):
                    g[f"{kind}/idx_start"] = start
                    g[f"{kind}/count"] = count
                    if epoch == "Sweep":
                        g[f"{kind}/timeseries/data"] = data
                        g[f"{kind}/timeseries/starting_time"] = 0.0
                        g[f"{kind}/timeseries/starting_time"].attrs["rate"] = rate
    t = TraceTarget.from_allen_nwb(path, [3, 4], dt=0.1 * ms)
    v3 = traces[3][0][n_pulse : n_pulse + n + 1]
    assert t.voltage.shape == (n // 2, 2)
    assert np.allclose(t.voltage[:, 0], v3[:n].reshape(-1, 2).mean(axis=1))
    assert np.allclose(t.stimuli[:, 1], 4e-10)
    with pytest.raises(ValueError, match="not a multiple"):
        TraceTarget.from_allen_nwb(path, [3], dt=0.075 * ms)


def test_standalone_cache_reruns_without_compiling():
    """A StandaloneCache compiles the cpp_standalone project once; later calls with new
    per-set parameters and stimulus gains run the same program with run_args and give the
    spikes of a fresh numpy simulation of those values."""
    from brian2 import Mohm, ms, nA

    from neurolearn import load_model
    from neurolearn.fitting import StandaloneCache

    spec = load_model("lif")
    dt = 0.1 * ms
    x = np.abs(np.sin(np.linspace(0, 6 * np.pi, 1500)))[:, None] * np.ones((1, 2))
    x[:, 1] *= 0.8
    calls = [
        (np.array([100.0, 150.0]), np.array([0.3, 0.4])),
        (np.array([90.0, 200.0]), np.array([0.5, 0.35])),
        (np.array([130.0, 110.0]), np.array([0.45, 0.3])),
    ]
    with StandaloneCache() as cache:
        for r_m, gain in calls:
            kw = dict(stimulus_gain=gain * nA, stimulus_offset=np.array([0.05, 0.0]) * nA)
            got = simulate_batch(
                spec, {"R_m": r_m * Mohm}, x, dt, backend="cpp_standalone", cache=cache, **kw
            )
            ref = simulate_batch(spec, {"R_m": r_m * Mohm}, x, dt, backend="numpy", **kw)
            assert ref.counts.sum() > 10
            np.testing.assert_array_equal(got.counts, ref.counts)
            for set_got, set_ref in zip(got.spike_times, ref.spike_times):
                for a, b in zip(set_got, set_ref):
                    np.testing.assert_allclose(a, b, atol=1.01 * float(dt))
        assert (cache.builds, cache.reruns) == (1, 2)

"""Plasticity across backends: numpy and cpp_standalone agree, shortened Song et al. (2000)
and Izhikevich (2007) reproductions on cpp_standalone, CUDA project generation.

Each cpp_standalone project is compiled once per module (10-60 s); the analysis scripts'
``build_and_run`` are the code under test, imported from :mod:`neurolearn.reproductions`.
"""

import shutil
from pathlib import Path

import numpy as np
import pytest

from neurolearn.reproductions import izhikevich2007_distal_reward as izh
from neurolearn.reproductions import song2000_stdp as song

needs_compiler = pytest.mark.skipif(
    shutil.which("g++") is None and shutil.which("c++") is None,
    reason="cpp_standalone needs a C++ compiler",
)
SONG = dict(
    rates_hz=[20.0], seed=1, dt_ms=0.5, inputs="generator", controls=False, record_every_s=1.0
)


@pytest.fixture(scope="module")
def song_cpp(tmp_path_factory):
    """20 s of the Song et al. network on cpp_standalone, inputs drawn in NumPy."""
    return song.build_and_run(
        "cpp_standalone", duration_s=20.0, directory=tmp_path_factory.mktemp("song_cpp"), **SONG
    )


@needs_compiler
def test_numpy_and_cpp_standalone_give_identical_weights(song_cpp):
    """Same seed, same (NumPy-drawn) input spikes: after 1 s of plastic run the 1000 weights
    on numpy equal those recorded at t = 1 s in the cpp_standalone run."""
    raw = song.build_and_run("numpy", duration_s=1.0, **SONG)
    k = int(np.flatnonzero(np.isclose(song_cpp["record_t_s"], 1.0))[0])
    cpp_w = song_cpp["w_recorded_s"][0, :, k]
    w_max = raw["w_max_s"]
    assert np.mean(raw["w_final_s"][0] != raw["w_initial_s"][0]) > 0.9  # the run was plastic
    np.testing.assert_allclose(raw["w_final_s"][0], cpp_w, rtol=1e-12, atol=1e-12 * w_max)
    n_cpp = int(np.sum(song_cpp["spike_t_s"] < 1.0))
    assert raw["spike_t_s"].size == n_cpp > 0


@needs_compiler
def test_song_20s_weights_move_apart(song_cpp):
    """Additive STDP pushes weights towards the bounds (Song et al. 2000, Fig. 2).

    Threshold: A+ = 0.5 % of g_max per pairing; at 20 Hz input the neuron first fires at
    > 100 Hz, so each synapse takes part in ~10^3 pairings in 20 s and random-walks by about
    sqrt(10^3) * 0.5 % ~ 15 % of g_max on top of the competitive drift. Hard bounds absorb
    that spread, so the fraction of weights within 10 % of 0 or g_max (0.2 for the initial
    uniform distribution) must rise by several points: we ask for +3 points, and for a mean
    absolute change above 10 % of g_max (weights moved, not just jittered).
    """
    w0 = song_cpp["w_initial_s"][0]
    w = song_cpp["w_final_s"][0]
    w_max = song_cpp["w_max_s"]
    before = song.bimodal_fraction(w0, w_max)
    after = song.bimodal_fraction(w, w_max)
    assert after >= before + 0.03
    assert np.mean(np.abs(w - w0)) / w_max > 0.10
    assert np.all((w >= 0) & (w <= w_max))


def test_drift_diffusion_recovers_a_known_random_walk():
    """``drift_diffusion`` (the time-scale estimate of the Song et al. reproduction) recovers
    the drift and diffusion of a simulated random walk, and for pure diffusion its mean time
    to a bound from a uniform start equals the closed form 1 / (12 D) (T(w) = w (1 - w) / 2D)."""
    rng = np.random.default_rng(0)

    def walk(a0, a1, diff, n=5000, steps=200):
        w = np.empty((n, steps))
        w[:, 0] = rng.uniform(0.2, 0.8, n)
        for k in range(1, steps):
            x = w[:, k - 1]
            w[:, k] = x + a0 + a1 * x + np.sqrt(2 * diff) * rng.standard_normal(n)
        return w

    t = np.arange(200.0)
    est = song.drift_diffusion(walk(-0.002, 0.004, 1e-4), t, t_from_s=0)
    assert est["drift_a0_per_s"] == pytest.approx(-0.002, abs=2e-4)
    assert est["drift_a1_per_s"] == pytest.approx(0.004, abs=4e-4)
    assert est["diffusion_per_s"] == pytest.approx(1e-4, rel=0.02)
    est = song.drift_diffusion(walk(0.0, 0.0, 1e-4), t, t_from_s=0)
    assert est["mean_time_to_bound_s"] == pytest.approx(1 / (12 * 1e-4), rel=0.03)


def test_song_brian2_example_parameter_set():
    """``parameters="brian2-example"`` builds Brian2's ``examples/synapses/STDP.py`` (tau_m
    10 ms, E_l -74 mV, no inhibition, g_max 0.01 g_l, A+ 0.01 g_max, A-/A+ 1.05). Mean-field
    check of the wiring: with uniform weights (mean g_max / 2) the mean excitatory conductance
    is N r <w> tau_e = 0.25 g_l at 10 Hz and 0.5 g_l at 20 Hz, so the mean membrane potential
    (E_l + g_e E_e) / (1 + g_e) is -59.2 mV (5 mV below threshold, with fluctuations < 1 mV:
    silent) and -49.3 mV (above threshold: fires) -- the 10 Hz neuron would fire if the
    paper's -70 mV rest or 0.015 g_max were used instead."""
    raw = song.build_and_run(
        "numpy",
        rates_hz=[10.0, 20.0],
        duration_s=0.5,
        seed=1,
        inputs="generator",
        controls=False,
        parameters="brian2-example",
    )
    assert raw["n_inh"] == 0 and raw["tau_m_ms"] == pytest.approx(10.0)
    assert raw["A_plus"] == 0.01 and raw["A_minus"] / raw["A_plus"] == pytest.approx(1.05)
    assert raw["w_max_s"] == pytest.approx(0.01 * 10e-9)
    counts = np.bincount(raw["spike_i"], minlength=2)
    assert counts[0] == 0 and counts[1] > 10
    with pytest.raises(ValueError, match="parameters"):
        song.build_and_run("numpy", duration_s=0.1, parameters="song2001")


@needs_compiler
def test_izhikevich_rewarded_synapse_beats_the_99th_percentile(tmp_path):
    """Distal reward, shortened: 200 neurons (160 exc, 40 inh; same in-degrees as the paper's
    1000), 60 s, rewards 1-3 s after each n1 -> n2 pairing within 20 ms. A teacher kick to n2
    5 ms after half of n1's spikes makes the pairing frequent (~25 rewards instead of the
    ~1 per minute of the paper); eligibility, dopamine and delays are the paper's. The
    background input is the 20 mV kicks of ``spnet.m`` (``thalamic="kicks"``), not the
    paper's uniform noise: with the noise and 25 times the paper's reward rate, recurrently
    driven spikes tag many other synapses too and over 1 % of them also reach w_max in this
    small network (measured: 99th percentile 4.0 mV)."""
    raw = izh.build_and_run(
        "cpp_standalone",
        duration_s=60.0,
        seed=2,
        n_exc=160,
        n_inh=40,
        teacher_probability=0.5,
        record_every_s=10.0,
        n_record=200,
        thalamic="kicks",
        directory=tmp_path / "izh",
    )
    s = izh.summarize(raw)
    assert s["n_rewards"] >= 10
    assert np.all(np.diff(raw["reward_t_s"]) >= 0)
    assert s["rewarded_weight_final_mv"] > s["others_final_percentiles_mv"]["p99"]
    assert 0.5 < s["mean_rate_exc_hz"] < 2.0  # the paper's ~1 Hz background
    assert np.all((raw["w_final_v"] >= 0) & (raw["w_final_v"] <= 4e-3 + 1e-12))


@pytest.mark.slow
@needs_compiler
def test_izhikevich_full_size_rewarded_synapse_beats_the_99th_percentile(tmp_path):
    """The paper's 1000-neuron network, 150 s with the teacher kick (about 60 rewards)."""
    raw = izh.build_and_run(
        "cpp_standalone",
        duration_s=150.0,
        seed=1,
        thalamic="kicks",
        teacher_probability=0.5,
        directory=tmp_path / "izh_full",
    )
    s = izh.summarize(raw)
    assert s["rewarded_weight_final_mv"] > s["others_final_percentiles_mv"]["p99"]


def test_cuda_projects_are_generated(tmp_path):
    """brian2cuda writes the CUDA project of the reward-modulated network (no GPU needed)."""
    pytest.importorskip("brian2cuda")
    out = izh.build_and_run(
        "cuda_standalone",
        duration_s=1.0,
        n_exc=40,
        n_inh=10,
        n_syn=10,
        teacher_probability=0.5,
        directory=tmp_path / "izh_cuda",
        generate_only=True,
    )
    project = Path(out["generated"])
    assert (project / "main.cu").is_file()
    code = "\n".join(p.read_text() for p in (project / "code_objects").glob("*.cu"))
    assert "eligibility" in code and "dopamine" in code


@pytest.mark.slow
def test_cuda_project_of_song_is_generated(tmp_path):
    pytest.importorskip("brian2cuda")
    out = song.build_and_run(
        "cuda_standalone",
        rates_hz=[10.0],
        duration_s=1.0,
        directory=tmp_path / "song_cuda",
        generate_only=True,
    )
    assert (Path(out["generated"]) / "main.cu").is_file()


def test_reproduction_command_line(tmp_path, capsys):
    """The scripts' shared command line (neurolearn.reproductions.base): --generate-only writes the
    standalone project and a JSON naming it; a non-positive --duration-s exits with 2 naming
    the option, before anything is built."""
    import json

    out, project = tmp_path / "out", tmp_path / "project"
    assert (
        izh.main(
            [
                "--out",
                str(out),
                "--duration-s",
                "2",
                "--generate-only",
                "--project-dir",
                str(project),
            ]
        )
        == 0
    )
    written = json.loads((out / "izhikevich2007_cpp_standalone_project.json").read_text())
    assert written["backend"] == "cpp_standalone" and (project / "main.cpp").is_file()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        song.main(["--out", str(tmp_path / "song"), "--duration-s", "0"])
    assert exc.value.code == 2
    assert "--duration-s must be > 0" in capsys.readouterr().err
    assert not (tmp_path / "song").exists()


def test_reproduction_json_is_strict():
    """NaN and infinities in a reproduction's summary are written as JSON null."""
    import json

    from neurolearn.io import finite_or_none

    summary = {
        "a": float("nan"),
        "b": [1.0, float("inf"), {"c": -float("inf")}],
        "d": "x",
        "e": (2, 3.5),
    }
    clean = finite_or_none(summary)
    assert clean == {"a": None, "b": [1.0, None, {"c": None}], "d": "x", "e": [2, 3.5]}
    json.dumps(clean, allow_nan=False)

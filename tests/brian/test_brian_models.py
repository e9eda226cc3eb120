"""Zoo neurons simulated with Brian2 against analytic solutions and published firing patterns."""

import numpy as np
import pytest
from brian2 import Quantity, ms, mV, nA, second

from neurolearn import load_model
from neurolearn.brian import NetworkSpec


def lif_rate(I, tau_m, R=100e6, v_rest=-70e-3, v_reset=-70e-3, v_th=-50e-3, t_ref=2e-3):
    """Firing rate of the LIF neuron under constant current I (SI units):
    1 / (t_ref + tau_m ln((R I + v_rest - v_reset) / (R I + v_rest - v_th))), zero below
    rheobase R I <= v_th - v_rest (Gerstner, Kistler, Naud & Paninski 2014, eq. 1.11)."""
    drive = R * I
    if drive + v_rest <= v_th:
        return 0.0
    return 1.0 / (t_ref + tau_m * np.log((drive + v_rest - v_reset) / (drive + v_rest - v_th)))


def test_lif_constant_current_rate_is_analytic():
    currents = np.array([0.19, 0.199, 0.25, 0.4, 0.8, 0.4])  # nA; rheobase 0.2 nA
    tau_m = np.array([20, 20, 20, 20, 20, 10.0])  # ms, per neuron
    net = NetworkSpec(dt=0.01 * ms)
    net.add_population(
        "lif", "lif", len(currents), params={"tau_m": tau_m * ms}, initial={"I_ext": currents * nA}
    )
    net.monitor_spikes("lif")
    res = net.run(0.3 * second, backend="numpy")
    trains = res.spikes["lif"].trains()
    for k, (I, tau) in enumerate(zip(currents * 1e-9, tau_m * 1e-3)):
        expected = lif_rate(I, tau)
        if expected == 0:
            assert len(trains[k]) == 0, f"{I} A is below rheobase but the neuron fired"
            continue
        isi = np.diff(np.asarray(trains[k]))
        assert isi.size >= 7
        measured = 1.0 / isi.mean()
        assert measured == pytest.approx(expected, rel=0.005), (I, tau, measured, expected)


def _izhikevich_trains(current=10.0, duration=500 * ms):
    """RS, FS, IB and CH neurons (Izhikevich 2003, Fig. 2 parameter sets) under a constant
    input of ``current`` mV/ms from rest; one population with per-neuron a, b, c, d."""
    spec = load_model("izhikevich")
    names = ["rs", "fs", "ib", "ch"]
    sets = [spec.resolve_parameters(spec.presets[n]) for n in names]
    params = {}
    for p in "abcd":
        values = [s[p] for s in sets]
        params[p] = (
            Quantity(np.array([float(v) for v in values]), dim=values[0].dim)
            if isinstance(values[0], Quantity)
            else np.array(values, dtype=float)
        )
    net = NetworkSpec(dt=0.05 * ms)
    net.add_population(
        "izh", spec, 4, params=params, initial={"I_ext": current * mV / ms, "u": "b*(-65*mV)"}
    )
    net.monitor_spikes("izh")
    res = net.run(duration, backend="numpy")
    trains = res.spikes["izh"].trains()
    return {n: np.asarray(t) * 1e3 for n, t in zip(names, trains)}  # ms


def _bursts(times_ms, gap_ms=10.0):
    """Split a spike train into bursts at intervals longer than ``gap_ms``; burst sizes."""
    isi = np.diff(times_ms)
    sizes, size = [], 1
    for x in isi:
        if x < gap_ms:
            size += 1
        else:
            sizes.append(size)
            size = 1
    sizes.append(size)
    return np.array(sizes), isi


def test_izhikevich_presets_show_published_firing_patterns():
    t = _izhikevich_trains()
    # RS: "fire a few spikes with short interspike period and then the period increases"
    # (spike-frequency adaptation), then regular.
    rs = np.diff(t["rs"])
    assert rs[-1] / rs[0] > 1.5  # adaptation ratio
    assert np.std(rs[2:]) / np.mean(rs[2:]) < 0.02  # regular after adapting
    assert 10 < 1e3 / rs[-1] < 40  # low steady rate (Hz)
    # FS: "periodic trains ... with extremely high frequency practically without any
    # adaptation": > 100 Hz, the steady train regular, and less adaptation than RS.
    fs = np.diff(t["fs"])
    assert 1e3 / fs[-1] > 100
    steady = fs[fs.size // 4 :]
    assert np.std(steady) / np.mean(steady) < 0.01
    assert fs[-1] / fs[0] < rs[-1] / rs[0]
    # IB: "a stereotypical burst of spikes followed by repetitive single spikes"
    sizes, ib = _bursts(t["ib"])
    assert sizes[0] >= 3 and np.all(sizes[1:] == 1)
    assert np.all(ib[: sizes[0] - 1] < 6) and np.all(ib[sizes[0] - 1 :] > 25)
    # CH: "stereotypical bursts of closely spaced spikes", inter-burst frequency up to 40 Hz
    sizes, ch = _bursts(t["ch"])
    assert sizes.size >= 6 and np.all(sizes[:-1] >= 3)
    assert np.all(ch[ch < 10] < 6)  # intra-burst ISIs
    onsets = t["ch"][np.r_[0, np.nonzero(ch >= 10)[0] + 1]]
    burst_rate = 1e3 / np.mean(np.diff(onsets))  # Hz
    assert 10 < burst_rate < 40


def test_adex_refractory_period_holds_v_and_integrates_w_exactly():
    """AdEx (Brette & Gerstner 2005) with t_ref > 0 under Brian2's exponential Euler.

    ``(unless refractory)`` makes Brian2 multiply dv/dt by int(not_refractory), so the update
    of a refractory neuron computes 0/0 in a temporary; Brian2 discards it (the write of v is
    conditional on not_refractory). Checked: no NaN, v stays exactly at v_reset for t_ref
    after each spike, w decays as exp(-t/tau_w) meanwhile (v_reset = E_l, so
    dw/dt = -w/tau_w, which exponential Euler integrates exactly), ISIs >= t_ref, and the
    trajectory up to the first spike is the one without refractoriness.
    """
    currents = [1.0, 2.0] * nA
    dt, t_ref = 0.1 * ms, 5 * ms
    runs = {}
    for ref in (0 * ms, t_ref):
        net = NetworkSpec(dt=dt)
        net.add_population("adex", "adex", 2, params={"t_ref": ref}, initial={"I_ext": currents})
        net.monitor_spikes("adex")
        net.monitor_state("adex", ["v", "w"], record=True)
        runs[float(ref)] = net.run(0.2 * second, backend="numpy")
    res = runs[float(t_ref)]
    spec = load_model("adex")
    v_reset = float(spec.parameters["v_reset"].value)
    tau_w = float(spec.parameters["tau_w"].value)
    v = np.asarray(res.states["adex"]["v"])  # [time, neurons], volt
    w = np.asarray(res.states["adex"]["w"])  # [time, neurons], ampere
    assert np.isfinite(v).all() and np.isfinite(w).all()
    k = int(round(float(t_ref / dt)))
    steps = np.rint(np.asarray(res.states["adex"].t) / float(dt)).astype(int)
    trains = res.spikes["adex"].trains()
    for n in range(2):
        times = np.asarray(trains[n])
        assert times.size >= 5, f"neuron {n} fired only {times.size} spikes"
        assert np.diff(times).min() >= float(t_ref) - 1e-12
        for ts in times:
            s = int(round(ts / float(dt)))
            if s + k + 1 >= steps.size:
                continue
            # recorded at the start of a step: steps s+1 .. s+k see the reset, refractory state
            np.testing.assert_array_equal(v[s + 1 : s + k + 1, n], v_reset)
            assert v[s + k + 1, n] != v_reset  # integrating again after t_ref
            decay = w[s + 1, n] * np.exp(-np.arange(k + 1) * float(dt) / tau_w)
            np.testing.assert_allclose(w[s + 1 : s + k + 2, n], decay, rtol=1e-9)
        first0 = np.asarray(runs[0.0].spikes["adex"].trains()[n])[0]
        assert times[0] == first0


def _readme_model(tmp_path):
    """The own-model example of the user guide's model page (``docs/guide/models.md``, the
    first TOML block: a quadratic integrate-and-fire neuron), written to disk."""
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[2] / "docs" / "guide" / "models.md").read_text()
    block = guide.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "qif.toml"
    path.write_text(block)
    return path


def test_readme_user_model_fires_at_the_analytic_rate(tmp_path):
    """The user guide's own-model example (a quadratic integrate-and-fire neuron) loads from its
    file and, under a constant current, fires with the period of the QIF equation:
    t_ref + integral from v_reset to v_th of tau_m dv / ((v - v_rest)(v - v_c)/delta_v + R I)
    (the standard first-passage time of a deterministic 1-D neuron; Latham et al. 2000)."""
    from scipy.integrate import quad

    from neurolearn.brian.single import single_population, summarize
    from neurolearn.spec import load_model

    path = _readme_model(tmp_path)
    model = load_model(path)
    assert model.name == "qif" and model.parameters["tau_m"].per_neuron
    p = {
        k: float(model.parameters[k].value)
        for k in ("tau_m", "v_rest", "v_c", "delta_v", "R_m", "v_th", "v_reset", "t_ref")
    }
    for current, expected_hz in ((0.2e-9, 50.0), (0.1e-9, None)):

        def drift(v, current=current):
            return ((v - p["v_rest"]) * (v - p["v_c"]) / p["delta_v"] + p["R_m"] * current) / p[
                "tau_m"
            ]

        period = p["t_ref"] + quad(lambda v, drift=drift: 1 / drift(v), p["v_reset"], p["v_th"])[0]
        res = single_population(
            str(path),
            n=2,
            duration="1 s",
            current=f"{current * 1e9}nA",
            dt="0.01 ms",
            backend="numpy",
            record=0,
        )
        rate = summarize(res)["rate_hz"]
        # spikes counted in 1 s: +-1 spike, plus the Euler error of dt = 0.01 ms (< 1 %)
        assert rate == pytest.approx(1 / period, rel=0.01, abs=1.0), (current, rate, 1 / period)
        if expected_hz:  # the rate the README quotes (at dt = 0.1 ms)
            assert 1 / period == pytest.approx(expected_hz, rel=0.05)

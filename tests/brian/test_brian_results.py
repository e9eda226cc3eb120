"""Results with units and their HDF5 file."""

import json

import h5py
import numpy as np
import pytest
from brian2 import Hz, amp, ms, nA, second, volt

from neurolearn.brian import NetworkSpec, Results, load_results
from neurolearn.brian.results import FORMAT


@pytest.fixture(scope="module")
def results():
    net = NetworkSpec(dt=0.1 * ms)
    net.add_population("exc", "lif", 30, initial={"v": "v_rest + rand()*(v_th - v_rest)"})
    net.add_population("izh", "izhikevich", 2, preset="ch", initial={"I_ext": "10 mV/ms"})
    net.add_input("noise", "poisson", 30, rate=400 * Hz)
    net.connect("noise", "exc", j="i", weight=0.8 * nA)
    net.monitor_spikes("exc")
    net.monitor_spikes("izh")
    net.monitor_spikes("noise")
    net.monitor_state("exc", ["v", "I_syn"], record=[0, 3, 7])
    net.monitor_state("izh", ["v", "u"])
    net.monitor_rate("exc")
    return net.run(200 * ms, backend="numpy", seed=11)


def test_results_carry_units_and_shapes(results):
    assert results.spikes["exc"].count > 10 and results.spikes["izh"].count > 10
    st = results.states["exc"]
    assert st["v"].shape == (2000, 3) and st.t.shape == (2000,)
    assert st["v"].dim == volt.dim and st["I_syn"].dim == amp.dim
    assert results.states["izh"]["u"].dim == volt.dim
    assert results.spikes["exc"].times.dim == second.dim
    assert results.rates["exc"].rate.dim == Hz.dim
    # the rate monitor and the spike monitor count the same spikes
    rate = results.rates["exc"]
    assert float(np.sum(rate.rate) * 0.1 * ms * 30) == pytest.approx(results.spikes["exc"].count)
    assert np.all(np.asarray(st["v"]) <= -50e-3 + 1e-12)  # LIF v never above threshold
    assert results.backend == "numpy" and results.seed == 11 and results.dt == 0.1 * ms


def test_hdf5_round_trip_is_identical(results, tmp_path):
    path = results.save(tmp_path / "sub" / "run.h5")
    back = load_results(path)
    assert back == results
    assert back.states["exc"]["v"].dim == volt.dim
    np.testing.assert_array_equal(
        np.asarray(back.states["exc"]["v"]), np.asarray(results.states["exc"]["v"])
    )
    np.testing.assert_array_equal(back.spikes["izh"].indices, results.spikes["izh"].indices)
    assert back.duration == 200 * ms and back.seed == 11
    assert back.network["populations"]["exc"]["model"] == "lif"
    assert back.network["models"]["izhikevich"]["presets"]["ch"]["c"] == "-50 mV"
    assert Results.load(path) == results
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temporary left


def test_hdf5_layout_is_the_documented_one(results, tmp_path):
    path = results.save(tmp_path / "run.h5")
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == FORMAT and f.attrs["format_version"] == 1
        assert f.attrs["backend"] == "numpy" and f.attrs["seed"] == 11
        assert json.loads(f.attrs["network"])["inputs"]["noise"]["n"] == 30
        v = f["states/exc/v"]
        assert v.shape == (2000, 3) and v.attrs["unit"] == "volt"
        assert list(v.attrs["dimensions"]) == [2, 1, -3, -1, 0, 0, 0]
        assert f["spikes/exc/times"].attrs["unit"] == "second"
        assert f["spikes/exc/indices"].dtype == np.int64
        assert f["spikes/exc"].attrs["n"] == 30
        assert f["rates/exc/rate"].attrs["unit"] == "hertz"
        assert list(f["states/exc/neurons"][()]) == [0, 3, 7]
        assert f["dt"][()] == pytest.approx(1e-4) and f["dt"].attrs["unit"] == "second"


def test_load_rejects_other_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="results file not found"):
        load_results(tmp_path / "missing.h5")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.attrs["format"] = "something else"
    with pytest.raises(ValueError, match="not a neurolearn results file"):
        load_results(other)
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        load_results(text)


def test_spike_train_helpers(results):
    s = results.spikes["exc"]
    trains = s.trains()
    assert len(trains) == 30
    assert sum(len(t) for t in trains) == s.count
    np.testing.assert_array_equal([len(t) for t in trains], s.counts())
    assert all(np.all(np.diff(np.asarray(t)) > 0) for t in trains)
    assert float(results.mean_rate("exc")) == pytest.approx(s.count / (30 * 0.2))
    with pytest.raises(KeyError, match="no spikes recorded for 'inh'"):
        results.mean_rate("inh")

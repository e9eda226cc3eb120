"""Parameter sweeps: on cpp_standalone a 6-value sweep compiles once and gives the spike counts
of 6 separate runs; the program shipped to two Dask workers gives the same counts; the CLI."""

import json

import numpy as np
import pytest

from neurolearn.brian import backends
from neurolearn.brian.single import single_population
from neurolearn.brian.sweep import sweep
from neurolearn.cli import main
from neurolearn.spec import ModelError

TAUS = "5 ms,10 ms,15 ms,20 ms,30 ms,40 ms"
SETTINGS = dict(n=2, duration="200 ms", current="0.3 nA")


@pytest.fixture(scope="module")
def separate_counts():
    """Six separate simulations (neurolearn simulate's path, numpy), spikes per neuron."""
    out = []
    for tau in TAUS.split(","):
        res = single_population("lif", params={"tau_m": tau}, record=0, **SETTINGS)
        out.append(np.bincount(res.spikes["neurons"].indices, minlength=2))
    counts = np.array(out)
    assert len(set(counts[:, 0])) >= 4  # the sweep changes the firing
    return counts


def test_standalone_sweep_compiles_once(monkeypatch, separate_counts):
    pytest.importorskip("cloudpickle")  # the executor ships the program (neurolearn[dask])
    if backends.backend_info("cpp_standalone").missing():
        pytest.skip("no C++ compiler")
    calls = []
    build = backends.Backend.build
    monkeypatch.setattr(
        backends.Backend, "build", lambda self, *a, **k: (calls.append(1), build(self, *a, **k))[1]
    )
    result = sweep("lif", "tau_m", TAUS, backend="cpp_standalone", **SETTINGS)
    assert len(calls) == 1 and result.builds == 1
    assert result.counts.shape == (6, 2)
    np.testing.assert_array_equal(result.counts, separate_counts)
    assert result.rates_hz == pytest.approx(separate_counts.mean(axis=1) / 0.2)


def test_runtime_sweep_and_two_workers(separate_counts):
    pytest.importorskip("distributed")
    local = sweep("lif", "tau_m", TAUS, backend="numpy", **SETTINGS)
    assert local.builds == 0
    np.testing.assert_array_equal(local.counts, separate_counts)
    if backends.backend_info("cpp_standalone").missing():
        pytest.skip("no C++ compiler")
    # the compiled program shipped to two worker processes (no shared folder used)
    two = sweep("lif", "tau_m", TAUS, backend="cpp_standalone", workers=2, **SETTINGS)
    np.testing.assert_array_equal(two.counts, separate_counts)


def test_sweep_errors_name_the_parameter():
    with pytest.raises(ModelError, match="no variable 'tau_x'"):
        sweep("lif", "tau_x", "1 ms,2 ms")
    with pytest.raises(ModelError, match="tau_m = .*wrong unit"):
        sweep("lif", "tau_m", "1 mV,2 mV")
    with pytest.raises(ModelError, match="tau_m"):
        sweep("lif", "tau_m", "1 ms,")


def test_sweep_cli(tmp_path, capsys, separate_counts):
    out = tmp_path / "sweep.json"
    status = main(
        ["sweep", "lif", "--param", "tau_m=5ms,10ms", "--current", "0.3nA", "--n", "2"]
        + ["--duration", "200ms", "--workers", "1", "--json", "--out", str(out)]
    )
    assert status == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    assert printed["counts"] == separate_counts[:2].tolist()
    assert main(["sweep", "lif", "--param", "tau_m=5ms", "--backend", "nope"]) == 2


def test_a_standalone_sweep_leaves_no_project_folder_behind(tmp_path):
    """The program unpacked for the tasks run in this process (per_worker) is removed when
    the process exits; a sweep used to leave a sweep-* folder in the temporary folder."""
    import os
    import subprocess
    import sys

    pytest.importorskip("cloudpickle")
    if backends.backend_info("cpp_standalone").missing():
        pytest.skip("no C++ compiler")
    code = (
        "from neurolearn.brian.sweep import sweep\n"
        "r = sweep('lif', 'tau_m', '5 ms,10 ms', backend='cpp_standalone', workers=1, n=2,"
        " duration='50 ms', current='0.3 nA', progress=False)\n"
        "print(r.builds, r.counts.shape)\n"
    )
    env = dict(os.environ, TMPDIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[:3] == ["1", "(2,", "2)"]
    assert (tmp_path / "neurolearn-scratch").is_dir()  # the program was unpacked there
    assert not list(tmp_path.rglob("sweep-*")) and not list(tmp_path.rglob("*sweep*"))

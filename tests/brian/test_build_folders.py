"""Temporary standalone project folders are removed when the run ends, successfully or not;
folders the user gives are kept; the project cache is locked while used and bounded in size
(neurolearn.brian.projects)."""

import importlib.util
import os
import tempfile

import numpy as np
import pytest
from brian2 import ms

from neurolearn.brian import NetworkSpec, cuda, projects
from neurolearn.brian.backends import BackendUnavailableError, use_backend


@pytest.fixture
def tmpdir_watch(tmp_path, monkeypatch):
    """An empty temporary folder for this test (what TMPDIR names)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def leftovers(folder):
    """Entries of ``folder``, less Brian2's own per-process log files (``brian_stdout_*.log``
    and ``brian_stderr_*.log`` of Cython compilation, ``brian_debug_*.log``), which Brian2
    reuses for the whole process and deletes when Python exits."""
    return [p for p in folder.iterdir() if not (p.name.startswith("brian_") and p.suffix == ".log")]


def network():
    net = NetworkSpec()
    net.add_population("exc", "lif", 4, initial={"v": "v_rest + 0.9 * (v_th - v_rest)"})
    net.add_input("noise", "poisson", 4, rate="400 Hz")
    net.connect("noise", "exc", j="i", weight="0.5 nA")
    net.monitor_spikes("exc")
    return net


def test_no_new_temporary_entries_after_runs_on_each_backend(tmpdir_watch, tmp_path):
    counts = {}
    for backend in ("numpy", "cython", "cpp_standalone"):
        res = network().run(20 * ms, backend=backend, seed=3)
        counts[backend] = res.spikes["exc"].n
        assert leftovers(tmpdir_watch) == [], backend
    assert counts["numpy"] == counts["cython"]
    # a folder the user gives is kept, also when closed
    kept = tmp_path / "kept"
    res = network().run(20 * ms, backend="cpp_standalone", seed=3, directory=kept)
    assert res.spikes["exc"].n == counts["cpp_standalone"]
    assert (kept / "main").is_file() and leftovers(tmpdir_watch) == []


def test_failed_runs_leave_no_temporary_folder(tmpdir_watch):
    with pytest.raises(RuntimeError, match="inside"), use_backend("cpp_standalone") as be:
        assert be.temporary and be.directory.parent == tmpdir_watch
        raise RuntimeError("inside the block")
    assert leftovers(tmpdir_watch) == []


#: brian2cuda is the extra neurolearn[cuda] (installed in CI's first leg, not in the second)
needs_brian2cuda = pytest.mark.skipif(
    importlib.util.find_spec("brian2cuda") is None, reason="needs brian2cuda (neurolearn[cuda])"
)


@needs_brian2cuda
def test_cuda_projects_leave_no_temporary_folder(tmpdir_watch, monkeypatch):
    # cuda_standalone: the project generated for another machine (no nvcc needed)
    sim = network().build(20 * ms, backend="cuda_standalone", seed=3, compile=False)
    assert (sim.backend.directory / "makefile").is_file()
    sim.close()
    assert leftovers(tmpdir_watch) == []
    # no GPU: refused before code generation, nothing left behind
    monkeypatch.setattr(cuda, "gpu_available", lambda: False)
    with pytest.raises(BackendUnavailableError, match="no NVIDIA GPU.*nothing was generated"):
        network().run(20 * ms, backend="cuda_standalone", seed=3)
    assert leftovers(tmpdir_watch) == []


def test_project_cache_is_locked_and_bounded(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROLEARN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with projects.cached_project("net A", "cpp_standalone") as a:
        (a / "big.bin").write_bytes(np.zeros(300_000, np.uint8).tobytes())
        with projects.cached_project("net A", "cpp_standalone") as busy:
            assert busy != a and busy.parent == tmp_path  # in use: a temporary folder
        assert not busy.exists()
    with projects.cached_project("net A", "cpp_standalone") as again:
        assert again == a and (a / "big.bin").is_file()  # reused
    os.utime(a / ".neurolearn_last_use", (1, 1))  # least recently used
    monkeypatch.setenv("NEUROLEARN_BUILD_CACHE_MB", "0.5")
    with projects.cached_project("net B", "cpp_standalone") as b:
        (b / "big.bin").write_bytes(np.zeros(300_000, np.uint8).tobytes())
    assert b.is_dir() and not a.exists()  # 0.6 MB > 0.5 MB: the older one went
    monkeypatch.setenv("NEUROLEARN_BUILD_CACHE_MB", "0")
    with projects.cached_project("net B", "cpp_standalone") as off:
        assert off.parent == tmp_path
    monkeypatch.setenv("NEUROLEARN_BUILD_CACHE_MB", "lots")
    with pytest.raises(ValueError, match="NEUROLEARN_BUILD_CACHE_MB='lots'"):
        projects.cache_limit_mb()

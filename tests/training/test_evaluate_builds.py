"""`neurolearn evaluate` on standalone backends: the compiled project is cached (later chunks
and later evaluations recompile only what changed) and nothing is left in the temporary
folder; a project generated here can be run elsewhere and its results read back
(--generate-only / --from-build), giving the results of running it here; a CUDA evaluation
without GPU is refused before any work."""

import json
import shutil
import subprocess
import tempfile

import pytest

torch = pytest.importorskip("torch")

from test_run_folder import write_config

from neurolearn.brian import cuda
from neurolearn.cli import main
from neurolearn.training import train_from_config
from neurolearn.training.evaluation import evaluate_run


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    base = tmp_path_factory.mktemp("evaluate_builds")
    cfg = write_config(base / "cfg.toml")
    train_from_config(cfg, base / "run", progress=False)
    return base / "run"


def test_standalone_evaluation_cached_and_run_elsewhere(trained, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NEUROLEARN_CACHE_DIR", str(tmp_path / "cache"))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    ref = evaluate_run(trained, max_samples=6, chunk_size=6, progress=False, write=False)
    cpp = evaluate_run(
        trained, backend="cpp_standalone", max_samples=6, chunk_size=6, progress=False
    )
    assert cpp["n_samples"] == 6 and cpp["agreement"] >= 5 / 6
    assert cpp["torch_accuracy"] == ref["torch_accuracy"]
    # nothing left in the temporary folder (Brian2's own log files go when Python exits)
    assert [p.name for p in tmp.iterdir() if not p.name.startswith("brian_")] == []
    cached = [p for p in (tmp_path / "cache" / "brian_projects").iterdir() if p.is_dir()]
    assert len(cached) == 1 and (cached[0] / "main").is_file()

    # generated here, run "elsewhere" (a copy, ./main run there, copied back), read back
    build = tmp_path / "build"
    args = ["evaluate", str(trained), "--backend", "cpp_standalone", "--max-samples", "6"]
    assert main(args + ["--chunk-size", "6", "--build-dir", str(build), "--generate-only"]) == 0
    assert f"--from-build {build}" in capsys.readouterr().out
    record = json.loads((build / "neurolearn_build.json").read_text())
    assert record["chunks"] == ["chunk_000"] and record["n_samples"] == 6
    assert not (build / "chunk_000" / "results" / "last_run_info.txt").exists()
    there = tmp_path / "gpu-machine" / "build"
    shutil.copytree(build, there)
    subprocess.run(["./main"], cwd=there / "chunk_000", check=True, capture_output=True)
    back = tmp_path / "back"
    shutil.copytree(there, back)
    assert main(["evaluate", str(trained), "--from-build", str(back), "--json"]) == 0
    loaded = json.loads(capsys.readouterr().out)
    assert loaded == {k: cpp[k] for k in ("torch_accuracy", "brian2_accuracy", "agreement")}
    # a project not run yet: the message names the folder
    assert main(["evaluate", str(trained), "--from-build", str(build)]) == 2
    err = capsys.readouterr().err
    assert "chunk_000" in err and "has not been run" in err


def test_cuda_without_gpu_refused_before_any_work(trained, monkeypatch, capsys):
    monkeypatch.setattr(cuda, "gpu_available", lambda: False)
    assert main(["evaluate", str(trained), "--backend", "cuda_standalone"]) == 2
    err = capsys.readouterr().err
    assert "no NVIDIA GPU" in err and "nothing was generated" in err and "--from-build" in err

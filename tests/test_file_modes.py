"""Every kind of file neurolearn writes, through the commands that write it, follows the
user's umask as ``open()`` would (``0o666`` less the umask; folders ``0o777`` less it):
results.h5, summary.json and figures (simulate), network.h5, checkpoint.pt, metrics.csv and the
other files of a run folder (train), evaluation_<backend>.json (evaluate), the comparison
tables, summary and figures (allen compare), fit.json and its figures (fit)."""

import os
import stat
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from neurolearn.cli import main

sys.path.insert(0, str(Path(__file__).parent / "training"))
sys.path.insert(0, str(Path(__file__).parent / "fitting"))
from test_fitting_cli import _trace_file  # noqa: E402
from test_run_folder import write_config  # noqa: E402


@pytest.fixture(params=[0o022, 0o077], ids=["umask022", "umask077"])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def modes(folder: Path) -> dict:
    """``{relative path: mode}`` of every file and folder below ``folder``."""
    return {
        p.relative_to(folder).as_posix(): stat.S_IMODE(p.stat().st_mode)
        for p in sorted(folder.rglob("*"))
    }


def check(folder: Path, umask: int, expected: set) -> None:
    found = modes(folder)
    assert expected <= set(found), sorted(found)
    for name, mode in found.items():
        want = (0o777 if (folder / name).is_dir() else 0o666) & ~umask
        assert mode == want, (name, oct(mode), oct(want))


def test_every_written_file_follows_the_umask(tmp_path, umask, data_dir, monkeypatch, capsys):
    monkeypatch.setenv("NEUROLEARN_DATA_DIR", str(data_dir))
    run = tmp_path / "run"
    cfg = write_config(tmp_path / "cfg.toml")
    assert main(["train", str(cfg), "--out", str(run), "--quiet"]) == 0, capsys.readouterr()
    assert main(["evaluate", str(run), "--max-samples", "4", "--quiet"]) == 0
    files = {"network.h5", "checkpoint.pt", "metrics.csv", "config.toml", "model.toml"}
    check(run, umask, files | {"versions.json", "evaluation_numpy.json"})

    cmp = tmp_path / "cmp"
    args = ["allen", "compare", str(run), "--species", "mouse", "--out", str(cmp)]
    assert main(args + ["--boot", "20", "--perm", "20", "--cache", str(tmp_path / "c")]) == 0
    check(cmp, umask, {"tau_comparison.csv", "tau_comparison.json", "tau_qq.png"})

    trace = _trace_file(tmp_path)
    fit = tmp_path / "fit.toml"
    fit.write_text(
        f'model = "lif"\n[target]\nkind = "trace"\nfile = "{trace.name}"\n'
        '[optimizer]\nname = "differential_evolution"\npopsize = 3\nmaxiter = 1\n'
        '[bounds]\ntau_m = ["5 ms", "30 ms"]\n'
    )
    assert main(["fit", str(fit), "--out", str(tmp_path / "fit"), "--quiet"]) in (0, 3)
    check(tmp_path / "fit", umask, {"fit.json", "fit.png"})

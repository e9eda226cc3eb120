"""Files neurolearn writes get the permissions ``open()`` and ``mkdir()`` would give them:
``0o666``/``0o777`` less the user's umask (tested at 022 and 077), or the mode of the file they
replace; never the private ``0o600`` of a temporary file."""

import json
import os
import stat

import pytest

from neurolearn.io import atomic_path, atomic_write_json, current_umask, make_temp_dir


@pytest.fixture(params=[0o022, 0o077], ids=["umask022", "umask077"])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_current_umask_reads_without_changing_it(umask):
    assert current_umask() == umask
    assert current_umask() == umask


def test_atomic_files_follow_the_umask(tmp_path, umask):
    path = atomic_write_json(tmp_path / "a" / "results.json", {"x": 1})
    assert json.loads(path.read_text()) == {"x": 1}
    assert mode(path) == 0o666 & ~umask
    with open(tmp_path / "plain.txt", "w") as fh:  # what open() gives, for comparison
        fh.write("x")
    assert mode(path) == mode(tmp_path / "plain.txt")


def test_replacing_a_file_keeps_its_mode(tmp_path, umask):
    path = tmp_path / "shared.json"
    path.write_text("{}")
    os.chmod(path, 0o664)
    atomic_write_json(path, {"y": 2})
    assert mode(path) == 0o664


def test_failed_write_leaves_nothing(tmp_path, umask):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "x.h5") as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_temporary_folders_follow_the_umask(tmp_path, umask):
    folder = make_temp_dir(tmp_path / "out", prefix=".run.")
    assert folder.parent == tmp_path / "out"
    assert mode(folder) == 0o777 & ~umask


def test_figures_follow_the_umask(tmp_path, umask):
    import matplotlib.pyplot as plt

    from neurolearn.figures import save_figure

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    files = save_figure(fig, tmp_path / "fig")
    assert files
    for f in files:
        assert mode(f) == 0o666 & ~umask, f


def test_simulate_outputs_follow_the_umask(tmp_path, umask, capsys):
    from neurolearn.cli import main

    out = tmp_path / "sim"
    code = main(["simulate", "lif", "--n", "2", "--duration", "50ms", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert mode(out) == 0o777 & ~umask
    written = sorted(p.name for p in out.iterdir())
    assert "results.h5" in written and "summary.json" in written
    for f in out.iterdir():
        assert mode(f) == 0o666 & ~umask, f.name

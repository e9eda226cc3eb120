"""Optional dependencies (neurolearn.extras): a missing extra is named with the command that
installs it, in the library and on the command line. torch is made unimportable here by a
finder at the head of ``sys.meta_path`` that raises ModuleNotFoundError for it (and its
modules are taken out of ``sys.modules`` for the test), so these tests run the same with and
without torch installed. (``sys.modules["torch"] = None`` would do too, but scipy's array-API
helpers look torch up in ``sys.modules`` and fail on a None there.)"""

import sys
from pathlib import Path

import numpy as np
import pytest

from neurolearn.cli import main
from neurolearn.extras import EXTRAS, MissingExtraError, install_hint, installed, require


class _NoTorch:
    """A meta path finder for which torch is not installed."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


@pytest.fixture
def no_torch(monkeypatch):
    monkeypatch.setattr(sys, "meta_path", [_NoTorch, *sys.meta_path])
    for name in list(sys.modules):
        if name == "torch" or name.startswith("torch."):
            monkeypatch.delitem(sys.modules, name)


def test_require_names_the_extra(no_torch):
    with pytest.raises(
        MissingExtraError,
        match=r"^X needs torch, which is not installed: "
        r"pip install 'neurolearn\[torch\]'$",
    ) as info:
        require("torch", "X")
    assert isinstance(info.value, ImportError) and info.value.name == "torch"
    assert install_hint("allensdk") == (
        "pip install 'neurolearn[allen]' (allensdk 2.16 installs only on Python <= 3.11)"
    )
    assert set(EXTRAS) == {"torch", "allensdk", "brian2cuda", "brian2hears"}
    assert installed("numpy") and not installed("neurolearn_has_no_such_module")
    with pytest.raises(KeyError):
        require("numpy", "numpy is no extra")


def test_require_lets_a_broken_install_fail_as_it_is(monkeypatch):
    """An ImportError raised inside an installed optional package is not reported as a
    missing extra (it names another module)."""

    def broken(name):
        raise ModuleNotFoundError("No module named 'six'", name="six")

    monkeypatch.setattr("importlib.import_module", broken)
    with pytest.raises(ModuleNotFoundError, match="six") as info:
        require("allensdk", "z")
    assert not isinstance(info.value, MissingExtraError)


@pytest.mark.parametrize(
    "argv,what",
    [
        (["train", "configs/fsdd_lif.toml", "--out", "{tmp}/t"], "neurolearn train"),
        (["evaluate", "{tmp}/none"], "neurolearn evaluate"),
        (["run", "heterogeneity", "--out", "{tmp}/h"], "neurolearn run heterogeneity"),
    ],
)
def test_torch_commands_name_the_extra(no_torch, tmp_path, capsys, argv, what):
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"neurolearn {argv[0]}: error: {what} needs torch, which is not installed: "
        "pip install 'neurolearn[torch]'"
    )
    assert not any(tmp_path.iterdir())  # nothing written


def test_fit_with_adam_names_the_extra_before_fitting(no_torch, tmp_path, capsys):
    config = tmp_path / "fit.toml"
    config.write_text(
        'model = "lif"\n[target]\nkind = "trace"\nfile = "trace.npz"\n'
        '[bounds]\ntau_m = ["5 ms", "30 ms"]\n[optimizer]\nname = "adam"\nsteps = 2\n'
    )
    np.savez(tmp_path / "trace.npz", v=np.full((50, 1), -0.065), i=np.zeros((50, 1)), dt_s=1e-4)
    assert main(["fit", str(config), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    assert capsys.readouterr().err.strip() == (
        "neurolearn fit: error: the optimizer 'adam' (gradient fitting) needs torch, which is "
        "not installed: pip install 'neurolearn[torch]'"
    )
    assert not (tmp_path / "out").exists()


def test_cli_safety_net_for_a_command_that_imports_torch(no_torch, monkeypatch, capsys):
    """A command reaching an optional dependency without its own check still ends with one
    line naming the extra (exit status 2), not an internal-error traceback; other import
    errors stay internal errors (exit status 1, traceback)."""
    import neurolearn.commands.reproduce as reproduce

    monkeypatch.setattr(reproduce, "_run", lambda args: __import__("torch.nn"))
    assert main(["reproduce", "--list"]) == 2
    assert capsys.readouterr().err.strip() == (
        "neurolearn reproduce: error: this command needs torch, which is not installed: "
        "pip install 'neurolearn[torch]'"
    )
    monkeypatch.setattr(reproduce, "_run", lambda args: __import__("neurolearn_no_such_module"))
    assert main(["reproduce", "--list"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "internal error" in err


def test_datasets_without_torch(no_torch):
    """Events and binning need no torch; the tensor dataset and the loaders name the extra."""
    from neurolearn.datasets import SpikeDataset, SpikeEvents, bin_events, time_major_loader

    events = SpikeEvents(
        times=np.array([0.0005, 0.0031, 0.0032, 0.0009], np.float32),
        units=np.array([1, 0, 0, 2], np.int32),
        offsets=np.array([0, 3, 4]),
        labels=np.array([0, 1]),
        n_channels=3,
    )
    t, u = events.sample(0)
    x = bin_events(t, u, 3, dt_ms=1.0, n_steps=4)
    assert x.tolist() == [[0, 1, 0], [0, 0, 0], [0, 0, 0], [2, 0, 0]]
    for build in (lambda: SpikeDataset(events), lambda: time_major_loader([])):
        with pytest.raises(MissingExtraError, match=r"pip install 'neurolearn\[torch\]'"):
            build()


def _project():
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        tomllib = pytest.importorskip("tomli", reason="reading pyproject.toml on Python 3.10")
    root = Path(__file__).resolve().parents[1]
    return tomllib.loads((root / "pyproject.toml").read_text())["project"]


def _chosen(requirements, python):
    """name -> specifier of the requirements whose marker holds on Python ``python``."""
    from packaging.requirements import Requirement

    env = {"python_version": python, "python_full_version": f"{python}.0", "extra": ""}
    out = {}
    for text in requirements:
        r = Requirement(text)
        if r.marker is None or r.marker.evaluate(env):
            assert r.name not in out, f"two requirements of {r.name} hold on Python {python}"
            out[r.name] = r.specifier
    return out


@pytest.mark.parametrize(
    "python, brian2_ok, brian2_not, numpy_ok, numpy_not, cuda",
    [
        ("3.10", ["2.8.0", "2.9.0"], ["2.10.1"], ["1.26.4", "2.3.5"], ["2.4.0"], "1.0a7"),
        ("3.11", ["2.8.0", "2.9.0"], ["2.10.1"], ["1.23.5", "2.3.5"], ["2.4.0"], "1.0a7"),
        (
            "3.12",
            ["2.10.1", "2.10.9"],
            ["2.9.0", "2.11.0"],
            ["2.0.0", "2.5.5"],
            ["1.26.4"],
            "1.0b1",
        ),
        ("3.13", ["2.10.1"], ["2.9.0"], ["2.5.5"], ["1.26.4"], "1.0b1"),
    ],
)
def test_environment_markers_choose_the_stack(
    python, brian2_ok, brian2_not, numpy_ok, numpy_not, cuda
):
    """pyproject.toml: a plain install pulls neither torch nor any other optional dependency;
    Python <= 3.11 gets brian2 2.8/2.9 and numpy < 2.4, Python >= 3.12 brian2 2.10 and numpy 2;
    the cuda extra brian2cuda 1.0a7 / 1.0b1 with the curand wheel; all includes torch."""
    project = _project()
    base = _chosen(project["dependencies"], python)
    assert not set(base) & {"torch", "allensdk", "brian2cuda", "brian2hears"}
    assert all(base["brian2"].contains(v) for v in brian2_ok)
    assert not any(base["brian2"].contains(v) for v in brian2_not)
    assert all(base["numpy"].contains(v) for v in numpy_ok)
    assert not any(base["numpy"].contains(v) for v in numpy_not)
    extras = project["optional-dependencies"]
    gpu = _chosen(extras["cuda"], python)
    assert list(gpu["brian2cuda"]) and all(s.version == cuda for s in gpu["brian2cuda"])
    assert "nvidia-curand" in gpu
    assert set(_chosen(extras["allen"], python)) == ({"allensdk"} if python < "3.12" else set())
    assert "torch" in _chosen(extras["torch"], python)
    (all_,) = extras["all"]  # one requirement: neurolearn[every extra]
    assert {"torch", "cuda", "allen", "audio"} <= set(all_[len("neurolearn[") : -1].split(","))


def test_this_interpreter_has_its_stack():
    """The installed brian2 and numpy are the ones the markers choose for this Python (the
    Python 3.12 CI leg runs brian2 2.10 with numpy 2, the 3.11 leg brian2 2.8/2.9 with
    numpy 1.x)."""
    from importlib.metadata import version

    from packaging.version import Version

    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    base = _chosen(_project()["dependencies"], python)
    assert base["brian2"].contains(Version(version("brian2")))
    assert base["numpy"].contains(Version(version("numpy")))

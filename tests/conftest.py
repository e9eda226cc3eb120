"""Shared fixtures.

``data_dir``: the folder named by NEUROLEARN_DATA_DIR. Data tests skip with a clear reason when
it is unset (a user's fresh clone); with NEUROLEARN_REQUIRE_DATA=1 (set by .ci/run) they fail
instead, so CI never goes green on untested code.

Optional dependencies: tests marked ``torch`` or ``allensdk`` skip, naming the extra to install,
where the package is missing (tests importing one at module level do the same with
``pytest.importorskip``). CI's torch-free leg deselects them explicitly (``-m "not torch and
not allensdk"``). NEUROLEARN_REQUIRE_EXTRAS (comma-separated modules, e.g.
``torch,allensdk,brian2cuda``; set by the CI leg that installs them) stops the session at
once if one of them cannot be imported, so their tests can never skip there.
"""

import importlib
import os
import shutil
from pathlib import Path

import pytest

from neurolearn.extras import install_hint, installed

os.environ.setdefault("MPLBACKEND", "Agg")

#: Markers of tests that need an optional dependency -> the module.
OPTIONAL_MARKERS = {"torch": "torch", "allensdk": "allensdk"}


def pytest_sessionstart(session):
    required = os.environ.get("NEUROLEARN_REQUIRE_EXTRAS", "").split(",")
    for module in filter(None, (m.strip() for m in required)):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            pytest.exit(
                f"NEUROLEARN_REQUIRE_EXTRAS names {module}, which cannot be imported "
                f"({type(exc).__name__}: {exc})",
                returncode=1,
            )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    for marker, module in OPTIONAL_MARKERS.items():
        if item.get_closest_marker(marker) and not installed(module):
            pytest.skip(f"needs {module}, which is not installed: {install_hint(module)}")


def _missing(reason: str):
    if os.environ.get("NEUROLEARN_REQUIRE_DATA") == "1":
        pytest.fail(f"data required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    value = os.environ.get("NEUROLEARN_DATA_DIR")
    if not value:
        _missing("NEUROLEARN_DATA_DIR is not set; point it at a folder laid out like shared/data")
    path = Path(value)
    if not path.is_dir():
        _missing(f"NEUROLEARN_DATA_DIR={value} is not a folder")
    return path


@pytest.fixture
def require_data(data_dir):
    """Return a function giving a path inside the data folder, failing/skipping if absent."""

    def get(*parts):
        path = data_dir.joinpath(*parts)
        if not path.exists():
            _missing(f"{path} is missing from NEUROLEARN_DATA_DIR")
        return path

    return get


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Caches go to a temporary folder: ../shared is read-only in CI."""
    cache = tmp_path_factory.getbasetemp() / "neurolearn-cache"
    cache.mkdir(exist_ok=True)
    monkeypatch.setenv("NEUROLEARN_CACHE_DIR", str(cache))
    yield


@pytest.fixture
def one_torch_thread():
    """One torch intra-op thread during the test, restored afterwards: tests of tiny tensors
    in a Python time loop run up to 60x faster on a shared 2-core machine without OpenMP
    spinning. Modules opt in with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    Without torch it does nothing (tests needing torch are marked ``torch`` and skip)."""
    if not installed("torch"):
        yield
        return
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def copy_of(tmp_path):
    """Copy a read-only data folder or file into a writable temporary folder."""

    def copy(src: Path) -> Path:
        dst = tmp_path / src.name
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
        return dst

    return copy

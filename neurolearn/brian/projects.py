"""Standalone project folders: temporary ones are removed when the run ends, cached ones are
reused where that saves recompilation.

A standalone backend (``cpp_standalone``, ``cuda_standalone``) turns a simulation into a C++
(CUDA) project folder: about 1 MB for a small ``simulate``, 50 MB for an ``evaluate`` chunk,
30 MB for a CUDA project. Three kinds of folder:

* **given** (``directory=DIR`` in Python, ``--build-dir DIR`` on the command line): the user's
  folder; neurolearn never removes it. Brian2 rewrites only the files whose content changed,
  so building into the same folder again recompiles only what changed.
* **temporary** (the default): a new folder ``neurolearn_<backend>_*`` in the temporary
  folder (:func:`tempfile.gettempdir`, ``TMPDIR``), removed when the run ends, successfully
  or not: by :meth:`neurolearn.brian.backends.Backend.close`, when the ``use_backend`` block
  fails, and at the latest when the handle is garbage-collected or Python exits.
* **cached** (:func:`cached_project`): a folder under ``NEUROLEARN_CACHE_DIR/brian_projects``
  named by a key, kept between runs so that building the same network again (every chunk of
  ``neurolearn evaluate``, a repeated ``evaluate`` of the same run) only recompiles the files
  that changed. A folder is locked while a process uses it (another process then builds in
  a temporary folder); after use the cache is trimmed to ``NEUROLEARN_BUILD_CACHE_MB``
  megabytes (default 2000) by removing the least recently used folders; ``0`` turns the cache
  off (every build then uses a temporary folder).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from ..paths import cache_dir

__all__ = [
    "DEFAULT_CACHE_MB",
    "cache_limit_mb",
    "cached_project",
    "make_temporary_project",
    "project_cache_dir",
    "remove_project",
    "trim_cache",
]

#: Default size limit of the project cache, in megabytes (``NEUROLEARN_BUILD_CACHE_MB``).
DEFAULT_CACHE_MB = 2000.0


def make_temporary_project(backend: str) -> Path:
    """A new empty project folder ``neurolearn_<backend>_*`` in the temporary folder.

    Returns
    -------
    Path
        Absolute path; the caller removes it (:func:`remove_project`).
    """
    return Path(tempfile.mkdtemp(prefix=f"neurolearn_{backend}_")).resolve()


def remove_project(directory: str | os.PathLike) -> None:
    """Remove a project folder and everything in it (nothing if it is gone already)."""
    shutil.rmtree(directory, ignore_errors=True)


def cache_limit_mb() -> float:
    """Size limit of the project cache from ``NEUROLEARN_BUILD_CACHE_MB`` (megabytes; 0: no
    cache).

    Raises
    ------
    ValueError
        If the variable is set to something other than a number >= 0 (names the variable).
    """
    value = os.environ.get("NEUROLEARN_BUILD_CACHE_MB", "").strip()
    if not value:
        return DEFAULT_CACHE_MB
    try:
        limit = float(value)
    except ValueError:
        limit = -1.0
    if not limit >= 0:
        raise ValueError(
            f"NEUROLEARN_BUILD_CACHE_MB={value!r}: expected a size in megabytes >= 0 (0 turns "
            "the cache of compiled projects off)"
        )
    return limit


def project_cache_dir() -> Path:
    """``NEUROLEARN_CACHE_DIR/brian_projects`` (created)."""
    path = cache_dir() / "brian_projects"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _size(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def trim_cache(limit_mb: float | None = None, keep: Path | None = None) -> list[Path]:
    """Remove the least recently used project folders until the cache holds at most
    ``limit_mb`` megabytes; folders in use by a process (locked) and ``keep`` stay.

    Parameters
    ----------
    limit_mb : float, optional
        Default: :func:`cache_limit_mb`.
    keep : Path, optional
        A folder never removed (the one just used).

    Returns
    -------
    list of Path
        The folders removed.
    """
    limit = cache_limit_mb() if limit_mb is None else float(limit_mb)
    root = project_cache_dir()
    folders = [p for p in root.iterdir() if p.is_dir()]
    sizes = {p: _size(p) for p in folders}
    total = sum(sizes.values())
    removed = []
    for folder in sorted(folders, key=lambda p: _last_use(p)):
        if total <= limit * 1e6:
            break
        if keep is not None and folder == keep:
            continue
        with _locked(folder, wait=False) as got:
            if not got:
                continue
            remove_project(folder)
        with contextlib.suppress(OSError):
            (root / f"{folder.name}.lock").unlink()
        total -= sizes[folder]
        removed.append(folder)
    return removed


def _last_use(folder: Path) -> float:
    stamp = folder / ".neurolearn_last_use"
    try:
        return stamp.stat().st_mtime
    except OSError:
        return folder.stat().st_mtime


@contextlib.contextmanager
def _locked(folder: Path, wait: bool) -> Iterator[bool]:
    """An exclusive lock on ``folder`` (a ``.lock`` file beside it); yields whether it was
    obtained (``wait=False``: not when another process holds it)."""
    lock = folder.parent / f"{folder.name}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def cached_project(key: str, backend: str) -> Iterator[Path]:
    """A project folder for ``key`` in the cache, locked while the block runs.

    Parameters
    ----------
    key : str
        What identifies the project (e.g. the hash of a network file and the chunk size);
        the folder is ``<backend>-<sha256(key)[:16]>``.
    backend : str
        The standalone backend, part of the folder name.

    Yields
    ------
    Path
        The cached folder; a temporary folder (removed afterwards) when the cache is off
        (``NEUROLEARN_BUILD_CACHE_MB=0``), cannot be written, or another process uses it.

    Raises
    ------
    ValueError
        A bad ``NEUROLEARN_BUILD_CACHE_MB``.
    """
    limit = cache_limit_mb()
    folder = None
    if limit > 0:
        with contextlib.suppress(OSError):
            root = project_cache_dir()
            folder = root / f"{backend}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    if folder is not None:
        with _locked(folder, wait=False) as got:
            if got:
                folder.mkdir(exist_ok=True)
                try:
                    yield folder
                finally:
                    stamp = folder / ".neurolearn_last_use"
                    with contextlib.suppress(OSError):
                        stamp.touch()
                        os.utime(stamp, (time.time(), time.time()))
                trim_cache(limit, keep=folder)
                return
    tmp = make_temporary_project(backend)
    try:
        yield tmp
    finally:
        remove_project(tmp)

"""Atomic file writes: results, checkpoints and figures are written to a temporary file in
the destination folder and renamed into place, so a crash never leaves a half-written file.

Files and folders written this way get the permissions :func:`open` and :func:`os.mkdir` would
give them: ``0o666`` (files) or ``0o777`` (folders) less the process's umask, or the mode of
the file being replaced (temporary files from :mod:`tempfile` are private, ``0o600``, which
would hide results from colleagues in a shared folder)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_path",
    "atomic_write_text",
    "atomic_write_json",
    "finite_or_none",
    "current_umask",
    "make_temp_dir",
    "OutputFolderError",
    "check_output_dir",
    "OutputFolder",
]


def current_umask() -> int:
    """The process's file-mode creation mask (e.g. ``0o022``).

    Read from ``/proc/self/status`` where it exists (Linux), which leaves the mask untouched;
    elsewhere with :func:`os.umask` set and restored at once.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_temp_dir(parent: str | os.PathLike, prefix: str) -> Path:
    """A new temporary folder inside ``parent`` (created) with the permissions
    :func:`os.mkdir` would give it (``0o777`` less the umask), to be renamed into place.

    Returns
    -------
    Path
    """
    Path(parent).mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=parent))
    os.chmod(path, 0o777 & ~current_umask())
    return path


class OutputFolderError(OSError):
    """An output folder cannot be used: it is not a folder, or it cannot be created or
    written. The message names the folder and the reason."""


def _probe_writable(folder: Path) -> None:
    """Create and delete a file in ``folder``: the one reliable test of writability (the
    permission bits say nothing for root, read-only mounts or access-control lists)."""
    fd, name = tempfile.mkstemp(prefix=".neurolearn-probe.", dir=folder)
    os.close(fd)
    os.unlink(name)


def check_output_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Check, before any work, that ``path`` is a folder this process can write into, or
    one it can create; nothing is left behind (folders created for the check are removed).

    Parameters
    ----------
    path : str or PathLike
        The output folder.
    what : str
        How messages name it (e.g. ``"--out"``).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    OutputFolderError
        If ``path`` exists and is not a folder, or it (or a folder above it) cannot be
        created or written; the message names the folder and the reason.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputFolderError(f"{what} {path}: exists and is not a folder")
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise OutputFolderError(f"{what} {path}: cannot be created, {probe} is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        _probe_writable(path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        where = path if not missing else (Path(exc.filename) if exc.filename else path)
        verb = "cannot be written" if not missing else "cannot be created"
        raise OutputFolderError(f"{what} {path}: {verb} ({where}: {reason})") from None
    finally:
        for folder in missing:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()
    return path


class OutputFolder:
    """Context manager that leaves an output folder as it found it when the command writing
    into it fails before its first result.

    On entering it records whether the folder existed and what it held; on an exception
    before the first result (see ``first_result``) it removes every entry that appeared in
    the meantime and the folder itself (with the parents it created) if it did not exist.
    Files that were there before are never touched, and a command that ends normally keeps
    everything.

    Parameters
    ----------
    path : str or PathLike
        The output folder (checked with :func:`check_output_dir`, created on entering).
    first_result : str, optional
        A file name in the folder whose presence means the command has produced a result
        worth keeping (e.g. ``"checkpoint.pt"``); after it exists, or after
        :meth:`commit`, nothing is removed. None: any new entry is a result (only a folder
        left empty is removed), for commands that write partial results as they go.
    what : str
        How messages name the folder.

    Raises
    ------
    OutputFolderError
        From :func:`check_output_dir`, on construction.
    """

    def __init__(
        self, path: str | os.PathLike, first_result: str | None = None, what: str = "output folder"
    ):
        self.path = check_output_dir(path, what)
        self.first_result = first_result
        self.committed = False
        self._created: Path | None = None
        self._before: set = set()

    def commit(self) -> None:
        """Mark the first result as written: keep everything from now on."""
        self.committed = True

    def _new_entries(self) -> list:
        if not self.path.is_dir():
            return []
        return [p for p in self.path.iterdir() if p.name not in self._before]

    def _has_result(self) -> bool:
        if self.committed:
            return True
        if self.first_result is None:
            return bool(self._new_entries())
        return (self.path / self.first_result).exists()

    def __enter__(self) -> OutputFolder:
        top = None
        probe = self.path
        while not probe.exists():
            top = probe
            probe = probe.parent
        self._created = top
        self.path.mkdir(parents=True, exist_ok=True)
        self._before = {p.name for p in self.path.iterdir()}
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None or self._has_result():
            return
        if self._created is not None:
            shutil.rmtree(self._created, ignore_errors=True)
            return
        for entry in self._new_entries():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Context manager yielding a temporary path next to ``path``; on success the file is
    fsynced, given the mode :func:`open` would give ``path`` (that of the file it replaces,
    else ``0o666`` less the umask) and renamed onto ``path`` (atomic on POSIX); on error it is
    removed.

    Examples
    --------
    >>> with atomic_path("results.h5") as tmp:
    ...     write_hdf5(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)  # replacing a file keeps its mode, as open()
    except FileNotFoundError:
        mode = 0o666 & ~current_umask()
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int = 2) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically; returns the path."""
    return atomic_write_text(
        path, json.dumps(obj, indent=indent, sort_keys=False, default=_json_default) + "\n"
    )


def finite_or_none(obj: Any) -> Any:
    """``obj`` ready for strict JSON: every NaN or infinite float (Python or NumPy) becomes
    None (JSON ``null``), NumPy scalars become Python numbers, tuples become lists,
    recursively through dicts, lists and tuples; anything else is returned as it is."""
    import math

    import numpy as np

    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return None if not math.isfinite(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _json_default(obj):
    import numpy as np

    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")

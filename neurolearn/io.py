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

"""Where data and caches live.

* ``NEUROLEARN_DATA_DIR``: a folder laid out like the project's reference data folder
  (``allen/cell_types``, ``fsdd/recordings``, ``nmnist_small``, ``braille``, ``grasshopper``...).
  When it is set, readers take files from there and never download.
* ``NEUROLEARN_CACHE_DIR``: where downloads and converted datasets go (default: the per-user
  cache folder given by :func:`pooch.os_cache`, e.g. ``~/.cache/neurolearn``).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DataNotFoundError", "data_dir", "cache_dir", "data_path"]


class DataNotFoundError(FileNotFoundError):
    """A dataset is neither in ``NEUROLEARN_DATA_DIR`` nor in the cache, and cannot be
    downloaded here. The message says how to get it."""


def data_dir() -> Path | None:
    """The folder named by ``NEUROLEARN_DATA_DIR``, or None when unset.

    Raises
    ------
    DataNotFoundError
        If the variable is set but the folder does not exist.
    """
    value = os.environ.get("NEUROLEARN_DATA_DIR")
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise DataNotFoundError(f"NEUROLEARN_DATA_DIR={value!r} is not a folder")
    return path


def cache_dir() -> Path:
    """Writable cache folder (``NEUROLEARN_CACHE_DIR`` or the per-user cache); created."""
    value = os.environ.get("NEUROLEARN_CACHE_DIR")
    if value:
        path = Path(value).expanduser()
    else:
        import pooch

        path = Path(pooch.os_cache("neurolearn"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_path(*parts: str, how_to_get: str = "") -> Path:
    """Path of a file or folder inside ``NEUROLEARN_DATA_DIR``.

    Parameters
    ----------
    *parts : str
        Path components below the data folder, e.g. ``("fsdd", "recordings")``.
    how_to_get : str
        Sentence appended to the error, saying where the data comes from.

    Raises
    ------
    DataNotFoundError
        If ``NEUROLEARN_DATA_DIR`` is unset or the path is missing in it.
    """
    root = data_dir()
    rel = Path(*parts)
    if root is None:
        raise DataNotFoundError(
            f"{rel} not found: NEUROLEARN_DATA_DIR is not set. "
            + (how_to_get or "Point it at a folder holding the data.")
        )
    path = root / rel
    if not path.exists():
        raise DataNotFoundError(f"{path} not found in NEUROLEARN_DATA_DIR={root}. " + how_to_get)
    return path

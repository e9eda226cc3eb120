"""Finding dataset files: the local data folder, the cache, or a checksummed download.

Order of search for a file of a dataset:

1. ``NEUROLEARN_DATA_DIR/<folder>/<file>`` (a folder laid out like the project's reference
   data folder; see :mod:`neurolearn.paths`);
2. ``NEUROLEARN_CACHE_DIR/<folder>/<file>`` (earlier downloads);
3. a download with :mod:`pooch` from the dataset's official address into the cache,
   checked against the checksum in the registry files shipped in the package
   (``neurolearn/datasets/registry/*.txt``).

Step 3 runs only when ``download=True``, or when ``download=None`` (the default) and
``NEUROLEARN_DATA_DIR`` is unset: with a local data folder nothing is fetched behind the
user's back. A file found nowhere raises :class:`~neurolearn.paths.DataNotFoundError` whose
message says where the data comes from.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

from ..paths import DataNotFoundError, cache_dir, data_dir

__all__ = ["registry_file", "load_registry", "find_local", "fetch_file", "should_download"]


def registry_file(name: str) -> Path:
    """Path of the registry file ``name`` (e.g. ``"heidelberg.txt"``) shipped with neurolearn
    in ``neurolearn/datasets/registry`` (read through :mod:`importlib.resources`).

    Raises
    ------
    FileNotFoundError
        If the package holds no registry file of that name.
    """
    folder = Path(str(importlib.resources.files("neurolearn.datasets") / "registry"))
    candidate = folder / name
    if not candidate.is_file():
        raise FileNotFoundError(f"registry file {name!r} not found in {folder}")
    return candidate


def load_registry(name: str) -> dict[str, str]:
    """``{file name: "algo:hexdigest"}`` from a registry file (pooch format: one
    ``name hash`` pair per line, ``#`` starts a comment)."""
    out = {}
    for line in registry_file(name).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) < 2:
            raise ValueError(f"{registry_file(name)}: line {line!r} must be 'name hash'")
        out[parts[0]] = parts[1]
    return out


def should_download(download: bool | None) -> bool:
    """Whether a missing file may be downloaded (see the module docstring)."""
    if download is None:
        return not os.environ.get("NEUROLEARN_DATA_DIR")
    return bool(download)


def find_local(folder: str, names: list[str]) -> Path | None:
    """First of ``names`` found in ``NEUROLEARN_DATA_DIR/folder`` or
    ``NEUROLEARN_CACHE_DIR/folder``, else None."""
    roots = []
    root = data_dir()
    if root is not None:
        roots.append(root / folder)
    roots.append(cache_dir() / folder)
    for r in roots:
        for n in names:
            if (r / n).exists():
                return r / n
    return None


def fetch_file(
    fname: str,
    url: str,
    known_hash: str | None,
    folder: str,
    how_to_get: str,
    progress: bool = True,
) -> Path:
    """Download ``url`` into ``NEUROLEARN_CACHE_DIR/folder/fname`` with pooch, checking
    ``known_hash`` (``"md5:..."``/``"sha256:..."``; None skips the check, for files whose
    content is verified afterwards).

    Raises
    ------
    DataNotFoundError
        If the download fails (no network, server error) or the checksum does not match;
        the message contains ``how_to_get``.
    """
    import pooch

    target = cache_dir() / folder
    try:
        path = pooch.retrieve(
            url, known_hash=known_hash, fname=fname, path=target, progressbar=progress
        )
    except Exception as err:  # network errors come in many types
        raise DataNotFoundError(
            f"could not download {url} ({type(err).__name__}: {err}). " + how_to_get
        ) from err
    return Path(path)

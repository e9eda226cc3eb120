"""The Allen Cell Types Database without allensdk: its cache layout and its API queries.

allensdk 2.16 (its last release) installs only on Python <= 3.11. This module reads and writes
the same cache folder that ``allensdk.core.cell_types_cache.CellTypesCache`` keeps, and
downloads with :mod:`pooch` the same queries of the Allen Institute's RESTful Model Access
(RMA) API that allensdk makes, so that a folder filled by either one serves both:

======================  ===========================================  ==============================
file (manifest key)     allensdk call                                RMA query (model, criteria)
======================  ===========================================  ==============================
``cells.json``          ``CellTypesCache.get_cells``                 ``ApiCellTypesSpecimenDetail``
(``CELLS``)             (``CellTypesApi.list_cells_api``)
``ephys_features.csv``  ``CellTypesCache.get_ephys_features``        ``EphysFeature``,
(``EPHYS_FEATURES``)    (``CellTypesApi.get_ephys_features``)        ``specimen(ephys_result
                                                                     [failed$eqfalse])``
``manifest.json``       ``CellTypesCache.build_manifest``            (written, version 1.1)
======================  ===========================================  ==============================

Both queries ask for every row (``rma::options[num_rows$eq'all']``) of
``/api/v2/data/query.json`` and read the ``msg`` field of the response, as
``RmaApi.model_query`` does; the URL is quoted as allensdk quotes it. The files are written as
allensdk writes them: ``cells.json`` as JSON with an indent of 2 (``json_utilities.write``),
``ephys_features.csv`` with every field quoted, columns in the order of the first row, CRLF line
ends (``Cache.csv_writer``). The RMA API publishes no checksum of a query's result, so a
download is checked for completeness instead: ``success`` true, rows from 0, as many rows as
``total_rows``.

Reference: Allen Institute for Brain Science (2015), Allen Cell Types Database,
celltypes.brain-map.org; RMA: help.brain-map.org/display/api/RESTful+Model+Access+(RMA);
allensdk 2.16.2, ``allensdk/api/queries/cell_types_api.py``, ``rma_api.py``,
``core/cell_types_cache.py``.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import urllib.parse
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from ..io import atomic_path, atomic_write_text, make_temp_dir

__all__ = [
    "ALLEN_API",
    "CELLS_QUERY",
    "EPHYS_FEATURES_QUERY",
    "MANIFEST_VERSION",
    "AllenDownloadError",
    "query_url",
    "rma_query",
    "manifest_entries",
    "write_manifest",
    "cache_paths",
    "read_cells",
    "read_ephys_features",
    "write_cells",
    "write_ephys_features",
    "download_cell_types",
    "read_nwb_sweep",
]

logger = logging.getLogger(__name__)

#: The Allen Institute's API server (allensdk's ``Api.default_api_url``, over https).
ALLEN_API = "https://api.brain-map.org"

#: ``CellTypesApi.list_cells_api()``: every cell of the Cell Types Database.
CELLS_QUERY = "model::ApiCellTypesSpecimenDetail,rma::options[num_rows$eq'all']"

#: ``CellTypesApi.get_ephys_features()``: the features of every cell whose ephys passed QC.
EPHYS_FEATURES_QUERY = (
    "model::EphysFeature,rma::criteria,specimen(ephys_result[failed$eqfalse]),"
    "rma::options[num_rows$eq'all']"
)

#: ``CellTypesCache.MANIFEST_VERSION``: allensdk refuses manifests of another version.
MANIFEST_VERSION = "1.1"

#: The entries of ``CellTypesCache.build_manifest``, in its order (key, spec; parent BASEDIR).
_MANIFEST_FILES = (
    ("CELLS", "cells.json"),
    ("EPHYS_DATA", "specimen_%d/ephys.nwb"),
    ("EPHYS_FEATURES", "ephys_features.csv"),
    ("MORPHOLOGY_FEATURES", "morphology_features.csv"),
    ("RECONSTRUCTION", "specimen_%d/reconstruction.swc"),
    ("MARKER", "specimen_%d/reconstruction.marker"),
    ("EPHYS_SWEEPS", "specimen_%d/ephys_sweeps.json"),
)


class AllenDownloadError(OSError):
    """A query of the Allen API failed (no network, an HTTP error, an incomplete answer)."""


def query_url(query: str, api: str = ALLEN_API) -> str:
    """The URL of an RMA query as allensdk requests it.

    ``RmaApi.build_query_url`` joins ``<api>/api/v2/data/query.json?q=`` and the query;
    ``Api.retrieve_parsed_json_over_http`` quotes it with ``requests.utils.quote(url,
    ';/?:@&=+$,')`` (the same as :func:`urllib.parse.quote` with those safe characters).

    Parameters
    ----------
    query : str
        RMA stages, e.g. :data:`CELLS_QUERY`.
    api : str
        Server (default :data:`ALLEN_API`).

    Returns
    -------
    str
    """
    return urllib.parse.quote(f"{api.rstrip('/')}/api/v2/data/query.json?q={query}", ";/?:@&=+$,")


def rma_query(query: str, api: str = ALLEN_API, folder: str | os.PathLike | None = None) -> list:
    """Rows of an RMA query (the ``msg`` of the response), downloaded with pooch.

    Parameters
    ----------
    query : str
        RMA stages (:data:`CELLS_QUERY`, :data:`EPHYS_FEATURES_QUERY`).
    api : str
        Server (default :data:`ALLEN_API`).
    folder : path, optional
        Where the raw response is written while it is read (a temporary folder inside it,
        removed afterwards); default the system's temporary folder.

    Returns
    -------
    list of dict
        One dict per row, as allensdk's ``model_query`` returns them.

    Raises
    ------
    AllenDownloadError
        If the server cannot be reached (offline), answers with an HTTP error, with something
        other than an RMA JSON envelope, ``success`` false, or fewer rows than its
        ``total_rows`` (the message names the URL and the cause).
    """
    import pooch
    import requests

    url = query_url(query, api)
    tmp = make_temp_dir(folder if folder is not None else _system_tmp(), ".allen-query-")
    log = pooch.get_logger()
    level = log.level
    log.setLevel("WARNING")  # pooch's advice to pin the hash does not apply to query results
    logger.info("downloading %s", url)
    try:
        try:
            path = pooch.retrieve(url, known_hash=None, fname="response.json", path=tmp)
        except Exception as exc:  # requests' ConnectionError, HTTPError, timeouts...
            offline = isinstance(exc, (requests.ConnectionError, requests.Timeout))
            raise AllenDownloadError(
                f"could not download {url} ({type(exc).__name__}: {exc})"
                + ("; is this machine offline?" if offline else "")
            ) from exc
        try:
            envelope = json.loads(Path(path).read_text(encoding="utf-8"))
        except ValueError as exc:
            raise AllenDownloadError(f"{url} did not answer with JSON ({exc})") from None
    finally:
        log.setLevel(level)
        shutil.rmtree(tmp, ignore_errors=True)
    return _rows(envelope, url)


def _system_tmp() -> Path:
    import tempfile

    return Path(tempfile.gettempdir())


def _rows(envelope, url: str) -> list:
    """The ``msg`` rows of an RMA response, checked for completeness."""
    if not isinstance(envelope, dict) or not isinstance(envelope.get("msg"), list):
        raise AllenDownloadError(f"{url}: not an RMA response (no list 'msg')")
    if envelope.get("success") is not True:
        raise AllenDownloadError(f"{url}: the API reports failure: {envelope.get('msg')!r}")
    rows = envelope["msg"]
    total, start = envelope.get("total_rows"), envelope.get("start_row", 0)
    if start != 0 or (total is not None and int(total) != len(rows)):
        raise AllenDownloadError(
            f"{url}: incomplete answer: rows {start}..{start + len(rows)} of {total}"
        )
    return rows


# --------------------------------------------------------------------------- cache layout


def manifest_entries() -> dict:
    """The manifest ``CellTypesCache.build_manifest`` writes, as a JSON-ready dict
    (``{"manifest": [version, BASEDIR ".", CELLS "cells.json", ...]}``)."""
    entries = [
        {"type": "manifest_version", "value": MANIFEST_VERSION},
        {"key": "BASEDIR", "type": "dir", "spec": "."},
    ]
    entries += [
        {"key": key, "type": "file", "spec": spec, "parent_key": "BASEDIR"}
        for key, spec in _MANIFEST_FILES
    ]
    return {"manifest": entries}


def write_manifest(folder: str | os.PathLike) -> Path:
    """Write ``folder/manifest.json`` as allensdk's ``CellTypesCache`` does (atomically),
    unless one exists. Returns its path."""
    path = Path(folder) / "manifest.json"
    if not path.exists():
        atomic_write_text(path, json.dumps(manifest_entries(), indent=2))
    return path


def cache_paths(folder: str | os.PathLike) -> dict[str, Path]:
    """Paths of ``CELLS``, ``EPHYS_FEATURES`` and ``EPHYS_DATA`` (with ``%d`` for the
    specimen id) in an allensdk Cell Types cache folder.

    They come from ``folder/manifest.json`` when it exists, resolved as allensdk's
    ``Manifest`` resolves them (a relative directory below the manifest's folder, a file below
    its ``parent_key`` directory), else from the layout ``build_manifest`` writes.

    Raises
    ------
    ValueError
        If the manifest is not JSON, not an allensdk manifest, of a version other than
        :data:`MANIFEST_VERSION` (allensdk would refuse it), or lacks one of the keys.
    """
    folder = Path(folder)
    path = folder / "manifest.json"
    if not path.is_file():
        specs = dict(_MANIFEST_FILES)
        return {key: folder / specs[key] for key in ("CELLS", "EPHYS_FEATURES", "EPHYS_DATA")}
    try:
        entries = json.loads(path.read_text(encoding="utf-8") or "{}").get("manifest")
    except (ValueError, AttributeError) as exc:
        raise ValueError(f"{path}: not an allensdk manifest ({exc})") from None
    if not isinstance(entries, list):
        raise ValueError(f"{path}: not an allensdk manifest (no list 'manifest')")
    dirs, files, version = {}, {}, None
    for entry in entries:
        kind, parent = entry.get("type"), entry.get("parent_key")
        if kind == "manifest_version":
            version = entry.get("value")
        elif kind == "dir":
            base = dirs[parent] if parent else folder
            dirs[entry["key"]] = base / entry["spec"]
        elif kind == "file":
            base = dirs[parent] if parent else Path(os.curdir)
            files[entry["key"]] = base / entry["spec"]
    if version != MANIFEST_VERSION:
        raise ValueError(
            f"{path}: manifest version {version!r}; allensdk's CellTypesCache expects "
            f"{MANIFEST_VERSION!r} (remove the file and it is written again)"
        )
    missing = [k for k in ("CELLS", "EPHYS_FEATURES", "EPHYS_DATA") if k not in files]
    if missing:
        raise ValueError(f"{path}: no entry {', '.join(missing)}")
    return {k: files[k] for k in ("CELLS", "EPHYS_FEATURES", "EPHYS_DATA")}


def read_cells(path: str | os.PathLike) -> list:
    """The rows of ``cells.json`` as allensdk's ``get_cells(simple=False)`` returns them
    (``json_utilities.read``: an empty file is an empty table).

    Raises
    ------
    ValueError
        If the file is not JSON or not a list of rows (naming the file).
    """
    text = Path(path).read_text(encoding="utf-8")
    try:
        rows = json.loads(text) if text else []
    except ValueError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    if not isinstance(rows, list):
        raise ValueError(f"{path}: expected a list of cells, got {type(rows).__name__}")
    return rows


def read_ephys_features(path: str | os.PathLike) -> pd.DataFrame:
    """``ephys_features.csv`` as allensdk's ``get_ephys_features()`` gives it: read by
    ``pd.read_csv`` (as ``Cache.cache_csv_json``), one row per cell."""
    return pd.read_csv(path)


def write_cells(path: str | os.PathLike, rows: list) -> Path:
    """Write ``cells.json`` as allensdk does (``json_utilities.write``: indent 2), atomically."""
    return atomic_write_text(path, json.dumps(rows, indent=2))


def write_ephys_features(path: str | os.PathLike, rows: list) -> Path:
    """Write ``ephys_features.csv`` as allensdk's ``Cache.csv_writer`` does (every field
    quoted, columns in the order of the first row, CRLF line ends), atomically.

    Raises
    ------
    ValueError
        If there are no rows (allensdk would write an empty file that pandas cannot read).
    """
    if not rows:
        raise ValueError(f"{path}: no ephys feature rows to write")
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=[str(k) for k in rows[0]], quoting=csv.QUOTE_ALL)
        writer.writeheader()
        writer.writerows(rows)
    return Path(path)


def download_cell_types(
    folder: str | os.PathLike, names: tuple = ("cells.json", "ephys_features.csv"), api=ALLEN_API
) -> list[Path]:
    """Download the Cell Types tables into an allensdk cache folder (and its manifest).

    Parameters
    ----------
    folder : path
        The cache folder (created).
    names : tuple of str
        Which of ``"cells.json"`` and ``"ephys_features.csv"`` to download.
    api : str
        Server (default :data:`ALLEN_API`).

    Returns
    -------
    list of Path
        The files written (each atomically: a failed download leaves nothing behind).

    Raises
    ------
    AllenDownloadError
        If a query fails (see :func:`rma_query`).
    ValueError
        For an unknown file name.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    jobs = {
        "cells.json": (CELLS_QUERY, write_cells),
        "ephys_features.csv": (EPHYS_FEATURES_QUERY, write_ephys_features),
    }
    unknown = [n for n in names if n not in jobs]
    if unknown:
        raise ValueError(f"unknown Allen Cell Types file(s) {unknown}; known: {list(jobs)}")
    write_manifest(folder)
    paths = cache_paths(folder)
    target = {"cells.json": paths["CELLS"], "ephys_features.csv": paths["EPHYS_FEATURES"]}
    written = []
    for name in names:
        query, write = jobs[name]
        logger.info("downloading %s from %s into %s", name, api, target[name])
        written.append(write(target[name], rma_query(query, api, folder)))
    return written


# --------------------------------------------------------------------------- NWB sweeps


def read_nwb_sweep(path: str | os.PathLike, sweep_number: int) -> dict:
    """One sweep of an Allen Cell Types ``ephys.nwb`` (NWB 1) file, read with h5py, as
    allensdk 2.16's ``NwbDataSet.get_sweep`` returns it.

    The data are ``epochs/Sweep_<n>/{stimulus,response}/timeseries/data`` as stored: allensdk
    multiplies by the datasets' ``conversion`` only for files whose pipeline version it reads
    as >= 1.1, and under h5py >= 3 it never reads one (``general/generated_by`` holds bytes,
    compared with a str), so it returns the stored values; this function does the same (the
    Allen files store volts and amperes).

    Parameters
    ----------
    path : path
        The cell's NWB file (``CellTypesCache.get_ephys_data``; manifest key ``EPHYS_DATA``).
    sweep_number : int
        The sweep.

    Returns
    -------
    dict
        ``stimulus`` (array [samples], A), ``response`` (array [samples], V), ``index_range``
        ((first, last) sample of the experiment epoch ``epochs/Experiment_<n>``, i.e. after the
        test pulse; the whole sweep's where there is none) and ``sampling_rate`` (Hz).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not an HDF5 file or lacks the sweep or one of its datasets (naming the file,
        the sweep and the missing path).

    References
    ----------
    Allen Institute for Brain Science (2015), Allen Cell Types Database, technical white paper
    "Electrophysiology"; allensdk 2.16.2 ``allensdk/core/nwb_data_set.py``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NWB file not found: {path}")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{path}: not an HDF5/NWB file ({exc})") from None
    with f:
        name = f"epochs/Sweep_{int(sweep_number)}"
        try:
            sweep = f[name]
            stimulus = np.asarray(sweep["stimulus/timeseries/data"][()])
            response = np.asarray(sweep["response/timeseries/data"][()])
            rate = float(sweep["stimulus/timeseries/starting_time"].attrs["rate"])
            index_range = _epoch_range(sweep)
        except KeyError as exc:
            raise ValueError(
                f"{path}: sweep {sweep_number}: no {name} or a part of it in the Allen NWB "
                f"layout ({exc})"
            ) from None
        experiment = f.get(f"epochs/Experiment_{int(sweep_number)}")
        if experiment is not None:
            index_range = _epoch_range(experiment)
    return {
        "stimulus": stimulus,
        "response": response,
        "index_range": index_range,
        "sampling_rate": rate,
    }


def _epoch_range(epoch) -> tuple[int, int]:
    """(first, last) sample of an NWB 1 epoch (``stimulus/idx_start``, ``stimulus/count``)."""
    start = int(epoch["stimulus/idx_start"][()])
    return start, start + int(epoch["stimulus/count"][()]) - 1

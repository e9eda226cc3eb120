"""Allen Cell Types Database: tidy tables of real neurons, with or without allensdk.

The data live in the cache folder of ``allensdk.core.cell_types_cache.CellTypesCache``,
described by a ``manifest.json``: ``cells.json`` (one row per cell of the API model
``ApiCellTypesSpecimenDetail``) and ``ephys_features.csv`` (the electrophysiology features the
Allen Institute computed from every cell's sweeps). Two readers give the same table
(:func:`load_cells`, ``reader=``):

* ``"allensdk"``: ``CellTypesCache.get_cells()`` and ``get_ephys_features()`` read the files,
  or download them from api.brain-map.org (allensdk 2.16 installs only on Python <= 3.11);
* ``"direct"``: :mod:`neurolearn.sources.allen_api` reads the same files and downloads the same
  API queries with pooch, on every Python.

The default (``"auto"``) is allensdk where it is installed, the direct reader elsewhere.

Where the cache folder is:

* an explicit ``cache=`` folder (the CLI's ``--cache DIR``), else
* ``neurolearn.paths.cache_dir() / "allen" / "cell_types"``.

When ``NEUROLEARN_DATA_DIR`` is set and holds ``allen/cell_types/{cells.json,ephys_features.csv}``
(the layout of the project's reference data folder), those files are copied into the cache folder
first: the data folder may be read-only, and both readers write allensdk's ``manifest.json``
next to the files they read.

The tidy table (:func:`load_cells`) has one row per cell with the columns

==================  ==========================================================================
specimen_id         Allen specimen id (int)
cell_name           specimen name
species             ``"mouse"`` or ``"human"``
area                structure parent acronym (``VISp``, ``MTG``, ...)
structure           structure acronym including the layer (``VISp4``)
layer               cortical layer as a string (``"1"``, ``"2/3"``, ``"4"``, ``"5"``, ``"6a"``...)
dendrite_type       ``"spiny"``, ``"aspiny"`` or ``"sparsely spiny"``
transgenic_line     Cre line (``"Pvalb-IRES-Cre"``; None for human cells)
reporter_status     ``"positive"``, ``"negative"`` or None (human)
hemisphere          also ``apical``, ``disease_state``, ``donor_id``, ``normalized_depth``
tau_ms              membrane time constant (ms), from hyperpolarising long-square sweeps
ri_mohm             input resistance (MOhm)
vrest_mv            resting membrane potential (mV)
rheobase_pa         threshold current of the long-square sweeps (pA)
fi_slope_hz_per_pa  slope of the f-I curve (Hz/pA)
threshold_v_mv      spike threshold of the rheobase sweep (mV)
...                 every other feature of ``ephys_features.csv`` with a unit suffix
                    (``*_t_*`` in s, ``*_v_*`` in mV, ``threshold_i_*`` in pA, ``avg_isi_ms``...)
==================  ==========================================================================

Reference: Allen Institute for Brain Science (2015), Allen Cell Types Database,
celltypes.brain-map.org; Gouwens et al. (2019) Nat. Neurosci. 22:1182 (mouse features);
Gouwens et al. (2020) Cell 183:935 (Patch-seq interneurons, :func:`load_patchseq`).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..extras import installed, require
from ..io import atomic_path
from ..paths import DataNotFoundError, cache_dir, data_dir
from .allen_api import (
    ALLEN_API,
    AllenDownloadError,
    cache_paths,
    download_cell_types,
    read_cells,
    read_ephys_features,
    write_manifest,
)

__all__ = [
    "CELL_TYPES_FILES",
    "CATEGORICAL_COLUMNS",
    "FILTER_ALIASES",
    "EPHYS_RENAME",
    "cell_types_folder",
    "cell_types_cache",
    "cell_types_files",
    "READERS",
    "load_cells",
    "select",
    "describe_filters",
    "load_patchseq",
    "tau_values",
    "SPECIES",
    "DENDRITE_TYPES",
]

logger = logging.getLogger(__name__)

#: Files that allensdk's CellTypesCache reads from its cache folder (manifest keys CELLS and
#: EPHYS_FEATURES of ``CellTypesCache.build_manifest``).
CELL_TYPES_FILES = ("cells.json", "ephys_features.csv")

#: Readers of :func:`load_cells`: ``"auto"`` is ``"allensdk"`` where allensdk is installed,
#: else ``"direct"`` (:mod:`neurolearn.sources.allen_api`).
READERS = ("auto", "allensdk", "direct")

#: Columns filtered by membership of a set of values (case-insensitive strings).
CATEGORICAL_COLUMNS = (
    "species",
    "area",
    "structure",
    "layer",
    "dendrite_type",
    "transgenic_line",
    "reporter_status",
    "hemisphere",
    "apical",
    "disease_state",
    "t_type",
    "t_type_subclass",
    "t_type_class",
    "met_type",
)

#: Short names accepted by :func:`select` (and the CLI flags).
FILTER_ALIASES = {
    "dendrite": "dendrite_type",
    "line": "transgenic_line",
    "reporter": "reporter_status",
    "cre_line": "transgenic_line",
}

#: Rows and columns of the species x dendrite-type panel.
SPECIES = ("mouse", "human")
DENDRITE_TYPES = ("spiny", "sparsely spiny", "aspiny")

_SPECIES = {"mus musculus": "mouse", "homo sapiens": "human", "mouse": "mouse", "human": "human"}

#: ``ephys_features.csv`` column -> tidy name with unit suffix (Allen IPFX feature definitions,
#: "Allen Cell Types Database technical white paper: electrophysiology", 2017).
EPHYS_RENAME = {
    "tau": "tau_ms",
    "ri": "ri_mohm",
    "vrest": "vrest_mv",
    "threshold_i_long_square": "rheobase_pa",
    "f_i_curve_slope": "fi_slope_hz_per_pa",
    "threshold_v_long_square": "threshold_v_mv",
    "threshold_i_ramp": "threshold_i_ramp_pa",
    "threshold_i_short_square": "threshold_i_short_square_pa",
    "avg_isi": "avg_isi_ms",
    "latency": "latency_s",
    "sag": "sag_ratio",
    "adaptation": "adaptation_index",
    "vm_for_sag": "vm_for_sag_mv",
    "id": "ephys_feature_id",
}


#: Features placed right after the metadata columns.
_MAIN_FEATURES = (
    "tau_ms",
    "ri_mohm",
    "vrest_mv",
    "rheobase_pa",
    "fi_slope_hz_per_pa",
    "threshold_v_mv",
    "input_resistance_mohm",
    "sag_ratio",
    "avg_isi_ms",
)


def _ephys_name(column: str) -> str:
    """Tidy, unit-suffixed name of an ``ephys_features.csv`` column."""
    if column in EPHYS_RENAME:
        return EPHYS_RENAME[column]
    if "_t_" in column:  # times of spike features within the sweep, seconds
        return column + "_s"
    if "_v_" in column:  # membrane potentials, mV
        return column + "_mv"
    return column  # already suffixed (input_resistance_mohm, seal_gohm, electrode_0_pa),
    #                         flags (has_burst) and ids (rheobase_sweep_id), dimensionless ratios


_HOW_TO_GET = (
    "Get the Allen Cell Types data in one of three ways: (1) on a machine with internet access, "
    "run `neurolearn allen summary` (or neurolearn.sources.allen.load_cells()) once: it downloads "
    "cells.json and ephys_features.csv (about 6 MB) from api.brain-map.org into the cache folder; "
    "(2) copy an existing allensdk CellTypesCache folder holding cells.json and "
    "ephys_features.csv and pass it with --cache DIR (cache=DIR); (3) set NEUROLEARN_DATA_DIR to "
    "a folder holding allen/cell_types/cells.json and allen/cell_types/ephys_features.csv."
)


def cell_types_folder(cache: str | os.PathLike | None = None) -> Path:
    """The CellTypesCache folder used by :func:`load_cells`, filled from ``NEUROLEARN_DATA_DIR``.

    Parameters
    ----------
    cache : path, optional
        The allensdk cache folder (holds or will hold ``manifest.json``, ``cells.json`` and
        ``ephys_features.csv``). Default: ``neurolearn.paths.cache_dir()/allen/cell_types``.

    Returns
    -------
    Path
        The folder (created). When ``NEUROLEARN_DATA_DIR/allen/cell_types`` holds the two files
        and the folder lacks them (or holds copies of a different size), they are copied in,
        atomically.

    Raises
    ------
    DataNotFoundError
        If ``NEUROLEARN_DATA_DIR`` is set but is not a folder.
    """
    folder = Path(cache).expanduser() if cache is not None else cache_dir() / "allen" / "cell_types"
    folder.mkdir(parents=True, exist_ok=True)
    root = data_dir()
    if root is not None:
        source = root / "allen" / "cell_types"
        if all((source / name).is_file() for name in CELL_TYPES_FILES):
            for name in CELL_TYPES_FILES:
                src, dst = source / name, folder / name
                if dst.resolve() == src.resolve():
                    continue
                if not dst.is_file() or dst.stat().st_size != src.stat().st_size:
                    with atomic_path(dst) as tmp:
                        shutil.copyfile(src, tmp)
    return folder


def cell_types_cache(cache: str | os.PathLike | None = None, download: bool = True):
    """An allensdk ``CellTypesCache`` whose files are ready to read.

    Parameters
    ----------
    cache : path, optional
        Cache folder, see :func:`cell_types_folder`.
    download : bool
        If the files are missing, let allensdk download them from api.brain-map.org. With
        ``False`` a missing file is an error straight away.

    Returns
    -------
    allensdk.core.cell_types_cache.CellTypesCache
        With ``manifest_file = <folder>/manifest.json``; ``get_cells()`` and
        ``get_ephys_features()`` read the cached files.

    Raises
    ------
    DataNotFoundError
        If the files are missing and cannot be downloaded; the message says how to get them.
    MissingExtraError
        If allensdk is not installed (``pip install 'neurolearn[allen]'``, Python <= 3.11;
        :func:`cell_types_files` needs no allensdk).
    """
    folder = cell_types_folder(cache)
    require("allensdk", "cell_types_cache (an allensdk CellTypesCache)")
    from allensdk.core.cell_types_cache import CellTypesCache

    ctc = CellTypesCache(manifest_file=str(folder / "manifest.json"))
    missing = [name for name in CELL_TYPES_FILES if not (folder / name).is_file()]
    if missing:
        if not download:
            raise DataNotFoundError(
                f"{', '.join(missing)} not in the Allen cache folder {folder} "
                f"and downloading is switched off. {_HOW_TO_GET}"
            )
        logger.info("downloading %s into %s through allensdk", ", ".join(missing), folder)
        try:
            ctc.get_cells()
            ctc.get_ephys_features()
        except Exception as exc:  # URLError, HTTPError, requests' ConnectionError...
            for name in missing:  # leave nothing half-downloaded behind
                try:
                    (folder / name).unlink()
                except FileNotFoundError:
                    pass
            raise DataNotFoundError(
                f"{', '.join(missing)} not in the Allen cache folder {folder}, and allensdk could "
                f"not download them from api.brain-map.org ({type(exc).__name__}: {exc}). "
                f"{_HOW_TO_GET}"
            ) from exc
    return ctc


def cell_types_files(
    cache: str | os.PathLike | None = None, download: bool = True, api: str = ALLEN_API
) -> dict[str, Path]:
    """The Cell Types files of an allensdk cache folder, downloaded without allensdk if missing.

    Parameters
    ----------
    cache : path, optional
        Cache folder, see :func:`cell_types_folder`.
    download : bool
        If a file is missing, download it from the Allen API (the query allensdk makes; see
        :mod:`neurolearn.sources.allen_api`). With ``False`` a missing file is an error at once.
    api : str
        The API server (default ``https://api.brain-map.org``).

    Returns
    -------
    dict
        ``{"CELLS": path of cells.json, "EPHYS_FEATURES": path of ephys_features.csv,
        "EPHYS_DATA": path pattern of the NWB files (``%d``: specimen id)}`` from the folder's
        manifest (written, as allensdk writes it, if absent).

    Raises
    ------
    DataNotFoundError
        If a file is missing and downloading is switched off or fails (offline, an HTTP
        error, an incomplete answer); the message says why and how to get the data. Nothing
        half-downloaded is left behind.
    ValueError
        If the folder's ``manifest.json`` is not an allensdk Cell Types manifest.
    """
    folder = cell_types_folder(cache)
    write_manifest(folder)
    paths = cache_paths(folder)
    wanted = {"cells.json": paths["CELLS"], "ephys_features.csv": paths["EPHYS_FEATURES"]}
    missing = [name for name, path in wanted.items() if not path.is_file()]
    if missing and not download:
        raise DataNotFoundError(
            f"{', '.join(missing)} not in the Allen cache folder {folder} "
            f"and downloading is switched off. {_HOW_TO_GET}"
        )
    if missing:
        try:
            download_cell_types(folder, tuple(missing), api=api)
        except AllenDownloadError as exc:
            raise DataNotFoundError(
                f"{', '.join(missing)} not in the Allen cache folder {folder}, and they could "
                f"not be downloaded from {api}: {exc}. {_HOW_TO_GET}"
            ) from exc
    return paths


def _cells_table(cells: list[dict]) -> pd.DataFrame:
    raw = pd.DataFrame(cells)
    need = [
        "specimen__id",
        "donor__species",
        "structure_parent__acronym",
        "structure__layer",
        "tag__dendrite_type",
        "line_name",
        "cell_reporter_status",
    ]
    absent = [c for c in need if c not in raw.columns]
    if absent:
        raise ValueError(
            f"cells.json lacks the columns {absent}: not an allensdk "
            "ApiCellTypesSpecimenDetail table"
        )
    species = raw["donor__species"].map(lambda s: _SPECIES.get(str(s).lower(), s))

    def col(name):
        return raw[name] if name in raw.columns else pd.Series([None] * len(raw))

    return pd.DataFrame(
        {
            "specimen_id": raw["specimen__id"].astype("int64"),
            "cell_name": col("specimen__name"),
            "species": species,
            "area": raw["structure_parent__acronym"],
            "structure": col("structure__acronym"),
            "layer": raw["structure__layer"].map(
                lambda v: None if v is None or pd.isna(v) else str(v)
            ),
            "dendrite_type": raw["tag__dendrite_type"],
            "transgenic_line": raw["line_name"],
            "reporter_status": raw["cell_reporter_status"],
            "hemisphere": col("specimen__hemisphere"),
            "apical": col("tag__apical"),
            "disease_state": col("donor__disease_state"),
            "donor_id": col("donor__id"),
            "normalized_depth": pd.to_numeric(col("csl__normalized_depth"), errors="coerce"),
        }
    )


def load_cells(
    cache: str | os.PathLike | None = None, download: bool = True, reader: str = "auto"
) -> pd.DataFrame:
    """All cells of the Allen Cell Types Database with their electrophysiology features.

    Parameters
    ----------
    cache : path, optional
        allensdk cache folder, see :func:`cell_types_folder`.
    download : bool
        Allow downloading missing files (from api.brain-map.org).
    reader : {"auto", "allensdk", "direct"}
        ``"allensdk"``: through allensdk's ``CellTypesCache``; ``"direct"``: the same files
        read (and the same queries downloaded) without allensdk
        (:func:`cell_types_files`); ``"auto"``: allensdk where it is installed, else direct.
        Both give the same table.

    Returns
    -------
    pandas.DataFrame, shape (n_cells, n_columns)
        One row per cell, columns as in the module docstring (metadata from ``cells.json``,
        features from ``ephys_features.csv`` renamed with unit suffixes, left-joined on
        ``specimen_id``). The final release has 2333 cells (1920 mouse, 413 human).

    Raises
    ------
    DataNotFoundError
        If the data are missing and cannot be downloaded (the message says how to get them).
    ValueError
        If the cached files are not allensdk Cell Types tables, or ``reader`` is unknown.
    MissingExtraError
        For ``reader="allensdk"`` where allensdk is not installed.
    """
    if reader not in READERS:
        raise ValueError(f"reader must be one of {', '.join(READERS)}, got {reader!r}")
    if reader == "auto":
        reader = "allensdk" if installed("allensdk") else "direct"
    if reader == "allensdk":
        ctc = cell_types_cache(cache, download=download)
        cells = _cells_table(ctc.get_cells(simple=False))
        features = pd.DataFrame(ctc.get_ephys_features())
        features_file = ctc.get_cache_path(None, ctc.EPHYS_FEATURES_KEY)
    else:
        paths = cell_types_files(cache, download=download)
        cells = _cells_table(read_cells(paths["CELLS"]))
        features = read_ephys_features(paths["EPHYS_FEATURES"])
        features_file = paths["EPHYS_FEATURES"]
    if "specimen_id" not in features.columns:
        raise ValueError(
            f"{features_file} has no specimen_id column: not an allensdk ephys features table"
        )
    features = features.rename(columns={c: _ephys_name(c) for c in features.columns})
    table = cells.merge(features, on="specimen_id", how="left", validate="one_to_one")
    first = [c for c in _MAIN_FEATURES if c in table.columns]
    meta = list(cells.columns)
    table = table[meta + first + [c for c in table.columns if c not in meta and c not in first]]
    return table.sort_values("specimen_id", kind="stable").reset_index(drop=True)


def _norm(value: Any) -> str:
    return str(value).strip().lower()


def _as_list(value: Any) -> list:
    if isinstance(value, (list, set, frozenset)) or (
        isinstance(value, tuple) and not _is_range(value)
    ):
        return list(value)
    return [value]


def _is_range(value: Any) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and all(v is None or isinstance(v, (int, float, np.number)) for v in value)
    )


def _mask(table: pd.DataFrame, column: str, value: Any, full: pd.DataFrame) -> pd.Series:
    series = table[column]
    if column in CATEGORICAL_COLUMNS or not pd.api.types.is_numeric_dtype(series):
        given = _as_list(value)
        wanted = [
            _SPECIES.get(_norm(v), _norm(v)) if column == "species" else _norm(v) for v in given
        ]
        present = sorted({str(v) for v in full[column].dropna().unique()}, key=str.lower)
        lookup = {_norm(v): v for v in present}
        unknown = [g for g, v in zip(given, wanted) if v not in lookup]
        if unknown:
            shown = ", ".join(repr(str(u)) for u in unknown)
            raise ValueError(f"unknown {column} {shown}; valid values: {', '.join(present)}")
        return series.map(
            lambda v: (
                v is not None and not (isinstance(v, float) and np.isnan(v)) and _norm(v) in wanted
            )
        ).astype(bool)
    numeric = pd.to_numeric(series, errors="coerce")
    if _is_range(value):
        lo, hi = value
        mask = numeric.notna()
        if lo is not None:
            mask &= numeric >= lo
        if hi is not None:
            mask &= numeric <= hi
        return mask
    return numeric.isin([float(v) for v in _as_list(value)])


def select(table: pd.DataFrame, **filters: Any) -> pd.DataFrame:
    """Rows of ``table`` matching every filter.

    Parameters
    ----------
    table : pandas.DataFrame
        A tidy table from :func:`load_cells` or :func:`load_patchseq`.
    **filters
        ``column=value``. ``None`` means no filter. For text columns (species, area, layer,
        dendrite_type, transgenic_line, reporter_status, ...) the value is one string or a
        list of strings, matched case-insensitively (``species="Mus musculus"`` equals
        ``"mouse"``). For numeric columns the value is a ``(low, high)`` tuple (inclusive, either
        end may be None) or a list of exact values. Short names: ``dendrite`` ->
        ``dendrite_type``, ``line`` -> ``transgenic_line``, ``reporter`` -> ``reporter_status``.

    Returns
    -------
    pandas.DataFrame
        The matching rows (a copy), index reset.

    Raises
    ------
    ValueError
        If a column is unknown (the message lists the columns), a value is not present in the
        table (the message lists the valid values), or no row matches all filters (the message
        gives each filter's own count).
    """
    active = {FILTER_ALIASES.get(k, k): v for k, v in filters.items() if v is not None}
    mask = pd.Series(True, index=table.index)
    counts = {}
    for column, value in active.items():
        if column not in table.columns:
            raise ValueError(
                f"cannot filter by {column!r}: no such column; columns: {', '.join(table.columns)}"
            )
        m = _mask(table, column, value, table)
        counts[column] = int(m.sum())
        mask &= m
    if not mask.any():
        alone = "; ".join(f"{c}={active[c]!r} alone: {n} cells" for c, n in counts.items())
        raise ValueError(
            f"no cell matches {describe_filters(active)} ({alone})"
            if active
            else "the table is empty"
        )
    return table.loc[mask].reset_index(drop=True)


def describe_filters(filters: Mapping[str, Any]) -> str:
    """``"species=mouse, layer=4"`` for the filters that are set; ``"all cells"`` if none."""
    parts = []
    for k, v in filters.items():
        if v is None:
            continue
        k = FILTER_ALIASES.get(k, k)
        v = "|".join(str(x) for x in v) if isinstance(v, (list, set)) else v
        parts.append(f"{k}={v}")
    return ", ".join(parts) if parts else "all cells"


def _genotype_driver(genotype: Any) -> Any:
    """Driver lines of a Patch-seq genotype in the Cell Types ``line_name`` style.

    ``"Calb2-IRES-Cre/wt;Sst-IRES-FlpO/wt;Ai65(RCFL-tdT)/wt"`` -> ``"Calb2-IRES-Cre|Sst-IRES-FlpO"``
    (reporter alleles ``Ai*`` dropped).
    """
    if not isinstance(genotype, str):
        return None
    parts = [p.split("/")[0].strip() for p in genotype.split(";")]
    drivers = [p for p in parts if p and not p.startswith("Ai")]
    return "|".join(drivers) if drivers else None


_PATCHSEQ_RENAME = {
    "Specimen ID": "specimen_id",
    "T type class": "t_type_class",
    "T type sub-class": "t_type_subclass",
    "T type": "t_type",
    "T type assignment probability": "t_type_probability",
    "MET type": "met_type",
    "Cortical layer": "layer",
    "Anatomical Structure": "area",
    "Brain hemisphere": "hemisphere",
    "Dendrite type (aspiny or sparsely spiny)": "dendrite_type",
    "Fluorescent protein positive": "reporter_status",
    "Genotype": "genotype",
    "Age (postnatal days)": "age_days",
    "Sex": "sex",
    "tau": "tau_ms",
    "Vrest (millivolts)": "vrest_mv",
    "Threshold I (long square) (picoamps)": "rheobase_pa",
    "F I curve slope": "fi_slope_hz_per_pa",
    "Threshold V (long square) (millivolts)": "threshold_v_mv",
    "sag": "sag_ratio",
    "Avg ISI": "avg_isi_ms",
    "Latency": "latency_s",
    "Adaptation": "adaptation_index",
    "Normalized Soma Depth": "normalized_depth",
}


def load_patchseq(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Patch-seq mouse VISp interneurons of Gouwens et al. (2020), as a tidy table.

    Parameters
    ----------
    path : path, optional
        ``SpecimenMetadata.csv`` of the Patch-seq release. Default:
        ``NEUROLEARN_DATA_DIR/allen/patchseq_gouwens2020/SpecimenMetadata.csv``.

    Returns
    -------
    pandas.DataFrame, shape (n_cells, n_columns)
        Same names as :func:`load_cells` where they exist (specimen_id, species = "mouse", area,
        layer, dendrite_type, transgenic_line = driver lines of the genotype, reporter_status,
        tau_ms, vrest_mv, rheobase_pa, fi_slope_hz_per_pa, threshold_v_mv, ...), plus t_type,
        t_type_subclass, t_type_class, met_type. Other columns keep their names in snake case
        with units as suffixes (``millimeters`` -> ``_mm``, ``millivolts`` -> ``_mv``,
        ``picoamps`` -> ``_pa``). 4284 cells in the published table.

    Raises
    ------
    DataNotFoundError
        If the file is missing; the message says where to get it.
    ValueError
        If the file lacks ``Specimen ID`` or ``tau``.

    References
    ----------
    Gouwens N.W. et al. (2020) Integrated morphoelectric and transcriptomic classification of
    cortical GABAergic cells. Cell 183:935-953.
    """
    if path is None:
        root = data_dir()
        path = (root / "allen" / "patchseq_gouwens2020" / "SpecimenMetadata.csv") if root else None
    if path is None or not Path(path).is_file():
        raise DataNotFoundError(
            f"Patch-seq table {path or 'SpecimenMetadata.csv'} not found. Download the "
            "'SpecimenMetadata.csv' file of the mouse VISp Patch-seq release (Gouwens et al. 2020, "
            "Cell 183:935; portal.brain-map.org, Patch-seq data) and pass its path, or set "
            "NEUROLEARN_DATA_DIR to a folder holding "
            "allen/patchseq_gouwens2020/SpecimenMetadata.csv"
        )
    raw = pd.read_csv(path)
    for need in ("Specimen ID", "tau"):
        if need not in raw.columns:
            raise ValueError(
                f"{path}: no column {need!r}; not the Gouwens et al. 2020 SpecimenMetadata.csv"
            )

    def tidy(name: str) -> str:
        if name in _PATCHSEQ_RENAME:
            return _PATCHSEQ_RENAME[name]
        out = name.lower()
        for unit, suffix in (("(millimeters)", "mm"), ("(millivolts)", "mv"), ("(picoamps)", "pa")):
            if unit in out:
                out = out.replace(unit, "") + " " + suffix
        for ch in "()/-":
            out = out.replace(ch, " ")
        return "_".join(out.split())

    table = raw.rename(columns={c: tidy(c) for c in raw.columns})
    table.insert(1, "species", "mouse")
    table["transgenic_line"] = table["genotype"].map(_genotype_driver)
    table["layer"] = table["layer"].map(lambda v: None if pd.isna(v) else str(v))
    return table


# --------------------------------------------------------------------------- analysis glue


def tau_values(selection: pd.DataFrame) -> np.ndarray:
    """Finite, positive ``tau_ms`` values of a selection, shape (n,), in ms.

    Raises
    ------
    ValueError
        If fewer than 2 cells of the selection have a measured tau.
    """
    tau = pd.to_numeric(selection["tau_ms"], errors="coerce").to_numpy(dtype=float)
    tau = tau[np.isfinite(tau) & (tau > 0)]
    if tau.size < 2:
        raise ValueError(f"the selection has {tau.size} cell(s) with a measured tau; need >= 2")
    return tau

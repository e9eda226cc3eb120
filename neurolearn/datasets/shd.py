"""The Heidelberg spiking data sets (SHD, SSC) and their HDF5 layout.

Source
    Cramer, B., Stradmann, Y., Schemmel, J. & Zenke, F. (2022). The Heidelberg spiking data
    sets for the systematic evaluation of spiking neural networks. IEEE Transactions on Neural
    Networks and Learning Systems 33(7), 2744-2757. doi:10.1109/TNNLS.2020.3044364
    Files: https://zenkelab.org/datasets/ (``shd_{train,test}.h5.zip``,
    ``ssc_{train,valid,test}.h5.zip``, also ``.h5.gz``).
Licence
    Creative Commons Attribution 4.0 International (CC BY 4.0).

Content
    **SHD**: 10 420 recordings of spoken digits 0-9 in English and German (20 classes: labels
    0-9 English "zero".."nine", 10-19 German "null".."neun"), 12 speakers, turned into spikes of
    700 channels by a model of the inner ear and bushy cells; 8156 train, 2264 test samples
    (two speakers appear only in the test set). **SSC**: the Speech Commands corpus v0.02 in
    the same 700-channel code, 35 word classes, official train/valid/test files.

File layout (HDF5), one file per split::

    spikes/times   vlen float, one array per sample: spike times in seconds
    spikes/units   vlen int,   one array per sample: channel 0..699 of each spike
    labels         int, (n_samples,): class index
    extra/speaker  int, (n_samples,): speaker id
    extra/keys     bytes/str, (n_classes,): class names (label -> name)
    extra/meta_info/{gender, age, body_height, ...}: per-speaker tables

:func:`read_shd` reads this layout from ``.h5``, ``.h5.gz`` or ``.h5.zip`` whatever numeric
dtypes are stored; :func:`write_shd` writes it (used for the converted Spiking FSDD cache and
by tests). The Spiking FSDD cache stores its conversion parameters as attributes of the root
group and its class names in ``extra/keys``.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import shutil
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..io import atomic_path
from ..paths import cache_dir
from .catalog import DatasetInfo, register_dataset
from .core import SpikeEvents

__all__ = [
    "read_shd",
    "write_shd",
    "SHD_CLASSES",
    "shd_n_channels",
    "heidelberg_events",
    "shd_events",
    "ssc_events",
    "file_events",
]

#: Number of channels of SHD and SSC (cochlear model output, Cramer et al. 2022).
shd_n_channels = 700

#: Class names of SHD, index = label (as stored in ``extra/keys`` of the official files).
SHD_CLASSES = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "null",
    "eins",
    "zwei",
    "drei",
    "vier",
    "fuenf",
    "sechs",
    "sieben",
    "acht",
    "neun",
)


def _decoded(values) -> list[str]:
    out = []
    for v in np.asarray(values).ravel():
        if isinstance(v, bytes):
            v = v.decode("utf-8", errors="replace")
        out.append(str(v))
    return out


def _plain_h5(path: Path) -> Path:
    """An uncompressed ``.h5`` for ``path``: itself, or a decompressed copy in the cache
    (keyed by the source's absolute path, size and modification time)."""
    name = path.name
    if not (name.endswith(".gz") or name.endswith(".zip")):
        return path
    st = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()
    stem = name[:-3] if name.endswith(".gz") else name[:-4]
    if not stem.endswith((".h5", ".hdf5")):
        stem += ".h5"
    target = cache_dir() / "decompressed" / f"{key[:12]}-{stem}"
    if target.exists():
        return target
    with atomic_path(target) as tmp:
        if name.endswith(".gz"):
            with gzip.open(path, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 22)
        else:
            with zipfile.ZipFile(path) as zf:
                members = [
                    m
                    for m in zf.namelist()
                    if m.endswith((".h5", ".hdf5")) and not m.startswith("__MACOSX")
                ]
                if len(members) != 1:
                    raise ValueError(
                        f"{path}: expected one .h5 file in the zip archive, found "
                        f"{members or zf.namelist()}"
                    )
                with zf.open(members[0]) as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 22)
    return target


def _read_group(group) -> dict:
    import h5py

    out = {}
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            out[key] = _read_group(item)
        else:
            value = item[()]
            if isinstance(value, np.ndarray) and value.dtype.kind in "SO":
                try:
                    value = np.asarray(_decoded(value))
                except Exception:  # pragma: no cover - exotic object data
                    pass
            elif isinstance(value, bytes):
                value = value.decode("utf-8", errors="replace")
            out[key] = value
    return out


def _read_extra(g, path: Path, n_samples: int) -> tuple[dict, dict, tuple | None]:
    """``extra`` group of an SHD-layout file: (per-sample arrays such as ``speaker``,
    ``meta_info`` tables, class names from ``keys`` or None)."""
    import h5py

    extra, meta_info, keys = {}, {}, None
    if "speaker" in g:
        speaker = np.asarray(g["speaker"][()]).ravel()
        if len(speaker) != n_samples:
            raise ValueError(
                f"{path}: extra/speaker has {len(speaker)} entries for {n_samples} samples"
            )
        extra["speaker"] = speaker.astype(np.int64)
    if "keys" in g:
        keys = tuple(_decoded(g["keys"][()]))
    if "meta_info" in g:
        meta_info = _read_group(g["meta_info"])
    for key, item in g.items():
        if key in ("speaker", "keys", "meta_info") or isinstance(item, h5py.Group):
            continue
        value = item[()]
        if np.ndim(value) >= 1 and len(value) == n_samples:
            extra[key] = (
                np.asarray(_decoded(value))
                if np.asarray(value).dtype.kind in "SO"
                else np.asarray(value)
            )
    return extra, meta_info, keys


def _concatenate_spikes(times, units, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-sample ``times`` and ``units`` arrays as one float32 and one int32 array and CSR
    offsets ``[n_samples + 1]``; raises ValueError for mismatched lengths or a negative unit."""
    counts_t = np.fromiter((np.size(t) for t in times), dtype=np.int64, count=len(times))
    counts_u = np.fromiter((np.size(u) for u in units), dtype=np.int64, count=len(units))
    bad = np.flatnonzero(counts_t != counts_u)
    if len(bad):
        i = int(bad[0])
        raise ValueError(
            f"{path}: sample {i} has {counts_t[i]} spike times but {counts_u[i]} units"
        )
    # concatenate in the stored dtypes (fast), then cast once
    cat_t = (np.concatenate([np.ravel(t) for t in times]) if len(times) else np.zeros(0)).astype(
        np.float32
    )
    cat_u = (
        np.concatenate([np.ravel(u) for u in units]) if len(units) else np.zeros(0, dtype=np.int64)
    )
    if len(cat_u) and cat_u.min() < 0:
        raise ValueError(f"{path}: spikes/units holds a negative channel {cat_u.min()}")
    cat_u = cat_u.astype(np.int32)
    offsets = np.zeros(len(times) + 1, dtype=np.int64)
    np.cumsum(counts_t, out=offsets[1:])
    return cat_t, cat_u, offsets


def read_shd(
    path: str | os.PathLike,
    n_channels: int | None = None,
    name: str | None = None,
    class_names: tuple | None = None,
) -> SpikeEvents:
    """Read a file in the SHD/SSC layout.

    Parameters
    ----------
    path : path
        ``.h5`` (or ``.hdf5``), ``.h5.gz`` or ``.h5.zip``; compressed files are decompressed
        once into ``cache_dir()/decompressed``.
    n_channels : int, optional
        Number of channels; default: the root attribute ``n_channels`` when present, else 700
        when the largest unit is below 700 (SHD/SSC), else the largest unit + 1.
    name : str, optional
        Dataset name stored in the result (default: the file name).
    class_names : tuple of str, optional
        Class names; default: ``extra/keys`` of the file, else ``"0", "1", ...``.

    Returns
    -------
    SpikeEvents
        ``times`` in seconds (float32), ``units`` (int32), ``labels`` (int64),
        ``extra["speaker"]`` when the file has ``extra/speaker``; ``meta`` holds
        ``"meta_info"`` (dict of arrays), ``"attrs"`` (root attributes) and ``"path"``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file lacks ``spikes/times``, ``spikes/units`` or ``labels``, or their lengths
        disagree (the message names the file and the dataset at fault).
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    plain = _plain_h5(path)
    try:
        fh = h5py.File(plain, "r")
    except OSError as err:
        raise ValueError(f"{path}: not an HDF5 file ({err})") from err
    with fh as f:
        for key in ("spikes/times", "spikes/units", "labels"):
            if key not in f:
                raise ValueError(
                    f"{path}: missing dataset {key!r} of the SHD layout (found {list(f.keys())})"
                )
        times = f["spikes/times"][()]
        units = f["spikes/units"][()]
        labels = np.asarray(f["labels"][()]).astype(np.int64).ravel()
        if not (len(times) == len(units) == len(labels)):
            raise ValueError(
                f"{path}: spikes/times ({len(times)}), spikes/units ({len(units)}) "
                f"and labels ({len(labels)}) must have one entry per sample"
            )
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        extra, meta_info, keys = (
            _read_extra(f["extra"], path, len(labels)) if "extra" in f else ({}, {}, None)
        )
    cat_t, cat_u, offsets = _concatenate_spikes(times, units, path)
    max_unit = int(cat_u.max()) if len(cat_u) else -1
    if n_channels is None:
        if "n_channels" in attrs:
            n_channels = int(attrs["n_channels"])
        elif max_unit < shd_n_channels:
            n_channels = shd_n_channels
        else:
            n_channels = max_unit + 1
    if max_unit >= n_channels:
        raise ValueError(
            f"{path}: spikes/units holds channel {max_unit}, but n_channels is {n_channels}"
        )
    if class_names is None:
        if keys is not None:
            class_names = keys
        else:
            n_classes = int(labels.max()) + 1 if len(labels) else 0
            class_names = tuple(str(i) for i in range(n_classes))
    return SpikeEvents(
        cat_t,
        cat_u,
        offsets,
        labels,
        n_channels,
        class_names=class_names,
        name=name or path.name.split(".")[0],
        extra=extra,
        meta={"meta_info": meta_info, "attrs": attrs, "path": str(path)},
    )


def write_shd(
    path: str | os.PathLike,
    events: SpikeEvents,
    *,
    times_dtype=np.float32,
    units_dtype=np.uint16,
    labels_dtype=np.uint16,
    meta_info: Mapping[str, np.ndarray] | None = None,
    attrs: Mapping[str, object] | None = None,
    compression: str | None = "gzip",
) -> Path:
    """Write ``events`` as a file in the SHD layout, atomically.

    Parameters
    ----------
    path : path
        Destination; ending in ``.gz`` writes a gzip-compressed HDF5 file, ``.zip`` a zip
        archive holding ``<name>.h5``, anything else a plain HDF5 file.
    events : SpikeEvents
        ``extra["speaker"]`` becomes ``extra/speaker`` (zeros when absent) and
        ``class_names`` become ``extra/keys``; other 1-D ``extra`` arrays are written to
        ``extra/<key>``.
    times_dtype, units_dtype, labels_dtype : numpy dtypes
        Stored dtypes (the official files use small floats and unsigned integers).
    meta_info : mapping of str to array, optional
        Written to ``extra/meta_info/<key>``; default ``events.meta["meta_info"]``.
    attrs : mapping, optional
        Root attributes (numbers or strings), e.g. conversion parameters; ``n_channels`` is
        always added.
    compression : str or None
        HDF5 compression of the datasets (``"gzip"`` by default).

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        If a unit does not fit ``units_dtype``.
    """
    import h5py

    path = Path(path)
    units_dtype = np.dtype(units_dtype)
    if (
        units_dtype.kind in "ui"
        and len(events.units)
        and events.units.max() > np.iinfo(units_dtype).max
    ):
        raise ValueError(f"{path}: channel {events.units.max()} does not fit {units_dtype}")
    if meta_info is None:
        meta_info = events.meta.get("meta_info") or {}
    compressed = path.name.endswith((".gz", ".zip"))
    with atomic_path(path) as final_tmp:
        h5_tmp = final_tmp.with_name(final_tmp.name + ".h5") if compressed else final_tmp
        try:
            with h5py.File(h5_tmp, "w") as f:
                f.attrs["n_channels"] = int(events.n_channels)
                for key, value in (attrs or {}).items():
                    f.attrs[key] = value
                vt = h5py.vlen_dtype(np.dtype(times_dtype))
                vu = h5py.vlen_dtype(units_dtype)
                n = len(events)
                dt = f.create_dataset("spikes/times", (n,), dtype=vt, compression=compression)
                du = f.create_dataset("spikes/units", (n,), dtype=vu, compression=compression)
                for i in range(n):
                    t, u = events.sample(i)
                    dt[i] = t.astype(times_dtype)
                    du[i] = u.astype(units_dtype)
                f.create_dataset("labels", data=events.labels.astype(labels_dtype))
                speaker = events.extra.get("speaker", np.zeros(n, dtype=np.int64))
                f.create_dataset("extra/speaker", data=np.asarray(speaker).astype(np.uint16))
                keys = [c.encode("utf-8") for c in events.class_names]
                f.create_dataset(
                    "extra/keys",
                    data=np.array(keys, dtype=object),
                    dtype=h5py.string_dtype("utf-8"),
                )
                for key, value in events.extra.items():
                    if key == "speaker":
                        continue
                    value = np.asarray(value)
                    if value.dtype.kind in "UO":
                        f.create_dataset(
                            f"extra/{key}",
                            data=value.astype(object),
                            dtype=h5py.string_dtype("utf-8"),
                        )
                    else:
                        f.create_dataset(f"extra/{key}", data=value)
                g = f.create_group("extra/meta_info")
                for key, value in meta_info.items():
                    value = np.asarray(value)
                    if value.dtype.kind in "UO":
                        g.create_dataset(
                            key, data=value.astype(object), dtype=h5py.string_dtype("utf-8")
                        )
                    else:
                        g.create_dataset(key, data=value)
            if path.name.endswith(".gz"):
                with open(h5_tmp, "rb") as src, gzip.open(final_tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 22)
            elif path.name.endswith(".zip"):
                inner = path.name[:-4]
                if not inner.endswith((".h5", ".hdf5")):
                    inner += ".h5"
                with zipfile.ZipFile(final_tmp, "w", zipfile.ZIP_DEFLATED) as zf:
                    zf.write(h5_tmp, inner)
        finally:
            if compressed and h5_tmp.exists():
                h5_tmp.unlink()
    return path


_HOW_TO_GET = (
    "The Heidelberg spiking data sets (CC BY 4.0) are at https://zenkelab.org/datasets/: "
    "put {name}_{split}.h5 (or .h5.zip/.h5.gz) into $NEUROLEARN_DATA_DIR/{name}/, or "
    "leave NEUROLEARN_DATA_DIR unset (or pass download=True) to download them into "
    "the cache folder with checksums."
)

_BASE_URL = "https://zenkelab.org/datasets/"


def heidelberg_events(
    name: str, split: str, download: bool | None = None, progress: bool = True
) -> SpikeEvents:
    """One official split of SHD or SSC.

    Looks for ``{name}_{split}.h5`` (or ``.h5.zip``, ``.h5.gz``) in
    ``NEUROLEARN_DATA_DIR/{name}/``, then in ``NEUROLEARN_CACHE_DIR/{name}/``, then downloads
    ``{name}_{split}.h5.zip`` from https://zenkelab.org/datasets/ with the md5 of
    ``neurolearn/datasets/registry/heidelberg.txt`` (see :mod:`neurolearn.datasets.fetch` for
    when downloads happen).

    Parameters
    ----------
    name : {"shd", "ssc"}
    split : {"train", "test"} for SHD, {"train", "valid", "test"} for SSC
    download : bool, optional
        Allow (True), forbid (False) downloading; None: only when NEUROLEARN_DATA_DIR is unset.
    progress : bool
        Progress bar of the download.

    Returns
    -------
    SpikeEvents
        700 channels; SHD: 20 classes (``SHD_CLASSES`` order, labels 0-9 English, 10-19
        German), SSC: 35 classes (names from the file's ``extra/keys``).

    Raises
    ------
    ValueError
        Unknown name or split.
    neurolearn.paths.DataNotFoundError
        If the file is not found and cannot be downloaded.
    """
    from ..paths import DataNotFoundError
    from .fetch import fetch_file, find_local, load_registry, should_download

    splits = {"shd": ("train", "test"), "ssc": ("train", "valid", "test")}
    if name not in splits:
        raise ValueError(f"unknown Heidelberg data set {name!r}; use 'shd' or 'ssc'")
    if split not in splits[name]:
        raise ValueError(f"{name} has splits {splits[name]}, not {split!r}")
    stem = f"{name}_{split}.h5"
    how = _HOW_TO_GET.format(name=name, split=split)
    path = find_local(name, [stem, stem + ".zip", stem + ".gz"])
    if path is None:
        if not should_download(download):
            raise DataNotFoundError(
                f"{stem} not found in NEUROLEARN_DATA_DIR/{name} nor in the "
                f"cache, and downloads are off. " + how
            )
        registry = load_registry("heidelberg.txt")
        path = fetch_file(
            stem + ".zip", _BASE_URL + stem + ".zip", registry[stem + ".zip"], name, how, progress
        )
    events = read_shd(path, n_channels=shd_n_channels, name=name)
    expected = {"shd": 20, "ssc": 35}[name]
    if len(events) and events.labels.max() >= expected:
        raise ValueError(
            f"{path}: {name.upper()} has {expected} classes, the file has labels "
            f"up to {events.labels.max()}"
        )
    if len(events.class_names) != expected:
        # files without extra/keys: SHD's names are known, SSC's are numbered
        names = SHD_CLASSES if name == "shd" else tuple(str(i) for i in range(expected))
        events = dataclasses.replace(events, class_names=names)
    return events


def shd_events(split: str, download: bool | None = None, progress: bool = True) -> SpikeEvents:
    """One official split of SHD: ``heidelberg_events("shd", split, ...)``, the registered
    loader of ``"shd"`` (parameters, returns and errors as :func:`heidelberg_events`)."""
    return heidelberg_events("shd", split, download=download, progress=progress)


def ssc_events(split: str, download: bool | None = None, progress: bool = True) -> SpikeEvents:
    """One official split of SSC: ``heidelberg_events("ssc", split, ...)``, the registered
    loader of ``"ssc"`` (parameters, returns and errors as :func:`heidelberg_events`)."""
    return heidelberg_events("ssc", split, download=download, progress=progress)


register_dataset(
    DatasetInfo(
        "shd",
        20,
        700,
        ("train", "test"),
        1400.0,
        "Spiking Heidelberg Digits (Cramer et al. 2022), 700 channels",
        loader=shd_events,
    )
)
register_dataset(
    DatasetInfo(
        "ssc",
        35,
        700,
        ("train", "valid", "test"),
        1000.0,
        "Spiking Speech Commands (Cramer et al. 2022), 700 channels",
        loader=ssc_events,
    )
)


def file_events(
    split: str,
    train: str | None = None,
    test: str | None = None,
    valid: str | None = None,
    n_channels: int | None = None,
) -> SpikeEvents:
    """One split of a dataset given as files in the SHD layout, the registered loader of
    ``"shd_files"``: e.g. Spiking FSDD written by :func:`write_shd` for the code of
    Perez-Nieves et al. (2021), which reads this layout, so that both read the same samples.

    Parameters
    ----------
    split : {"train", "valid", "test"}
    train, test, valid : path, optional
        The file of each split (``.h5``, ``.h5.gz``, ``.h5.zip``; ``valid`` optional).
    n_channels : int, optional
        Default: the file's root attribute ``n_channels``, else 700 (:func:`read_shd`).

    Returns
    -------
    SpikeEvents
        Class names from the file's ``extra/keys``; number of classes ``max(label) + 1`` or
        the number of names.

    Raises
    ------
    ValueError
        No file given for ``split``.
    FileNotFoundError
        A file that does not exist.
    """
    path = {"train": train, "test": test, "valid": valid}.get(split)
    if path is None:
        raise ValueError(
            f"shd_files: no file for split {split!r}; give data.options.{split} = 'path.h5'"
        )
    return read_shd(path, n_channels=n_channels)


register_dataset(
    DatasetInfo(
        "shd_files",
        0,
        None,
        ("train", "test"),
        1000.0,
        "any dataset in the SHD layout, from the files of options train/test (valid)",
        loader=file_events,
    )
)

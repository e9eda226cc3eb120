"""N-MNIST: MNIST digits seen by a moving event camera.

Source
    Orchard, G., Jayawant, A., Cohen, G. K. & Thakor, N. (2015). Converting static image
    datasets to spiking neuromorphic datasets using saccades. Frontiers in Neuroscience 9:437.
    doi:10.3389/fnins.2015.00437. Files: https://www.garrickorchard.com/datasets/n-mnist
    (mirror: Mendeley Data, doi:10.17632/468j46mzdv.1).
Licence
    Creative Commons Attribution-ShareAlike 4.0 (CC BY-SA 4.0).

Content
    60 000 training and 10 000 test samples (digit classes 0-9), ~300 ms each (three saccades),
    34 x 34 pixels x 2 polarities. Channel of an event: ``p * 34 * 34 + y * 34 + x``
    (2312 channels; ``p`` = 1 for ON, 0 for OFF events).

File formats (both 5 bytes = 40 bits per event, big-endian bit order)::

    bits 39-32  x (byte 0)            bits 31-24  y (byte 1)
    bit  23     polarity (byte 2, bit 7)
    bits 22-0   timestamp in microseconds (byte 2 bits 6-0, byte 3, byte 4)

* Original ``.bin`` files (``Train/<digit>/<n>.bin``, ``Test/...``): as read by Orchard's
  ``Read_Ndataset.m`` / ``eventvision.py``, events with ``y == 240`` are not pixel events but
  timestamp-overflow markers, each adding 2**13 us to all later timestamps.
* ``.bs2`` files of the subset distributed with SLAYER (Shrestha & Orchard 2018,
  ``NMNISTsmall``: ``1.bs2``..``1000.bs2`` train, ``60001.bs2``..``60100.bs2`` test, labels in
  ``train1K.txt``/``test100.txt`` as ``#sample #class``): the same 40-bit layout written by
  SLAYER's ``encode2Dspikes``, with no overflow markers (23-bit timestamps suffice).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..paths import DataNotFoundError, cache_dir, data_dir
from .catalog import DatasetInfo, register_dataset
from .core import SpikeEvents

__all__ = [
    "NMNIST_SHAPE",
    "read_nmnist_bin",
    "read_bs2",
    "decode_events",
    "event_channels",
    "read_nmnist_small",
    "read_nmnist_folder",
    "nmnist_events",
]

#: Sensor shape (polarities, height, width).
NMNIST_SHAPE = (2, 34, 34)
_CLASSES = tuple(str(d) for d in range(10))
_HOW_TO_GET = (
    "N-MNIST (Orchard et al. 2015, CC BY-SA 4.0): put the SLAYER subset at "
    "$NEUROLEARN_DATA_DIR/nmnist_small (*.bs2, train1K.txt, test100.txt) or the full "
    "set at $NEUROLEARN_DATA_DIR/nmnist/{Train,Test}/<digit>/*.bin, or leave "
    "NEUROLEARN_DATA_DIR unset (or pass download=True) to download the full set from "
    "Mendeley Data (doi:10.17632/468j46mzdv.1) with checksums."
)
_URLS = {
    "Train.zip": "https://data.mendeley.com/public-files/datasets/468j46mzdv/files/"
    "39c25547-014b-4137-a934-9d29fa53c7a0/file_downloaded",
    "Test.zip": "https://data.mendeley.com/public-files/datasets/468j46mzdv/files/"
    "05a4d654-7e03-4c15-bdfa-9bb2bcbea494/file_downloaded",
}


def decode_events(raw: bytes | np.ndarray, overflow_markers: bool, source: str = "<bytes>"):
    """Decode 40-bit N-MNIST events.

    Parameters
    ----------
    raw : bytes or uint8 array
        The file content; its length must be a multiple of 5.
    overflow_markers : bool
        Treat ``y == 240`` events as timestamp-overflow markers (original ``.bin`` files).
    source : str
        Name used in error messages.

    Returns
    -------
    x, y, p : uint8 arrays
        Pixel column, row and polarity (1 ON, 0 OFF).
    t_us : int64 array
        Timestamps in microseconds.

    Raises
    ------
    ValueError
        If the length is not a multiple of 5.
    """
    b = (
        np.frombuffer(raw, dtype=np.uint8)
        if isinstance(raw, (bytes, bytearray))
        else np.asarray(raw, dtype=np.uint8)
    )
    if len(b) % 5:
        raise ValueError(f"{source}: {len(b)} bytes is not a whole number of 5-byte events")
    ev = b.reshape(-1, 5).astype(np.int64)
    x, y = ev[:, 0], ev[:, 1]
    p = ev[:, 2] >> 7
    t = ((ev[:, 2] & 0x7F) << 16) | (ev[:, 3] << 8) | ev[:, 4]
    if overflow_markers:
        marker = y == 240
        if marker.any():
            t = t + (np.cumsum(marker) << 13)
            keep = ~marker
            x, y, p, t = x[keep], y[keep], p[keep], t[keep]
    return x.astype(np.uint8), y.astype(np.uint8), p.astype(np.uint8), t


def read_nmnist_bin(path: str | os.PathLike):
    """Events of an original N-MNIST ``.bin`` file: ``(x, y, p, t_us)`` (see
    :func:`decode_events`; overflow markers applied and removed)."""
    path = Path(path)
    return decode_events(path.read_bytes(), overflow_markers=True, source=str(path))


def read_bs2(path: str | os.PathLike):
    """Events of a SLAYER ``.bs2`` file: ``(x, y, p, t_us)`` (see :func:`decode_events`)."""
    path = Path(path)
    return decode_events(path.read_bytes(), overflow_markers=False, source=str(path))


def event_channels(x, y, p, source: str = "<events>") -> np.ndarray:
    """Channel index ``p * 34 * 34 + y * 34 + x`` of each event (int64).

    Raises
    ------
    ValueError
        If a coordinate lies outside the 34 x 34 sensor.
    """
    x, y, p = (np.asarray(v, dtype=np.int64) for v in (x, y, p))
    if len(x) and (x.max() >= 34 or y.max() >= 34 or p.max() > 1):
        raise ValueError(
            f"{source}: event outside the 2 x 34 x 34 sensor (max x {x.max()}, "
            f"y {y.max()}, p {p.max()})"
        )
    return p * 34 * 34 + y * 34 + x


def _labels_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    samples, labels = [], []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"{path}:{lineno}: expected '<sample> <class>', got {line!r}")
        samples.append(int(parts[0]))
        labels.append(int(parts[1]))
    return np.array(samples), np.array(labels)


def read_nmnist_small(folder: str | os.PathLike, split: str) -> SpikeEvents:
    """The SLAYER N-MNIST subset: ``train1K.txt`` (1000 samples) or ``test100.txt`` (100).

    Returns
    -------
    SpikeEvents
        2312 channels, times in seconds, labels 0-9, ``extra["sample"]`` the file number.
    """
    folder = Path(folder)
    listing = folder / {"train": "train1K.txt", "test": "test100.txt"}[split]
    if not listing.exists():
        raise DataNotFoundError(f"{listing} not found. " + _HOW_TO_GET)
    samples, labels = _labels_file(listing)
    times, units = [], []
    for s in samples:
        f = folder / f"{s}.bs2"
        x, y, p, t = read_bs2(f)
        times.append(t * 1e-6)
        units.append(event_channels(x, y, p, str(f)))
    return SpikeEvents.from_lists(
        times,
        units,
        labels,
        2 * 34 * 34,
        class_names=_CLASSES,
        name="nmnist",
        extra={"sample": samples},
        meta={"source": str(folder)},
    )


def read_nmnist_folder(folder: str | os.PathLike, progress: bool = True) -> SpikeEvents:
    """All ``<digit>/*.bin`` files below ``folder`` (an original ``Train`` or ``Test``)."""
    from tqdm.auto import tqdm

    folder = Path(folder)
    files = sorted(folder.glob("[0-9]/*.bin"), key=lambda f: (f.parent.name, f.name))
    if not files:
        raise DataNotFoundError(f"no <digit>/*.bin files in {folder}. " + _HOW_TO_GET)
    times, units, labels = [], [], []
    for f in tqdm(files, desc=f"N-MNIST {folder.name}", unit="file", disable=not progress):
        x, y, p, t = read_nmnist_bin(f)
        times.append(t * 1e-6)
        units.append(event_channels(x, y, p, str(f)))
        labels.append(int(f.parent.name))
    return SpikeEvents.from_lists(
        times,
        units,
        labels,
        2 * 34 * 34,
        class_names=_CLASSES,
        name="nmnist",
        meta={"source": str(folder)},
    )


def _full_events(split: str, download: bool | None, progress: bool) -> SpikeEvents:
    import hashlib
    import zipfile

    from .fetch import fetch_file, load_registry, should_download
    from .shd import read_shd, write_shd

    sub = {"train": "Train", "test": "Test"}[split]
    root = data_dir()
    if root is not None and (root / "nmnist" / sub).is_dir():
        folder = root / "nmnist" / sub
    else:
        folder = cache_dir() / "nmnist" / sub
        if not folder.is_dir():
            if not should_download(download):
                raise DataNotFoundError(
                    "N-MNIST not found locally and downloads are off. " + _HOW_TO_GET
                )
            registry = load_registry("nmnist.txt")
            archive = fetch_file(
                f"{sub}.zip",
                _URLS[f"{sub}.zip"],
                registry[f"{sub}.zip"],
                "nmnist",
                _HOW_TO_GET,
                progress,
            )
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(folder.parent)
    # the 70 000 small files are read once and kept as one SHD-layout file per source folder
    key = hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:10]
    cached = cache_dir() / "nmnist" / f"nmnist_{split}_{key}.h5"
    if cached.exists():
        return read_shd(cached, name="nmnist", class_names=_CLASSES)
    events = read_nmnist_folder(folder, progress)
    write_shd(cached, events, attrs={"source": str(folder)})
    return events


def nmnist_events(
    split: str = "train", variant: str = "auto", download: bool | None = None, progress: bool = True
) -> SpikeEvents:
    """One split of N-MNIST.

    Parameters
    ----------
    split : {"train", "test"}
    variant : {"auto", "small", "full"}
        ``"small"``: the SLAYER subset in ``NEUROLEARN_DATA_DIR/nmnist_small`` (1000 train, 100
        test); ``"full"``: 60 000 / 10 000 samples from ``NEUROLEARN_DATA_DIR/nmnist`` or a
        download (converted once to an SHD-layout file in the cache); ``"auto"``: full if
        present locally, else small if present, else full.
    download : bool, optional
        See :mod:`neurolearn.datasets.fetch`.
    progress : bool

    Returns
    -------
    SpikeEvents
        2312 channels (``p * 1156 + y * 34 + x``), times in seconds, 10 classes.
    """
    if split not in ("train", "test"):
        raise ValueError(f"N-MNIST has splits 'train' and 'test', not {split!r}")
    if variant not in ("auto", "small", "full"):
        raise ValueError(f"variant must be 'auto', 'small' or 'full', got {variant!r}")
    root = data_dir()
    if variant == "auto":
        if root is not None and (root / "nmnist").is_dir():
            variant = "full"
        elif root is not None and (root / "nmnist_small").is_dir():
            variant = "small"
        else:
            variant = "full"
    if variant == "small":
        if root is None or not (root / "nmnist_small").is_dir():
            raise DataNotFoundError("nmnist_small not found in NEUROLEARN_DATA_DIR. " + _HOW_TO_GET)
        return read_nmnist_small(root / "nmnist_small", split)
    return _full_events(split, download, progress)


register_dataset(
    DatasetInfo(
        "nmnist",
        10,
        2 * 34 * 34,
        ("train", "test"),
        350.0,
        "N-MNIST (Orchard et al. 2015), 2 polarities x 34 x 34 pixels",
        loader=nmnist_events,
    )
)

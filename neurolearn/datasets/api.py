"""One entry point for every dataset: :func:`load_events` and :func:`load_dataset`, over the
registry of :mod:`neurolearn.datasets.catalog` (each dataset module registers itself)."""

from __future__ import annotations

import inspect
import os
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

# isort: off
# Importing a dataset module registers its datasets; this order is the order of DATASETS.
from . import fsdd, shd, nmnist, braille  # noqa: F401

# isort: on
from .catalog import DATASETS, DatasetInfo, dataset_info, dataset_names
from .core import SpikeDataset, SpikeEvents, stratified_split

__all__ = ["DatasetInfo", "DATASETS", "load_events", "load_dataset", "dataset_names"]


#: Official splits read recently, keyed by dataset, split, options and data/cache folders, so
#: that train/valid/test loads of one run read (or convert) each file once. Their arrays are
#: read-only.
_RECENT: OrderedDict[tuple, SpikeEvents] = OrderedDict()
_RECENT_MAX = 4


def _check_options(name: str, load: Callable, options: dict) -> None:
    params = inspect.signature(load).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    accepted = [k for k in params if k != "split"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"{name}: unknown option(s) {', '.join(unknown)}; accepted: {', '.join(accepted)}"
        )


def _official_split(name: str, split: str, options: dict) -> SpikeEvents:
    load = dataset_info(name).loader
    _check_options(name, load, options)
    try:
        # options that do not change the result are not part of the key
        same = {k: v for k, v in options.items() if k not in ("progress", "workers")}
        key = (
            name,
            split,
            tuple(sorted(same.items())),
            os.environ.get("NEUROLEARN_DATA_DIR"),
            os.environ.get("NEUROLEARN_CACHE_DIR"),
        )
        hash(key)
    except TypeError:  # unhashable option values: no caching
        return load(split, **options)
    if key in _RECENT:
        _RECENT.move_to_end(key)
        return _RECENT[key]
    events = load(split, **options)
    for arr in (events.times, events.units, events.offsets, events.labels):
        arr.flags.writeable = False
    _RECENT[key] = events
    while len(_RECENT) > _RECENT_MAX:
        _RECENT.popitem(last=False)
    return events


def load_events(
    name: str,
    split: str = "train",
    *,
    valid_fraction: float | None = None,
    seed: int = 0,
    **options,
) -> SpikeEvents:
    """Spike events of one split of a dataset (no binning).

    Parameters
    ----------
    name : {"fsdd", "shd", "ssc", "nmnist", "braille"}
    split : {"train", "valid", "test"}
        ``"valid"``: with ``valid_fraction`` given, that stratified fraction of the official
        training set (and ``"train"`` is the rest); without it, the official validation set
        (SSC only).
    valid_fraction : float in (0, 1), optional
        Fraction of every class of the official training set held out as ``"valid"``.
    seed : int
        Seed of the stratified validation split (same seed, same split).
    **options
        Dataset-specific options (see each dataset's function: ``fsdd_events``,
        ``heidelberg_events``, ``nmnist_events``, ``braille_events``), e.g. ``channels`` of
        FSDD and ``download``.

    Returns
    -------
    SpikeEvents
        For an official split, the same (read-only) object is returned for repeated calls
        with the same arguments; subsets are new objects.

    Raises
    ------
    ValueError
        Unknown name or split, or ``"valid"`` without a validation set.
    neurolearn.paths.DataNotFoundError
        If the data is neither local nor downloadable; the message says how to get it.
    """
    name = name.lower()
    info = dataset_info(name)
    if split not in ("train", "valid", "test"):
        raise ValueError(f"split must be 'train', 'valid' or 'test', got {split!r}")
    if valid_fraction is not None and split in ("train", "valid"):
        if not 0 < valid_fraction < 1:
            raise ValueError(f"valid_fraction must be in (0, 1), got {valid_fraction}")
        train = _official_split(name, "train", options)
        keep, held = stratified_split(train.labels, valid_fraction, seed)
        return train.subset(keep if split == "train" else held)
    if split == "valid" and "valid" not in info.splits:
        raise ValueError(
            f"{name} has no official validation set: pass valid_fraction (e.g. "
            f"0.1) to hold out part of the training set"
        )
    return _official_split(name, split, options)


def load_dataset(
    name: str,
    split: str = "train",
    *,
    dt_ms: float = 1.0,
    duration_ms: float | None = None,
    binary: bool = False,
    valid_fraction: float | None = None,
    seed: int = 0,
    max_samples: int | None = None,
    **options,
) -> SpikeDataset:
    """A split of a dataset as a torch ``Dataset`` of binned spike tensors.

    Parameters
    ----------
    name : {"fsdd", "shd", "ssc", "nmnist", "braille"}
    split : {"train", "valid", "test"}
        See :func:`load_events`.
    dt_ms : float
        Bin width in ms (also the network's time step).
    duration_ms : float, optional
        Length of every sample in ms; default ``DATASETS[name].duration_ms``.
    binary : bool
        0/1 per bin instead of spike counts.
    valid_fraction : float, optional
        See :func:`load_events`.
    seed : int
        Seed of the validation split and of ``max_samples``.
    max_samples : int, optional
        Keep at most this many samples (stratified by class, chosen by ``seed``): smoke runs.
    **options
        Dataset-specific options, see :func:`load_events`.

    Returns
    -------
    SpikeDataset
        ``ds[i] = (x, y)`` with ``x`` float32 ``[time, channels]``, ``y`` int64; batches via
        ``ds.loader(batch_size)`` are ``[time, batch, channels]``.
    """
    events = load_events(name, split, valid_fraction=valid_fraction, seed=seed, **options)
    if max_samples is not None and max_samples < len(events):
        _, keep = stratified_split(events.labels, max_samples / len(events), seed)
        if len(keep) > max_samples:
            keep = np.sort(np.random.default_rng(seed).choice(keep, max_samples, replace=False))
        events = events.subset(keep)
    if duration_ms is None:
        duration_ms = dataset_info(name).duration_ms
    return SpikeDataset(events, dt_ms=dt_ms, duration_ms=duration_ms, binary=binary)

"""The registry of datasets: one :class:`DatasetInfo` per dataset, carrying its loader.

Each dataset module registers its own datasets when it is imported
(:func:`register_dataset` at the end of :mod:`.fsdd`, :mod:`.shd` (SHD and SSC),
:mod:`.nmnist`, :mod:`.braille`); :mod:`neurolearn.datasets.api` imports those modules, so
that :data:`DATASETS` is complete whenever :mod:`neurolearn.datasets` is. Every list of
dataset names (``load_dataset``'s error messages, configuration and command-line choices)
derives from :data:`DATASETS`.

Adding a dataset: write a module with a loader ``events(split, **options) -> SpikeEvents``,
register it there::

    register_dataset(DatasetInfo("mydata", n_classes=5, n_channels=64, splits=("train",
                     "test"), duration_ms=500.0, summary="...", loader=mydata_events))

and import the module in :mod:`neurolearn.datasets.api` (the import order is the order of
:data:`DATASETS`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["DatasetInfo", "DATASETS", "register_dataset", "dataset_names", "dataset_info"]


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is, and how to read one of its splits.

    Attributes
    ----------
    name : str
        Lower-case name used by :func:`~neurolearn.datasets.load_dataset`.
    n_classes : int
        0 when it is read from the files (``shd_files``).
    n_channels : int or None
        None when it depends on options (Spiking FSDD: ``channels * units_per_channel``;
        Braille: 2 per taxel).
    splits : tuple of str
        Official splits.
    duration_ms : float
        Default length of a binned sample, in ms.
    summary : str
    loader : callable ``loader(split, **options) -> SpikeEvents``, optional
        Reads one official split; its keyword arguments are the dataset's options (checked
        against its signature by :func:`~neurolearn.datasets.load_events`). Not part of
        equality or ``repr``.
    """

    name: str
    n_classes: int
    n_channels: int | None
    splits: tuple
    duration_ms: float
    summary: str
    loader: Callable | None = field(default=None, compare=False, repr=False)


#: Every registered dataset, by name, in registration order.
DATASETS: dict[str, DatasetInfo] = {}


def register_dataset(info: DatasetInfo) -> DatasetInfo:
    """Add a dataset to :data:`DATASETS`.

    Parameters
    ----------
    info : DatasetInfo
        With a ``loader`` whose first parameter is ``split``.

    Returns
    -------
    DatasetInfo
        ``info``.

    Raises
    ------
    ValueError
        If the name is not lower case, is already registered (by another entry), or the
        loader is missing or does not take ``split`` first.
    """
    name = info.name
    if not isinstance(name, str) or not name or name != name.lower():
        raise ValueError(f"dataset name must be a non-empty lower-case string, got {name!r}")
    if name in DATASETS and DATASETS[name] != info:
        raise ValueError(f"a dataset named {name!r} is already registered")
    if not callable(info.loader):
        raise ValueError(f"dataset {name!r}: loader must be callable, got {info.loader!r}")
    first = next(iter(inspect.signature(info.loader).parameters), None)
    if first != "split":
        raise ValueError(
            f"dataset {name!r}: the loader's first parameter must be 'split', got {first!r}"
        )
    DATASETS[name] = info
    return info


def dataset_names() -> tuple[str, ...]:
    """Names accepted by :func:`~neurolearn.datasets.load_dataset`, in registration order."""
    return tuple(DATASETS)


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry of a dataset (name case-insensitive).

    Raises
    ------
    ValueError
        For an unknown name; the message lists the registered ones.
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[key]

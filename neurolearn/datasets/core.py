"""Spike events in memory, binning into dense tensors, and the torch ``Dataset``.

Every dataset of :mod:`neurolearn.datasets` is first read into a :class:`SpikeEvents`: the
events of all samples concatenated (times in seconds, channel indices), with per-sample offsets
(the CSR layout of :mod:`scipy.sparse`), integer labels and per-sample metadata. A
:class:`SpikeDataset` then bins one sample at a time into a dense ``[time, channels]`` tensor
(:func:`bin_events`), and :func:`collate_time_major` stacks a batch into
``[time, batch, channels]``, the layout of the training loop and of the torch backend.

torch is optional (``neurolearn[torch]``): :class:`SpikeEvents`, :func:`bin_events` and
:func:`stratified_split` (and every dataset's events, :func:`neurolearn.datasets.load_events`)
work without it; the tensor datasets and loaders raise
:class:`~neurolearn.extras.MissingExtraError` naming the extra.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..extras import require

try:  # torch is the extra neurolearn[torch]: events and binning work without it
    import torch
    from torch.utils.data import Dataset
except ModuleNotFoundError as _exc:
    if _exc.name != "torch":
        raise
    torch = None

    class Dataset:
        """Stands in for ``torch.utils.data.Dataset`` where torch is not installed; the
        datasets deriving from it then refuse to be built, naming the extra to install."""


__all__ = [
    "SpikeEvents",
    "bin_events",
    "n_time_steps",
    "SpikeDataset",
    "DenseSpikeDataset",
    "collate_time_major",
    "time_major_loader",
    "stratified_split",
]


@dataclass
class SpikeEvents:
    """Spike (or address) events of many samples, concatenated.

    Attributes
    ----------
    times : ndarray of float32, shape (n_events,)
        Event times in seconds from the start of each sample.
    units : ndarray of int32, shape (n_events,)
        Channel (input neuron) index of each event, in ``[0, n_channels)``.
    offsets : ndarray of int64, shape (n_samples + 1,)
        Events of sample ``i`` are ``times[offsets[i]:offsets[i + 1]]``.
    labels : ndarray of int64, shape (n_samples,)
        Class index of each sample, in ``[0, n_classes)``.
    n_channels : int
        Number of input channels.
    class_names : tuple of str
        Name of each class (``class_names[label]``); its length is the number of classes.
    name : str
        Dataset name (``"shd"``, ``"fsdd"``...).
    extra : dict of str to ndarray
        Per-sample metadata, each of length ``n_samples`` (e.g. ``"speaker"``).
    meta : dict
        Anything else (e.g. ``"meta_info"`` of SHD files, conversion parameters).
    """

    times: np.ndarray
    units: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    n_channels: int
    class_names: tuple = ()
    name: str = ""
    extra: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.times = np.ascontiguousarray(self.times, dtype=np.float32)
        self.units = np.ascontiguousarray(self.units, dtype=np.int32)
        self.offsets = np.ascontiguousarray(self.offsets, dtype=np.int64)
        self.labels = np.ascontiguousarray(self.labels, dtype=np.int64)
        self.n_channels = int(self.n_channels)
        self.class_names = tuple(str(c) for c in self.class_names)
        n = len(self.labels)
        if (
            self.offsets.shape != (n + 1,)
            or self.offsets[0] != 0
            or self.offsets[-1] != len(self.times)
            or np.any(np.diff(self.offsets) < 0)
        ):
            raise ValueError(
                f"{self.name or 'SpikeEvents'}: offsets must be non-decreasing, "
                f"of length n_samples + 1 = {n + 1}, from 0 to n_events = "
                f"{len(self.times)}"
            )
        if self.times.shape != self.units.shape:
            raise ValueError(
                f"{self.name or 'SpikeEvents'}: times {self.times.shape} and "
                f"units {self.units.shape} differ in length"
            )
        if len(self.units) and (self.units.min() < 0 or self.units.max() >= self.n_channels):
            raise ValueError(
                f"{self.name or 'SpikeEvents'}: channel indices must lie in "
                f"[0, {self.n_channels}), found {self.units.min()}.."
                f"{self.units.max()}"
            )
        if (
            self.class_names
            and n
            and (self.labels.min() < 0 or self.labels.max() >= len(self.class_names))
        ):
            raise ValueError(
                f"{self.name or 'SpikeEvents'}: labels must lie in "
                f"[0, {len(self.class_names)}), found {self.labels.min()}.."
                f"{self.labels.max()}"
            )
        for key, value in self.extra.items():
            if len(value) != n:
                raise ValueError(
                    f"{self.name or 'SpikeEvents'}: extra[{key!r}] has "
                    f"{len(value)} entries for {n} samples"
                )

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_lists(
        cls,
        times: Sequence[np.ndarray],
        units: Sequence[np.ndarray],
        labels: Sequence[int],
        n_channels: int,
        **kwargs,
    ) -> SpikeEvents:
        """Build from one ``times`` (s) and one ``units`` array per sample.

        Parameters
        ----------
        times, units : sequences of 1-D arrays, length n_samples
            Event times (seconds, any float dtype) and channel indices (any int dtype).
        labels : sequence of int, length n_samples
        n_channels : int
        **kwargs
            ``class_names``, ``name``, ``extra``, ``meta`` as in the class.

        Raises
        ------
        ValueError
            If the lengths do not match.
        """
        if len(times) != len(units) or len(times) != len(labels):
            raise ValueError(
                f"need as many times ({len(times)}), units ({len(units)}) and "
                f"labels ({len(labels)}) as samples"
            )
        for i, (t, u) in enumerate(zip(times, units)):
            if np.shape(t) != np.shape(u):
                raise ValueError(f"sample {i}: {np.size(t)} times but {np.size(u)} units")
        counts = np.array([np.size(t) for t in times], dtype=np.int64)
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        cat_t = (
            np.concatenate([np.asarray(t, dtype=np.float64).ravel() for t in times])
            if len(times)
            else np.zeros(0)
        )
        cat_u = (
            np.concatenate([np.asarray(u, dtype=np.int64).ravel() for u in units])
            if len(units)
            else np.zeros(0, dtype=np.int64)
        )
        return cls(cat_t, cat_u, offsets, np.asarray(labels), n_channels, **kwargs)

    @classmethod
    def concatenate(cls, parts: Sequence[SpikeEvents]) -> SpikeEvents:
        """Join several event sets with the same channels and classes (e.g. SHD train+test)."""
        first = parts[0]
        for p in parts[1:]:
            if p.n_channels != first.n_channels or p.class_names != first.class_names:
                raise ValueError("cannot concatenate event sets with different channels or classes")
        offsets = [np.zeros(1, dtype=np.int64)]
        base = 0
        for p in parts:
            offsets.append(p.offsets[1:] + base)
            base += len(p.times)
        keys = set.intersection(*(set(p.extra) for p in parts)) if parts else set()
        return cls(
            np.concatenate([p.times for p in parts]),
            np.concatenate([p.units for p in parts]),
            np.concatenate(offsets),
            np.concatenate([p.labels for p in parts]),
            first.n_channels,
            first.class_names,
            first.name,
            {k: np.concatenate([np.asarray(p.extra[k]) for p in parts]) for k in keys},
            dict(first.meta),
        )

    # -- access ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.labels)

    @property
    def n_classes(self) -> int:
        """Number of classes (``len(class_names)``, or ``max(label) + 1`` without names)."""
        if self.class_names:
            return len(self.class_names)
        return int(self.labels.max()) + 1 if len(self.labels) else 0

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Times (s, float32) and channel indices (int32) of sample ``i``."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"sample {i} out of range for {len(self)} samples")
        i = i % len(self)
        lo, hi = self.offsets[i], self.offsets[i + 1]
        return self.times[lo:hi], self.units[lo:hi]

    def counts(self) -> np.ndarray:
        """Number of events of each sample, int64 ``(n_samples,)``."""
        return np.diff(self.offsets)

    def subset(self, indices: Iterable[int]) -> SpikeEvents:
        """The samples at ``indices`` (in that order), as a new :class:`SpikeEvents`."""
        idx = np.asarray(
            list(indices) if not isinstance(indices, np.ndarray) else indices, dtype=np.int64
        )
        if len(idx) and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexError(f"indices out of range for {len(self)} samples")
        idx = idx % max(len(self), 1)
        lo, hi = self.offsets[idx], self.offsets[idx + 1]
        counts = hi - lo
        offsets = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        take = (
            np.repeat(lo - offsets[:-1], counts) + np.arange(offsets[-1])
            if len(idx)
            else np.zeros(0, dtype=np.int64)
        )
        return dataclasses.replace(
            self,
            times=self.times[take],
            units=self.units[take],
            offsets=offsets,
            labels=self.labels[idx],
            extra={k: np.asarray(v)[idx] for k, v in self.extra.items()},
            meta=dict(self.meta),
        )

    def durations(self) -> np.ndarray:
        """Time of the last event of each sample in seconds (0 for empty samples)."""
        out = np.zeros(len(self))
        nonempty = self.counts() > 0
        if len(self.times):
            out[nonempty] = np.maximum.reduceat(self.times, self.offsets[:-1][nonempty])
        return out


def n_time_steps(duration_ms: float, dt_ms: float) -> int:
    """Number of bins of width ``dt_ms`` covering ``duration_ms`` (rounded to the nearest
    integer when the ratio is within 1e-6 of one, otherwise rounded up).

    Raises
    ------
    ValueError
        If either is not positive.
    """
    if not dt_ms > 0:
        raise ValueError(f"dt_ms must be > 0, got {dt_ms}")
    if not duration_ms > 0:
        raise ValueError(f"duration_ms must be > 0, got {duration_ms}")
    ratio = duration_ms / dt_ms
    nearest = round(ratio)
    if abs(ratio - nearest) <= 1e-6 * max(1.0, ratio):
        return max(int(nearest), 1)
    return int(np.ceil(ratio))


def bin_events(
    times_s: np.ndarray,
    units: np.ndarray,
    n_channels: int,
    dt_ms: float,
    n_steps: int,
    binary: bool = False,
    out: np.ndarray | None = None,
    dtype=np.float32,
) -> np.ndarray:
    """Dense spike-count raster of one sample.

    Event ``k`` falls into bin ``floor(times_s[k] / dt)``; events at or after
    ``n_steps * dt`` (and at negative times) are dropped.

    Parameters
    ----------
    times_s : array, shape (n_events,)
        Event times in seconds.
    units : int array, shape (n_events,)
        Channel of each event, in ``[0, n_channels)``.
    n_channels : int
    dt_ms : float
        Bin width in ms.
    n_steps : int
        Number of bins.
    binary : bool
        If True, a bin holds 1 when it has at least one event (instead of the count).
    out : ndarray, shape (n_steps, n_channels), optional
        Array to fill (e.g. a slice of a batch tensor); overwritten.
    dtype : numpy dtype
        Of the result when ``out`` is None.

    Returns
    -------
    ndarray, shape ``[time, channels]`` = (n_steps, n_channels)
        Event counts (or 0/1 with ``binary``).
    """
    t = np.asarray(times_s, dtype=np.float64)
    u = np.asarray(units, dtype=np.int64)
    # round the ratio slightly so that an event exactly at k*dt (up to float error) lands in k
    step = np.floor(np.round(t / (dt_ms * 1e-3), 6)).astype(np.int64)
    keep = (step >= 0) & (step < n_steps)
    flat = step[keep] * n_channels + u[keep]
    counts = np.bincount(flat, minlength=n_steps * n_channels)
    if binary:
        counts = np.minimum(counts, 1)
    if out is None:
        return counts.reshape(n_steps, n_channels).astype(dtype)
    out[...] = counts.reshape(n_steps, n_channels)
    return out


def stratified_split(
    labels: Sequence[int], fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices in two, keeping class proportions.

    ``round(fraction * n_c)`` samples of every class ``c`` (at least one when ``fraction > 0``
    and the class has two or more samples) go to the second part, chosen by a
    ``numpy.random.default_rng(seed)`` permutation.

    Returns
    -------
    first, second : int64 arrays of sorted indices

    Raises
    ------
    ValueError
        If ``fraction`` is not in [0, 1).
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    second = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = int(round(fraction * len(idx)))
        if fraction > 0 and k == 0 and len(idx) >= 2:
            k = 1
        second.append(rng.permutation(idx)[:k])
    second = np.sort(np.concatenate(second)) if second else np.zeros(0, dtype=np.int64)
    first = np.setdiff1d(np.arange(len(labels)), second)
    return first.astype(np.int64), second.astype(np.int64)


class SpikeDataset(Dataset):
    """A torch ``Dataset`` of binned spike samples.

    ``dataset[i]`` is ``(x, y)``: ``x`` a float32 tensor ``[time, channels]`` of spike counts
    (or 0/1 with ``binary``) in bins of ``dt_ms`` over ``duration_ms``, ``y`` the class index
    (int64 scalar tensor). Use :meth:`loader` (or :func:`collate_time_major` as
    ``collate_fn``) for batches ``[time, batch, channels]``.

    Parameters
    ----------
    events : SpikeEvents
    dt_ms : float
        Bin width in ms.
    duration_ms : float
        Length of every sample in ms; later events are dropped, shorter samples are padded
        with empty bins.
    binary : bool
        0/1 per bin instead of counts.
    time_scale : float
        Factor on every spike time before binning (> 0; 1: none): a sample stretched (> 1)
        or compressed (< 1) in time, for the robustness test of Perez-Nieves et al. (2021)
        (choose ``duration_ms`` to hold the stretched sample).

    Attributes
    ----------
    events : SpikeEvents
    labels : ndarray of int64, shape (n_samples,)
    n_steps, n_channels, n_classes : int
    class_names : tuple of str
    name : str
    time_scale : float

    Raises
    ------
    ValueError
        A time scale <= 0.
    MissingExtraError
        If torch is not installed (``pip install 'neurolearn[torch]'``; the events themselves,
        :func:`neurolearn.datasets.load_events`, need no torch).
    """

    def __init__(
        self,
        events: SpikeEvents,
        dt_ms: float = 1.0,
        duration_ms: float = 1000.0,
        binary: bool = False,
        time_scale: float = 1.0,
    ):
        require("torch", "SpikeDataset (binned samples as torch tensors)")
        self.events = events
        self.dt_ms = float(dt_ms)
        self.duration_ms = float(duration_ms)
        self.binary = bool(binary)
        self.n_steps = n_time_steps(self.duration_ms, self.dt_ms)
        if not float(time_scale) > 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale!r}")
        self.time_scale = float(time_scale)

    def _times(self, i: int):
        t, u = self.events.sample(i)
        return (t * self.time_scale if self.time_scale != 1.0 else t), u

    # common attributes
    @property
    def labels(self) -> np.ndarray:
        return self.events.labels

    @property
    def targets(self) -> np.ndarray:
        return self.events.labels

    @property
    def n_channels(self) -> int:
        return self.events.n_channels

    @property
    def n_classes(self) -> int:
        return self.events.n_classes

    @property
    def class_names(self) -> tuple:
        return self.events.class_names

    @property
    def name(self) -> str:
        return self.events.name

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_steps, n_channels)`` of one sample."""
        return (self.n_steps, self.n_channels)

    def __len__(self) -> int:
        return len(self.events)

    def __getitem__(self, i):
        t, u = self._times(int(i))
        x = bin_events(t, u, self.n_channels, self.dt_ms, self.n_steps, self.binary)
        return torch.from_numpy(x), torch.tensor(int(self.events.labels[i]), dtype=torch.long)

    def dense(self, indices: Sequence[int] | None = None):
        """Several samples at once: ``x`` float32 ``[time, batch, channels]`` and ``y`` int64
        ``[batch]`` (all samples when ``indices`` is None; mind the memory)."""
        idx = np.arange(len(self)) if indices is None else np.asarray(indices, dtype=np.int64)
        x = np.zeros((self.n_steps, len(idx), self.n_channels), dtype=np.float32)
        for j, i in enumerate(idx):
            t, u = self._times(int(i))
            x[:, j, :] = bin_events(t, u, self.n_channels, self.dt_ms, self.n_steps, self.binary)
        return torch.from_numpy(x), torch.from_numpy(self.events.labels[idx].copy())

    def subset(self, indices: Sequence[int]) -> SpikeDataset:
        """Same binning, only the samples at ``indices``."""
        return SpikeDataset(
            self.events.subset(indices), self.dt_ms, self.duration_ms, self.binary, self.time_scale
        )

    def loader(
        self,
        batch_size: int = 64,
        shuffle: bool = False,
        seed: int | None = None,
        drop_last: bool = False,
        num_workers: int = 0,
        **kwargs,
    ):
        """A ``torch.utils.data.DataLoader`` giving ``(x [time, batch, channels], y [batch])``
        (:func:`time_major_loader` of this dataset; same parameters)."""
        return time_major_loader(
            self,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
            num_workers=num_workers,
            **kwargs,
        )

    def __repr__(self) -> str:
        return (
            f"SpikeDataset({self.name!r}, n_samples={len(self)}, n_channels="
            f"{self.n_channels}, n_classes={self.n_classes}, dt_ms={self.dt_ms:g}, "
            f"duration_ms={self.duration_ms:g}, n_steps={self.n_steps})"
        )


def collate_time_major(batch: Sequence[tuple[Any, Any]]):
    """``collate_fn`` stacking ``(x [time, channels], y)`` pairs into
    ``x [time, batch, channels]`` (float32) and ``y [batch]`` (int64).

    Raises
    ------
    MissingExtraError
        If torch is not installed (``pip install 'neurolearn[torch]'``).
    """
    require("torch", "collate_time_major")
    xs, ys = zip(*batch)
    x = torch.stack([torch.as_tensor(v) for v in xs], dim=1)
    return x, torch.as_tensor([int(v) for v in ys], dtype=torch.long)


class _CollateThenTransform:
    """``collate_fn``: :func:`collate_time_major`, then ``transform(x, y) -> (x, y)``."""

    def __init__(self, transform: Callable):
        self.transform = transform

    def __call__(self, batch):
        return self.transform(*collate_time_major(batch))


def time_major_loader(
    dataset,
    batch_size: int = 64,
    shuffle: bool = False,
    seed: int | None = None,
    drop_last: bool = False,
    num_workers: int = 0,
    transform: Callable | None = None,
    **kwargs,
):
    """A ``torch.utils.data.DataLoader`` over any dataset of ``(x [time, channels], y)``
    samples giving batches ``(x [time, batch, channels], y [batch])``.

    Parameters
    ----------
    dataset : torch Dataset
        Samples ``(x, y)``: ``x`` a ``[time, channels]`` tensor or array, ``y`` an integer
        class index.
    batch_size : int
    shuffle : bool
    seed : int, optional
        Seeds the shuffling generator (a new ``torch.Generator``), so the order is the same
        run to run; without it, shuffling and the loader's base seed come from torch's global
        generator.
    drop_last : bool
    num_workers : int
    transform : callable(x, y) -> (x, y), optional
        Applied to every collated batch (``x [time, batch, channels]``, ``y [batch]``), for
        example training-time augmentation. It runs where the batch is collated: in this
        process, batch after batch, when ``num_workers`` is 0, so that its random draws follow
        the order of the batches.
    **kwargs
        Passed to ``DataLoader``.

    Returns
    -------
    torch.utils.data.DataLoader

    Raises
    ------
    MissingExtraError
        If torch is not installed (``pip install 'neurolearn[torch]'``).
    """
    require("torch", "time_major_loader")
    generator = None
    if seed is not None:
        generator = torch.Generator()
        generator.manual_seed(int(seed))
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        num_workers=num_workers,
        collate_fn=collate_time_major if transform is None else _CollateThenTransform(transform),
        generator=generator,
        **kwargs,
    )


class _Binned(Dataset):
    """Shared attributes of the binned datasets (those of a :class:`SpikeDataset`):
    :class:`DenseSpikeDataset` and those of :mod:`neurolearn.datasets.binned`."""

    def _copy_attributes(self, dataset) -> None:
        require("torch", f"{type(self).__name__} (binned samples as torch tensors)")
        self.labels = np.asarray(dataset.labels)
        self._y = torch.from_numpy(self.labels.astype(np.int64))
        self.n_steps, self.n_channels = dataset.shape
        self.n_classes = dataset.n_classes
        self.dt_ms, self.duration_ms = dataset.dt_ms, dataset.duration_ms
        self.binary = dataset.binary
        self.class_names, self.name = dataset.class_names, dataset.name

    @property
    def targets(self) -> np.ndarray:
        """The labels (torchvision's name)."""
        return self.labels

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_steps, n_channels)`` of one sample."""
        return (self.n_steps, self.n_channels)

    def __len__(self) -> int:
        return len(self.labels)

    loader = SpikeDataset.loader


class DenseSpikeDataset(_Binned):
    """The samples of a :class:`SpikeDataset` binned once and held as one tensor, so that
    epochs over it do not bin every sample again.

    ``dataset[i]`` is ``(x, y)`` as in :class:`SpikeDataset`: ``x`` float32 ``[time,
    channels]`` (a view into the stored tensor), ``y`` the class index (int64 scalar tensor).

    Parameters
    ----------
    dataset : SpikeDataset
        Binned in full at construction: ``4 * len(dataset) * n_steps * n_channels`` bytes.

    Attributes
    ----------
    x : Tensor ``[n_samples, time, channels]`` (float32)
    labels : ndarray of int64, shape (n_samples,)
    n_steps, n_channels, n_classes, dt_ms, duration_ms, binary, class_names, name
        As in the source dataset.
    """

    def __init__(self, dataset: SpikeDataset):
        self._copy_attributes(dataset)
        x, _ = dataset.dense()
        self.x = x.transpose(0, 1).contiguous()  # [n, time, channels]

    def __getitem__(self, i):
        return self.x[i], self._y[i]

    def __repr__(self) -> str:
        return (
            f"DenseSpikeDataset({self.name!r}, n_samples={len(self)}, n_channels="
            f"{self.n_channels}, n_classes={self.n_classes}, dt_ms={self.dt_ms:g}, "
            f"duration_ms={self.duration_ms:g}, n_steps={self.n_steps})"
        )

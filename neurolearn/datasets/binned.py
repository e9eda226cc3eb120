"""Binned spike datasets that keep little in memory: the binned samples as bits
(:class:`PackedSpikeDataset`), or binned on the fly with a random time scale per sample
(:class:`TimeScaledSpikes`, the time-scale augmentation of Perez-Nieves et al. 2021).

A float32 tensor of every binned sample of Spiking FSDD at 2 ms (2700 samples x 500 steps x
256 channels) takes 1.4 GB; the same 0/1 values as bits take 43 MB, and binning a sample on
the fly costs a ``numpy.bincount`` over its events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .core import SpikeDataset, _Binned, bin_events, torch  # torch: None without the extra

__all__ = ["PackedSpikeDataset", "TimeScaledSpikes"]


class PackedSpikeDataset(_Binned):
    """The 0/1 samples of a binary :class:`SpikeDataset` binned once and kept as bits.

    ``dataset[i]`` is ``(x, y)`` exactly as from the source dataset (``x`` float32 ``[time,
    channels]`` of 0/1, ``y`` int64), unpacked on access; the stored array takes
    ``len(dataset) * n_steps * ceil(n_channels / 8)`` bytes, 1/32 of a float32 tensor.

    Parameters
    ----------
    dataset : SpikeDataset
        With ``binary=True``.

    Attributes
    ----------
    bits : ndarray of uint8, shape ``(n_samples, n_steps, ceil(n_channels / 8))``
    labels : ndarray of int64
    n_steps, n_channels, n_classes, dt_ms, duration_ms, binary, class_names, name
        As in the source dataset.

    Raises
    ------
    ValueError
        If ``dataset`` holds spike counts (``binary=False``): counts do not fit in bits.
    """

    def __init__(self, dataset: SpikeDataset):
        if not dataset.binary:
            raise ValueError(
                "PackedSpikeDataset keeps 0/1 samples as bits; this dataset holds spike counts "
                "(binary=False)"
            )
        self._copy_attributes(dataset)
        n_bytes = -(-self.n_channels // 8)
        self.bits = np.zeros((len(dataset), self.n_steps, n_bytes), dtype=np.uint8)
        buf = np.zeros((self.n_steps, self.n_channels), dtype=np.uint8)
        for i in range(len(dataset)):
            t, u = dataset.events.sample(i)
            t = t * dataset.time_scale if dataset.time_scale != 1.0 else t
            bin_events(t, u, self.n_channels, self.dt_ms, self.n_steps, True, out=buf)
            self.bits[i] = np.packbits(buf, axis=1)

    def __getitem__(self, i):
        x = np.unpackbits(self.bits[i], axis=1, count=self.n_channels)
        return torch.from_numpy(x.astype(np.float32)), self._y[i]

    def __repr__(self) -> str:
        return (
            f"PackedSpikeDataset({self.name!r}, n_samples={len(self)}, n_channels="
            f"{self.n_channels}, n_classes={self.n_classes}, dt_ms={self.dt_ms:g}, "
            f"duration_ms={self.duration_ms:g}, n_steps={self.n_steps})"
        )


class TimeScaledSpikes(_Binned):
    """Training samples whose spike times are stretched or compressed by a random factor.

    Every epoch (:meth:`set_epoch`), each sample draws a factor ``s`` from ``time_scales``
    (uniformly); ``dataset[i]`` bins sample ``i`` with its spike times multiplied by ``s``
    into the source's ``n_steps`` bins (spikes after the window are dropped, a compressed
    sample ends early). This is Perez-Nieves et al.'s (2021) time-scale augmentation
    (npvoid/neural_heterogeneity, SuGD_code/data_gen.py ``sparse_data_generator_scale``,
    l. 214-289: ``np.random.choice(time_scale)`` per sample, times ``* timescale`` before
    binning); the test of robustness then sweeps ``s`` over a range
    (:class:`SpikeDataset` with ``time_scale``).

    Parameters
    ----------
    dataset : SpikeDataset
        Source of events and binning.
    time_scales : sequence of float
        Factors to draw from (> 0).
    generator_for_epoch : callable(epoch) -> torch.Generator
        The generator of an epoch's draws (the training loop seeds it from the run's seed
        and the epoch, so a resumed run draws the same factors).

    Attributes
    ----------
    scales : Tensor ``[n_samples]`` (float64)
        The factor of every sample in the current epoch.

    Raises
    ------
    ValueError
        An empty list of factors or a factor <= 0.
    """

    def __init__(
        self,
        dataset: SpikeDataset,
        time_scales: Sequence[float],
        generator_for_epoch: Callable[[int], torch.Generator],
    ):
        factors = [float(s) for s in time_scales]
        if not factors or min(factors) <= 0:
            raise ValueError(f"time scales must be a non-empty list of factors > 0, got {factors}")
        self._copy_attributes(dataset)
        self.dataset, self.time_scales = dataset, tuple(factors)
        self.generator_for_epoch = generator_for_epoch
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Draw every sample's factor for epoch ``epoch`` (0-based)."""
        self.epoch = int(epoch)
        g = self.generator_for_epoch(self.epoch)
        idx = torch.randint(0, len(self.time_scales), (len(self),), generator=g)
        self.scales = torch.tensor(self.time_scales, dtype=torch.float64)[idx]

    def __getitem__(self, i):
        t, u = self.dataset.events.sample(int(i))
        x = bin_events(
            t * float(self.scales[i]), u, self.n_channels, self.dt_ms, self.n_steps, self.binary
        )
        return torch.from_numpy(x), self._y[i]

    def __repr__(self) -> str:
        return (
            f"TimeScaledSpikes({self.name!r}, n_samples={len(self)}, time_scales="
            f"{list(self.time_scales)}, dt_ms={self.dt_ms:g}, n_steps={self.n_steps})"
        )

"""Data of a training configuration: the training, validation and test sets, and the batches
``[time, batch, channels]`` the loop iterates over."""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from ..datasets import load_dataset
from .config import TrainingConfig

__all__ = ["load_data", "load_test_set"]


def _collate_time_major(batch):
    """Stack ``(x [time, channels], label)`` samples into ``x [time, batch, channels]``."""

    xs, ys = zip(*batch)
    x = torch.stack([torch.as_tensor(v) for v in xs], dim=1)
    return x, torch.as_tensor(ys, dtype=torch.long)


def _labels_of(dataset) -> np.ndarray:
    for attr in ("labels", "targets"):
        value = getattr(dataset, attr, None)
        if value is not None:
            return np.asarray(value)
    return np.asarray([int(dataset[i][1]) for i in range(len(dataset))])


def _batch_bar(loader, desc: str, progress: bool):
    """A tqdm bar counting the batches of ``loader``, updated by the caller. The loader itself
    is never wrapped: ``tqdm.auto``'s bar calls ``iter()`` on its iterable when it is created,
    which draws the loader's base seed from the epoch generator an extra time and so changed
    the sample order, making results depend on whether bars were shown."""

    return tqdm(total=len(loader), desc=desc, leave=False, unit="batch", disable=not progress)


def _loader(dataset, batch_size: int, shuffle: bool, generator=None):
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        collate_fn=_collate_time_major,
        num_workers=0,
    )


def load_data(config: TrainingConfig, seed: int | None = None):
    """The training, validation and test sets of a configuration.

    Parameters
    ----------
    config : TrainingConfig
    seed : int, optional
        Seed of the validation split and of ``max_*_samples`` (default ``training.seed``).

    Returns
    -------
    (train, valid, test) : :class:`neurolearn.datasets.SpikeDataset`
        ``valid`` is None when ``validation_fraction`` is 0.
    """

    d = config["data"]
    seed = config["training"]["seed"] if seed is None else seed
    common = dict(
        dt_ms=d["dt_ms"], duration_ms=d["duration_ms"], binary=d["binary"], **(d["options"] or {})
    )
    frac = d["validation_fraction"] or None
    train = load_dataset(
        d["dataset"],
        "train",
        valid_fraction=frac,
        seed=seed,
        max_samples=d["max_train_samples"],
        **common,
    )
    valid = None
    if frac:
        n_valid = None
        if d["max_train_samples"]:
            n_valid = max(1, int(round(d["max_train_samples"] * frac / (1 - frac))))
        valid = load_dataset(
            d["dataset"], "valid", valid_fraction=frac, seed=seed, max_samples=n_valid, **common
        )
    return train, valid, load_test_set(config, seed)


def load_test_set(config: TrainingConfig, seed: int | None = None):
    """The test set of a configuration (see :func:`load_data`)."""

    d = config["data"]
    seed = config["training"]["seed"] if seed is None else seed
    return load_dataset(
        d["dataset"],
        "test",
        seed=seed,
        max_samples=d["max_test_samples"],
        dt_ms=d["dt_ms"],
        duration_ms=d["duration_ms"],
        binary=d["binary"],
        **(d["options"] or {}),
    )


class _Dense:
    """A dataset held as one dense tensor (binning once instead of every epoch)."""

    def __init__(self, dataset):
        x, y = dataset.dense()
        self.x = x.transpose(0, 1).contiguous()  # [n, time, channels]
        self.labels = np.asarray(y)
        self._y = [int(v) for v in self.labels]

    def __len__(self):
        return len(self._y)

    def __getitem__(self, i):
        return self.x[i], self._y[i]


def _maybe_dense(dataset, limit_bytes: float = 1.5e9):
    n = len(dataset)
    steps, channels = dataset.shape if hasattr(dataset, "shape") else (0, 0)
    if n and steps and 4.0 * n * steps * channels <= limit_bytes:
        return _Dense(dataset)
    return dataset

"""Data of a training configuration: the training, validation and test sets, and the batches
``[time, batch, channels]`` the loop iterates over."""

from __future__ import annotations

from ..datasets import DenseSpikeDataset, load_dataset
from .config import TrainingConfig

__all__ = ["load_data", "load_test_set", "in_memory"]


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


def in_memory(dataset, limit_bytes: float = 1.5e9):
    """``dataset`` binned once and held in memory
    (:class:`neurolearn.datasets.DenseSpikeDataset`) when its float32 tensor takes at most
    ``limit_bytes``; otherwise ``dataset`` itself (binned sample by sample on access)."""
    n = len(dataset)
    steps, channels = dataset.shape if hasattr(dataset, "shape") else (0, 0)
    if n and steps and 4.0 * n * steps * channels <= limit_bytes:
        return DenseSpikeDataset(dataset)
    return dataset

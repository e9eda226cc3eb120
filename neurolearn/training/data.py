"""Data of a training configuration: the training, validation and test sets, and the batches
``[time, batch, channels]`` the loop iterates over."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from ..datasets import DenseSpikeDataset, load_dataset
from ..paths import DataNotFoundError
from .config import ConfigError, TrainingConfig

__all__ = ["load_data", "load_test_set", "in_memory", "data_errors"]


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

    Raises
    ------
    ConfigError
        If the dataset refuses the configuration's settings (an unknown or bad
        ``[data.options]`` key...): the message names the file, the section and the key.
    neurolearn.paths.DataNotFoundError
        If the data is not there (the message says how to get it).
    """
    with data_errors(config):
        return _load_data(config, seed)


def _load_data(config: TrainingConfig, seed: int | None):
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
    """The test set of a configuration (see :func:`load_data`, errors as there)."""
    seed = config["training"]["seed"] if seed is None else seed
    with data_errors(config):
        return _test_set(config, seed)


def _test_set(config: TrainingConfig, seed: int):
    d = config["data"]
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


@contextlib.contextmanager
def data_errors(config: TrainingConfig) -> Iterator[None]:
    """Turn a dataset's refusal of the settings (``ValueError``, ``TypeError``) into a
    :class:`ConfigError` naming the configuration file, ``[data.options]`` (or ``[data]``
    when there are no options) and the option named in the message; missing data
    (:class:`~neurolearn.paths.DataNotFoundError`) passes unchanged."""
    try:
        yield
    except DataNotFoundError:
        raise
    except (ValueError, TypeError) as exc:
        if isinstance(exc, ConfigError):
            raise
        d = config["data"]
        options = d["options"] or {}
        key = None
        m = re.search(r"unknown option\(s\) ([A-Za-z0-9_]+)", str(exc))
        if m:
            key = m.group(1)
        else:
            key = next((k for k in options if re.search(rf"\b{re.escape(k)}\b", str(exc))), None)
        section = "data.options" if (options or key) else "data"
        raise ConfigError(
            f"dataset {d['dataset']!r} refuses these settings: {exc}", config.path, section, key
        ) from None


def in_memory(dataset, limit_bytes: float = 1.5e9):
    """``dataset`` binned once and held in memory
    (:class:`neurolearn.datasets.DenseSpikeDataset`) when its float32 tensor takes at most
    ``limit_bytes``; otherwise ``dataset`` itself (binned sample by sample on access)."""
    n = len(dataset)
    steps, channels = dataset.shape if hasattr(dataset, "shape") else (0, 0)
    if n and steps and 4.0 * n * steps * channels <= limit_bytes:
        return DenseSpikeDataset(dataset)
    return dataset

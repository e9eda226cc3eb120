"""Data of a training configuration: the training, validation and test sets (the official split
or a speaker-independent one), the training-time time-scale augmentation, and the form the
loop iterates over (binned once and kept as bits, or binned on the fly)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import numpy as np

from ..datasets import (
    DenseSpikeDataset,
    PackedSpikeDataset,
    SpikeDataset,
    TimeScaledSpikes,
    load_dataset,
    speaker_split,
    stratified_split,
)
from ..paths import DataNotFoundError
from .config import ConfigError, TrainingConfig
from .rng import epoch_generator

__all__ = ["load_data", "load_test_set", "in_memory", "training_set", "data_errors"]


def _limit(events, max_samples, seed: int):
    """At most ``max_samples`` samples, stratified by class (as ``load_dataset`` chooses)."""
    if max_samples is None or max_samples >= len(events):
        return events
    _, keep = stratified_split(events.labels, max_samples / len(events), seed)
    if len(keep) > max_samples:
        keep = np.sort(np.random.default_rng(seed).choice(keep, max_samples, replace=False))
    return events.subset(keep)


def _speaker_sets(config: TrainingConfig, seed: int):
    """``(train, valid, test)`` of ``[data] split = "speaker"``."""
    d = config["data"]
    parts = speaker_split(
        d["dataset"], d["test_speakers"] or [], d["validation_speakers"] or [], **d["options"]
    )
    train, valid, test = parts["train"], parts["valid"], parts["test"]
    frac = d["validation_fraction"]
    if not len(valid) and frac:
        keep, held = stratified_split(train.labels, frac, seed)
        train, valid = train.subset(keep), train.subset(held)
    n_valid = None
    if d["max_train_samples"] and len(valid):
        n_valid = max(1, int(round(d["max_train_samples"] * len(valid) / len(train))))
    binning = dict(dt_ms=d["dt_ms"], duration_ms=d["duration_ms"], binary=d["binary"])
    return (
        SpikeDataset(_limit(train, d["max_train_samples"], seed), **binning),
        SpikeDataset(_limit(valid, n_valid, seed), **binning) if len(valid) else None,
        SpikeDataset(_limit(test, d["max_test_samples"], seed), **binning),
    )


def load_data(config: TrainingConfig, seed: int | None = None):
    """The training, validation and test sets of a configuration.

    ``[data] split = "official"``: the dataset's test split, and ``validation_fraction`` of
    its training split (stratified) for validation. ``"speaker"``: every official split
    joined and split by speaker (:func:`neurolearn.datasets.speaker_split`):
    ``test_speakers`` test, ``validation_speakers`` validate (without them,
    ``validation_fraction`` of the training speakers' samples), the other speakers train.

    Parameters
    ----------
    config : TrainingConfig
    seed : int, optional
        Seed of the validation split and of ``max_*_samples`` (default ``training.seed``).

    Returns
    -------
    (train, valid, test) : :class:`neurolearn.datasets.SpikeDataset`
        ``valid`` is None when there is no validation set.

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
    if d["split"] == "speaker":
        return _speaker_sets(config, seed)
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
    if d["split"] == "speaker":
        return _speaker_sets(config, seed)[2]
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
    """``dataset`` binned once and held in memory: as bits
    (:class:`neurolearn.datasets.PackedSpikeDataset`, 1/32 of the float32 tensor) when it
    holds 0/1 samples, else as a float32 tensor
    (:class:`neurolearn.datasets.DenseSpikeDataset`) when that takes at most ``limit_bytes``;
    otherwise ``dataset`` itself (binned sample by sample on access). The samples are the same
    in every case."""
    n = len(dataset)
    steps, channels = dataset.shape if hasattr(dataset, "shape") else (0, 0)
    if n and steps and getattr(dataset, "binary", False) and hasattr(dataset, "events"):
        return PackedSpikeDataset(dataset)
    if n and steps and 4.0 * n * steps * channels <= limit_bytes:
        return DenseSpikeDataset(dataset)
    return dataset


def training_set(config: TrainingConfig, train):
    """The training set as the loop sees it: with ``[training] time_scales``, every sample's
    spike times scaled by a factor drawn per sample and epoch, binned on the fly
    (:class:`neurolearn.datasets.TimeScaledSpikes`, draws from
    :func:`~neurolearn.training.rng.epoch_generator` ``(seed, epoch, stream=2)``); otherwise
    :func:`in_memory`."""
    tr = config["training"]
    if tr["time_scales"]:
        seed = int(tr["seed"])
        return TimeScaledSpikes(
            train, tr["time_scales"], lambda epoch: epoch_generator(seed, epoch, stream=2)
        )
    return in_memory(train)

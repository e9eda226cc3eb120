"""The dataset registry: every dataset module registers one entry with its loader, the names
derive from it, and a dataset added by one registration loads through ``load_dataset``."""

import numpy as np
import pytest

from neurolearn.datasets import (
    DATASETS,
    DatasetInfo,
    braille,
    dataset_names,
    fsdd,
    load_dataset,
    load_events,
    nmnist,
    shd,
)
from neurolearn.datasets.catalog import register_dataset
from neurolearn.datasets.core import SpikeEvents


def test_every_dataset_is_registered_by_its_module_with_its_loader():
    assert dataset_names() == ("fsdd", "shd", "ssc", "shd_files", "nmnist", "braille")
    assert tuple(DATASETS) == dataset_names()
    loaders = {
        "fsdd": fsdd.fsdd_events,
        "shd": shd.shd_events,
        "ssc": shd.ssc_events,
        "shd_files": shd.file_events,
        "nmnist": nmnist.nmnist_events,
        "braille": braille.braille_events,
    }
    for name, info in DATASETS.items():
        assert info.name == name
        assert info.loader is loaders[name]
    assert DATASETS["ssc"].splits == ("train", "valid", "test")
    assert DATASETS["shd"].duration_ms == 1400.0


def test_unknown_dataset_lists_the_registered_names():
    with pytest.raises(ValueError, match="unknown dataset 'mnist'; choose one of fsdd, shd") as e:
        load_events("mnist")
    for name in DATASETS:
        assert name in str(e.value)


def _toy_events(split, n_samples=4, scale=1.0):
    """Sample k has one spike in channel k % 3 at (k + 1) ms * scale; label k % 2."""
    n = n_samples if split == "train" else 2
    times = [np.array([(k + 1) * 1e-3 * scale]) for k in range(n)]
    units = [np.array([k % 3]) for k in range(n)]
    return SpikeEvents.from_lists(times, units, [k % 2 for k in range(n)], 3, name="toy")


@pytest.mark.torch  # load_dataset gives a torch Dataset (neurolearn[torch])
def test_a_new_dataset_is_one_registration():
    info = DatasetInfo("toy", 2, 3, ("train", "test"), 5.0, "toy data", loader=_toy_events)
    register_dataset(info)
    try:
        assert "toy" in dataset_names()
        train = load_dataset("toy", "train", dt_ms=1.0, scale=2.0)
        assert len(train) == 4 and train.n_steps == 5
        x, y = train[1]
        assert x.shape == (5, 3) and int(y) == 1
        assert float(x[4, 1]) == 1.0 and float(x.sum()) == 1.0  # 4 ms: bin 4, channel 1
        with pytest.raises(ValueError, match="toy: unknown option.*colour.*n_samples, scale"):
            load_events("toy", colour=1)
        with pytest.raises(ValueError, match="already registered"):
            register_dataset(DatasetInfo("toy", 3, 3, ("train",), 5.0, "other", _toy_events))
    finally:
        DATASETS.pop("toy")
    assert "toy" not in dataset_names()


@pytest.mark.parametrize(
    "info,match",
    [
        (DatasetInfo("Toy", 2, 3, ("train",), 5.0, "", _toy_events), "lower-case"),
        (DatasetInfo("toy", 2, 3, ("train",), 5.0, ""), "loader must be callable"),
        (DatasetInfo("toy", 2, 3, ("train",), 5.0, "", lambda s: s), "first parameter"),
    ],
)
def test_bad_registrations_are_refused(info, match):
    with pytest.raises(ValueError, match=match):
        register_dataset(info)
    assert "toy" not in DATASETS

"""SHD/SSC layout: the reader on files written in the official layout (plain, .gz, .zip,
different stored dtypes), and load_dataset's search order and errors."""

import gzip
import zipfile

import h5py
import numpy as np
import pytest

from neurolearn.datasets import SHD_CLASSES, SpikeEvents, load_dataset, read_shd, write_shd
from neurolearn.paths import DataNotFoundError


def _events(n=25, n_channels=700, seed=0, name="shd", n_classes=20):
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 400, n)
    counts[3] = 0  # an empty sample must survive the round trip
    times = [np.sort(rng.uniform(0, 1.3, c)) for c in counts]
    units = [rng.integers(0, n_channels, c) for c in counts]
    labels = rng.integers(0, n_classes, n)
    return SpikeEvents.from_lists(
        times,
        units,
        labels,
        n_channels,
        class_names=SHD_CLASSES[:n_classes],
        name=name,
        extra={"speaker": rng.integers(0, 12, n)},
    )


@pytest.mark.parametrize("suffix", [".h5", ".h5.gz", ".h5.zip"])
def test_round_trip(tmp_path, suffix):
    ev = _events()
    meta = {
        "gender": np.array(["female", "male", "female"]),
        "age": np.array([21, 34, 56]),
        "body_height": np.array([1.62, 1.80, 1.71]),
    }
    path = write_shd(tmp_path / f"shd_train{suffix}", ev, meta_info=meta, attrs={"source": "test"})
    if suffix == ".h5.gz":
        with gzip.open(path) as fh:
            assert fh.read(8) == b"\x89HDF\r\n\x1a\n"
    if suffix == ".h5.zip":
        assert zipfile.ZipFile(path).namelist() == ["shd_train.h5"]
    back = read_shd(path)
    assert back.n_channels == 700
    assert len(back) == len(ev) == 25
    np.testing.assert_array_equal(back.offsets, ev.offsets)
    # stored as float32: equal to the float32 originals
    np.testing.assert_array_equal(back.times, ev.times.astype(np.float32))
    np.testing.assert_array_equal(back.units, ev.units)
    np.testing.assert_array_equal(back.labels, ev.labels)
    np.testing.assert_array_equal(back.extra["speaker"], ev.extra["speaker"])
    assert back.class_names == SHD_CLASSES
    assert back.counts()[3] == 0
    assert list(back.meta["meta_info"]["gender"]) == ["female", "male", "female"]
    np.testing.assert_array_equal(back.meta["meta_info"]["age"], [21, 34, 56])
    np.testing.assert_allclose(back.meta["meta_info"]["body_height"], [1.62, 1.80, 1.71])
    assert back.meta["attrs"]["source"] == "test"


def _write_official_like(path, times, units, labels, speaker, keys, tdtype, udtype, ldtype):
    """Write the layout directly with h5py (independent of write_shd), with given dtypes."""
    with h5py.File(path, "w") as f:
        t = f.create_dataset("spikes/times", (len(times),), dtype=h5py.vlen_dtype(tdtype))
        u = f.create_dataset("spikes/units", (len(units),), dtype=h5py.vlen_dtype(udtype))
        for i in range(len(times)):
            t[i] = np.asarray(times[i], dtype=tdtype)
            u[i] = np.asarray(units[i], dtype=udtype)
        f["labels"] = np.asarray(labels, dtype=ldtype)
        f["extra/speaker"] = np.asarray(speaker, dtype=np.int32)
        f["extra/keys"] = np.array([k.encode() for k in keys])  # fixed-length bytes
        f["extra/meta_info/gender"] = np.array([b"female", b"male"])


@pytest.mark.parametrize(
    "tdtype,udtype,ldtype",
    [
        (np.float16, np.uint16, np.uint8),
        (np.float64, np.int64, np.int32),
        (np.float32, np.uint32, np.uint16),
    ],
)
def test_reader_casts_stored_dtypes(tmp_path, tdtype, udtype, ldtype):
    times = [[0.0, 0.25, 0.5, 1.0], [0.125], []]
    units = [[0, 699, 5, 5], [42], []]
    path = tmp_path / "shd_test.h5"
    _write_official_like(
        path,
        times,
        units,
        [19, 0, 7],
        [1, 2, 3],
        [f"class-{i}" for i in range(20)],
        tdtype,
        udtype,
        ldtype,
    )
    ev = read_shd(path)
    assert ev.times.dtype == np.float32 and ev.units.dtype == np.int32
    np.testing.assert_array_equal(ev.counts(), [4, 1, 0])
    # these times are exact in float16 too
    np.testing.assert_array_equal(ev.sample(0)[0], [0.0, 0.25, 0.5, 1.0])
    np.testing.assert_array_equal(ev.sample(0)[1], [0, 699, 5, 5])
    np.testing.assert_array_equal(ev.labels, [19, 0, 7])
    np.testing.assert_array_equal(ev.extra["speaker"], [1, 2, 3])
    assert ev.class_names[19] == "class-19"
    assert list(ev.meta["meta_info"]["gender"]) == ["female", "male"]


def test_reader_errors_name_the_file(tmp_path):
    bad = tmp_path / "broken.h5"
    with h5py.File(bad, "w") as f:
        f["labels"] = np.zeros(3)
    with pytest.raises(ValueError, match="broken.h5.*spikes/times"):
        read_shd(bad)
    mismatch = tmp_path / "mismatch.h5"
    _write_official_like(
        mismatch, [[0.1, 0.2]], [[1]], [0], [0], ["a"], np.float32, np.uint16, np.uint8
    )
    with pytest.raises(ValueError, match="mismatch.h5: sample 0 has 2 spike times but 1 units"):
        read_shd(mismatch)
    with pytest.raises(FileNotFoundError):
        read_shd(tmp_path / "nothing.h5")


@pytest.mark.torch  # load_dataset gives a torch Dataset (neurolearn[torch])
def test_load_dataset_from_data_dir(tmp_path, monkeypatch):
    (tmp_path / "shd").mkdir()
    train, test = _events(40, seed=1), _events(12, seed=2)
    write_shd(tmp_path / "shd" / "shd_train.h5.zip", train)
    write_shd(tmp_path / "shd" / "shd_test.h5", test)
    monkeypatch.setenv("NEUROLEARN_DATA_DIR", str(tmp_path))
    ds = load_dataset("shd", "test", dt_ms=2.0, duration_ms=1400.0)
    assert len(ds) == 12 and ds.n_steps == 700 and ds.n_classes == 20
    x, y = ds[5]
    assert x.shape == (700, 700) and x.dtype.__str__() == "torch.float32"
    assert int(y) == test.labels[5]
    assert float(x.sum()) == test.counts()[5]  # all events lie before 1.3 s < 1.4 s
    tr = load_dataset("shd", "train", valid_fraction=0.25, seed=3)
    va = load_dataset("shd", "valid", valid_fraction=0.25, seed=3)
    assert len(tr) + len(va) == 40
    # the two parts partition the training file: same labels and the same spikes overall
    np.testing.assert_array_equal(np.sort(np.r_[tr.labels, va.labels]), np.sort(train.labels))
    assert tr.events.counts().sum() + va.events.counts().sum() == len(train.times)
    with pytest.raises(ValueError, match="no official validation set"):
        load_dataset("shd", "valid")
    with pytest.raises(DataNotFoundError, match="zenkelab.org"):
        load_dataset("ssc", "train")  # data dir set: no download, clear message

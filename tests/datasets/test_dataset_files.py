"""Dataset readers name the file and what is wrong with it: empty, truncated and
wrong-format files for the Braille archive, the SHD-layout HDF5 reader and N-MNIST events."""

import numpy as np
import pytest

from neurolearn.datasets.braille import read_braille_npz
from neurolearn.datasets.nmnist import read_nmnist_bin
from neurolearn.datasets.shd import read_shd


def _truncated(source, target):
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def test_braille_archive(tmp_path, data_dir):
    real = data_dir / "braille" / "braille_taxels.npz"
    assert read_braille_npz(real)["taxels"].ndim == 3
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty.npz: not a readable Braille .npz archive \(empty"):
        read_braille_npz(empty)
    with pytest.raises(ValueError, match="cut.npz: not a readable Braille .npz archive"):
        read_braille_npz(_truncated(real, tmp_path / "cut.npz"))
    text = tmp_path / "text.npz"
    text.write_text("letters,taxels\n")
    with pytest.raises(ValueError, match="text.npz: not a readable Braille .npz archive"):
        read_braille_npz(text)
    one = tmp_path / "one.npy"
    np.save(one, np.zeros(3))
    with pytest.raises(ValueError, match="one.npy: .*one array"):
        read_braille_npz(one)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(ValueError, match=r"other.npz: .*missing arrays \['lengths'"):
        read_braille_npz(other)


def test_shd_layout_file(tmp_path):
    import h5py

    good = tmp_path / "good.h5"
    with h5py.File(good, "w") as f:
        times = f.create_dataset("spikes/times", (2,), dtype=h5py.vlen_dtype(np.float32))
        units = f.create_dataset("spikes/units", (2,), dtype=h5py.vlen_dtype(np.uint16))
        times[0], times[1] = np.array([0.1, 0.2], np.float32), np.array([0.3], np.float32)
        units[0], units[1] = np.array([1, 2], np.uint16), np.array([0], np.uint16)
        f["labels"] = np.array([0, 1])
    assert len(read_shd(good).labels) == 2
    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.h5: not an HDF5 file"):
        read_shd(empty)
    with pytest.raises(ValueError, match="cut.h5: not an HDF5 file"):
        read_shd(_truncated(good, tmp_path / "cut.h5"))
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.zeros(2)
    with pytest.raises(ValueError, match="other.h5: missing dataset 'spikes/times'"):
        read_shd(other)


def test_nmnist_events(tmp_path):
    events = tmp_path / "00001.bin"
    events.write_bytes(bytes([3, 4, 0x80, 0, 10]) * 2)
    x, y, p, t = read_nmnist_bin(events)
    assert list(x) == [3, 3] and list(p) == [1, 1] and list(t) == [10, 10]
    cut = tmp_path / "00002.bin"
    cut.write_bytes(bytes([3, 4, 0x80, 0, 10, 7]))
    with pytest.raises(ValueError, match="00002.bin: 6 bytes is not a whole number"):
        read_nmnist_bin(cut)

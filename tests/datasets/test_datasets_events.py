"""N-MNIST (.bs2 subset and original .bin format) and Braille sigma-delta encoding."""

import numpy as np
import pytest

from neurolearn.datasets import load_dataset
from neurolearn.datasets.braille import BRAILLE_CLASSES, read_braille_npz, sigma_delta_encode
from neurolearn.datasets.nmnist import decode_events, read_bs2, read_nmnist_bin


# ---------------------------------------------------------------------------------- N-MNIST
def test_bs2_reader_event_counts_and_first_event(require_data):
    folder = require_data("nmnist_small")
    files = sorted(folder.glob("*.bs2"), key=lambda f: int(f.stem))
    assert len(files) == 1100
    for f in files[::37]:
        raw = f.read_bytes()
        x, y, p, t = read_bs2(f)
        assert len(t) == len(raw) // 5 == f.stat().st_size // 5  # 40 bits per event
        # first event decoded by hand from its five bytes
        b0, b1, b2, b3, b4 = raw[:5]
        assert (x[0], y[0], p[0]) == (b0, b1, b2 >> 7)
        assert t[0] == (b2 & 0x7F) * 65536 + b3 * 256 + b4
        assert x.max() < 34 and y.max() < 34 and np.all(np.diff(t) >= 0)


@pytest.mark.torch  # load_dataset gives a torch Dataset (neurolearn[torch])
def test_nmnist_small_dataset(require_data):
    folder = require_data("nmnist_small")
    train = load_dataset("nmnist", "train", dt_ms=1.0, duration_ms=350.0, variant="small")
    test = load_dataset("nmnist", "test", dt_ms=1.0, duration_ms=350.0, variant="small")
    assert len(train) == 1000 and len(test) == 100
    assert train.n_channels == 2 * 34 * 34 and train.n_classes == 10
    # labels from the listing files, event counts from the file sizes
    rows = np.loadtxt(folder / "test100.txt", dtype=int, comments="#")
    np.testing.assert_array_equal(test.labels, rows[:, 1])
    sizes = np.array([(folder / f"{s}.bs2").stat().st_size for s in rows[:, 0]])
    np.testing.assert_array_equal(test.events.counts(), sizes // 5)
    # every sample lasts less than 350 ms: binning keeps every event
    x, _ = test.dense(range(8))
    np.testing.assert_array_equal(x.sum(dim=(0, 2)).numpy(), sizes[:8] // 5)


def _encode(x, y, p, t_us):
    """40-bit events (x 8, y 8, p 1, t 23 bits) as in Orchard's and SLAYER's writers."""
    out = np.zeros((len(x), 5), dtype=np.uint8)
    out[:, 0], out[:, 1] = x, y
    out[:, 2] = (np.asarray(p) << 7) | ((np.asarray(t_us) >> 16) & 0x7F)
    out[:, 3] = (np.asarray(t_us) >> 8) & 0xFF
    out[:, 4] = np.asarray(t_us) & 0xFF
    return out.tobytes()


def test_bin_reader_applies_overflow_markers(tmp_path):
    # two pixel events, an overflow marker (y = 240), two more events
    raw = _encode(
        [3, 33, 0, 5, 6], [4, 0, 240, 33, 7], [1, 0, 0, 1, 0], [10, 8_000_000, 0, 20, 8_388_607]
    )
    path = tmp_path / "00001.bin"
    path.write_bytes(raw)
    x, y, p, t = read_nmnist_bin(path)
    np.testing.assert_array_equal(x, [3, 33, 5, 6])
    np.testing.assert_array_equal(y, [4, 0, 33, 7])
    np.testing.assert_array_equal(p, [1, 0, 1, 0])
    np.testing.assert_array_equal(t, [10, 8_000_000, 20 + 8192, 8_388_607 + 8192])
    # the .bs2 reading of the same bytes keeps every event and the raw 23-bit times
    xb, yb, _, tb = decode_events(raw, overflow_markers=False)
    assert len(tb) == 5 and tb[4] == 2**23 - 1 and yb[2] == 240
    with pytest.raises(ValueError, match="whole number of 5-byte events"):
        decode_events(raw[:-1], overflow_markers=True, source="cut.bin")


@pytest.mark.torch  # load_dataset gives a torch Dataset (neurolearn[torch])
def test_nmnist_full_folder_layout(tmp_path, monkeypatch):
    root = tmp_path / "data"
    for split, digits in (("Train", (0, 3)), ("Test", (7,))):
        for d in digits:
            folder = root / "nmnist" / split / str(d)
            folder.mkdir(parents=True)
            for k in range(2):
                n = 5 + k + d
                (folder / f"{k:05d}.bin").write_bytes(
                    _encode(
                        np.arange(n) % 34,
                        (np.arange(n) * 7) % 34,
                        np.arange(n) % 2,
                        np.arange(n) * 1000,
                    )
                )
    monkeypatch.setenv("NEUROLEARN_DATA_DIR", str(root))
    train = load_dataset("nmnist", "train", dt_ms=1.0, duration_ms=20.0, progress=False)
    assert len(train) == 4 and sorted(train.labels.tolist()) == [0, 0, 3, 3]
    np.testing.assert_array_equal(np.sort(train.events.counts()), [5, 6, 8, 9])
    t, u = train.events.sample(0)
    np.testing.assert_allclose(t, np.arange(5) * 1e-3, atol=1e-7)
    ev_x, ev_y, ev_p = np.arange(5) % 34, (np.arange(5) * 7) % 34, np.arange(5) % 2
    np.testing.assert_array_equal(u, ev_p * 1156 + ev_y * 34 + ev_x)
    # converted once into the cache, read back from there the second time
    assert len(load_dataset("nmnist", "test", progress=False)) == 2


# ---------------------------------------------------------------------------------- Braille
def test_sigma_delta_on_a_ramp():
    # rises by 10 units in one sample interval, stays, falls by 4.5 units
    sig = np.array([[[0.0], [10.0], [10.0], [5.5]]])
    smp, ch, t = sigma_delta_encode(sig, np.array([4]), sample_rate_hz=40.0, threshold=1.0)
    up, down = t[ch == 0], t[ch == 1]
    np.testing.assert_allclose(up, np.arange(1, 11) / 10 * 0.025)  # level k at k/10 of dt
    # reference is 10 after the rise: falls through 9, 8, 7, 6 (not 5.5 - 1)
    np.testing.assert_allclose(down, 0.05 + np.arange(1, 5) / 4.5 * 0.025)
    assert set(smp) == {0}
    with pytest.raises(ValueError, match="threshold"):
        sigma_delta_encode(sig, np.array([4]), 40.0, threshold=0)


@pytest.mark.torch  # load_dataset gives a torch Dataset (neurolearn[torch])
def test_braille_spikes_in_both_directions_track_the_signal(require_data):
    path = require_data("braille", "braille_taxels.npz")
    d = read_braille_npz(path)
    ds = load_dataset("braille", "train", dt_ms=5.0)
    test = load_dataset("braille", "test", dt_ms=5.0)
    assert len(ds) == 1080 and len(test) == 270 and ds.n_classes == 27 == len(BRAILLE_CLASSES)
    assert ds.n_channels == 24
    np.testing.assert_array_equal(np.bincount(test.labels), np.full(27, 10))
    ev = ds.events
    inc = np.add.reduceat((ev.units % 2 == 0).astype(int), ev.offsets[:-1])
    dec = np.add.reduceat((ev.units % 2 == 1).astype(int), ev.offsets[:-1])
    # real recordings: pressing and releasing the taxels gives both kinds of spikes
    assert np.mean((inc > 0) & (dec > 0)) > 0.95
    # sigma-delta property: the running sum of (increase - decrease) spikes reproduces the
    # pressure 255 - x at every sample time to within one threshold step
    keep = np.flatnonzero(d["repetitions"] % 5 != 4)
    for j in (0, 500, 1079):
        i = keep[j]
        n = d["lengths"][i]
        pressure = 255.0 - d["taxels"][i, :n]
        t, u = ev.sample(j)
        for taxel in range(12):
            sel = u // 2 == taxel
            sign = np.where(u[sel] % 2 == 0, 1.0, -1.0)
            times = np.arange(n) / 40.0
            level = np.array([sign[t[sel] <= s + 1e-9].sum() for s in times])
            err = pressure[:, taxel] - pressure[0, taxel] - level
            assert np.all(np.abs(err) < 1.0 + 1e-6)

"""Download recipes: registries, and what happens to a downloaded file (network replaced by a
local file; the checksums and the unpacking are the project's own)."""

import hashlib
import tarfile

import numpy as np
import pytest

from neurolearn.datasets import SHD_CLASSES, SpikeEvents, fetch, fsdd, shd, write_shd
from neurolearn.paths import DataNotFoundError


def test_registries_are_well_formed():
    heidelberg = fetch.load_registry("heidelberg.txt")
    assert set(heidelberg) == {
        "shd_train.h5.zip",
        "shd_test.h5.zip",
        "ssc_train.h5.zip",
        "ssc_valid.h5.zip",
        "ssc_test.h5.zip",
    }
    assert all(h.startswith("md5:") and len(h) == 36 for h in heidelberg.values())
    fsdd_reg = fetch.load_registry("fsdd_v1.0.10.txt")
    assert len(fsdd_reg) == 3000
    assert all(h.startswith("sha256:") and len(h) == 71 for h in fsdd_reg.values())
    nmnist = fetch.load_registry("nmnist.txt")
    assert set(nmnist) == {"Train.zip", "Test.zip"}


def test_fsdd_registry_matches_the_local_recordings(require_data):
    folder = require_data("fsdd", "recordings")
    reg = fetch.load_registry("fsdd_v1.0.10.txt")
    for name in ("0_george_0.wav", "4_lucas_27.wav", "9_yweweler_49.wav"):
        digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        assert reg[f"recordings/{name}"] == f"sha256:{digest}"


_SUBSET = [f"{d}_{s}_{i}.wav" for d in (0, 3, 9) for s in ("george", "theo") for i in (0, 8)]


def _fsdd_archive(src, path, corrupt=None):
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for wav in [src / n for n in _SUBSET]:
            if wav.name == corrupt:
                data = bytearray(wav.read_bytes())
                data[100] ^= 0xFF
                corrupted = path.parent / wav.name
                corrupted.write_bytes(bytes(data))
                tar.add(corrupted, f"free-spoken-digit-dataset-1.0.10/recordings/{wav.name}")
            else:
                tar.add(wav, f"free-spoken-digit-dataset-1.0.10/recordings/{wav.name}")


def test_fsdd_download_checks_every_recording(require_data, tmp_path, monkeypatch):
    src = require_data("fsdd", "recordings")
    good = tmp_path / "good.tar.gz"
    _fsdd_archive(src, good)
    (tmp_path / "b").mkdir()
    _fsdd_archive(src, tmp_path / "b" / "bad.tar.gz", corrupt="3_theo_8.wav")
    monkeypatch.delenv("NEUROLEARN_DATA_DIR", raising=False)
    monkeypatch.setenv("NEUROLEARN_CACHE_DIR", str(tmp_path / "cache"))
    calls = []
    # the project's registry restricted to the archive's 12 recordings (hashes unchanged)
    full = fetch.load_registry("fsdd_v1.0.10.txt")
    monkeypatch.setattr(
        fetch,
        "load_registry",
        lambda name: {f"recordings/{n}": full[f"recordings/{n}"] for n in _SUBSET},
    )

    def fake_fetch(fname, url, known_hash, folder, how_to_get, progress=True):
        calls.append(url)
        return tmp_path / "b" / "bad.tar.gz" if len(calls) == 1 else good

    monkeypatch.setattr(fetch, "fetch_file", fake_fetch)
    with pytest.raises(DataNotFoundError, match="1 recordings with a wrong sha256.*3_theo_8"):
        fsdd.fsdd_recordings(download=True, progress=False)
    folder = fsdd.fsdd_recordings(download=True, progress=False)
    assert calls[0].endswith("/v1.0.10.tar.gz") and "Jakobovski" in calls[0]
    assert folder == tmp_path / "cache" / "fsdd" / "recordings"
    assert sorted(p.name for p in folder.glob("*.wav")) == sorted(_SUBSET)
    assert (folder / "3_theo_8.wav").read_bytes() == (src / "3_theo_8.wav").read_bytes()


def test_shd_download_uses_registry_and_reads_the_zip(tmp_path, monkeypatch):
    monkeypatch.delenv("NEUROLEARN_DATA_DIR", raising=False)
    monkeypatch.setenv("NEUROLEARN_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    ev = SpikeEvents.from_lists(
        [np.sort(rng.uniform(0, 1, 50)) for _ in range(4)],
        [rng.integers(0, 700, 50) for _ in range(4)],
        [0, 5, 10, 19],
        700,
        class_names=SHD_CLASSES,
    )
    archive = write_shd(tmp_path / "shd_test.h5.zip", ev)
    seen = {}

    def fake_fetch(fname, url, known_hash, folder, how_to_get, progress=True):
        seen.update(fname=fname, url=url, known_hash=known_hash, folder=folder)
        return archive

    monkeypatch.setattr(fetch, "fetch_file", fake_fetch)
    got = shd.heidelberg_events("shd", "test", download=True, progress=False)
    assert seen == {
        "fname": "shd_test.h5.zip",
        "url": "https://zenkelab.org/datasets/shd_test.h5.zip",
        "known_hash": "md5:1503a5064faa34311c398fb0a1ed0a6f",
        "folder": "shd",
    }
    np.testing.assert_array_equal(got.labels, [0, 5, 10, 19])
    assert got.class_names[10] == "null"
    with pytest.raises(DataNotFoundError, match="downloads are off"):
        shd.heidelberg_events("ssc", "valid", download=False)

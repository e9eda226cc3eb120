"""The results reader names the file and what is wrong with it: empty, truncated, other
formats (the last two beside tests/brian/test_brian_results.py::test_load_rejects_other_files)."""

import pytest

from neurolearn.brian import NetworkSpec, load_results


@pytest.fixture
def saved(tmp_path):
    net = NetworkSpec()
    net.add_population("exc", "lif", 3)
    net.monitor_spikes("exc")
    results = net.run("5 ms", backend="numpy", seed=1)
    return results.save(tmp_path / "results.h5")


def test_empty_and_truncated_results(tmp_path, saved):
    back = load_results(saved)
    assert back.spikes["exc"].n == 3
    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.h5: not an HDF5 file"):
        load_results(empty)
    data = saved.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.h5: not an HDF5 file"):
        load_results(cut)

"""The network file reader names the file and what is wrong with it: empty, truncated, of
another format, damaged inside."""

import json

import h5py
import pytest

torch = pytest.importorskip("torch")

from neurolearn.bridge import load_network, save_network
from neurolearn.spec import ModelError
from neurolearn.torch import SpikingNetwork


@pytest.fixture
def saved(tmp_path):
    net = SpikingNetwork.build(4, [6], 2, model="lif", dt="1 ms", dtype=torch.float64)
    return net, save_network(net, tmp_path / "network.h5")


def test_round_trip_still_exact(saved):
    net, path = saved
    back = load_network(path)
    for (k, a), b in zip(net.state_dict().items(), back.state_dict().values()):
        assert torch.equal(a, b), k


def test_empty_file(tmp_path):
    path = tmp_path / "network.h5"
    path.write_bytes(b"")
    with pytest.raises(ModelError, match="network.h5: empty file"):
        load_network(path)


def test_truncated_file(saved):
    _, path = saved
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError) as info:
        load_network(path)
    assert str(path) in str(info.value) and "truncated" in str(info.value)


def test_other_formats(tmp_path):
    text = tmp_path / "config.h5"
    text.write_text("[data]\ndataset = 'fsdd'\n")
    with pytest.raises(ModelError, match="config.h5: not a readable HDF5 file"):
        load_network(text)
    other = tmp_path / "results.h5"
    with h5py.File(other, "w") as f:
        f.attrs["format"] = "neurolearn.brian.Results"
    with pytest.raises(ModelError, match="results.h5: not a neurolearn network file"):
        load_network(other)


def test_damaged_inside(saved):
    _, path = saved
    with h5py.File(path, "a") as f:
        config = json.loads(f.attrs["config"])
        del f["layers/0/parameters"]
        f.attrs["config"] = json.dumps(config)
    with pytest.raises(ModelError, match="network.h5: damaged network file"):
        load_network(path)

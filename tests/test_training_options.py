"""Training options beyond the loop itself: the device (``training.device``).

The CPU tests check the configuration and the refusal of an unavailable GPU; the tests marked
``gpu`` (run with ``-m gpu`` on a machine with CUDA) train the same small spiking network on
the CPU and on the GPU and resume a GPU run on the CPU.
"""

import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neurolearn.torch import SpikingNetwork
from neurolearn.training import (ConfigError, config_from_dict, fit, load_config, read_metrics,
                                 resolve_device, train_from_config)

from test_training import ns as _tiny

TemporalSet = _tiny["TemporalSet"]


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _net(seed=0, **kwargs):
    g = torch.Generator().manual_seed(seed)
    return SpikingNetwork.build(6, [16], 3, model="lif", dt="1 ms", recurrent=True,
                                heterogeneity="hom_init_het_train", generator=g, **kwargs)


def _fit(net, out, epochs=2, device=None, resume=False, **kwargs):
    return fit(net, TemporalSet(64, 1), TemporalSet(16, 2), out, epochs=epochs, batch_size=16,
               seed=0, lr_weights=1e-2, lr_tau=0.1, tau_parameters=net.time_constant_parameters(),
               progress=False, device=device, resume=resume, **kwargs)


# --- training.device ------------------------------------------------------------------------
def test_device_default_is_cpu_and_bad_values_name_the_key(tmp_path):
    cfg = config_from_dict({"data": {"dataset": "fsdd"}})
    assert cfg["training"]["device"] == "cpu"
    assert str(resolve_device(cfg)) == "cpu"
    for bad in ("gpu", "cuda:x", "CUDA"):
        path = tmp_path / "cfg.toml"
        path.write_text(f"[data]\ndataset = 'fsdd'\n[training]\ndevice = '{bad}'\n")
        with pytest.raises(ConfigError, match=r"\[training\] device") as info:
            load_config(path)
        assert str(path) in str(info.value) and bad in str(info.value)


def test_cuda_without_gpu_is_a_config_error_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    path = tmp_path / "cfg.toml"
    path.write_text("[data]\ndataset = 'fsdd'\n[training]\ndevice = 'cuda:1'\n")
    cfg = load_config(path)     # readable anywhere: a GPU run's folder can be evaluated on a CPU
    with pytest.raises(ConfigError, match=r"\[training\] device: 'cuda:1' asked for, but torch "
                                          r"finds no CUDA device"):
        train_from_config(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "config.toml").exists()


def test_checkpoints_hold_cpu_tensors_and_explicit_cpu_changes_nothing(tmp_path):
    a = _fit(_net(), tmp_path / "a")
    b = _fit(_net(), tmp_path / "b", device="cpu")
    assert read_metrics(tmp_path / "a" / "metrics.csv") == \
        read_metrics(tmp_path / "b" / "metrics.csv")
    state = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert all(v.device.type == "cpu" for v in state["model"].values())
    assert a.metrics[-1]["train_loss"] < a.metrics[0]["train_loss"]


@pytest.mark.gpu
def test_gpu_training_matches_cpu_and_resumes_on_cpu(tmp_path):
    if not torch.cuda.is_available():
        pytest.fail("marked gpu but torch finds no CUDA device")
    cpu = _fit(_net(), tmp_path / "cpu", epochs=2)
    gpu = _fit(_net(), tmp_path / "gpu", epochs=2, device="cuda")
    assert next(gpu.model.parameters()).device.type == "cuda"
    for r, s in zip(cpu.metrics, gpu.metrics):
        # float32 on two devices: the same trajectory up to rounding
        assert s["train_loss"] == pytest.approx(r["train_loss"], rel=2e-2)
        assert abs(s["val_accuracy"] - r["val_accuracy"]) <= 2 / 16
    state = torch.load(tmp_path / "gpu" / "checkpoint.pt", weights_only=True)
    assert all(v.device.type == "cpu" for v in state["model"].values())

    # a GPU run interrupted in epoch 2 continues on the CPU from its checkpoint
    class Stop(Exception):
        pass

    def interrupt(epoch, batch):
        if epoch == 1:
            raise Stop

    with pytest.raises(Stop):
        _fit(_net(), tmp_path / "cut", epochs=2, device="cuda:0", after_batch=interrupt)
    more = _fit(_net(), tmp_path / "cut", epochs=2, resume=True)
    assert more.resumed_from == 1 and next(more.model.parameters()).device.type == "cpu"
    assert more.metrics[-1]["train_loss"] == pytest.approx(cpu.metrics[-1]["train_loss"],
                                                           rel=2e-2)

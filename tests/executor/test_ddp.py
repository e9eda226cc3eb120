"""DDP: two CPU processes (gloo) train a tiny network with the loss curve of one process with
the same effective batch; a 1-process run interrupted after epoch 1 resumes on 2 processes.

Tolerance: every process sees the same global batches and weights its mean loss by its share
of the batch, so the averaged gradient equals the one-process gradient up to the order of the
float32 sums (the all-reduce adds two partial sums; relative rounding ~1e-7 per gradient
entry), which Adam's steps carry into the parameters; a spike crossing its threshold
differently would make a larger jump (the spikes are discontinuous in the parameters).
Measured on this set-up: losses differ by 3e-8 relative, trained parameters by 4.5e-6 relative
(largest entry). Tolerances: rtol 1e-6 on the losses and 1e-4 on the parameters (about 30 and
20 times the measured differences), far below what a wrong weighting of uneven shares makes
(4 + 3 samples: an unweighted mean over the processes gives 0.5 (g1 + g2) instead of
4/7 g1 + 3/7 g2, a change of the gradient of order 10 %)."""

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from neurolearn.reproductions.heterogeneity import experiment_config  # noqa: E402
from neurolearn.training import train_from_config  # noqa: E402
from neurolearn.training import trainer as trainer_module  # noqa: E402
from neurolearn.training.distributed import shard, train_distributed  # noqa: E402

TINY = {
    "data": {"max_train_samples": 27, "max_test_samples": 9, "validation_fraction": 0.2},
    "network": {"hidden": [8]},
    # batches of 7 samples split 4 + 3 between the processes; the loss falls in 2 epochs
    "training": {"epochs": 2, "batch_size": 7, "threads": 1},
}


@pytest.fixture(scope="module")
def config(data_dir):
    return experiment_config("nmnist", "het_init_het_train", seed=3, overrides=TINY)


@pytest.fixture(scope="module")
def one_process(config, tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "run"
    train_from_config(config, out, progress=False)
    return out


def _curve(out):
    return pd.read_csv(out / "metrics.csv")[["train_loss", "val_loss"]].to_numpy()


def test_shard_splits_batches_like_tensor_split(monkeypatch):
    from neurolearn.training import distributed

    for n in (5, 8, 1):
        parts = []
        for rank in range(2):
            monkeypatch.setattr(distributed, "world", lambda r=rank: (r, 2))
            parts.append(shard(n))
        sizes = [len(t) for t in torch.tensor_split(torch.arange(n), 2)]
        assert [p.stop - p.start for p in parts] == sizes
        assert parts[0].start == 0 and parts[0].stop == parts[1].start and parts[1].stop == n


def test_two_processes_match_one(config, one_process, tmp_path):
    out = tmp_path / "ddp"
    summary = train_distributed(config, out, nproc=2, progress=False)
    assert summary["epochs"] == 2
    one, two = _curve(one_process), _curve(out)
    assert one.shape == two.shape == (2, 2)  # process 0 alone wrote metrics.csv
    assert one[1, 0] < one[0, 0]  # the network learns
    np.testing.assert_allclose(two, one, rtol=1e-6)
    a = torch.load(one_process / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(out / "checkpoint.pt", weights_only=True)["model"]
    for name in a:
        np.testing.assert_allclose(b[name].numpy(), a[name].numpy(), rtol=1e-4, atol=1e-6)


def test_resume_on_two_processes(config, one_process, tmp_path, monkeypatch):
    out = tmp_path / "resumed"
    train_epoch = trainer_module.Trainer._train_epoch

    def stop_in_epoch_2(self, model, train_set):
        if self.current_epoch == 1:
            raise KeyboardInterrupt
        return train_epoch(self, model, train_set)

    monkeypatch.setattr(trainer_module.Trainer, "_train_epoch", stop_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train_from_config(config, out, progress=False)
    monkeypatch.undo()
    assert len(pd.read_csv(out / "metrics.csv")) == 1
    summary = train_distributed(config, out, nproc=2, resume=True, progress=False)
    assert summary["resumed_from_epoch"] == 1 and summary["epochs"] == 2
    np.testing.assert_allclose(_curve(out), _curve(one_process), rtol=1e-6)
    with pytest.raises(FileExistsError, match="already holds a training run"):
        train_distributed(config, out, nproc=2, progress=False)

"""The Trainer and its callbacks: the order of the hooks, callback state in checkpoints, and
train_network as a Trainer with the usual callbacks."""

import pytest

torch = pytest.importorskip("torch", reason="needs torch: pip install 'neurolearn[torch]'")

from test_training import ns as _tiny

from neurolearn.training import Callback, Trainer, read_metrics, train_network
from neurolearn.training.callbacks import EpochStats, LearningRateSchedule, ParameterProjection

TinyLeaky, TemporalSet = _tiny["TinyLeaky"], _tiny["TemporalSet"]

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]


class Recorder(Callback):
    """Counts batches across epochs (its state) and logs the hooks it sees."""

    def __init__(self):
        self.calls, self.batches = [], 0

    def on_fit_start(self, trainer, model):
        self.calls.append("fit_start")

    def on_train_epoch_start(self, trainer, model):
        self.calls.append(f"epoch_start {trainer.current_epoch}")

    def on_before_optimizer_step(self, trainer, model, optimizer):
        assert all(p.grad is not None for p in model.parameters())
        self.calls.append("before_step")

    def on_train_batch_end(self, trainer, model, loss, batch_index):
        self.batches += 1
        self.calls.append(f"batch_end {batch_index}")

    def on_validation_end(self, trainer, model, metrics):
        metrics["batches_so_far"] = float(self.batches)

    def on_train_epoch_end(self, trainer, model, metrics):
        assert trainer.metrics[-1] is metrics
        self.calls.append(f"epoch_end {metrics['epoch']}")

    def on_fit_end(self, trainer, model):
        self.calls.append("fit_end")

    def state_dict(self):
        return {"batches": self.batches}

    def load_state_dict(self, state):
        self.batches = state["batches"]


def _run(out, epochs=3, callbacks=(), after_batch=None, resume=False):
    torch.manual_seed(0)
    model = TinyLeaky()
    return train_network(
        model,
        TemporalSet(96, 1),
        TemporalSet(24, 2),
        out,
        epochs=epochs,
        batch_size=16,
        seed=0,
        lr_weights=5e-2,
        lr_tau=5e-2,
        tau_parameters=[model.log_tau],
        schedule="cosine",
        progress=False,
        callbacks=callbacks,
        after_batch=after_batch,
        resume=resume,
    )


def test_hooks_run_in_order_and_callback_state_is_checkpointed(tmp_path):
    rec = Recorder()
    full = _run(tmp_path / "full", callbacks=[rec])
    per_epoch = ["before_step", "batch_end"] * 6  # 96 samples, 16 a batch
    assert rec.calls[:2] == ["fit_start", "epoch_start 0"]
    assert [c.split()[0] for c in rec.calls[2:14]] == per_epoch
    assert rec.calls[14:16] == ["epoch_end 1", "epoch_start 1"]
    assert rec.calls[-2:] == ["epoch_end 3", "fit_end"]
    # columns added in on_validation_end reach metrics.csv
    assert [r["batches_so_far"] for r in read_metrics(tmp_path / "full" / "metrics.csv")] == [
        6.0,
        12.0,
        18.0,
    ]
    saved = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)
    assert saved["callbacks"]["Recorder"] == {"batches": 18}

    # interrupted in epoch 2 and resumed by fresh callbacks: their state comes back
    class Stop(Exception):
        pass

    def interrupt(epoch, batch):
        if epoch == 1 and batch == 2:
            raise Stop

    with pytest.raises(Stop):
        _run(tmp_path / "cut", callbacks=[Recorder()], after_batch=interrupt)
    again = Recorder()
    resumed = _run(tmp_path / "cut", callbacks=[again], resume=True)
    assert again.calls[:2] == ["fit_start", "epoch_start 1"]
    assert resumed.metrics == full.metrics


def test_train_network_is_a_trainer_with_the_usual_callbacks(tmp_path):
    ref = _run(tmp_path / "ref")
    torch.manual_seed(0)
    model = TinyLeaky()
    trainer = Trainer(
        epochs=3,
        batch_size=16,
        seed=0,
        lr_weights=5e-2,
        lr_tau=5e-2,
        tau_parameters=[model.log_tau],
        callbacks=[LearningRateSchedule("cosine"), ParameterProjection()],
    )
    result = trainer.fit(model, TemporalSet(96, 1), TemporalSet(24, 2))  # writes nothing
    assert result.metrics == ref.metrics and result.resumed_from == 0
    assert trainer.settings["schedule"] == "cosine" and trainer.settings["n_train"] == 96
    # two callbacks keeping state under one key cannot share a checkpoint
    stats = EpochStats(lambda m: {"tau": float(m.log_tau.mean())})
    twice = Trainer(epochs=1, batch_size=16, seed=0, callbacks=[stats, Recorder(), Recorder()])
    twice.fit(TinyLeaky(), TemporalSet(32, 1))
    with pytest.raises(ValueError, match="Recorder"):
        twice.save_checkpoint(tmp_path / "x.pt")

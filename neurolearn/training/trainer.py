"""The training loop: a :class:`Trainer` that trains a torch module with backpropagation
through time and validates it after every epoch, its extras in callbacks
(:mod:`neurolearn.training.callbacks`), and :func:`train_network`, the loop with the usual
callbacks (checkpoint, ``metrics.csv``, learning-rate schedule, parameter projection,
progress bars) writing into a folder.

Determinism: :meth:`Trainer.fit` seeds Python's, NumPy's and torch's generators from
``seed``; the samples of epoch ``e`` are shuffled by a generator seeded with
:func:`~neurolearn.training.rng.epoch_seed` ``(seed, e)``; a batch transform draws from its
own generator; every generator state, the transform's and every callback's state are stored
in the checkpoint, so that a resumed run produces the same numbers as an uninterrupted one.

Several processes (DDP, :mod:`neurolearn.training.distributed`): inside a
``torch.distributed`` process group each process trains on its share of every batch through
``DistributedDataParallel``, with the effective batch of one process; process 0 writes.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..datasets import time_major_loader
from ..io import atomic_path
from .callbacks import (
    BatchHook,
    Callback,
    DelaySchedule,
    EpochStats,
    GradientClipping,
    LearningRateSchedule,
    MetricsCSV,
    ModelCheckpoint,
    ParameterProjection,
    ProgressBars,
)
from .distributed import all_reduce_sum, is_main_process, shard, world
from .optim import make_optimizer, schedule_factor
from .rng import epoch_seed, rng_state, seed_everything, set_rng_state

__all__ = [
    "Trainer",
    "TrainingResult",
    "train_network",
    "evaluate_model",
    "read_checkpoint",
    "extension_refusal",
]

log = logging.getLogger(__name__)


@dataclasses.dataclass
class TrainingResult:
    """What :meth:`Trainer.fit` and :func:`train_network` return.

    Attributes
    ----------
    model : torch.nn.Module
        The trained model (state after the last epoch).
    metrics : list of dict
        One row per epoch (the rows of ``metrics.csv``).
    resumed_from : int
        Number of epochs loaded from a checkpoint (0 for a fresh run).
    """

    model: Any
    metrics: list
    resumed_from: int = 0


def _default_loss(readout, labels):
    return F.cross_entropy(readout.max(dim=0).values, labels)


def _default_predict(readout):
    return readout.max(dim=0).values.argmax(dim=1)


def _split_output(out):
    """Model outputs are ``readout`` or ``(readout, extra)``; extras may hold a penalty."""
    if isinstance(out, tuple):
        return out[0], (out[1] if len(out) > 1 else None)
    return out, None


def _to_cpu(obj):
    """``obj`` (nested dicts/lists/tuples of tensors) with every tensor on the CPU, so that a
    checkpoint written on a GPU loads anywhere."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def _model_device(model):
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def _data_parallel(model, batch_size: int):
    """``DistributedDataParallel(model)`` inside a process group of several processes (it
    averages the gradients over them in ``backward``), None otherwise
    (:mod:`neurolearn.training.distributed`).

    Raises
    ------
    ValueError
        If ``batch_size`` is smaller than the number of processes.
    """
    rank, size = world()
    if size == 1:
        return None
    if batch_size < size:
        raise ValueError(f"batch_size {batch_size} is smaller than the {size} DDP processes")
    from torch.nn.parallel import DistributedDataParallel

    device = _model_device(model)
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def _own_share(x, y):
    """DDP: this process's contiguous share of the batch ``x [time, batch, ...]``, ``y
    [batch]``, and the weight of its mean loss, ``n_own * world_size / n`` (so that the
    averaged gradient is that of the whole batch's mean loss); an empty share keeps one sample
    with weight 0 (every process must run backward). Without DDP: ``(x, y, 1.0)``."""
    size = world()[1]
    if size == 1:
        return x, y, 1.0
    n = len(y)
    part = shard(n)
    n_own = part.stop - part.start
    if n_own == 0:
        return x[:, :1], y[:1], 0.0
    return x[:, part], y[part], n_own * size / n


def evaluate_model(
    model,
    dataset,
    batch_size: int = 128,
    loss_fn: Callable | None = None,
    predict: Callable | None = None,
    dtype=None,
    progress: bool = False,
    desc: str = "evaluate",
) -> dict:
    """Loss, accuracy and predictions of ``model`` on ``dataset`` (no gradients).

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``x [time, batch, channels]`` to a readout ``[time, batch, classes]``
        (or ``(readout, extra)``).
    dataset : torch Dataset of ``(x [time, channels], label)``
    batch_size : int
    loss_fn : callable(readout, labels) -> scalar tensor, optional
        Default: cross-entropy of the readout's maximum over time.
    predict : callable(readout) -> labels [batch], optional
        Default: arg-max over classes of the maximum over time.
    dtype : torch.dtype, optional
        Cast inputs to this type (default: the model's first parameter's). Inputs and labels
        go to the device of the model's parameters.
    progress : bool
        A tqdm bar counting the batches (labelled ``desc``).

    Returns
    -------
    dict with ``loss`` (float), ``accuracy`` (float in [0, 1]), ``predictions`` and
    ``labels`` (int arrays, shape ``[n_samples]``).
    """
    loss_fn = loss_fn or _default_loss
    predict = predict or _default_predict
    if dtype is None:
        params = list(model.parameters())
        dtype = params[0].dtype if params else torch.get_default_dtype()
    device = _model_device(model)
    was_training = model.training
    model.eval()
    total, n, preds, labels_all = 0.0, 0, [], []
    loader = time_major_loader(dataset, batch_size, shuffle=False)
    # the bar counts; wrapping the loader would iterate it once more (see ProgressBars)
    bar = tqdm(total=len(loader), desc=desc, leave=False, unit="batch", disable=not progress)
    with torch.no_grad():
        for x, y in loader:
            readout, _ = _split_output(model(x.to(device=device, dtype=dtype)))
            total += float(loss_fn(readout, y.to(device))) * len(y)
            n += len(y)
            preds.append(predict(readout).cpu().numpy())
            labels_all.append(y.numpy())
            bar.update(1)
    bar.close()
    model.train(was_training)
    preds = np.concatenate(preds) if preds else np.zeros(0, int)
    labels_all = np.concatenate(labels_all) if labels_all else np.zeros(0, int)
    return {
        "loss": total / max(n, 1),
        "accuracy": float(np.mean(preds == labels_all)) if n else float("nan"),
        "predictions": preds,
        "labels": labels_all,
    }


class Trainer:
    """Train a torch module with backpropagation through time (BPTT) and validate it after
    every epoch; everything else (checkpoints, metrics files, learning-rate schedule,
    gradient clipping, parameter projection, progress bars...) is done by ``callbacks``.

    Parameters
    ----------
    epochs, batch_size, seed : int
        ``seed`` seeds Python's, NumPy's and torch's generators when :meth:`fit` starts and
        the per-epoch sample order.
    optimizer : str
        A key of :data:`neurolearn.training.optim.OPTIMIZERS` (``"adam"``, ``"adamw"``,
        ``"sgd"``).
    lr_weights, lr_tau : float
        Initial learning rates of the weights and of ``tau_parameters``.
    weight_decay : float
        L2 weight decay of the weights.
    tau_parameters : iterable of torch.nn.Parameter, optional
        Parameters in the second optimiser group (trained time constants).
    delay_parameters : iterable of torch.nn.Parameter, optional
        Learnable synaptic delays (ms), in a group of their own with learning rate
        ``lr_delay`` (:func:`~neurolearn.training.optim.make_optimizer`).
    lr_delay : float, optional
        Learning rate of ``delay_parameters`` (ms per step).
    hidden_weight_parameters, lr_hidden_weights : optional
        The hidden layers' weights and their own learning rate
        (:func:`~neurolearn.training.optim.make_optimizer`; None: ``lr_weights``).
    loss_fn : callable(readout [time, batch, classes], labels [batch]) -> scalar tensor
        Default: cross-entropy of the readout's maximum over time.
    predict : callable(readout) -> labels [batch]
        Default: arg-max over classes of the readout's maximum over time.
    penalty : callable(model) -> scalar tensor, optional
        Added to the loss after each forward pass (e.g. a firing-rate regulariser reading
        the spikes the model kept).
    transform : callable(x, labels) -> (x, labels), optional
        Batch transform of the training data (e.g.
        :class:`~neurolearn.training.transforms.SpikeAugmentation`), applied by the training
        loader to each batch ``x [time, batch, channels]`` and its labels ``[batch]`` on the
        CPU; never to validation data. Its ``set_epoch(epoch)`` is called at the start of
        every epoch and its ``state_dict()`` is checkpointed, where it has them.
    callbacks : sequence of :class:`~neurolearn.training.callbacks.Callback`
        Called in this order at every hook.
    device : str or torch.device, optional
        Move the model there first (e.g. ``"cuda"``); batches, labels and losses follow the
        device of the model's parameters. Checkpoints hold CPU tensors whatever the device,
        and a run may be resumed on another device.

    Attributes
    ----------
    settings : dict
        What a checkpoint must have been written with to be resumed: the arguments above
        that change the numbers, the callbacks' ``hparams`` and ``n_train`` (set by
        :meth:`fit`).
    current_epoch : int
        0-based epoch being trained.
    start_epoch : int
        Epochs restored from a checkpoint.
    metrics : list of dict
        One row per finished epoch.
    optimizer : torch.optim.Optimizer
        Built by :meth:`fit`.
    base_lrs : list of float
        Initial learning rate of each optimiser group.
    num_training_batches : int
        Batches of the current epoch.
    """

    def __init__(
        self,
        *,
        epochs: int,
        batch_size: int,
        seed: int,
        optimizer: str = "adam",
        lr_weights: float = 2e-3,
        lr_tau: float = 2e-2,
        weight_decay: float = 0.0,
        tau_parameters: Iterable | None = None,
        loss_fn: Callable | None = None,
        predict: Callable | None = None,
        penalty: Callable | None = None,
        transform: Callable | None = None,
        callbacks: Sequence[Callback] = (),
        device=None,
        delay_parameters: Iterable | None = None,
        lr_delay: float | None = None,
        hidden_weight_parameters: Iterable | None = None,
        lr_hidden_weights: float | None = None,
    ):
        self.epochs, self.batch_size, self.seed = int(epochs), int(batch_size), int(seed)
        self.optimizer_name, self.weight_decay = optimizer, weight_decay
        self.lr_weights, self.lr_tau = lr_weights, lr_tau
        self.tau_parameters = list(tau_parameters or [])
        self.delay_parameters, self.lr_delay = list(delay_parameters or []), lr_delay
        self.hidden_weight_parameters = list(hidden_weight_parameters or [])
        self.lr_hidden_weights = lr_hidden_weights
        self.loss_fn = loss_fn or _default_loss
        self.predict = predict or _default_predict
        self.penalty, self.transform = penalty, transform
        self.callbacks = list(callbacks)
        self.device = device
        self.settings = {
            "epochs": epochs,
            "batch_size": batch_size,
            "seed": seed,
            "lr_weights": lr_weights,
            "lr_tau": lr_tau,
            "optimizer": optimizer,
            "weight_decay": weight_decay,
        }
        if self.delay_parameters:
            self.settings["lr_delay"] = lr_delay
        if lr_hidden_weights is not None:
            self.settings["lr_hidden_weights"] = lr_hidden_weights
        for callback in self.callbacks:
            self.settings.update(callback.hparams)
        self.current_epoch = self.start_epoch = self.num_training_batches = 0
        self.metrics: list = []
        self.optimizer = None
        self.base_lrs: list = []
        self.model = None
        self._forward = None

    def _call(self, hook: str, *args) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, self.model, *args)

    def fit(
        self, model, train_set, val_set=None, ckpt_path: str | Path | None = None
    ) -> TrainingResult:
        """Train ``model`` for the remaining epochs.

        Parameters
        ----------
        model : torch.nn.Module
            Maps ``x [time, batch, channels]`` to a readout ``[time, batch, classes]``, or
            to ``(readout, extra)`` where ``extra`` is a dict that may hold ``"penalty"`` (a
            scalar tensor added to the loss).
        train_set, val_set : torch Dataset of ``(x [time, channels], label)``
            ``val_set`` may be None or empty (the validation columns then hold NaN). A
            ``train_set`` with ``set_epoch(epoch)`` has it called at the start of every epoch
            (e.g. :class:`neurolearn.datasets.TimeScaledSpikes`).
        ckpt_path : str or Path, optional
            Continue from this checkpoint (:meth:`save_checkpoint`) when the file exists.

        Returns
        -------
        TrainingResult

        Raises
        ------
        ValueError
            If the checkpoint was written with other :attr:`settings`, or the loss is not
            finite.
        """
        if self.device is not None:
            model.to(self.device)
        self.model = model
        self.settings["n_train"] = len(train_set)
        seed_everything(self.seed)
        self.optimizer = make_optimizer(
            model,
            self.optimizer_name,
            self.lr_weights,
            self.lr_tau,
            self.weight_decay,
            self.tau_parameters,
            self.delay_parameters,
            self.lr_delay,
            self.hidden_weight_parameters,
            self.lr_hidden_weights,
        )
        self.base_lrs = [g["lr"] for g in self.optimizer.param_groups]
        self.metrics, self.start_epoch = [], 0
        if ckpt_path is not None and Path(ckpt_path).exists():
            self.restore(ckpt_path)
        self._forward = _data_parallel(model, self.batch_size)
        self._call("on_fit_start")
        for epoch in range(self.start_epoch, self.epochs):
            self.current_epoch = epoch
            row = self._train_epoch(model, train_set)
            row.update(self._validate(model, val_set))
            groups = self.optimizer.param_groups
            row["lr_weights"] = groups[0]["lr"]
            lrs = {g.get("name"): g["lr"] for g in groups}
            row["lr_tau"] = lrs.get("tau", float("nan"))
            for name in ("delay", "hidden_weights"):
                if name in lrs:
                    row[f"lr_{name}"] = lrs[name]
            self._call("on_validation_end", row)
            self.metrics.append(row)
            self._call("on_train_epoch_end", row)
        self._call("on_fit_end")
        return TrainingResult(model=model, metrics=self.metrics, resumed_from=self.start_epoch)

    def _train_epoch(self, model, train_set) -> dict:
        """One pass over ``train_set``; returns the epoch's training loss and accuracy."""
        epoch = self.current_epoch
        if hasattr(self.transform, "set_epoch"):
            self.transform.set_epoch(epoch)
        if hasattr(train_set, "set_epoch"):  # per-epoch draws of the data (time scales)
            train_set.set_epoch(epoch)
        loader = time_major_loader(
            train_set,
            self.batch_size,
            shuffle=True,
            seed=epoch_seed(self.seed, epoch),
            transform=self.transform,
        )
        self.num_training_batches = len(loader)
        model.train()
        self._call("on_train_epoch_start")
        device, dtype = _model_device(model), next(iter(model.parameters())).dtype
        forward = self._forward or model
        total_loss, correct, n = 0.0, 0, 0
        for b, (x, y) in enumerate(loader):
            self.optimizer.zero_grad(set_to_none=True)
            x, y, scale = _own_share(x, y)  # DDP: this process's samples, its loss weight
            x, y = x.to(device=device, dtype=dtype), y.to(device)
            readout, extra = _split_output(forward(x))
            loss = self.loss_fn(readout, y)
            if extra and extra.get("penalty") is not None:
                loss = loss + extra["penalty"]
            if self.penalty is not None:
                loss = loss + self.penalty(model)
            if not torch.isfinite(loss):
                raise ValueError(
                    f"loss is {float(loss)} in epoch {epoch + 1}, batch {b}; "
                    "lower the learning rates or check the input"
                )
            (loss * scale if self._forward is not None else loss).backward()
            self._call("on_before_optimizer_step", self.optimizer)
            self.optimizer.step()
            with torch.no_grad():
                batch_loss = float(loss)
                sums = [batch_loss * len(y), int((self.predict(readout) == y).sum()), len(y)]
                if self._forward is not None:  # DDP: the whole batch's sums over the processes
                    sums = all_reduce_sum(sums if scale else [0.0, 0, 0], device)
                    batch_loss = sums[0] / sums[2]
                total_loss += sums[0]
                correct += int(sums[1])
                n += int(sums[2])
            self._call("on_train_batch_end", batch_loss, b)
        return {"epoch": epoch + 1, "train_loss": total_loss / n, "train_accuracy": correct / n}

    def _validate(self, model, val_set) -> dict:
        if val_set is None or not len(val_set):
            return {"val_loss": float("nan"), "val_accuracy": float("nan")}
        val = evaluate_model(
            model,
            val_set,
            batch_size=max(self.batch_size, 128),
            loss_fn=self.loss_fn,
            predict=self.predict,
            dtype=next(iter(model.parameters())).dtype,
        )
        return {"val_loss": val["loss"], "val_accuracy": val["accuracy"]}

    def save_checkpoint(self, path: str | Path) -> None:
        """Write the state after epoch ``current_epoch`` to ``path`` atomically: ``epoch``,
        ``model``, ``optimizer`` (CPU tensors), ``rng`` (:func:`~neurolearn.training.rng.
        rng_state`), ``metrics``, ``settings``, ``transform`` and ``callbacks`` (state of
        each callback that has one, by ``state_key``).

        Raises
        ------
        ValueError
            If two callbacks with state share a ``state_key``.
        """
        callbacks: dict = {}
        for callback in self.callbacks:
            state = callback.state_dict()
            if state:
                if callback.state_key in callbacks:
                    raise ValueError(
                        f"two callbacks keep state under {callback.state_key!r}; "
                        "give one of them another state_key"
                    )
                callbacks[callback.state_key] = _to_cpu(state)
        state = {
            "epoch": self.current_epoch + 1,
            "model": _to_cpu(self.model.state_dict()),
            "optimizer": _to_cpu(self.optimizer.state_dict()),
            "rng": rng_state(),
            "metrics": self.metrics,
            "settings": self.settings,
            "callbacks": callbacks,
        }
        if hasattr(self.transform, "state_dict"):
            state["transform"] = _to_cpu(self.transform.state_dict())
        with atomic_path(Path(path)) as tmp:
            torch.save(state, tmp)

    def restore(self, path: str | Path) -> None:
        """Continue from a checkpoint written by :meth:`save_checkpoint` (by :meth:`fit`,
        after the optimiser is built).

        A checkpoint written with another ``epochs`` continues when only the number of
        epochs differs and the finished epochs are those of the new schedule (see
        :func:`extension_refusal`): the run then equals one trained for the new number of
        epochs from the start.

        Raises
        ------
        ValueError
            If it was written with other :attr:`settings` (the message lists them), or the
            file is not a readable checkpoint (the message names it).
        """
        state = read_checkpoint(path)
        refusal = extension_refusal(state["settings"], self.settings, int(state["epoch"]))
        if refusal:
            raise ValueError(
                f"{path} was written with other settings ({refusal}); use a new output folder"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.metrics = [dict(r) for r in state["metrics"]]
        self.start_epoch = self.current_epoch = int(state["epoch"])
        set_rng_state(state["rng"])
        if state.get("transform") is not None and hasattr(self.transform, "load_state_dict"):
            self.transform.load_state_dict(state["transform"])
        saved = state.get("callbacks", {})
        for callback in self.callbacks:
            if callback.state_key in saved:
                callback.load_state_dict(saved[callback.state_key])
        log.info("resumed from %s after epoch %d", path, self.start_epoch)


#: What every checkpoint written by :meth:`Trainer.save_checkpoint` holds.
_CHECKPOINT_KEYS = ("epoch", "model", "optimizer", "rng", "metrics", "settings")


def read_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by :meth:`Trainer.save_checkpoint` (tensors on the CPU).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict
        ``epoch``, ``model``, ``optimizer``, ``rng``, ``metrics``, ``settings`` and, where
        saved, ``transform`` and ``callbacks``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is empty, truncated, not a torch file, or lacks a part of a checkpoint; the
        message names the file and what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    if path.stat().st_size == 0:
        raise ValueError(f"checkpoint {path} is empty (0 bytes); a run killed while writing it?")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError...
        raise ValueError(
            f"checkpoint {path} cannot be read ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:200]}); the file is truncated or not a neurolearn "
            "checkpoint"
        ) from None
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {path} holds a {type(state).__name__}, not a checkpoint")
    missing = [k for k in _CHECKPOINT_KEYS if k not in state]
    if missing:
        raise ValueError(
            f"checkpoint {path} lacks {', '.join(missing)}; not a neurolearn checkpoint"
        )
    return state


def extension_refusal(saved: dict, now: dict, epochs_done: int) -> str:
    """Why a checkpoint written with the settings ``saved`` after ``epochs_done`` epochs
    cannot be continued with the settings ``now`` ("" if it can).

    Only ``epochs`` may differ, and only where the run can still become a run trained for
    ``now["epochs"]`` from the start: at least ``epochs_done`` epochs, and a learning-rate
    schedule (``settings["schedule"]``, constant when absent) that gave the finished
    epochs the factors the new schedule gives them (a cosine schedule spans all epochs, so
    changing their number changes the finished epochs' rates).

    Parameters
    ----------
    saved, now : dict
        :attr:`Trainer.settings` of the checkpoint and of the trainer.
    epochs_done : int
        Epochs finished in the checkpoint.

    Returns
    -------
    str
        Empty, or a sentence listing what differs (checkpoint -> now).
    """
    keys = sorted(set(saved) | set(now), key=lambda k: (k != "epochs", str(k)))
    diff = {k: (saved.get(k), now.get(k)) for k in keys if saved.get(k) != now.get(k)}
    if not diff:
        return ""
    listed = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in diff.items())
    if set(diff) != {"epochs"}:
        return f"checkpoint -> now: {listed}"
    new = int(now["epochs"])
    if new < epochs_done:
        return f"epochs: {epochs_done} already trained, more than the {new} asked for"
    schedule = now.get("schedule", "constant")
    old = int(saved["epochs"])
    if any(
        schedule_factor(schedule, e, old) != schedule_factor(schedule, e, new)
        for e in range(epochs_done)
    ):
        return (
            f"epochs: {old} -> {new} with the {schedule!r} learning-rate schedule, which spans "
            f"all epochs, so the {epochs_done} finished epochs would not be those of a "
            f"{new}-epoch run; extend runs trained with schedule 'constant'"
        )
    return ""


def _callback_chain(hooks: tuple, callbacks, out_dir: Path, ckpt_path: Path) -> list:
    """The callbacks of :func:`train_network` in their order: learning-rate schedule,
    gradient clipping, parameter projection, delay schedule, the caller's hooks and
    callbacks, and (on process 0 only under DDP) checkpoint, metrics file and progress."""
    schedule, grad_clip, delays, epoch_stats, after_batch, progress = hooks
    chain: list = [LearningRateSchedule(schedule)]
    chain += [GradientClipping(grad_clip)] if grad_clip else []
    chain += [ParameterProjection()]
    chain += [DelaySchedule()] if delays else []
    chain += [EpochStats(epoch_stats)] if epoch_stats is not None else []
    chain += [BatchHook(after_batch)] if after_batch is not None else []
    chain += list(callbacks)
    if is_main_process():  # DDP: process 0 writes and shows
        chain += [ModelCheckpoint(ckpt_path), MetricsCSV(out_dir / "metrics.csv")]
        chain += [ProgressBars(f"train {out_dir.name}")] if progress else []
    return chain


def train_network(
    model,
    train_set,
    val_set,
    out_dir: str | Path,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    lr_weights: float = 2e-3,
    lr_tau: float = 2e-2,
    tau_parameters: Iterable | None = None,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    schedule: str = "constant",
    grad_clip: float | None = None,
    loss_fn: Callable | None = None,
    predict: Callable | None = None,
    epoch_stats: Callable | None = None,
    penalty: Callable | None = None,
    resume: bool = False,
    progress: bool = True,
    after_batch: Callable | None = None,
    device=None,
    transform: Callable | None = None,
    callbacks: Sequence[Callback] = (),
    lr_delay: float | None = None,
    hidden_weight_parameters: Iterable | None = None,
    lr_hidden_weights: float | None = None,
) -> TrainingResult:
    """Train ``model`` with BPTT into ``out_dir``, validating and checkpointing after every
    epoch: a :class:`Trainer` with the usual callbacks.

    Parameters
    ----------
    model, train_set, val_set
        As in :meth:`Trainer.fit`.
    out_dir : str or Path
        Receives ``checkpoint.pt`` (:class:`~neurolearn.training.callbacks.ModelCheckpoint`)
        and ``metrics.csv`` (:class:`~neurolearn.training.callbacks.MetricsCSV`).
    epochs, batch_size, seed, lr_weights, lr_tau, tau_parameters, optimizer, weight_decay
        As in :class:`Trainer`.
    schedule : str
        Learning-rate schedule over epochs (``"constant"``, ``"cosine"``;
        :class:`~neurolearn.training.callbacks.LearningRateSchedule`).
    grad_clip : float, optional
        Clip the global gradient norm (:class:`~neurolearn.training.callbacks.
        GradientClipping`).
    loss_fn, predict, penalty, transform, device
        As in :class:`Trainer`.
    epoch_stats : callable(model) -> dict of str -> float, optional
        Extra columns of ``metrics.csv`` (e.g. mean learned tau in ms;
        :class:`~neurolearn.training.callbacks.EpochStats`).
    resume : bool
        Continue from ``out_dir/checkpoint.pt`` when it exists (same settings required);
        without it an existing checkpoint is an error, so nothing is overwritten by mistake.
    progress : bool
        Show tqdm progress bars.
    after_batch : callable(epoch, batch_index), optional
        Called after each optimiser step (tests use it to interrupt a run).
    callbacks : sequence of Callback
        Further callbacks, called after the built-in ones that change the model or the
        metrics and before the checkpoint, ``metrics.csv`` and the progress bars.
    lr_delay : float, optional
        Learning rate (ms per step) of the model's learnable delays, if any; see
        :class:`~neurolearn.training.callbacks.DelaySchedule`.
    hidden_weight_parameters, lr_hidden_weights : optional
        As in :class:`Trainer`.

    Returns
    -------
    TrainingResult

    Raises
    ------
    FileExistsError
        If ``out_dir`` holds a checkpoint and ``resume`` is False.
    ValueError
        If the checkpoint was written by a run with other settings, or the loss is NaN.

    Notes
    -----
    Every model with ``project_parameters_()`` (a :class:`neurolearn.torch.SpikingNetwork`)
    has its parameters projected into range after each step
    (:class:`~neurolearn.training.callbacks.ParameterProjection`).
    """
    out_dir = Path(out_dir)
    ckpt_path = out_dir / "checkpoint.pt"
    if ckpt_path.exists() and not resume:
        raise FileExistsError(
            f"{out_dir} already holds a training run (checkpoint.pt); "
            "pass resume=True (--resume on the command line) to continue it "
            "or choose another folder"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    delay_parameters = list(getattr(model, "delay_parameters", list)())
    hooks = (schedule, grad_clip, bool(delay_parameters), epoch_stats, after_batch, progress)
    chain = _callback_chain(hooks, callbacks, out_dir, ckpt_path)
    trainer = Trainer(
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        optimizer=optimizer,
        lr_weights=lr_weights,
        lr_tau=lr_tau,
        weight_decay=weight_decay,
        tau_parameters=tau_parameters,
        loss_fn=loss_fn,
        predict=predict,
        penalty=penalty,
        transform=transform,
        callbacks=chain,
        device=device,
        delay_parameters=delay_parameters,
        lr_delay=lr_delay,
        hidden_weight_parameters=hidden_weight_parameters,
        lr_hidden_weights=lr_hidden_weights,
    )
    return trainer.fit(model, train_set, val_set, ckpt_path=ckpt_path)

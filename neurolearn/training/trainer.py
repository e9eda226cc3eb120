"""The training loop: backpropagation through time over a torch module, validation,
checkpoints and resumption."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..datasets import time_major_loader
from ..io import atomic_path
from .data import _batch_bar
from .optim import make_optimizer, schedule_factor
from .outputs import _write_metrics
from .rng import epoch_seed, rng_state, seed_everything, set_rng_state

__all__ = ["fit", "FitResult", "evaluate_model"]

log = logging.getLogger(__name__)


@dataclasses.dataclass
class FitResult:
    """What :func:`fit` returns.

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
    bar = _batch_bar(loader, desc, progress)
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


def _atomic_torch_save(obj, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


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


def fit(
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
) -> FitResult:
    """Train ``model`` with backpropagation through time, validating and checkpointing after
    every epoch.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``x [time, batch, channels]`` to a readout ``[time, batch, classes]``, or to
        ``(readout, extra)`` where ``extra`` is a dict that may hold ``"penalty"`` (a scalar
        tensor added to the loss, e.g. a firing-rate regulariser).
    train_set, val_set : torch Dataset of ``(x [time, channels], label)``
        ``val_set`` may be None (no validation columns then hold NaN).
    out_dir : str or Path
        Receives ``checkpoint.pt`` and ``metrics.csv`` (see the module docstring).
    epochs, batch_size, seed : int
    lr_weights, lr_tau : float
        Learning rates of the weights and of ``tau_parameters``.
    tau_parameters : iterable of torch.nn.Parameter, optional
        Parameters in the second optimiser group (trained time constants).
    optimizer : {"adam", "adamw", "sgd"}
    weight_decay : float
    schedule : {"constant", "cosine"}
        Learning-rate schedule over epochs.
    grad_clip : float, optional
        Clip the global gradient norm.
    loss_fn, predict : callables on ``(readout, labels)`` / ``readout``
        Default: cross-entropy on the maximum over time, arg-max of it.
    epoch_stats : callable(model) -> dict of str -> float, optional
        Extra columns of ``metrics.csv`` (e.g. mean learned tau in ms).
    penalty : callable(model) -> scalar tensor, optional
        Added to the loss after each forward pass (e.g. a firing-rate regulariser reading
        the spikes the model kept).
    resume : bool
        Continue from ``out_dir/checkpoint.pt`` when it exists (same arguments required);
        without it an existing checkpoint is an error, so nothing is overwritten by mistake.
    progress : bool
        Show tqdm progress bars.
    after_batch : callable(epoch, batch_index), optional
        Called after each optimiser step (tests use it to interrupt a run).
    device : str or torch.device, optional
        Move ``model`` there first (e.g. ``"cuda"``); batches, labels and losses follow the
        device of the model's parameters. Checkpoints hold CPU tensors whatever the device,
        and a run may be resumed on another device.
    transform : callable(x, labels) -> (x, labels), optional
        Batch transform of the training data (e.g. :class:`SpikeAugmentation`), applied by
        the training loader to each batch ``x [time, batch, channels]`` with its labels
        ``[batch]`` (on the CPU, before they move to the device); never to validation data.
        Its ``set_epoch(epoch)`` is called at the start of every epoch and its
        ``state_dict()`` is stored in the checkpoint, where it has them.

    Returns
    -------
    FitResult

    Raises
    ------
    FileExistsError
        If ``out_dir`` holds a checkpoint and ``resume`` is False.
    ValueError
        If the checkpoint was written by a run with other settings, or the loss is NaN.
    """

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / "checkpoint.pt"
    metrics_path = out_dir / "metrics.csv"
    loss_fn = loss_fn or _default_loss
    predict = predict or _default_predict
    tau_parameters = list(tau_parameters or [])
    if device is not None:
        model.to(device)
    device = _model_device(model)
    dtype = next(iter(model.parameters())).dtype
    settings = {
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "lr_weights": lr_weights,
        "lr_tau": lr_tau,
        "optimizer": optimizer,
        "weight_decay": weight_decay,
        "schedule": schedule,
        "n_train": len(train_set),
    }

    seed_everything(seed)
    opt = make_optimizer(model, optimizer, lr_weights, lr_tau, weight_decay, tau_parameters)
    base_lrs = [g["lr"] for g in opt.param_groups]
    metrics: list = []
    start = 0
    if ckpt_path.exists():
        if not resume:
            raise FileExistsError(
                f"{out_dir} already holds a training run (checkpoint.pt); "
                "pass resume=True (--resume on the command line) to continue it "
                "or choose another folder"
            )
        state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        if state["settings"] != settings:
            diff = {
                k: (state["settings"].get(k), v)
                for k, v in settings.items()
                if state["settings"].get(k) != v
            }
            raise ValueError(
                f"{ckpt_path} was written with other settings "
                f"(checkpoint vs now: {diff}); use a new output folder"
            )
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        metrics = [dict(r) for r in state["metrics"]]
        start = int(state["epoch"])
        set_rng_state(state["rng"])
        if state.get("transform") is not None and hasattr(transform, "load_state_dict"):
            transform.load_state_dict(state["transform"])
        log.info("resumed %s after epoch %d", out_dir, start)
    _write_metrics(metrics_path, metrics)

    epoch_bar = None
    if progress:
        epoch_bar = tqdm(total=epochs, initial=start, desc=f"train {out_dir.name}", unit="epoch")
    for epoch in range(start, epochs):
        factor = schedule_factor(schedule, epoch, epochs)
        for group, base in zip(opt.param_groups, base_lrs):
            group["lr"] = base * factor
        model.train()
        if hasattr(transform, "set_epoch"):
            transform.set_epoch(epoch)
        loader = time_major_loader(
            train_set, batch_size, shuffle=True, seed=epoch_seed(seed, epoch), transform=transform
        )
        bar = _batch_bar(loader, f"epoch {epoch + 1}/{epochs}", progress)
        total_loss, correct, n = 0.0, 0, 0
        for b, (x, y) in enumerate(loader):
            opt.zero_grad(set_to_none=True)
            x, y = x.to(device=device, dtype=dtype), y.to(device)
            readout, extra = _split_output(model(x))
            loss = loss_fn(readout, y)
            if extra and extra.get("penalty") is not None:
                loss = loss + extra["penalty"]
            if penalty is not None:
                loss = loss + penalty(model)
            if not torch.isfinite(loss):
                raise ValueError(
                    f"loss is {float(loss)} in epoch {epoch + 1}, batch {b}; "
                    "lower the learning rates or check the input"
                )
            loss.backward()
            if grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            opt.step()
            if hasattr(model, "project_parameters_"):
                model.project_parameters_()  # keep trained tau inside their valid range
            with torch.no_grad():
                total_loss += float(loss) * len(y)
                correct += int((predict(readout) == y).sum())
                n += len(y)
            if after_batch is not None:
                after_batch(epoch, b)
            bar.update(1)
        bar.close()
        row = {"epoch": epoch + 1, "train_loss": total_loss / n, "train_accuracy": correct / n}
        if val_set is not None and len(val_set):
            val = evaluate_model(
                model,
                val_set,
                batch_size=max(batch_size, 128),
                loss_fn=loss_fn,
                predict=predict,
                dtype=dtype,
            )
            row.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
        else:
            row.update(val_loss=float("nan"), val_accuracy=float("nan"))
        row["lr_weights"] = opt.param_groups[0]["lr"]
        row["lr_tau"] = opt.param_groups[1]["lr"] if len(opt.param_groups) > 1 else float("nan")
        if epoch_stats is not None:
            with torch.no_grad():
                row.update({k: float(v) for k, v in epoch_stats(model).items()})
        metrics.append(row)
        state = {
            "epoch": epoch + 1,
            "model": _to_cpu(model.state_dict()),
            "optimizer": _to_cpu(opt.state_dict()),
            "rng": rng_state(),
            "metrics": metrics,
            "settings": settings,
        }
        if hasattr(transform, "state_dict"):
            state["transform"] = transform.state_dict()
        _atomic_torch_save(state, ckpt_path)  # the checkpoint first: metrics follow it
        _write_metrics(metrics_path, metrics)
        if epoch_bar is not None:
            epoch_bar.update(1)
            epoch_bar.set_postfix(
                loss=f"{row['train_loss']:.3f}", val_acc=f"{row['val_accuracy']:.3f}"
            )
    if epoch_bar is not None:
        epoch_bar.close()
    return FitResult(model=model, metrics=metrics, resumed_from=start)

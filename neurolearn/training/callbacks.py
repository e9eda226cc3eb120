"""Callbacks of the :class:`~neurolearn.training.trainer.Trainer`: everything the loop does
besides the forward pass, the loss, the backward pass and the optimiser step.

A callback overrides some of the hooks of :class:`Callback` (named as Lightning's
``Callback``); the trainer calls them in the order of its ``callbacks`` list, and stores each
callback's :meth:`Callback.state_dict` in its checkpoint (restored on resumption). Within one
epoch the order of hooks is::

    on_fit_start                                  (once, after a checkpoint is restored)
    on_train_epoch_start
        [per batch]  on_before_optimizer_step, on_train_batch_end
    on_validation_end     (the epoch's metrics row is open: add columns to it here)
    on_train_epoch_end    (the row is final and in trainer.metrics: write, save, show)
    on_fit_end                                    (once)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..torch.delays import sigma_schedule
from .optim import SCHEDULES, schedule_factor
from .outputs import write_metrics

__all__ = [
    "Callback",
    "LearningRateSchedule",
    "GradientClipping",
    "ParameterProjection",
    "DelaySchedule",
    "EpochStats",
    "TauStatistics",
    "BatchHook",
    "ModelCheckpoint",
    "MetricsCSV",
    "ProgressBars",
]

log = logging.getLogger(__name__)


class Callback:
    """Base class of the trainer's callbacks: every hook does nothing.

    Hooks receive the :class:`~neurolearn.training.trainer.Trainer` (``trainer.current_epoch``
    is 0-based, ``trainer.epochs``, ``trainer.metrics``, ``trainer.optimizer``...) and the
    model being trained.

    Attributes
    ----------
    hparams : dict
        Settings of the callback that a checkpoint must have been written with to be resumed
        (added to :attr:`Trainer.settings`); empty by default.
    state_key : str
        Key of :meth:`state_dict` in the checkpoint (the class name).
    """

    hparams: Mapping = {}

    @property
    def state_key(self) -> str:
        """Key of this callback's state in the checkpoint: the class name."""
        return type(self).__qualname__

    def on_fit_start(self, trainer, model) -> None:
        """Before the first epoch (of this call: after a checkpoint was restored)."""

    def on_train_epoch_start(self, trainer, model) -> None:
        """At the start of epoch ``trainer.current_epoch``, the model in training mode."""

    def on_before_optimizer_step(self, trainer, model, optimizer) -> None:
        """After the backward pass, before ``optimizer.step()`` (gradients are there)."""

    def on_train_batch_end(self, trainer, model, loss: float, batch_index: int) -> None:
        """After the optimiser step of batch ``batch_index`` (0-based); ``loss`` is the
        batch's mean loss."""

    def on_validation_end(self, trainer, model, metrics: dict) -> None:
        """After validation; ``metrics`` is the epoch's row of ``metrics.csv`` (training and
        validation loss and accuracy, learning rates), to which columns may be added."""

    def on_train_epoch_end(self, trainer, model, metrics: dict) -> None:
        """At the end of the epoch; ``metrics`` is the final row, already the last of
        ``trainer.metrics``."""

    def on_fit_end(self, trainer, model) -> None:
        """After the last epoch."""

    def state_dict(self) -> dict:
        """The callback's state, stored in the checkpoint (tensors, numbers, strings, lists
        and dicts only: checkpoints load with ``weights_only=True``)."""
        return {}

    def load_state_dict(self, state: Mapping) -> None:
        """Continue from a :meth:`state_dict` read from a checkpoint."""


class LearningRateSchedule(Callback):
    """Set the learning rate of every optimiser group at the start of each epoch to its
    initial value times :func:`neurolearn.training.optim.schedule_factor`.

    Parameters
    ----------
    schedule : str
        A key of :data:`neurolearn.training.optim.SCHEDULES` (``"constant"``, ``"cosine"``).

    Raises
    ------
    ValueError
        For an unknown schedule.
    """

    def __init__(self, schedule: str = "constant"):
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
        self.schedule = schedule
        self.hparams = {"schedule": schedule}

    def on_train_epoch_start(self, trainer, model) -> None:
        factor = schedule_factor(self.schedule, trainer.current_epoch, trainer.epochs)
        for group, base in zip(trainer.optimizer.param_groups, trainer.base_lrs):
            group["lr"] = base * factor


class GradientClipping(Callback):
    """Clip the global norm of the gradients before each optimiser step
    (``torch.nn.utils.clip_grad_norm_``).

    Parameters
    ----------
    max_norm : float
        Largest L2 norm of all gradients together, > 0.
    """

    def __init__(self, max_norm: float):
        if not max_norm > 0:
            raise ValueError(f"max_norm must be > 0, got {max_norm!r}")
        self.max_norm = float(max_norm)

    def on_before_optimizer_step(self, trainer, model, optimizer) -> None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), self.max_norm)


class ParameterProjection(Callback):
    """Project trained parameters back into their valid range after each optimiser step
    (``model.project_parameters_()``, e.g. time constants of a
    :class:`neurolearn.torch.SpikingNetwork` clamped to their bounds) and count the clamped
    elements. Models without ``project_parameters_`` are left as they are.

    Attributes
    ----------
    clamped : int
        Elements clamped since the run started (checkpointed).
    clamped_epoch : int
        Elements clamped in the current epoch.
    """

    def __init__(self):
        self.clamped = 0
        self.clamped_epoch = 0

    def on_train_epoch_start(self, trainer, model) -> None:
        self.clamped_epoch = 0

    def on_train_batch_end(self, trainer, model, loss: float, batch_index: int) -> None:
        project = getattr(model, "project_parameters_", None)
        if project is not None:
            n = int(project() or 0)
            self.clamped += n
            self.clamped_epoch += n

    def on_train_epoch_end(self, trainer, model, metrics: dict) -> None:
        if self.clamped_epoch:
            log.info(
                "epoch %d: %d parameter elements clamped into range (%d so far)",
                trainer.current_epoch + 1,
                self.clamped_epoch,
                self.clamped,
            )

    def state_dict(self) -> dict:
        return {"clamped": self.clamped}

    def load_state_dict(self, state: Mapping) -> None:
        self.clamped = int(state.get("clamped", 0))


class DelaySchedule(Callback):
    """Narrow the Gaussian kernels of learnable synaptic delays over the epochs and round
    the delays to whole time steps at the end (DCLS: Hammouamri, Khalfaoui-Hassani &
    Masquelier 2023, ICLR 2024, arXiv:2306.17670; :mod:`neurolearn.torch.delays`).

    At the start of every epoch each delay module's width is
    :func:`~neurolearn.torch.delays.sigma_schedule` of the epoch (from its initial width
    ``sigma0`` down to 0.23 steps at half of training); after the last epoch
    ``model.round_delays_()`` leaves the network that :func:`neurolearn.bridge.to_brian2`
    exports (and that the test set is evaluated on). Models without delays are left alone.

    Parameters
    ----------
    fraction : float
        Fraction of the epochs over which the width decays.
    """

    def __init__(self, fraction: float = 0.5):
        self.fraction = float(fraction)
        self.hparams = {"delay_sigma_fraction": self.fraction}

    def on_train_epoch_start(self, trainer, model) -> None:
        modules = getattr(model, "delay_modules", list)()
        for d in modules:
            if d.sigma0 > 0:
                d.set_sigma(
                    sigma_schedule(
                        trainer.current_epoch, trainer.epochs, d.sigma0, fraction=self.fraction
                    )
                )

    def on_fit_end(self, trainer, model) -> None:
        round_ = getattr(model, "round_delays_", None)
        if round_ is not None:
            round_()


class EpochStats(Callback):
    """Extra columns of ``metrics.csv`` computed from the model after every epoch.

    Parameters
    ----------
    fn : callable(model) -> mapping of str -> float
        Called without gradients; its values are stored as floats.
    """

    def __init__(self, fn: Callable):
        self.fn = fn

    def stats(self, model) -> Mapping:
        """The columns of the epoch: ``fn(model)``."""
        return self.fn(model)

    def on_validation_end(self, trainer, model, metrics: dict) -> None:
        with torch.no_grad():
            metrics.update({k: float(v) for k, v in self.stats(model).items()})


class TauStatistics(EpochStats):
    """Columns ``<layer>_tau_m_mean_ms``, ``<layer>_tau_m_cv``, ``<layer>_tau_syn_mean_ms``
    and ``<layer>_tau_syn_cv``: mean (ms) and coefficient of variation of the time constants
    of every hidden layer of a :class:`neurolearn.torch.SpikingNetwork` that has them."""

    def __init__(self):
        super().__init__(self.stats)

    def stats(self, model) -> dict:
        """``{"<layer>_<tau>_mean_ms": float, "<layer>_<tau>_cv": float}`` of ``model``."""
        stats = {}
        for lname, layer in model.named_layers()[: len(model.layers)]:
            for name in ("tau_m", "tau_syn"):
                if name in layer.param_units:
                    v = np.asarray(layer.parameter_si(name), dtype=float).reshape(-1) * 1e3
                    stats[f"{lname}_{name}_mean_ms"] = float(v.mean())
                    stats[f"{lname}_{name}_cv"] = float(v.std() / v.mean()) if v.size > 1 else 0.0
        return stats


class BatchHook(Callback):
    """Call ``fn(epoch, batch_index)`` (both 0-based) after every optimiser step (tests use it
    to interrupt a run)."""

    def __init__(self, fn: Callable[[int, int], None]):
        self.fn = fn

    def on_train_batch_end(self, trainer, model, loss: float, batch_index: int) -> None:
        self.fn(trainer.current_epoch, batch_index)


class ModelCheckpoint(Callback):
    """Write the trainer's checkpoint (:meth:`Trainer.save_checkpoint`: model, optimiser,
    random-number states, metrics, settings, the transform's and every callback's state)
    atomically at the end of every epoch.

    Parameters
    ----------
    path : str or Path
        The checkpoint file (``checkpoint.pt``), replaced at each epoch.

    Notes
    -----
    Put it before :class:`MetricsCSV`: the checkpoint is written first and ``metrics.csv``
    follows, so that a run killed in between never shows an epoch its checkpoint lacks.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def on_train_epoch_end(self, trainer, model, metrics: dict) -> None:
        trainer.save_checkpoint(self.path)


class MetricsCSV(Callback):
    """Write ``trainer.metrics`` to ``path`` (:func:`neurolearn.training.outputs.write_metrics`)
    when training starts (the rows of a restored checkpoint, or none) and after every epoch."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def on_fit_start(self, trainer, model) -> None:
        write_metrics(self.path, trainer.metrics)

    def on_train_epoch_end(self, trainer, model, metrics: dict) -> None:
        write_metrics(self.path, trainer.metrics)


class ProgressBars(Callback):
    """tqdm bars: one over epochs (with the last training loss and validation accuracy) and
    one over the batches of the current epoch.

    The bars count; they never wrap the loader: ``tqdm.auto``'s bar calls ``iter()`` on its
    iterable when it is created, which drew the loader's base seed from the epoch generator
    an extra time and so changed the sample order, making results depend on whether bars
    were shown.

    Parameters
    ----------
    desc : str
        Label of the epoch bar.
    """

    def __init__(self, desc: str = "train"):
        self.desc = desc
        self.epoch_bar = None
        self.batch_bar = None

    def on_fit_start(self, trainer, model) -> None:
        self.epoch_bar = tqdm(
            total=trainer.epochs, initial=trainer.start_epoch, desc=self.desc, unit="epoch"
        )

    def on_train_epoch_start(self, trainer, model) -> None:
        self.batch_bar = tqdm(
            total=trainer.num_training_batches,
            desc=f"epoch {trainer.current_epoch + 1}/{trainer.epochs}",
            leave=False,
            unit="batch",
        )

    def on_train_batch_end(self, trainer, model, loss: float, batch_index: int) -> None:
        self.batch_bar.update(1)
        if batch_index + 1 == trainer.num_training_batches:
            self.batch_bar.close()

    def on_train_epoch_end(self, trainer, model, metrics: dict) -> None:
        self.epoch_bar.update(1)
        self.epoch_bar.set_postfix(
            loss=f"{metrics['train_loss']:.3f}", val_acc=f"{metrics['val_accuracy']:.3f}"
        )

    def on_fit_end(self, trainer, model) -> None:
        self.epoch_bar.close()

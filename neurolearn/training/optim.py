"""Optimisers and learning-rate schedules of training, by name: the tables that the
configuration's ``[optimizer] name`` and ``schedule`` choose from."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

__all__ = ["OPTIMIZERS", "SCHEDULES", "make_optimizer", "schedule_factor"]

#: ``[optimizer] name`` -> optimiser class (``torch.optim``).
OPTIMIZERS: dict[str, type] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}


def _constant(epoch: int, epochs: int) -> float:
    return 1.0


def _cosine(epoch: int, epochs: int) -> float:
    """Cosine annealing (Loshchilov & Hutter 2017, SGDR, without restarts) from 1 in the
    first epoch down to 0.05 in the last."""
    if epochs <= 1:
        return 1.0
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * epoch / (epochs - 1)))


#: ``[optimizer] schedule`` -> ``factor(epoch, epochs)`` on the initial learning rates.
SCHEDULES: dict[str, Callable[[int, int], float]] = {"constant": _constant, "cosine": _cosine}


def make_optimizer(
    model: torch.nn.Module,
    name: str,
    lr_weights: float,
    lr_tau: float,
    weight_decay: float = 0.0,
    tau_parameters: Iterable | None = None,
    delay_parameters: Iterable | None = None,
    lr_delay: float | None = None,
    hidden_weight_parameters: Iterable | None = None,
    lr_hidden_weights: float | None = None,
) -> torch.optim.Optimizer:
    """The optimiser of ``model``'s trainable parameters, in two groups (one more with
    learnable synaptic delays, one more with a learning rate of the hidden weights).

    Parameters
    ----------
    model : torch.nn.Module
    name : str
        A key of :data:`OPTIMIZERS`.
    lr_weights : float
        Learning rate of every trainable parameter not in ``tau_parameters`` (group
        ``"weights"``, with ``weight_decay``).
    lr_tau : float
        Learning rate of ``tau_parameters`` (group ``"tau"``, no weight decay; present only
        when one of them is trainable).
    weight_decay : float
    tau_parameters : iterable of torch.nn.Parameter, optional
        Trained time constants.
    delay_parameters : iterable of torch.nn.Parameter, optional
        Learnable synaptic delays in ms (:mod:`neurolearn.torch.delays`): group ``"delay"``
        with learning rate ``lr_delay`` (ms per step) and no weight decay, after the
        ``"tau"`` group; DCLS trains them with a learning rate far above the weights'
        (Hammouamri et al. 2023: 100 times, in time steps).
    lr_delay : float, optional
        Required with ``delay_parameters``.
    hidden_weight_parameters : iterable of torch.nn.Parameter, optional
        The hidden layers' parameters (weights); those that are not time constants or
        delays form group ``"hidden_weights"`` with learning rate ``lr_hidden_weights`` and
        ``weight_decay``, last, when ``lr_hidden_weights`` is given.
    lr_hidden_weights : float, optional
        Learning rate of the hidden weights (None: ``lr_weights``, a single weight group).
        The hidden weights of a current-based model are in nA and the readout's are
        dimensionless, and Adam's step does not scale with the parameter's unit: a paper
        whose weights are in units of the threshold current trains with the hidden
        weights' rate multiplied by that current in nA (the ``perez-nieves`` preset).

    Returns
    -------
    torch.optim.Optimizer

    Raises
    ------
    ValueError
        For a name that is not in :data:`OPTIMIZERS`.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    tau_ids = {id(p) for p in (tau_parameters or [])}
    delay_ids = {id(p) for p in (delay_parameters or [])}
    if delay_ids and lr_delay is None:
        raise ValueError("delay_parameters need lr_delay")
    trained = [p for p in model.parameters() if p.requires_grad]
    hidden_ids = set()
    if lr_hidden_weights is not None:
        hidden_ids = {id(p) for p in (hidden_weight_parameters or [])} - tau_ids - delay_ids
    weights = [p for p in trained if id(p) not in tau_ids | delay_ids | hidden_ids]
    hidden = [p for p in trained if id(p) in hidden_ids]
    taus = [p for p in trained if id(p) in tau_ids]
    delays = [p for p in trained if id(p) in delay_ids]
    groups = [
        {"params": weights, "lr": lr_weights, "weight_decay": weight_decay, "name": "weights"}
    ]
    if taus:
        groups.append({"params": taus, "lr": lr_tau, "weight_decay": 0.0, "name": "tau"})
    if delays:
        groups.append({"params": delays, "lr": lr_delay, "weight_decay": 0.0, "name": "delay"})
    if hidden:
        groups.append(
            {
                "params": hidden,
                "lr": lr_hidden_weights,
                "weight_decay": weight_decay,
                "name": "hidden_weights",
            }
        )
    return OPTIMIZERS[name](groups)


def schedule_factor(schedule: str, epoch: int, epochs: int) -> float:
    """Factor on the initial learning rates in epoch ``epoch`` (0-based) of ``epochs``.

    Raises
    ------
    ValueError
        For a schedule that is not in :data:`SCHEDULES`.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    return SCHEDULES[schedule](epoch, epochs)

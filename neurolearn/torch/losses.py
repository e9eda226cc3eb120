"""Losses on the readout and firing-rate regularisers for surrogate-gradient training."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "READOUT_REDUCTIONS",
    "register_readout_reduction",
    "max_over_time",
    "mean_over_time",
    "last_step",
    "reduce_readout",
    "readout_loss",
    "rate_regulariser",
    "firing_rates",
]

#: The registry of readout reductions: name -> function ``readout [time, batch, classes] ->
#: logits [batch, classes]``. Add one with :func:`register_readout_reduction`; configuration
#: choices derive from this table.
READOUT_REDUCTIONS: dict = {}


def register_readout_reduction(name: str):
    """Decorator registering a readout reduction under ``name`` in
    :data:`READOUT_REDUCTIONS`.

    Parameters
    ----------
    name : str
        The name configurations and :func:`reduce_readout` use.

    Returns
    -------
    callable
        The decorator; it returns the function unchanged. The function maps a readout
        ``[time, batch, classes]`` to logits ``[batch, classes]``.

    Raises
    ------
    ValueError
        ``name`` is already registered.
    """

    def register(fn):
        if name in READOUT_REDUCTIONS:
            raise ValueError(f"readout reduction '{name}' is already registered")
        READOUT_REDUCTIONS[name] = fn
        return fn

    return register


@register_readout_reduction("max")
def max_over_time(readout: torch.Tensor) -> torch.Tensor:
    """Maximum over time of each class's readout (Zenke & Vogels 2021, Neural Comput.
    33:899; Cramer et al. 2020, IEEE TNNLS 33:2744).

    Parameters
    ----------
    readout : Tensor ``[time, batch, classes]``

    Returns
    -------
    Tensor ``[batch, classes]``
    """
    return readout.max(dim=0).values


@register_readout_reduction("mean")
def mean_over_time(readout: torch.Tensor) -> torch.Tensor:
    """Mean over time of each class's readout.

    Parameters
    ----------
    readout : Tensor ``[time, batch, classes]``

    Returns
    -------
    Tensor ``[batch, classes]``
    """
    return readout.mean(dim=0)


@register_readout_reduction("last")
def last_step(readout: torch.Tensor) -> torch.Tensor:
    """The readout at the last time step.

    Parameters
    ----------
    readout : Tensor ``[time, batch, classes]``

    Returns
    -------
    Tensor ``[batch, classes]``
    """
    return readout[-1]


def reduce_readout(readout: torch.Tensor, reduction: str = "max") -> torch.Tensor:
    """Logits ``[batch, classes]`` from a readout trace ``[time, batch, classes]``.

    Parameters
    ----------
    readout : Tensor ``[time, batch, classes]``
    reduction : str
        A name of :data:`READOUT_REDUCTIONS`: ``max`` over time (Zenke & Vogels 2021;
        Cramer et al. 2020), ``mean`` over time, or the ``last`` step.

    Returns
    -------
    Tensor ``[batch, classes]``

    Raises
    ------
    ValueError
        Unknown reduction, or a readout that is not 3-D.
    """
    if readout.ndim != 3:
        raise ValueError(
            f"readout has shape {tuple(readout.shape)}; expected [time, batch, classes]"
        )
    fn = READOUT_REDUCTIONS.get(reduction) if isinstance(reduction, str) else None
    if fn is None:
        raise ValueError(
            f"unknown readout reduction '{reduction}'; expected one of "
            f"{', '.join(READOUT_REDUCTIONS)}"
        )
    return fn(readout)


def readout_loss(
    readout: torch.Tensor, labels: torch.Tensor, reduction: str = "max", logit_scale: float = 1.0
) -> torch.Tensor:
    """Cross-entropy between the reduced readout and integer class labels.

    Parameters
    ----------
    readout : Tensor ``[time, batch, classes]``
    labels : Tensor ``[batch]`` (int64)
    reduction : str
        A name of :data:`READOUT_REDUCTIONS` (``"max"``, ``"mean"``, ``"last"``); see
        :func:`reduce_readout`.
    logit_scale : float
        Multiplies the logits (the readout is dimensionless; a scale sets the softmax
        temperature).

    Returns
    -------
    Tensor (scalar)
        Mean cross-entropy over the batch (nats).

    Raises
    ------
    ValueError
        Mismatched batch sizes or labels outside ``[0, classes)``.
    """
    logits = reduce_readout(readout, reduction) * logit_scale
    labels = torch.as_tensor(labels, dtype=torch.long)
    if labels.shape != (logits.shape[0],):
        raise ValueError(
            f"labels have shape {tuple(labels.shape)}; expected [batch] = [{logits.shape[0]}]"
        )
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= logits.shape[1]):
        raise ValueError(f"labels must lie in [0, {logits.shape[1] - 1}]")
    return F.cross_entropy(logits, labels)


def firing_rates(spikes: torch.Tensor, dt: float, n_steps: int | None = None) -> torch.Tensor:
    """Firing rate of each neuron of each sample.

    Parameters
    ----------
    spikes : Tensor ``[time, batch, neurons]``, or spike counts ``[batch, neurons]``
        Spikes, or counts over ``n_steps`` steps (``SpikingNetwork.spike_counts``).
    dt : float
        Time step in seconds.
    n_steps : int, optional
        Number of time steps of the counts (required with counts).

    Returns
    -------
    Tensor ``[batch, neurons]``
        Rates in Hz: spike count / (steps * dt).

    Raises
    ------
    ValueError
        Spikes neither 3-D nor 2-D, or counts without ``n_steps``.
    """
    if spikes.ndim == 3:
        return spikes.sum(dim=0) / (spikes.shape[0] * float(dt))
    if spikes.ndim == 2:
        if n_steps is None or n_steps <= 0:
            raise ValueError(
                "spike counts [batch, neurons] need n_steps (the number of time "
                "steps they were counted over)"
            )
        return spikes / (int(n_steps) * float(dt))
    raise ValueError(
        f"spikes have shape {tuple(spikes.shape)}; expected [time, batch, "
        f"neurons] (or counts [batch, neurons] with n_steps)"
    )


def rate_regulariser(
    spikes: torch.Tensor,
    dt: float,
    *,
    upper_hz: float | None = 100.0,
    lower_hz: float | None = 1.0,
    upper_strength: float = 1.0,
    lower_strength: float = 1.0,
    n_steps: int | None = None,
) -> torch.Tensor:
    """Activity regulariser of Zenke & Vogels (2021) / Cramer et al. (2020).

    * per-neuron upper bound: ``upper_strength * mean_{b,i} relu(r_bi - upper_hz)**2``,
      penalising every neuron firing faster than ``upper_hz``;
    * population lower bound: ``lower_strength * mean_b relu(lower_hz - mean_i r_bi)**2``,
      penalising a population (per sample) that is nearly silent (no gradient flows through
      silent neurons).

    Rates are in Hz (``spikes.sum(0) / (T dt)``); the penalty is in Hz**2 times the strength.

    Parameters
    ----------
    spikes : Tensor ``[time, batch, neurons]``, or spike counts ``[batch, neurons]``
        Spikes, or counts over ``n_steps`` steps (``SpikingNetwork.spike_counts``: the same
        penalty and gradient without building float spikes ``[time, batch, neurons]``).
    dt : float
        Time step in seconds.
    upper_hz, lower_hz : float or None
        Bounds; None disables a term.
    n_steps : int, optional
        Number of time steps of the counts (required with counts).

    Returns
    -------
    Tensor (scalar)

    Raises
    ------
    ValueError
        Spikes neither ``[time, batch, neurons]`` nor counts with ``n_steps``.
    """
    r = firing_rates(spikes, dt, n_steps)
    loss = spikes.new_zeros(())
    if upper_hz is not None:
        loss = loss + upper_strength * torch.relu(r - float(upper_hz)).pow(2).mean()
    if lower_hz is not None:
        loss = loss + lower_strength * torch.relu(float(lower_hz) - r.mean(dim=1)).pow(2).mean()
    return loss

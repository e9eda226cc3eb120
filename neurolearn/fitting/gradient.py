"""Differentiable simulation for gradient-based fitting (Adam) through the torch bridge.

The model's update is :func:`neurolearn.torch.compile_model`'s translation of Brian2's own
state-update code, so the trajectory is the one Brian2 computes with the same method and
``dt`` (same order within a step: state update, threshold, reset; same refractoriness).
Spikes go through the bridge's surrogate (:class:`neurolearn.torch.surrogate.Surrogate`,
fast sigmoid; Neftci, Mostafa & Zenke 2019, IEEE Signal Process. Mag. 36:51): the forward pass
is the hard threshold, the backward pass a smooth pseudo-derivative, so gradients also reach
parameters through the reset.

The injected current changes every step, while the bridge hoists ``I_ext`` into the
per-pass coefficients: they are computed once for the whole stimulus (``I_ext`` of shape
``[time, n_sweeps]``) and indexed by step.

Only :class:`~neurolearn.fitting.targets.TraceTarget` is differentiable here (RMS error of
the membrane potential); other targets raise ``ValueError`` naming the alternative.
"""

from __future__ import annotations

import numpy as np

from ..extras import require

__all__ = ["differentiable_loss", "simulate_torch"]


def simulate_torch(spec, P: dict, stimulus, dt, method=None, surrogate=None):
    """Simulate one parameter set on every sweep, differentiably.

    Parameters
    ----------
    spec : NeuronModel
    P : dict of str -> torch scalar tensor (SI)
        Every parameter of the model (fitted ones with ``requires_grad``).
    stimulus : torch tensor [time, n_sweeps] (A)
    dt : Quantity
    method : str, optional
        State updater (default: the model's).
    surrogate : callable, optional
        Spike function with a surrogate gradient (default fast sigmoid, steepness 10 per
        threshold scale).

    Returns
    -------
    torch tensor [time, n_sweeps]
        Membrane potential after each step (V).

    Raises
    ------
    MissingExtraError
        If torch is not installed (``pip install 'neurolearn[torch]'``).
    """
    torch = require("torch", "gradient fitting (optimizer 'adam')")
    from ..torch import compile_model
    from ..torch.surrogate import Surrogate

    cm = compile_model(spec, dt, method=method)
    spike_fn = surrogate or Surrogate("fast_sigmoid", steepness=10.0)
    T, n = stimulus.shape
    dtype = stimulus.dtype
    Pk = dict(P)
    Pk["I_ext"] = stimulus
    C_all = cm.coefficients(Pk)
    per_step = {k for k, v in C_all.items() if torch.is_tensor(v) and v.dim() == 2}
    Pk["I_ext"] = stimulus[0]
    S = cm.initial_state(Pk, (n,))
    ref_steps = cm.refractory_steps(P)
    last = torch.full((n,), -(10**9), dtype=torch.int64)
    scale = float(cm.threshold_scale) or 1.0
    vs = []
    for k in range(T):
        Pk["I_ext"] = stimulus[k]
        C = {name: (v[k] if name in per_step else v) for name, v in C_all.items()}
        new = cm.update(S, C)
        refractory = (
            (k - last) < ref_steps if cm.has_refractory else torch.zeros(n, dtype=torch.bool)
        )
        for var in cm.clamped:
            new[var] = torch.where(refractory, S[var], new[var])
        x = cm.threshold(new, Pk) / scale
        s = spike_fn(x) * (~refractory).to(dtype)
        for idx, var in enumerate(cm.reset_targets):
            value = cm.reset(idx, new, Pk)
            new[var] = new[var] * (1 - s) + value * s
        last = torch.where(s.detach() > 0, torch.full_like(last, k), last)
        S = new
        vs.append(S["v"])
    return torch.stack(vs)


def differentiable_loss(spec, target, bounds: dict, fixed: dict, method=None):
    """A torch function of the normalized parameters ``u`` [n_params] giving the target's loss.

    Raises
    ------
    ValueError
        For a target other than :class:`~neurolearn.fitting.targets.TraceTarget`, or fitted
        stimulus parameters.
    MissingExtraError
        If torch is not installed (``pip install 'neurolearn[torch]'``).
    """
    torch = require("torch", "gradient fitting (optimizer 'adam')")
    from .targets import TraceTarget

    if not isinstance(target, TraceTarget):
        raise ValueError(
            f"the gradient-based optimizer fits voltage traces (TraceTarget); "
            f"for a {target.kind} target use optimizer='differential_evolution'"
        )
    if any(k.startswith("stimulus_") for k in bounds):
        raise ValueError("stimulus parameters cannot be fitted with the gradient optimizer")
    base = {
        k: torch.tensor(float(v), dtype=torch.float64)
        for k, v in spec.resolve_parameters({k: v for k, v in fixed.items()}).items()
    }
    names = list(bounds)
    lo = torch.tensor([float(bounds[k][0]) for k in names], dtype=torch.float64)
    hi = torch.tensor([float(bounds[k][1]) for k in names], dtype=torch.float64)
    stim = torch.tensor(np.asarray(target.stimuli), dtype=torch.float64)
    data = torch.tensor(np.asarray(target.voltage), dtype=torch.float64)
    ok = torch.isfinite(data)
    data0 = torch.where(ok, data, torch.zeros_like(data))

    def loss(u):
        P = dict(base)
        x = lo + u * (hi - lo)
        for j, k in enumerate(names):
            P[k] = x[j]
        v = simulate_torch(spec, P, stim, target.dt, method=method)
        err = torch.where(ok, (v - data0) * 1e3, torch.zeros_like(v))
        return torch.sqrt((err**2).sum() / ok.sum())

    return loss

"""Brian2's order within one time step, and the operations the time loops perform in it.

Time step order (Brian2's schedule, mirrored exactly so that the export to Brian2 produces the
same spikes): at step ``n`` (time ``t = n*dt``)

1. **state update** -- every state variable is integrated from ``t`` to ``t + dt`` with the
   compiled Brian2 updater; variables flagged ``(unless refractory)`` keep their value while
   ``n - n_lastspike < timestep(t_ref)`` (Brian2's ``not_refractory``);
2. **threshold** -- ``spike = H(x) * not_refractory`` with ``x`` the signed distance to
   threshold (surrogate derivative backward); the last-spike step is recorded;
3. **synaptic propagation** -- the target variable (``I_syn``, or ``g_e``/``g_i`` split by the
   sign of the weight for conductance models) is incremented by the weights of every
   presynaptic spike *of the same step* (input spikes ``x[n]`` and the recurrent spikes just
   emitted): Brian2's ``on_pre`` with no delay runs in the ``synapses`` slot, after the
   thresholds of all groups and before the resets;
4. **reset** -- the model's reset statements, in order, for the neurons that spiked.

The effect of a step-``n`` spike on the membrane therefore appears from step ``n + 1`` on.

:func:`step` writes this order once, over the operations of :class:`StepOps`; every time loop
of :mod:`neurolearn.torch` runs its steps through it:

* :class:`AutogradStep` -- allocating operations recorded by autograd, with the surrogate
  derivative of the spike, :class:`_HardReset` and :class:`neurolearn.torch.sparse._SpikeMatmul`:
  the step-by-step path of :class:`neurolearn.torch.SpikingLayer` (any model, and the
  locating rerun after a NaN);
* :class:`BufferedStep` -- the same operations into preallocated ``[batch, neurons]`` tensors
  (``out=`` and in-place forms, bit-identical results), without a graph: the forward pass of
  the fused loops, their recomputation in the backward pass (spikes replayed) and the leaky
  readout's scan (:mod:`neurolearn.torch.fused`).

:class:`LayerState` is what a layer hands from one run to the next (streaming, truncated
BPTT): the state variables, the step of each neuron's last spike and the step counter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from . import sparse
from .delays import DelayedRecurrence
from .sparse import _SpikeMatmul

__all__ = ["LayerState", "NonFiniteError", "StepOps", "AutogradStep", "BufferedStep", "step"]

_LAST_NEVER = -(10**12)  # "no spike yet" (Brian2 initialises lastspike to -1e4 s)


class NonFiniteError(FloatingPointError):
    """NaN or inf appeared in a forward pass.

    Attributes
    ----------
    layer, variable : str
        Layer name and state variable (or ``"threshold"``) where it appeared first.
    step : int
        Time step index (0-based, counted from the start of the sequence) at which it
        appeared.
    """

    def __init__(self, layer: str, variable: str, step: int, value: float):
        self.layer, self.variable, self.step = layer, variable, step
        super().__init__(
            f"layer '{layer}': variable '{variable}' became {value} at time step "
            f"{step} (check parameters, weights and input scale; a time constant "
            f"near 0 or an exploding exponential term are typical causes)"
        )


class LayerState(NamedTuple):
    """The state of a layer between two runs over consecutive pieces of one sequence.

    Running ``T`` steps at once equals running them in pieces with the state handed on, spike
    for spike (Norse's and snnTorch's ``forward(input, state) -> (output, state)``). The
    tensors keep their graph: detach them (:meth:`detach`) to truncate backpropagation
    through time at the boundary.

    Attributes
    ----------
    variables : dict of str -> Tensor ``[batch, neurons]``
        Every state variable after the last step run, in SI units.
    last_spike : Tensor ``[batch, neurons]`` (int64)
        Step index of each neuron's last spike (a large negative number when it has not
        spiked), for the refractory period.
    step : int
        Number of steps run so far: the index of the next step (its time is ``step * dt``).
    delayed : dict of str -> Tensor, optional
        With synaptic delays or temporal kernels (:mod:`neurolearn.torch.delays`), what is
        still in transit: ``"input"`` the last ``K`` input steps ``[K, batch, channels]``,
        ``"spikes"`` the layer's spikes of the last ``K`` steps ``[K, batch, neurons]``
        (recurrent delays); None without delays.
    """

    variables: dict
    last_spike: torch.Tensor
    step: int
    delayed: dict | None = None

    def detach(self) -> LayerState:
        """The same state with every tensor detached from its graph (truncated BPTT)."""
        delayed = None
        if self.delayed is not None:
            delayed = {k: v.detach() for k, v in self.delayed.items()}
        return LayerState(
            {k: v.detach() for k, v in self.variables.items()}, self.last_spike, self.step, delayed
        )


class _HardReset(torch.autograd.Function):
    """``where(spiked, target, old)`` whose gradient w.r.t. the (0/1 surrogate) spike ``s`` is
    ``target - old``: the derivative of ``old + s (target - old)`` at ``s`` in {0, 1}, with
    the exact forward values of Brian2's reset. Saves one float tensor and one bool mask."""

    @staticmethod
    def forward(ctx, old, target, s, hard):
        ctx.save_for_backward(hard, target - old)
        ctx.target_shape = target.shape
        return torch.where(hard, target, old)

    @staticmethod
    def backward(ctx, grad):
        hard, diff = ctx.saved_tensors
        g_target = torch.where(hard, grad, 0.0)
        if g_target.shape != ctx.target_shape:
            g_target = g_target.sum_to_size(ctx.target_shape)
        return torch.where(hard, 0.0, grad), g_target, grad * diff, None


class StepOps:
    """The operations of one time step, called by :func:`step` in Brian2's order.

    ``S`` is a dict of state tensors ``[batch, neurons]`` (SI), ``n`` the step index counted
    from the start of the sequence (time ``n * dt``). An implementation holds what its steps
    share: coefficients, the input drive of each step, weights, the last-spike steps and
    whatever the loop records.

    Attributes
    ----------
    clamped : sequence of str
        Variables that keep their value while a neuron is refractory (``(unless
        refractory)`` in the model).
    has_ref : bool
        Whether the neurons have a refractory period (:meth:`not_refractory` is called).
    spiking : bool
        Whether the layer spikes (:meth:`threshold` and :meth:`reset` are called).
    observe : bool
        Whether :meth:`updated` is called (records, checks).
    """

    clamped: Sequence[str] = ()
    has_ref: bool = False
    spiking: bool = False
    observe: bool = False

    def update(self, S: dict, n: int) -> dict:
        """New value of every state variable, integrated from ``n dt`` to ``(n + 1) dt``."""
        raise NotImplementedError

    def where(self, cond, a, b, dest):
        """``torch.where(cond, a, b)``, into ``dest`` where the implementation reuses it."""
        raise NotImplementedError

    def not_refractory(self, n: int):
        """Bool ``[batch, neurons]``: True where a neuron may change and spike at step ``n``
        (with :attr:`has_ref`)."""
        raise NotImplementedError

    def updated(self, S: dict, n: int) -> None:
        """Called with the state after the update and the refractory clamp (with
        :attr:`observe`: records, checks)."""

    def threshold(self, S: dict, nr, n: int):
        """``(spikes, hard)`` of step ``n`` (with :attr:`spiking`): float 0/1 spikes ``[batch,
        neurons]`` (carrying the surrogate gradient where there is one) and the bool mask of
        the neurons that spiked (or None when the spikes alone serve the reset). Records the
        last-spike step. ``nr``: :meth:`not_refractory` or None."""
        raise NotImplementedError

    def propagate(self, S: dict, s, n: int) -> None:
        """Add the synaptic input of step ``n`` (input drive and recurrent spikes ``s`` of the
        same step) to the target variables of ``S``."""
        raise NotImplementedError

    def reset(self, S: dict, s, hard, n: int) -> None:
        """Apply the model's reset statements, in order, to the neurons that spiked."""


def step(ops: StepOps, S: dict, n: int):
    """Advance the state by one time step in Brian2's order.

    1. state update (:meth:`StepOps.update`), then the refractory clamp: variables of
       ``ops.clamped`` keep their old value where the neuron is refractory;
    2. threshold (:meth:`StepOps.threshold`): spikes of the neurons that are not refractory;
    3. synaptic propagation of the same step (:meth:`StepOps.propagate`): input drive plus
       the recurrent spikes just emitted;
    4. reset (:meth:`StepOps.reset`) of the neurons that spiked.

    Parameters
    ----------
    ops : StepOps
        The operations (:class:`AutogradStep` or :class:`BufferedStep`).
    S : dict of str -> Tensor ``[batch, neurons]``
        State after step ``n - 1`` (SI); not modified.
    n : int
        Step index from the start of the sequence.

    Returns
    -------
    S : dict of str -> Tensor ``[batch, neurons]``
        State after step ``n``.
    spikes : Tensor ``[batch, neurons]`` or None
        Spikes of step ``n`` (float 0/1); None for a non-spiking layer.

    Notes
    -----
    Brian2's schedule (Stimberg, Brette & Goodman 2019, eLife 8:e47314): ``groups``
    (state update), ``thresholds``, ``synapses`` (``on_pre`` without delay), ``resets``.
    """
    new = ops.update(S, n)
    nr = None
    if ops.has_ref:
        nr = ops.not_refractory(n)
        for v in ops.clamped:
            new[v] = ops.where(nr, new[v], S[v], new[v])
    if ops.observe:
        ops.updated(new, n)
    s = hard = None
    if ops.spiking:
        s, hard = ops.threshold(new, nr, n)
    ops.propagate(new, s, n)
    if s is not None:
        ops.reset(new, s, hard, n)
    return new, s


class AutogradStep(StepOps):
    """Allocating operations recorded by autograd: the step-by-step path of a layer.

    Spikes are the layer's surrogate of the signed distance to threshold (exact step forward,
    surrogate derivative backward; a smooth sigmoid for :class:`SmoothSigmoid`); the
    recurrent product is :class:`~neurolearn.torch.sparse._SpikeMatmul` (spikes saved as
    uint8) and the reset :class:`_HardReset` (exact values, derivative of ``old + s (target -
    old)``), or ``torch.where`` with ``detach_reset`` or without a graph.

    Parameters
    ----------
    layer : _ModelLayer
        The layer (its compiled model, targets, surrogate, threshold scale, reset and
        product options, name and time step are read).
    P, C : dict of str -> Tensor
        Parameters (SI) and the compiled model's coefficients.
    drive : list of sequences of Tensor ``[batch, neurons]``
        Input increment of each synaptic target at each step (``drive[k][n - drive_start]``).
    W_rec : list of Tensor ``[neurons, neurons]``, DelayedRecurrence or None
        Recurrent weights per target (SI), or with recurrent delays the
        :class:`~neurolearn.torch.delays.DelayedRecurrence` that gives the recurrent input of
        each step from the spikes of the steps before (and records the new ones).
    ref : int or Tensor
        Refractory period in steps (0: none).
    last : Tensor ``[batch, neurons]`` (int64)
        Step of each neuron's last spike; updated in :attr:`last`.
    acc : Tensor (scalar)
        Finite check: the distance to threshold of every step is added (``check_finite``).
    drive_start : int
        Step index of ``drive[k][0]``.
    locate : bool
        Check every value for NaN/inf and raise :class:`NonFiniteError` at the first one.
    """

    def __init__(self, layer, P, C, drive, W_rec, ref, last, acc, *, drive_start=0, locate=False):
        cm = layer.cm
        self.cm, self.P, self.C, self.dt = cm, P, C, layer.dt_s
        self.layer_name, self.targets = layer.name, layer.targets
        self.spiking = layer.spiking
        self.has_ref = self.spiking and (not isinstance(ref, int) or ref > 0)
        self.clamped = list(cm.clamped) if self.has_ref else []
        self.ref, self.last, self.acc = ref, last, acc
        self.drive, self.drive_start, self.W_rec = drive, drive_start, W_rec
        self.surrogate, self.scale = layer.surrogate, layer.threshold_scale
        self.smooth = bool(self.surrogate is not None and self.surrogate.smooth)
        self.detach_reset, self.sparse = layer.detach_reset, layer.sparse_spikes
        self.check_finite = layer.check_finite
        self.grad = torch.is_grad_enabled()
        self.locate = self.observe = locate

    def update(self, S, n):
        return self.cm.update(S, self.C, n * self.dt)

    def where(self, cond, a, b, dest):
        return torch.where(cond, a, b)

    def not_refractory(self, n):
        return (n - self.last) >= self.ref

    def _check(self, name, val, n):
        bad = ~torch.isfinite(val)
        if bool(bad.any()):
            raise NonFiniteError(self.layer_name, name, n, float(val[bad][0]))

    def updated(self, S, n):
        for v, val in S.items():
            self._check(v, val, n)

    def threshold(self, S, nr, n):
        strict = self.cm.threshold_strict
        xthr = self.cm.threshold(S, self.P)
        if self.locate:
            self._check("threshold", xthr, n)
        s = self.surrogate(xthr / self.scale, strict)
        if self.smooth:
            hard = (xthr > 0) if strict else (xthr >= 0)
            if nr is not None:
                hard = hard & nr
                s = s * nr
        else:
            if nr is not None:
                s = s * nr
            hard = s > 0.5
        if self.check_finite:
            self.acc = self.acc + xthr.detach().sum()
        if self.has_ref:
            self.last = torch.where(hard, n, self.last)
        return s, hard

    def propagate(self, S, s, n):
        i = n - self.drive_start
        delayed = self.W_rec if isinstance(self.W_rec, DelayedRecurrence) else None
        recs = delayed.inputs() if delayed is not None else None
        for k, tv in enumerate(self.targets):
            inc = self.drive[k][i]
            if recs is not None:  # spikes of earlier steps through recurrent delays
                inc = inc + recs[k]
            elif s is not None and self.W_rec is not None:  # the fused loop's product
                if self.smooth:
                    rec = s @ self.W_rec[k]
                elif self.grad:
                    rec = _SpikeMatmul.apply(s, self.W_rec[k], self.sparse)
                else:
                    rec = sparse._spike_product(s, self.W_rec[k], self.sparse)[0]
                inc = inc + rec
            S[tv] = S[tv] + inc
            if self.locate and s is not None:
                self._check(tv, S[tv], n)
        if delayed is not None:
            delayed.push(s)

    def reset(self, S, s, hard, n):
        for i, var in enumerate(self.cm.reset_targets):
            target = self.cm.reset(i, S, self.P)
            old = S[var]
            if self.smooth:
                S[var] = old + s * (target - old)
            elif self.grad and not self.detach_reset:
                if not isinstance(target, torch.Tensor):
                    target = torch.as_tensor(target, dtype=old.dtype, device=old.device)
                S[var] = _HardReset.apply(old, target, s, hard)
            else:
                S[var] = torch.where(hard, target, old)


class BufferedStep(StepOps):
    """The operations of :class:`AutogradStep` into preallocated ``[batch, neurons]`` tensors,
    without a graph: the fused loops of layers whose update is affine in the state.

    Two sets of state tensors are used in turn (the in-place form of the compiled update,
    :meth:`CompiledModel.inplace`, writes the new state into the set not being read), with
    its scratch tensors and the results of the threshold and the recurrent product. Each
    operation is the one of the allocating form (same kernels, same order: results
    bit-identical) and falls back to that form where the model's generated code has no
    in-place translation. Reusing the tensors removes the per-step allocations (about ten
    ``[batch, neurons]`` tensors per step, each a ``malloc``/``free`` of 64 kB and, with
    allocators that map such blocks, page faults).

    The spikes are exact (``x > 0`` or ``x >= 0``, no surrogate), and resets assign the
    plan's constants. The loop that owns the object sets, before its steps:

    * ``drive``, ``drive_start`` -- input increments of the target, ``drive[n - drive_start]``;
    * ``W``, ``sparse``, ``lins`` -- recurrent weights (SI; None: none, or already in the
      drive), the ``sparse_spikes`` mode of their product and, when a list, the linear
      indices of the spikes of each sparse product are appended to it (offset by the step);
    * for spikes computed (:meth:`compute_spikes`): the bool spikes ``spk``, the float spikes
      ``spikes_out[n - out_start]``, the not-refractory masks ``nrs``, the last-spike steps
      ``last`` and ``acc_n`` (sum of the distances to threshold, or None);
    * for spikes replayed (:meth:`replay_spikes`): float spikes ``[L, batch, neurons]`` and the
      stored masks ``nrs`` (the backward pass's recomputation);
    * :meth:`record` -- ``(dest, name)`` pairs: ``dest[n - start]`` receives the variable
      ``name`` after the update (records of the post-update state).

    Without either call the layer is non-spiking (the readout's scan).

    Parameters
    ----------
    plan : neurolearn.torch.fused._LinearPlan
        Compiled model, state names, detached coefficients and parameters, target, resets,
        refractory period, threshold scale and strictness, time step.
    like : Tensor
        Dtype and device of the buffers.
    shape : tuple of int
        ``(batch, neurons)``.
    origin : int
        Step index of the first step of the loop (``spk``, ``nrs`` are indexed from it).
    """

    def __init__(self, plan, like, shape, origin: int = 0):
        cm = plan.cm
        names = plan.names
        self.cm = cm
        upd, thr = cm.inplace("update"), cm.inplace("threshold")
        self._upd = upd[0] if upd is not None else None
        self._thr = thr[0] if thr is not None else None
        n_tmp = max((r[1] for r in (upd, thr) if r is not None), default=0)
        self.tmp = [like.new_empty(shape) for _ in range(n_tmp)]
        self.sets = (
            [{nm: like.new_empty(shape) for nm in names} for _ in range(2)]
            if self._upd is not None
            else None
        )
        self.like, self.shape = like, shape
        self.xthr = self.mm = self.pb = None  # allocated on first use
        self.Cd, self.Pd, self.dt = plan.Cd, plan.Pd, plan.dt
        self.tgt = names[plan.tgt]
        self.resets = [var for _, var in plan.resets]
        self.rconst = {names[i]: r for i, r in plan.reset_idx}
        self.ref, self.clamped = plan.ref, plan.clamp if plan.has_ref else []
        self._ref = plan.has_ref
        self.strict, self.scale = plan.strict, plan.scale
        # for scale <= 1, x/scale > 0 exactly when x > 0 (no underflow): skip the division
        self.divide = not (0 < plan.scale <= 1)
        self.origin = origin
        self.replay = None
        self.drive, self.drive_start = None, 0
        self.W, self.sparse, self.lins = None, None, None
        self.after, self.after_start = (), 0
        self.numel = shape[0] * shape[1]

    def compute_spikes(self, spk, nrs, last, acc_n) -> None:
        """Spikes computed from the threshold: bool spikes written into ``spk[n - origin]``
        (``[T, batch, neurons]``; only with a refractory period, else the loop copies the
        float spikes), masks into ``nrs`` (or None), last-spike steps from ``last``."""
        self.spiking, self.has_ref, self.replay, self._replaying = True, self._ref, None, False
        self.spk, self.nrs, self.last, self.acc_n = spk, nrs, last, acc_n
        self.spikes_out, self.out_start = None, 0

    def replay_spikes(self, spikes, start: int, nrs) -> None:
        """Spikes replayed: ``spikes[n - start]`` (float 0/1; None when the model has no reset)
        and the stored masks ``nrs[n - origin]`` (None without a refractory period)."""
        self.spiking, self.has_ref, self._replaying = spikes is not None, self._ref, True
        self.replay, self.replay_start, self.nrs = spikes, start, nrs

    def release(self) -> None:
        """Drop the references to the loop's per-run tensors (drive, spikes, masks, records),
        keeping the buffers for a next run."""
        self.drive = self.replay = self.nrs = self.W = self.lins = None
        self.spk = self.spikes_out = self.last = self.acc_n = None
        self.after, self.observe = (), False

    def record(self, pairs, start: int) -> None:
        """After each update, ``dest[n - start] = S[name]`` for each ``(dest, name)`` of
        ``pairs``."""
        self.after, self.after_start, self.observe = pairs, start, bool(pairs)

    # ---- the in-place forms ------------------------------------------------------------------
    def start(self, S: dict) -> dict:
        """Copy of the state ``S`` in the buffers (when the update runs in place)."""
        if self._upd is None:
            return dict(S)
        for nm, v in S.items():
            self.sets[0][nm].copy_(v)
        return dict(self.sets[0])

    def update(self, S: dict, n: int) -> dict:
        t = n * self.dt
        if self._upd is None:
            return self.cm.update(S, self.Cd, t)
        # write into the set that does not hold the current state (the phases return the
        # buffer tensors themselves: out= results, in-place methods, so identity suffices)
        k = 1 if any(S[nm] is v for nm, v in self.sets[0].items()) else 0
        return dict(self._upd(S, self.Cd, t, self.sets[k], self.tmp))

    def distance(self, S: dict):
        """Signed distance to threshold (the compiled threshold, into a reused buffer)."""
        if self._thr is None:
            return self.cm.threshold(S, self.Pd)
        if self.xthr is None:
            self.xthr = self.like.new_empty(self.shape)
        return self._thr(S, self.Pd, self.xthr, self.tmp)

    def where(self, cond, a, b, dest):
        if self._upd is None:
            return torch.where(cond, a, b)
        return torch.where(cond, a, b, out=dest)

    def lerp(self, v, r, s):
        """Reset to ``r`` where the float spikes ``s`` (exactly 0 or 1) are 1: ``lerp``,
        which is exact for these weights (``v + 0 (r - v) = v``, ``r - (r - v) 0 = r``;
        the result equals ``torch.where(s > 0, r, v)`` for finite ``v``, up to the sign of
        an exact zero) and several times faster than ``where`` with a bool mask here."""
        if self._upd is None:
            return torch.lerp(v, r, s)
        return v.lerp_(r, s)

    def add(self, a, b):
        """``a + b``, in place into ``a`` where the update runs in place."""
        if self._upd is None:
            return a + b
        return a.add_(b)

    def spike_product(self, s, W, mode):
        """:func:`~neurolearn.torch.sparse._spike_product` ``(s @ W, spike indices or
        None)``, the dense form into a reused buffer."""
        if self._upd is None:
            return sparse._spike_product(s, W, mode)
        if self.pb is None:
            self.pb = self.like.new_empty(self.shape)
        return sparse._spike_product(s, W, mode, out=self.pb)

    def add_input(self, inc, rec):
        """``inc + rec`` (input drive plus recurrent input) into a reused buffer."""
        if self._upd is None:
            return inc + rec
        if self.mm is None:
            self.mm = self.like.new_empty(self.shape)
        return torch.add(inc, rec, out=self.mm)

    # ---- the phases of a step ----------------------------------------------------------------
    def not_refractory(self, n):
        if self._replaying:
            return self.nrs[n - self.origin]
        nr = (n - self.last) >= self.ref
        self.nrs[n - self.origin] = nr
        return nr

    def updated(self, S, n):
        for dest, name in self.after:
            dest[n - self.after_start] = S[name]

    def threshold(self, S, nr, n):
        if self.replay is not None:
            return self.replay[n - self.replay_start], None
        xthr = self.distance(S)
        u = xthr / self.scale if self.divide else xthr
        s = self.spikes_out[n - self.out_start]
        if nr is not None:
            spk = self.spk[n - self.origin]
            hard = torch.gt(u, 0, out=spk) if self.strict else torch.ge(u, 0, out=spk)
            hard &= nr
            self.last = torch.where(hard, n, self.last)
            s.copy_(hard.view(torch.uint8))  # (uint8 -> float: faster than bool)
        else:  # float spikes directly (the loop copies them to the bool ones)
            hard = None
            if self.strict:
                torch.gt(u, 0, out=s)
            else:
                torch.ge(u, 0, out=s)
        if self.acc_n is not None:  # finite check: summed once at the end
            self.acc_n.add_(xthr)
        return s, hard

    def propagate(self, S, s, n):
        inc = self.drive[n - self.drive_start]
        if self.W is not None:  # the step-by-step path's product (bit-identical)
            rec, lin = self.spike_product(s, self.W, self.sparse)
            inc = self.add_input(inc, rec)
            if self.lins is not None:
                off = (n - self.drive_start) * self.numel
                self.lins = None if lin is None else self.lins + [lin.add_(off)]
        S[self.tgt] = self.add(S[self.tgt], inc)

    def reset(self, S, s, hard, n):
        for var in self.resets:  # lerp on 0/1 weights: exact, faster than where
            r = self.rconst[var]
            S[var] = (
                self.where(hard, r, S[var], S[var]) if hard is not None else self.lerp(S[var], r, s)
            )

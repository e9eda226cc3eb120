"""Spiking layers, a leaky-integrator readout and a network container built from compiled
neuron models (see :mod:`neurolearn.torch.compiler`).

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

Units and parameterisation. The computation runs in SI units. Every parameter is *stored* as
a number in a display unit (``tau_m`` in ms, voltages in mV, currents in nA, conductances in
nS: :data:`neurolearn.torch.compiler.SI_DISPLAY_UNITS`) so that an optimiser step means the
same for all of them; weights are stored in the display unit of their target variable
(``weight_unit``, nA for ``I_syn``). Time constants are trained *directly* (tau in ms), not as
``1/tau`` or the decay factor ``exp(-dt/tau)``: the trained value is the quantity Brian2
receives, independent of ``dt`` (a network trained at 1 ms exports at any ``dt``), the decay
parameterisation squeezes slow time constants (adaptation, 0.1-2 s) into ``1 - O(dt/tau)`` where
gradient steps are vanishingly small, and ``1/tau`` makes steps on long time constants huge.
The spec's ``range`` is a box constraint enforced by projection: :meth:`project_parameters_`
(call after each optimiser step) clamps the stored values into range, and a forward pass that
meets an out-of-range value clamps it too; each clamped element is counted in
``clamp_counts`` (never silent).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..spec import ModelError, NeuronModel, load_model, parse_quantity
from .compiler import SI_DISPLAY_UNITS, CompiledModel, compile_model
from .surrogate import get_surrogate

__all__ = [
    "NonFiniteError",
    "SpikingLayer",
    "LeakyReadout",
    "SpikingNetwork",
    "init_parameter",
    "DISTRIBUTIONS",
    "PEREZ_NIEVES_CONFIGS",
    "perez_nieves_config",
    "readout_model",
    "display_unit",
]

#: Initial distributions of per-neuron parameters (see :func:`init_parameter`).
DISTRIBUTIONS = ("constant", "uniform", "gamma", "lognormal")

#: The four configurations of Perez-Nieves, Leung, Dragotti & Goodman (2021) Nat. Commun.
#: 12:5791 ("Neural heterogeneity promotes robust learning"), Fig. 2: name ->
#: (heterogeneous initialisation, time constants trained).
PEREZ_NIEVES_CONFIGS = {
    "hom_init_std_train": (False, False),
    "het_init_std_train": (True, False),
    "hom_init_het_train": (False, True),
    "het_init_het_train": (True, True),
}

_LAST_NEVER = -(10**12)  # "no spike yet" (Brian2 initialises lastspike to -1e4 s)


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


#: Products with 0/1 spikes (``sparse_spikes=None``) are computed sparsely when at most this
#: fraction of the entries is 1, on the CPU, and for products of at least
#: :data:`_SPARSE_SPIKE_MIN_WORK` multiply-adds (below, a dense matmul is cheaper than the
#: indexing). The recurrent layer of benchmarks/torch_step.py has 1-2 % of its neurons
#: spiking per step.
_SPARSE_SPIKE_DENSITY = 1.0 / 16
_SPARSE_SPIKE_MIN_WORK = 1 << 20
_INT_VIEW = {torch.float32: torch.int32, torch.float64: torch.int64}
_ROW_STARTS: dict = {}


def _bool_to(b: torch.Tensor, dtype) -> torch.Tensor:
    """Bool tensor as 0/1 of ``dtype``, converted through its uint8 view (several times
    faster than converting the bool tensor itself on the CPU)."""
    return b.view(torch.uint8).to(dtype)


def _nonzero_flat(s: torch.Tensor) -> torch.Tensor:
    """Linear indices (int64, increasing) of the non-zero entries of ``s`` (any shape).
    Floats are scanned as their bit pattern (as fast as a bool scan, about twice as fast as
    a float compare); spikes are exactly 0.0 or 1.0, never -0.0."""
    flat = s.reshape(-1)
    bits = _INT_VIEW.get(flat.dtype)
    return (flat.view(bits) if bits is not None else flat).nonzero().squeeze(1)


def _row_starts(R: int, n: int, device) -> torch.Tensor:
    """``arange(R) * n`` (cached): linear index of the first entry of each row."""
    key = (R, n, str(device))
    r = _ROW_STARTS.get(key)
    if r is None:
        if len(_ROW_STARTS) > 64:
            _ROW_STARTS.clear()
        r = _ROW_STARTS[key] = torch.arange(R, device=device) * n
    return r


def _rows_sum(lin: torch.Tensor, R: int, n: int, W: torch.Tensor) -> torch.Tensor:
    """``M @ W`` ``[R, m]`` for the 0/1 matrix ``M`` ``[R, n]`` whose ones are at the increasing
    linear indices ``lin``: for each row, the rows of ``W`` of its ones summed in increasing
    column order (``embedding_bag`` in sum mode: one sequential sum per output element, so
    the result does not depend on how the rows are blocked; deterministic on CPU and
    CUDA). Rounding differs from a dense matmul's."""
    cols = lin.remainder(n)
    offsets = torch.searchsorted(lin, _row_starts(R, n, lin.device))
    return torch.nn.functional.embedding_bag(cols, W, offsets, mode="sum")


def _sparse_spikes_wanted(mode, R: int, n: int, m: int, device) -> bool:
    """Whether a product of spikes ``[R, n]`` with ``[n, m]`` weights may be sparse:
    ``mode`` True/False forces it; None (automatic) only on the CPU (on a GPU the dense
    product is cheaper than finding the spikes, which also synchronises) and for at least
    :data:`_SPARSE_SPIKE_MIN_WORK` multiply-adds."""
    if mode is not None:
        return bool(mode)
    return torch.device(device).type == "cpu" and R * n * m >= _SPARSE_SPIKE_MIN_WORK


def _spike_product(s: torch.Tensor, W: torch.Tensor, mode=None, out=None):
    """``s @ W`` for spikes ``s`` ``[R, n]`` whose entries are exactly 0 or 1, and the linear
    indices of the spikes (None when the product was dense).

    Sparse (:func:`_rows_sum`) when :func:`_sparse_spikes_wanted` and, in automatic mode
    (``mode=None``), at most :data:`_SPARSE_SPIKE_DENSITY` of the entries are 1; otherwise
    ``torch.mm`` (into ``out`` if given). The decision depends on ``s`` only, so the fused
    loop and the step-by-step path, which both call this function, compute bit-identical
    products from the same spikes."""
    R, n = s.shape
    lin = _sparse_spike_indices(s, W.shape[1], mode)
    if lin is None:
        return torch.mm(s, W, out=out), None
    return _rows_sum(lin, R, n, W), lin


def _sparse_spike_indices(s: torch.Tensor, m: int, mode):
    """Linear indices (int64) of the spikes of ``s`` ``[R, n]`` (0/1 floats) when a product
    with ``[n, m]`` weights is to be sparse (:func:`_sparse_spikes_wanted` and, in automatic
    mode, at most :data:`_SPARSE_SPIKE_DENSITY` of the entries are 1), else None."""
    R, n = s.shape
    if not _sparse_spikes_wanted(mode, R, n, m, s.device):
        return None
    lin = _nonzero_flat(s)
    if mode is None and lin.numel() > _SPARSE_SPIKE_DENSITY * R * n:
        return None
    return lin


def _chunk_spikes(flat: torch.Tensor, lins, mode):
    """Linear indices (int64) of the spikes of a chunk ``flat`` ``[L*B, n]`` (0/1 floats):
    the concatenation of the per-step indices ``lins`` (already offset) when every step's
    product was sparse, else found in ``flat`` when sparse products are wanted and the
    chunk is sparse enough (:func:`_spike_product`'s rule); None otherwise."""
    if lins is not None:
        return torch.cat(lins) if lins else flat.new_empty(0, dtype=torch.int64)
    return _sparse_spike_indices(flat, flat.shape[1], mode)


class _SpikeMatmul(torch.autograd.Function):
    """``s @ W`` for 0/1 spikes (:func:`_spike_product`, sparse when few neurons spike),
    saving ``s`` as uint8 (4x less memory than float32)."""

    @staticmethod
    def forward(ctx, s, W, mode=None):
        ctx.save_for_backward(s.to(torch.uint8), W)
        return _spike_product(s, W, mode)[0]

    @staticmethod
    def backward(ctx, grad):
        s8, W = ctx.saved_tensors
        gs = grad @ W.t() if ctx.needs_input_grad[0] else None
        gW = s8.to(grad.dtype).t() @ grad if ctx.needs_input_grad[1] else None
        return gs, gW, None


class _LinearPlan:
    """Everything the fused loop needs about a layer whose update is affine in the state
    (see :meth:`_ModelLayer._linear_plan`)."""

    __slots__ = (
        "cm",
        "names",
        "Cd",
        "Pd",
        "tgt",
        "c",
        "x0",
        "resets",
        "reset_idx",
        "ref",
        "has_ref",
        "clamp",
        "clamp_idx",
        "surrogate",
        "scale",
        "strict",
        "detach_reset",
        "dt",
        "A_idx",
        "xs",
        "recompute",
        "sparse",
    )


class _SparseInput:
    """Sparse input ``x`` ``[T, B, C]`` as the ``[T*B, C]`` matrix in compressed sparse row
    form (one ``nonzero`` over the whole input): int32 row pointers and column indices and
    the values (None when all are 1, as for spikes), about 4 bytes per non-zero entry.
    :meth:`rows_sum` multiplies a block of rows with weights (``embedding_bag`` on exactly
    this row pointer / column index layout: about twice as fast as MKL's CSR product
    here, and row by row, so the fused loop's chunks and the step-by-step path's single
    product give the same bits); :meth:`t_matmul` the transposed product (gradients)."""

    def __init__(self, x: torch.Tensor):
        flat = x.detach().reshape(-1, x.shape[-1])
        R, C = flat.shape
        flat1 = flat.reshape(-1)
        # nonzero on the bit pattern (_nonzero_flat); -0.0 then counts as an entry, whose
        # product adds a signed zero (no effect on any sum)
        lin = _nonzero_flat(flat1)
        vals = flat1.index_select(0, lin)  # (about 3x faster than flat1[lin])
        self.nnz = int(lin.numel())
        self.vals = None if bool((vals == 1).all()) else vals
        rows = torch.div(lin, C, rounding_mode="floor")
        self.cols = (lin % C).to(torch.int32)
        crow = torch.zeros(R + 1, dtype=torch.int64, device=x.device)
        crow[1:] = torch.bincount(rows, minlength=R).cumsum(0)
        self.crow = crow.to(torch.int32)
        self.shape = (R, C)
        self._dtype = flat.dtype

    def _block(self, row0: int, rows: int | None):
        rows = self.shape[0] - row0 if rows is None else rows
        a, b = int(self.crow[row0]), int(self.crow[row0 + rows])
        vals = (
            self.vals[a:b]
            if self.vals is not None
            else torch.ones(b - a, dtype=self._dtype, device=self.cols.device)
        )
        return rows, a, b, vals

    def rows_sum(self, row0: int, rows: int | None, W: torch.Tensor) -> torch.Tensor:
        """``x[row0:row0 + rows] @ W`` ``[rows, m]`` for weights ``W`` ``[C, m]``: for each
        row the rows of ``W`` of its non-zero entries (times their values) summed in
        increasing column order (``embedding_bag`` in sum mode, about twice as fast as the
        CSR product here; row by row, so any blocking of the rows gives the same bits)."""
        rows = self.shape[0] - row0 if rows is None else rows
        a, b = int(self.crow[row0]), int(self.crow[row0 + rows])
        offsets = self.crow[row0 : row0 + rows] - a
        vals = self.vals[a:b] if self.vals is not None else None
        return torch.nn.functional.embedding_bag(
            self.cols[a:b], W, offsets, mode="sum", per_sample_weights=vals
        )

    def t_matmul(
        self, row0: int, rows: int | None, G: torch.Tensor, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``x[row0:row0 + rows]^T @ G`` ``[C, m]`` for ``G`` ``[rows, m]`` (the gradient of
        the input weights), added into ``out`` in place when given: a sparse COO product
        built directly in transposed form (one multiply-add of a row of ``G`` per non-zero
        entry)."""
        rows, a, b, vals = self._block(row0, rows)
        counts = (self.crow[row0 + 1 : row0 + rows + 1] - self.crow[row0 : row0 + rows]).long()
        r = torch.repeat_interleave(torch.arange(rows, device=counts.device), counts)
        st = torch.sparse_coo_tensor(
            torch.stack([self.cols[a:b].to(torch.int64), r]),
            vals,
            (self.shape[1], rows),
            check_invariants=False,
        )
        return torch.sparse.mm(st, G) if out is None else torch.addmm(out, st, G, out=out)


class _SparseDrive(torch.autograd.Function):
    """``x @ W`` for a :class:`_SparseInput` ``x`` (:meth:`_SparseInput.rows_sum`, the product
    the fused loop computes per chunk, so the two paths get the same drive bit for bit);
    gradient w.r.t. ``W`` only, ``x^T @ grad`` as a sparse product."""

    @staticmethod
    def forward(ctx, xs, W):
        ctx.xs = xs
        return xs.rows_sum(0, None, W)

    @staticmethod
    def backward(ctx, grad):
        gW = ctx.xs.t_matmul(0, None, grad) if ctx.needs_input_grad[1] else None
        return None, gW


class _StepBuffers:
    """Preallocated ``[batch, neurons]`` tensors for the per-step work of the fused loops:
    two sets of state tensors used in turn (the in-place form of the compiled update,
    :meth:`CompiledModel.inplace`, writes the new state into the set not being read), its
    scratch tensors, and the results of the threshold and the recurrent product. Each method
    performs the same operation as its allocating form (same kernels, same order: results
    bit-identical) and falls back to that form where the model's generated code has no
    in-place translation. Reusing the tensors removes the per-step allocations (about ten
    ``[batch, neurons]`` tensors per step, each a ``malloc``/``free`` of 64 kB and, with
    allocators that map such blocks, page faults)."""

    def __init__(self, cm, names, like, shape):
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

    def start(self, S: dict) -> dict:
        """Copy of the state ``S`` in the buffers (when the update runs in place)."""
        if self._upd is None:
            return dict(S)
        for nm, v in S.items():
            self.sets[0][nm].copy_(v)
        return dict(self.sets[0])

    def update(self, S: dict, C: dict, t) -> dict:
        if self._upd is None:
            return self.cm.update(S, C, t)
        # write into the set that does not hold the current state
        ptr = {v.data_ptr() for v in S.values()}
        k = 1 if any(v.data_ptr() in ptr for v in self.sets[0].values()) else 0
        return dict(self._upd(S, C, t, self.sets[k], self.tmp))

    def threshold(self, S: dict, P: dict):
        if self._thr is None:
            return self.cm.threshold(S, P)
        if self.xthr is None:
            self.xthr = self.like.new_empty(self.shape)
        return self._thr(S, P, self.xthr, self.tmp)

    def where(self, cond, a, b, dest):
        if self._upd is None:
            return torch.where(cond, a, b)
        return torch.where(cond, a, b, out=dest)

    def reset(self, v, r, s):
        """Reset to ``r`` where the float spikes ``s`` (exactly 0 or 1) are 1: ``lerp``,
        which is exact for these weights (``v + 0 (r - v) = v``, ``r - (r - v) 0 = r``;
        the result equals ``torch.where(s > 0, r, v)`` for finite ``v``, up to the sign of
        an exact zero) and several times faster than ``where`` with a bool mask here."""
        if self._upd is None:
            return torch.lerp(v, r, s)
        return v.lerp_(r, s)

    def add(self, a, b):
        if self._upd is None:
            return a + b
        return a.add_(b)

    def spike_product(self, s, W, mode):
        """:func:`_spike_product` ``(s @ W, spike indices or None)``, the dense form into a
        reused buffer."""
        if self._upd is None:
            return _spike_product(s, W, mode)
        if self.pb is None:
            self.pb = self.like.new_empty(self.shape)
        return _spike_product(s, W, mode, out=self.pb)

    def add_input(self, inc, rec):
        """``inc + rec`` (input drive plus recurrent input) into a reused buffer."""
        if self._upd is None:
            return inc + rec
        if self.mm is None:
            self.mm = self.like.new_empty(self.shape)
        return torch.add(inc, rec, out=self.mm)


class _BoolToFloat(torch.autograd.Function):
    """Float spikes ``[T, B, n]`` built on demand from the bool spikes of the fused loop; the
    gradient goes to the loop's zero-stride placeholder output (so the float spikes and their
    gradient exist only while a loss term that uses them is computed)."""

    @staticmethod
    def forward(ctx, handle, spk):
        return _bool_to(spk, handle.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class _FusedLinearLoop(torch.autograd.Function):
    """The whole time loop of a spiking layer whose compiled update is affine in the state,
    ``S' = A S + b`` (per-neuron ``A``, ``b``), with an affine threshold and constant resets
    (current-based LIF and similar).

    Forward (no graph): the compiled update itself (bit-identical to the step-by-step path),
    threshold, same-step synaptic propagation, reset, refractory clamp; the input drive
    ``x @ W_in`` is computed per chunk of 16 steps (sparse matmul of the chunk's rows of one
    sparse input matrix built once). With a projection ``Wo`` (the next layer's input
    weights, e.g. the leaky readout's), the spikes are handed on as ``spikes @ Wo``
    ``[T, B, n_out]`` (computed per chunk) instead of float ``[T, B, n]``; the float spikes
    are then available on demand through a zero-stride placeholder (:class:`_BoolToFloat`),
    and the differentiable spike counts ``[B, n]`` serve rate regularisers.

    Saved for backward: the post-update values of the threshold and reset variables
    ``[T, k', B, n]`` -- or, when ``A``/``b`` need a gradient (trainable time constants),
    all ``k`` state variables before each update --, the spikes as bool ``[T, B, n]`` and,
    for chunks where products with them are sparse (:func:`_spike_product`), their indices
    (int32, 4 bytes per spike), the sparse input and, with a refractory period, a bool mask
    ``[T, B, n]``. The recurrent input of each step is :func:`_spike_product` (the
    step-by-step path's product, so spikes are bit-identical). Backward: a
    reverse-time adjoint loop giving the gradients w.r.t. the input, the input, recurrent
    and projection weights (one product per chunk), the initial state and the coefficients
    ``A``, ``b`` (autograd then chains them to the time constants they came from); the
    surrogate derivative, the reset terms and the gradients of ``A``, ``b`` are computed per
    chunk of steps, so the sequential loop does about ten small operations per step.

    Outputs: ``(out, counts, handle, spikes_bool, acc)`` with ``out`` the float spikes (no
    projection) or the projected spikes, ``acc`` a finite-check sum.
    """

    @staticmethod
    def forward(ctx, plan, x, Wi, W, Wo, *tensors):
        ctx.set_materialize_grads(False)
        cm, names = plan.cm, plan.names
        k = len(names)
        nA = len(plan.A_idx)
        S0 = tensors[nA + k : nA + 2 * k]
        T, B, n_in = x.shape
        n = Wi.shape[1]
        Tc = max(1, min(T, 16))
        Wid = Wi.detach()
        project = Wo is not None
        # with trainable coefficients the state before each update is kept (gradient of A);
        # otherwise only the post-update values of the threshold and reset variables
        coef_grad = any(ctx.needs_input_grad[5 : 5 + nA + k])
        keep = (
            list(range(k))
            if coef_grad
            else sorted({j for j, _ in plan.c} | {i for i, _ in plan.reset_idx})
        )
        S = {nm: s.detach().expand(B, n).clone() for nm, s in zip(names, S0)}
        ws = _StepBuffers(cm, names, x, (B, n))
        recompute = plan.recompute
        n_chunks = -(-T // Tc)
        # recompute: the state at the start of each chunk only ([chunks, k, B, n]); the
        # backward pass recomputes the chunk from it and the stored spikes
        hist = x.new_empty((n_chunks, k, B, n)) if recompute else x.new_empty((T, len(keep), B, n))
        spk = torch.empty((T, B, n), dtype=torch.bool, device=x.device)
        if project:
            Wod = Wo.detach()
            out = x.new_empty((T, B, Wo.shape[1]))
            sbuf = x.new_empty((Tc, B, n))
        else:
            out = x.new_empty((T, B, n))
        nrs = torch.empty((T, B, n), dtype=torch.bool, device=x.device) if plan.has_ref else None
        last = torch.full((B, n), _LAST_NEVER, dtype=torch.int64, device=x.device)
        acc = x.new_zeros(())
        acc_n = x.new_zeros((B, n))  # sum over steps of the distance to threshold
        counts = x.new_zeros((B, n))  # spikes per neuron and sample
        tgt = names[plan.tgt]
        Wd = W.detach() if W is not None else None
        # for scale <= 1, x/scale > 0 exactly when x > 0 (no underflow): skip the division
        divide = not (0 < plan.scale <= 1)
        rconst = {names[i]: r for i, r in plan.reset_idx}
        chunk_spikes = []
        for c, t0 in enumerate(range(0, T, Tc)):
            t1 = min(T, t0 + Tc)
            if plan.xs is not None:
                dc = plan.xs.rows_sum(t0 * B, (t1 - t0) * B, Wid)
            else:
                dc = x[t0:t1].detach().reshape(-1, n_in) @ Wid
            dc = dc.reshape(-1, B, n)
            lins = []  # linear indices of the chunk's spikes, from the sparse steps
            if recompute:
                for j, nm in enumerate(names):
                    hist[c, j] = S[nm]
            for t in range(t0, t1):
                if coef_grad and not recompute:
                    for j, nm in enumerate(names):
                        hist[t, j] = S[nm]
                new = ws.update(S, plan.Cd, t * plan.dt)
                if plan.has_ref:
                    nr = (t - last) >= plan.ref
                    nrs[t] = nr
                    for v in plan.clamp:
                        new[v] = ws.where(nr, new[v], S[v], new[v])
                S = new
                if not coef_grad and not recompute:
                    for a, j in enumerate(keep):
                        hist[t, a] = S[names[j]]
                xthr = ws.threshold(S, plan.Pd)
                u = xthr / plan.scale if divide else xthr
                s = sbuf[t - t0] if project else out[t]
                if plan.has_ref:
                    hard = torch.gt(u, 0, out=spk[t]) if plan.strict else torch.ge(u, 0, out=spk[t])
                    hard &= nr
                    last = torch.where(hard, t, last)
                    s.copy_(hard.view(torch.uint8))  # (uint8 -> float: faster than bool)
                else:  # float spikes directly (the bool ones are copied once per chunk)
                    hard = None
                    if plan.strict:
                        torch.gt(u, 0, out=s)
                    else:
                        torch.ge(u, 0, out=s)
                if coef_grad or recompute:  # finite check: summed once at the end
                    acc_n.add_(xthr)
                inc = dc[t - t0]
                if Wd is not None:  # the step-by-step path's product (bit-identical)
                    rec, lin = ws.spike_product(s, Wd, plan.sparse)
                    inc = ws.add_input(inc, rec)
                    if lins is not None:
                        lins = None if lin is None else lins + [lin.add_((t - t0) * B * n)]
                S[tgt] = ws.add(S[tgt], inc)
                for _, var in plan.resets:
                    S[var] = (
                        ws.where(hard, rconst[var], S[var], S[var])
                        if hard is not None
                        else ws.reset(S[var], rconst[var], s)
                    )
            if not plan.has_ref:
                spk[t0:t1].copy_(sbuf[: t1 - t0] if project else out[t0:t1])
            sc = sbuf[: t1 - t0] if project else out[t0:t1]
            counts += sc.sum(0)
            # the chunk's spikes as linear indices into [L*B, n] (for the projection and the
            # backward pass), or None where dense products are cheaper
            lin = _chunk_spikes(sc.reshape(-1, n), lins if Wd is not None else None, plan.sparse)
            chunk_spikes.append(
                None if lin is None else lin.to(torch.int32) if sc.numel() < 2**31 else lin
            )
            if project:
                out[t0:t1] = (
                    _rows_sum(lin, sc.shape[0] * B, n, Wod)
                    if lin is not None
                    else sc.reshape(-1, n) @ Wod
                ).reshape(t1 - t0, B, -1)
            if not coef_grad and not recompute:  # finite check of the stored variables
                acc += hist[t0:t1].sum()
        if coef_grad or recompute:
            acc += acc_n.sum()
        handle = x.new_zeros((1, 1, 1)).expand(T, B, n) if project else x.new_zeros(())
        ctx.plan, ctx.nA, ctx.coef_grad, ctx.keep = plan, nA, coef_grad, keep
        ctx.Tc, ctx.project, ctx.T = Tc, project, T
        ctx.chunk_spikes = chunk_spikes
        ctx.x = x.detach() if plan.xs is None else None  # dense input: for the W_in gradient
        ctx.A_shapes = [a.shape for a in tensors[:nA]]
        ctx.b_shapes = [bb.shape for bb in tensors[nA : nA + k]]
        ctx.S0_shapes = [s.shape for s in S0]
        empty = Wi.new_empty(0)
        ctx.save_for_backward(
            hist,
            spk,
            nrs if nrs is not None else spk.new_empty(0),
            Wi,
            W if W is not None else empty,
            Wo if project else empty,
            *tensors[: nA + k],
        )
        ctx.mark_non_differentiable(spk, acc)
        if not project:
            ctx.mark_non_differentiable(handle)
        return out, counts, handle, spk, acc

    @staticmethod
    def backward(ctx, g_out, g_counts, g_handle, _g_spk, _g_acc):
        plan = ctx.plan
        hist, spk, nrs, Wi, W, Wo, *Ab = ctx.saved_tensors
        A, b = Ab[: ctx.nA], Ab[ctx.nA :]
        names = plan.names
        k = len(names)
        T, B, n = spk.shape
        Ad = {ij: a for ij, a in zip(plan.A_idx, A)}
        coef_grad = ctx.coef_grad
        slot = {j: a for a, j in enumerate(ctx.keep)}
        has_W = W.numel() > 0
        project = ctx.project
        gA = {ij: torch.zeros_like(a) for ij, a in Ad.items()} if coef_grad else None
        gb = [torch.zeros_like(bi) for bi in b] if coef_grad else None
        Tc = ctx.Tc
        g_chunk = hist.new_empty((Tc, B, n))  # gradient w.r.t. the input drive of a chunk
        gU_buf = [hist.new_empty((Tc, B, n)) for _ in range(k)] if coef_grad else None
        gWi = torch.zeros_like(Wi) if ctx.needs_input_grad[2] else None
        gW = torch.zeros_like(W) if has_W and ctx.needs_input_grad[3] else None
        gWo = (
            torch.zeros_like(Wo)
            if project and ctx.needs_input_grad[4] and g_out is not None
            else None
        )
        gx = hist.new_empty((T, B, Wi.shape[0])) if ctx.needs_input_grad[1] else None
        gS_sets = [[hist.new_zeros((B, n)) for _ in range(k)] for _ in range(2)]
        gS = list(gS_sets[1])
        parity = 0  # the set the next adjoint state is written into
        gs_buf = [hist.new_empty((B, n)) for _ in range(2)]
        gu_buf = hist.new_empty((B, n))
        tgt = plan.tgt
        clamp = plan.clamp_idx
        need_U = sorted({j for j, _ in plan.c} | {i for i, _ in plan.reset_idx})
        Wt = W.t() if has_W else None
        starts = list(range(0, T, Tc))
        for c in range(len(starts) - 1, -1, -1):
            t0 = starts[c]
            t1 = min(T, t0 + Tc)
            L = t1 - t0
            # ---- per chunk: everything that does not depend on the adjoint state -----------
            nr_c = nrs[t0:t1] if plan.has_ref else None
            # the chunk's spikes as linear indices into [L*B, n] (None: dense products) and
            # transposed as a sparse [n, L*B] matrix for the weight gradients
            clin = ctx.chunk_spikes[c]
            clin = clin.long() if clin is not None else None
            st = None
            if clin is not None and (gW is not None or gWo is not None):
                st = torch.sparse_coo_tensor(
                    torch.stack([clin.remainder(n), clin.div(n, rounding_mode="floor")]),
                    W.new_ones(clin.numel()) if has_W else Wo.new_ones(clin.numel()),
                    (n, L * B),
                    check_invariants=False,
                )
            if plan.recompute:
                Sp, U = _FusedLinearLoop._recompute(
                    ctx, plan, hist[c], spk, nrs, Wi, W, clin, t0, t1, need_U, coef_grad
                )
            elif coef_grad:  # recompute the post-update values from the stored state
                Sp = hist[t0:t1]
                U = {}
                for i in need_U:
                    a_ = b[i]
                    for j in range(k):
                        a = Ad.get((i, j))
                        if a is not None:
                            a_ = a_ + a * Sp[:, j]
                    if nr_c is not None and i in clamp:
                        a_ = torch.where(nr_c, a_, Sp[:, i])
                    U[i] = a_
            else:
                U = {j: hist[t0:t1, slot[j]] for j in need_U}
            # distance to threshold and surrogate derivative with as few [L, B, n]
            # temporaries as possible (this is where the backward pass peaks in memory)
            xthr = plan.x0
            for j, cj in plan.c:
                term = cj * U[j]
                xthr = term.add_(xthr) if term.shape == U[j].shape else xthr + term
            if xthr.shape == spk[t0:t1].shape and xthr is not plan.x0:
                # in place (xthr is a temporary of this chunk), the division folded in
                sd = plan.surrogate.derivative_(xthr, 1.0 / plan.scale, 1.0 / plan.scale)
            else:
                sd = plan.surrogate.derivative(xthr / plan.scale) / plan.scale
            del xthr
            if nr_c is not None:
                sd = sd.masked_fill(~nr_c, 0.0)
            rdiff = {} if plan.detach_reset else {i: r - U[i] for i, r in plan.reset_idx}
            # 1 where a neuron did not spike: the reset cuts the gradient of the old value
            # (a product is much cheaper than masked_fill on these small tensors)
            silent = torch.rsub(_bool_to(spk[t0:t1], sd.dtype), 1.0) if plan.reset_idx else None
            ge = None  # gradient w.r.t. the spikes from outside the layer, [L, B, n]
            if g_out is not None:
                if project:
                    ge = (g_out[t0:t1].reshape(-1, g_out.shape[2]) @ Wo.t()).reshape(L, B, n)
                    if gWo is not None:  # spikes^T @ g_out
                        go = g_out[t0:t1].reshape(-1, g_out.shape[2])
                        if st is not None:
                            torch.addmm(gWo, st, go, out=gWo)
                        else:
                            gWo += _bool_to(spk[t0:t1].reshape(-1, n), Wo.dtype).t() @ go
                else:
                    ge = g_out[t0:t1]
            if g_handle is not None:
                ge = g_handle[t0:t1] if ge is None else ge + g_handle[t0:t1]
            if g_counts is not None:
                ge = g_counts.expand(L, B, n) if ge is None else ge + g_counts
            if ge is None:
                ge = hist.new_zeros((1, B, n)).expand(L, B, n)
            # ---- the sequential adjoint loop ------------------------------------------------
            # every [B, n] result goes into a preallocated tensor (out= forms of the same
            # operations); gS alternates between two sets, the new adjoint being written
            # into the set the current one does not use
            for t in range(t1 - 1, t0 - 1, -1):
                l = t - t0
                g_s = ge[l]
                for i, _ in plan.reset_idx:
                    if not plan.detach_reset:
                        g_s = torch.addcmul(g_s, gS[i], rdiff[i][l], out=gs_buf[0])
                    gS[i] = gS[i].mul_(silent[l])
                gt = gS[tgt]
                g_chunk[l] = gt
                if has_W:
                    g_s = torch.addmm(g_s, gt, Wt, out=gs_buf[1] if g_s is gs_buf[0] else gs_buf[0])
                gu = torch.mul(g_s, sd[l], out=gu_buf)
                gU = list(gS)
                for j, cj in plan.c:
                    gU[j] = gU[j].addcmul_(cj, gu)
                gprev = [None] * k
                if nr_c is not None:
                    nr = nr_c[l]
                    for i in clamp:
                        gprev[i] = gU[i].masked_fill(nr, 0.0)
                        gU[i] = gU[i].masked_fill(~nr, 0.0)
                if coef_grad:
                    for i in range(k):
                        gU_buf[i][l] = gU[i]
                gS = _transpose_step(Ad, gU, gS_sets[parity], k, gprev)
                parity = 1 - parity
            # ---- per chunk: weight, input and coefficient gradients ------------------------
            if coef_grad:
                for i in range(k):
                    gb[i] += gU_buf[i][:L].sum((0, 1)).reshape(gb[i].shape)
                for (i, j), g in gA.items():
                    g += (gU_buf[i][:L] * Sp[:, j]).sum((0, 1)).reshape(g.shape)
            g = g_chunk[:L].reshape(-1, n)
            if gWi is not None:
                if plan.xs is not None:
                    plan.xs.t_matmul(t0 * B, L * B, g, out=gWi)
                else:
                    gWi += ctx.x[t0:t1].reshape(-1, Wi.shape[0]).t() @ g
            if gx is not None:
                gx[t0:t1] = (g @ Wi.t()).reshape(L, B, -1)
            if gW is not None:  # spikes^T @ (gradient of the target)
                if st is not None:
                    torch.addmm(gW, st, g, out=gW)
                else:
                    gW += _bool_to(spk[t0:t1].reshape(-1, n), W.dtype).t() @ g
        ctx.ws = None  # the recomputation's step buffers
        gAs, gbs, gS0 = _coefficient_grads(ctx, plan, gS, gA, gb, coef_grad, k)
        return (None, gx, gWi, gW, gWo, *gAs, *gbs, *gS0)

    @staticmethod
    def _recompute(ctx, plan, S0, spk, nrs, Wi, W, clin, t0, t1, need_U, coef_grad):
        """Recompute the chunk of steps ``t0..t1-1`` of the forward pass from its starting
        state ``S0`` ``[k, B, n]`` and the stored spikes (``clin``: their linear indices in
        the chunk, or None to use the dense ``spk``): ``(Sp, U)`` with ``Sp`` the states
        before each update ``[L, k, B, n]`` (only with ``coef_grad``) and ``U`` the
        post-update values of the threshold/reset variables ``{i: [L, B, n]}``. The recurrent
        input is one product per chunk, so ``U`` can differ from the forward pass by
        rounding; the spikes (stored) are exact."""
        cm, names = plan.cm, plan.names
        L = t1 - t0
        _, B, n = spk.shape
        with torch.no_grad():
            Wid = Wi.detach()
            if plan.xs is not None:
                inc = plan.xs.rows_sum(t0 * B, L * B, Wid)
            else:
                inc = ctx.x[t0:t1].reshape(-1, Wi.shape[0]) @ Wid
            if W.numel() > 0:
                if clin is not None:
                    inc += _rows_sum(clin, L * B, n, W.detach())
                else:
                    inc = torch.addmm(inc, _bool_to(spk[t0:t1].reshape(-1, n), W.dtype), W.detach())
            inc = inc.reshape(L, B, n)
            S = {nm: S0[j] for j, nm in enumerate(names)}
            Sp = S0.new_empty((L, len(names), B, n)) if coef_grad else None
            U = {i: S0.new_empty((L, B, n)) for i in need_U}
            tgt = names[plan.tgt]
            rconst = {names[i]: r for i, r in plan.reset_idx}
            ws = (
                ctx.ws
                if getattr(ctx, "ws", None) is not None
                else _StepBuffers(cm, names, S0, (B, n))
            )
            ctx.ws = ws
            S = ws.start(S)
            sfl = _bool_to(spk[t0:t1], S0.dtype) if plan.resets else None
            for t in range(t0, t1):
                l = t - t0
                if coef_grad:
                    for j, nm in enumerate(names):
                        Sp[l, j] = S[nm]
                new = ws.update(S, plan.Cd, t * plan.dt)
                if plan.has_ref:
                    nr = nrs[t]
                    for v in plan.clamp:
                        new[v] = ws.where(nr, new[v], S[v], new[v])
                S = new
                for i in need_U:
                    U[i][l] = S[names[i]]
                S[tgt] = ws.add(S[tgt], inc[l])
                for _, var in plan.resets:  # lerp on 0/1 weights: exact, faster than where
                    S[var] = ws.reset(S[var], rconst[var], sfl[l])
        return Sp, U


def _coefficient_grads(ctx, plan, gS, gA, gb, coef_grad, k):
    """Sum the accumulated gradients of ``A``, ``b`` and the initial state ``S0`` of an affine
    loop down to the shapes the forward pass received (per-neuron or scalar coefficients).

    Returns ``(gAs, gbs, gS0)``; ``gAs`` and ``gbs`` are lists of None when the coefficients
    need no gradient.
    """
    gS0 = [g.sum_to_size(shape) for g, shape in zip(gS, ctx.S0_shapes)]
    if coef_grad:
        gAs = [gA[ij].sum_to_size(s) for ij, s in zip(plan.A_idx, ctx.A_shapes)]
        gbs = [g.sum_to_size(s) for g, s in zip(gb, ctx.b_shapes)]
    else:
        gAs, gbs = [None] * ctx.nA, [None] * k
    return gAs, gbs, gS0


def _transpose_step(Ad, gU, dest, k, acc=None):
    """One reverse-time step of an affine update ``S' = A S + b``: ``g_j = acc_j + sum_i A_ij gU_i``.

    ``Ad`` maps ``(i, j)`` to the (broadcastable) coefficient ``A_ij``; missing pairs are zero.
    Each ``g_j`` is written into the preallocated ``dest[j]`` (or accumulated in place into
    ``acc[j]`` when given and not None). Returns the list of the ``k`` adjoint states, each of
    shape ``[batch, neurons]``.
    """
    out = []
    for j in range(k):
        g = None if acc is None else acc[j]
        for i in range(k):
            a = Ad.get((i, j))
            if a is not None:
                g = torch.mul(a, gU[i], out=dest[j]) if g is None else g.addcmul_(a, gU[i])
        out.append(g if g is not None else dest[j].zero_())
    return out


class _FusedLinearScan(torch.autograd.Function):
    """The time loop of a non-spiking layer whose compiled update is affine in the state
    (the leaky readout): ``U_t = A S_{t-1} + b``, ``S_t = U_t`` plus the input increment
    ``drive[t]`` on the synaptic target; output the trace of one variable ``[T, B, n]``.

    Forward without a graph, with the compiled update itself (bit-identical to the
    step-by-step path); nothing is saved unless ``A``/``b`` need a gradient (then the
    states before each update, ``[T, k, B, n]``). Backward: the reverse-time adjoint
    ``g S_{t-1} = A^T g U_t``, with the gradients w.r.t. the drive (that of the target at
    each step), ``A``, ``b`` (per chunk of 16 steps) and the initial state.
    """

    @staticmethod
    def forward(ctx, plan, out_idx, drive, *tensors):
        cm, names = plan.cm, plan.names
        k = len(names)
        nA = len(plan.A_idx)
        S0 = tensors[nA + k : nA + 2 * k]
        T, B, n = drive.shape
        coef_grad = any(ctx.needs_input_grad[3 : 3 + nA + k])
        S = {nm: s.detach().expand(B, n).clone() for nm, s in zip(names, S0)}
        ws = _StepBuffers(cm, names, drive, (B, n))
        hist = drive.new_empty((T, k, B, n)) if coef_grad else drive.new_empty(0)
        out = drive.new_empty((T, B, n))
        tgt, vo = names[plan.tgt], names[out_idx]
        d = drive.detach()
        for t in range(T):
            if coef_grad:
                for j, nm in enumerate(names):
                    hist[t, j] = S[nm]
            S = ws.update(S, plan.Cd, t * plan.dt)
            S[tgt] = ws.add(S[tgt], d[t])
            out[t] = S[vo]
        ctx.plan, ctx.nA, ctx.coef_grad, ctx.out_idx = plan, nA, coef_grad, out_idx
        ctx.A_shapes = [a.shape for a in tensors[:nA]]
        ctx.b_shapes = [bb.shape for bb in tensors[nA : nA + k]]
        ctx.S0_shapes = [s.shape for s in S0]
        ctx.save_for_backward(hist, *tensors[: nA + k])
        return out

    @staticmethod
    def backward(ctx, g_out):
        plan = ctx.plan
        hist, *Ab = ctx.saved_tensors
        A, b = Ab[: ctx.nA], Ab[ctx.nA :]
        k = len(plan.names)
        T, B, n = g_out.shape
        Ad = {ij: a for ij, a in zip(plan.A_idx, A)}
        coef_grad = ctx.coef_grad
        tgt, vo = plan.tgt, ctx.out_idx
        g_drive = g_out.new_empty((T, B, n)) if ctx.needs_input_grad[2] else None
        gA = {ij: torch.zeros_like(a) for ij, a in Ad.items()} if coef_grad else None
        gb = [torch.zeros_like(bi) for bi in b] if coef_grad else None
        Tc = 16
        gU_buf = g_out.new_empty((Tc, k, B, n)) if coef_grad else None
        gS_sets = [[g_out.new_zeros((B, n)) for _ in range(k)] for _ in range(2)]
        gS = list(gS_sets[1])
        parity = 0
        for t in range(T - 1, -1, -1):
            l = t % Tc
            gS[vo] = gS[vo].add_(g_out[t])
            if g_drive is not None:
                g_drive[t] = gS[tgt]
            if coef_grad:
                for i in range(k):
                    gU_buf[l, i] = gS[i]
            # into the preallocated set that alternates with the one gS uses
            new_gS = _transpose_step(Ad, gS, gS_sets[parity], k)
            parity = 1 - parity
            if coef_grad and l == 0:  # chunk [t, t + L): gradients of A and b
                L = min(Tc, T - t)
                for i in range(k):
                    gb[i] += gU_buf[:L, i].sum((0, 1)).reshape(gb[i].shape)
                for (i, j), g in gA.items():
                    g += (gU_buf[:L, i] * hist[t : t + L, j]).sum((0, 1)).reshape(g.shape)
            gS = new_gS
        gAs, gbs, gS0 = _coefficient_grads(ctx, plan, gS, gA, gb, coef_grad, k)
        return (None, None, g_drive, *gAs, *gbs, *gS0)


class NonFiniteError(FloatingPointError):
    """NaN or inf appeared in a forward pass.

    Attributes
    ----------
    layer, variable : str
        Layer name and state variable (or ``"threshold"``) where it appeared first.
    step : int
        Time step index (0-based) at which it appeared.
    """

    def __init__(self, layer: str, variable: str, step: int, value: float):
        self.layer, self.variable, self.step = layer, variable, step
        super().__init__(
            f"layer '{layer}': variable '{variable}' became {value} at time step "
            f"{step} (check parameters, weights and input scale; a time constant "
            f"near 0 or an exploding exponential term are typical causes)"
        )


def display_unit(unit) -> tuple[str, float]:
    """Display unit (name, value in SI) for a Brian2 unit or dimension, e.g. ``('ms', 1e-3)``
    for second; SI itself when the table has no entry."""
    name = repr(unit).replace(" ", "") if unit is not None else "1"
    name = {"volt/second": "volt/second", "metre**0": "1"}.get(name, name)
    disp = SI_DISPLAY_UNITS.get(name)
    if disp is None:
        return (name, 1.0)
    if disp == "1":
        return ("1", 1.0)
    return (disp, float(parse_quantity(f"1 {disp}")))


def init_parameter(
    mean: float,
    n: int,
    distribution: str = "constant",
    *,
    k: float = 3.0,
    cv: float = 0.5,
    width: float = 0.5,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw ``n`` per-neuron values around ``mean`` (float64 tensor, same unit as ``mean``).

    Parameters
    ----------
    mean : float
        Homogeneous value (mean of every distribution).
    distribution : {"constant", "uniform", "gamma", "lognormal"}
        ``constant``: all equal (homogeneous). ``uniform``: on ``[mean (1 - width),
        mean (1 + width)]``. ``gamma``: shape ``k``, scale ``mean/k`` (Perez-Nieves et al. 2021
        used k = 3 around the homogeneous time constant; coefficient of variation
        ``1/sqrt(k)``). ``lognormal``: coefficient of variation ``cv``
        (``sigma**2 = log(1 + cv**2)``, ``mu = log(mean) - sigma**2/2``).
    generator : torch.Generator, optional
        Source of randomness (reproducible draws).

    Raises
    ------
    ValueError
        Unknown distribution, or a non-positive ``k``/``cv``/``width`` or mean for the
        positive distributions.
    """
    g = generator
    if distribution == "constant":
        return torch.full((n,), float(mean), dtype=torch.float64)
    if distribution == "uniform":
        if not 0 <= width:
            raise ValueError(f"uniform width must be >= 0, got {width}")
        u = torch.rand(n, generator=g, dtype=torch.float64)
        return float(mean) * (1.0 - width + 2.0 * width * u)
    if distribution in ("gamma", "lognormal") and not float(mean) > 0:
        raise ValueError(f"a {distribution} distribution needs a positive mean, got {mean}")
    if distribution == "gamma":
        if not k > 0:
            raise ValueError(f"gamma shape k must be > 0, got {k}")
        # Marsaglia-Tsang through torch's standard gamma (reparameterised, seeded by g)
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=g))
        x = torch.from_numpy(np.random.default_rng(seed).gamma(float(k), 1.0, n))
        return x * float(mean) / float(k)
    if distribution == "lognormal":
        if not cv > 0:
            raise ValueError(f"log-normal cv must be > 0, got {cv}")
        s2 = math.log(1.0 + cv * cv)
        z = torch.randn(n, generator=g, dtype=torch.float64)
        return torch.exp(math.log(float(mean)) - s2 / 2 + math.sqrt(s2) * z)
    raise ValueError(
        f"unknown distribution '{distribution}'; expected one of {', '.join(DISTRIBUTIONS)}"
    )


def perez_nieves_config(
    name: str,
    taus: Sequence[str] = ("tau_m", "tau_syn"),
    distribution: str = "gamma",
    k: float = 3.0,
):
    """Heterogeneity and trainable-parameter arguments of one Perez-Nieves et al. (2021)
    configuration.

    Parameters
    ----------
    name : str
        One of :data:`PEREZ_NIEVES_CONFIGS`: ``hom_init_std_train`` (homogeneous init, weights
        only), ``het_init_std_train`` (heterogeneous init, weights only), ``hom_init_het_train``
        (homogeneous init, weights and taus), ``het_init_het_train`` (both).
    taus : sequence of str
        Time constants concerned.

    Returns
    -------
    dict
        ``{"heterogeneity": {...}, "trainable": (...)}`` to pass to :class:`SpikingLayer`.

    Raises
    ------
    ValueError
        Unknown configuration name (lists the four).
    """
    if name not in PEREZ_NIEVES_CONFIGS:
        raise ValueError(
            f"unknown heterogeneity configuration '{name}'; expected one of "
            f"{', '.join(PEREZ_NIEVES_CONFIGS)}"
        )
    het, train = PEREZ_NIEVES_CONFIGS[name]
    heterogeneity = {t: {"distribution": distribution, "k": k} for t in taus} if het else {}
    return {"heterogeneity": heterogeneity, "trainable": tuple(taus) if train else ()}


def readout_model() -> NeuronModel:
    """The non-spiking leaky-integrator readout as a neuron model (dimensionless):
    ``dv/dt = (I_syn - v)/tau_m``, ``dI_syn/dt = -I_syn/tau_syn`` (exact integration): a
    spike of weight ``w`` adds ``w`` to ``I_syn``; ``v`` is the low-passed output used as
    logits (Zenke & Vogels 2021, Neural Comput. 33:899; Cramer et al. 2020, IEEE TNNLS)."""
    from ..spec import ModelSpec

    data = {
        "name": "leaky_readout",
        "kind": "neuron",
        "title": "Non-spiking leaky integrator readout",
        "reference": "Zenke & Vogels (2021) Neural Comput. 33:899; Cramer et al. (2020) "
        "IEEE TNNLS 33:2744",
        "method": "exact",
        "equations": "dv/dt = (I_syn - v)/tau_m : 1\ndI_syn/dt = -I_syn/tau_syn : 1\n",
        "parameters": {
            "tau_m": {
                "value": "20 ms",
                "range": ["0.1 ms", "10 s"],
                "per_neuron": True,
                "description": "membrane time constant of the readout",
            },
            "tau_syn": {
                "value": "5 ms",
                "range": ["0.1 ms", "10 s"],
                "per_neuron": True,
                "description": "synaptic time constant of the readout",
            },
        },
        "initial": {"v": "0", "I_syn": "0"},
    }
    return ModelSpec.from_dict(data)


# ---------------------------------------------------------------------------------------------
class _ModelLayer(nn.Module):
    """Shared machinery: compiled model, per-neuron parameters, weights, the time loop."""

    def __init__(
        self,
        model,
        n_in: int,
        n: int,
        *,
        dt,
        recurrent: bool = False,
        params: Mapping | None = None,
        trainable: Sequence[str] = (),
        heterogeneity: Mapping | None = None,
        surrogate=None,
        target=None,
        weight_unit=None,
        weight_std: float | None = None,
        weight_gain: float = 1.0,
        recurrent_std: float | None = None,
        detach_reset: bool = False,
        threshold_scale: float | None = None,
        checkpoint_every: int | None = None,
        check_finite: bool = True,
        sparse_input: bool | None = None,
        dtype=torch.float32,
        generator: torch.Generator | None = None,
        name: str | None = None,
        spiking: bool = True,
        method: str | None = None,
        fused: bool | None = None,
        fused_recompute: bool = True,
        sparse_spikes: bool | None = None,
    ):
        super().__init__()
        if isinstance(model, CompiledModel):
            spec = model.spec
        else:
            spec = load_model(model) if isinstance(model, str) else model
        if not isinstance(spec, NeuronModel):
            raise ModelError(
                f"'{getattr(spec, 'name', spec)}' is not a neuron model",
                getattr(spec, "path", None),
                parameter="model",
            )
        for what, v in (("n_in", n_in), ("n", n)):
            if int(v) != v or v <= 0:
                raise ValueError(f"{what} must be a positive integer, got {v!r}")
        self.name = name or spec.name
        self.spec = spec
        self.dt_s = float(parse_quantity(dt, "dt")) if not isinstance(dt, float) else dt
        self.cm = compile_model(spec, self.dt_s, method)
        self.method = method
        self.n_in, self.n = int(n_in), int(n)
        self.recurrent = bool(recurrent)
        self.spiking = bool(spiking)
        if spiking and self.cm.threshold_variable is None:
            raise ModelError(
                f"model '{spec.name}' has no threshold; a spiking layer needs one",
                spec.path,
                parameter="threshold",
            )
        self.surrogate = get_surrogate(surrogate) if spiking else None
        self.detach_reset = bool(detach_reset)
        self.threshold_scale = (
            float(threshold_scale) if threshold_scale else self.cm.threshold_scale
        )
        self.checkpoint_every = int(checkpoint_every) if checkpoint_every else None
        self.check_finite = bool(check_finite)
        self.sparse_input = sparse_input
        self.fused = fused
        self.fused_recompute = bool(fused_recompute)
        self.sparse_spikes = None if sparse_spikes is None else bool(sparse_spikes)
        self._fusable = None
        self.clamp_counts: dict = {}

        # ---- target of the synapses --------------------------------------------------------
        states = self.cm.state_names
        if target is None:
            if "I_syn" in states:
                target = "I_syn"
            elif "g_e" in states and "g_i" in states:
                target = ("g_e", "g_i")
            else:
                raise ModelError(
                    f"cannot guess the synaptic target of model '{spec.name}' "
                    f"(no I_syn, no g_e/g_i); pass target='<variable>'",
                    spec.path,
                    parameter="target",
                )
        targets = (target,) if isinstance(target, str) else tuple(target)
        for t in targets:
            if t not in states:
                raise ModelError(
                    f"synaptic target '{t}' is not a state variable of model "
                    f"'{spec.name}' ({', '.join(states)})",
                    spec.path,
                    parameter="target",
                )
        if len(targets) not in (1, 2):
            raise ValueError("target must be one variable or (excitatory, inhibitory)")
        self.targets = targets
        unit = self.cm.units[targets[0]]
        if weight_unit is None:
            self.weight_unit_name, self.weight_unit = display_unit(unit)
        else:
            q = parse_quantity(weight_unit, "weight_unit")
            self.weight_unit_name, self.weight_unit = str(weight_unit), float(q)

        # ---- parameters ------------------------------------------------------------------
        trainable = tuple(trainable)
        heterogeneity = dict(heterogeneity or {})
        names = list(self.cm.param_names) + list(self.cm.external_names)
        for t in trainable:
            if t not in names:
                raise ModelError(
                    f"trainable parameter '{t}' is not a parameter of model "
                    f"'{spec.name}' ({', '.join(names)})",
                    spec.path,
                    parameter=t,
                )
            if t in spec.parameters and not spec.parameters[t].per_neuron:
                raise ModelError(
                    f"parameter '{t}' of model '{spec.name}' is shared "
                    f"(per_neuron = false) and cannot be trained per neuron",
                    spec.path,
                    parameter=t,
                )
        for h in heterogeneity:
            if h not in names:
                raise ModelError(
                    f"heterogeneity given for unknown parameter '{h}' of model '{spec.name}'",
                    spec.path,
                    parameter=h,
                )
        overrides = dict(params or {})
        ext_over = {k: overrides.pop(k) for k in list(overrides) if k in self.cm.external_names}
        values = spec.resolve_parameters(overrides, n=self.n)
        self.trainable = trainable
        self.param_units: dict = {}
        self.param_bounds: dict = {}
        self._per_neuron: dict = {}
        self.raw = nn.ParameterDict()
        for pname in names:
            if pname in spec.parameters:
                p = spec.parameters[pname]
                dname, dval = display_unit(self.cm.units[pname])
                si = np.asarray(values[pname], dtype=np.float64)
                per = p.per_neuron
                lo = float(p.low) / dval if p.low is not None else -math.inf
                hi = float(p.high) / dval if p.high is not None else math.inf
                if p.is_time_constant:
                    lo = max(lo, 0.0)
            else:  # external variable (I_ext): constant input, default from initial or 0
                dname, dval = display_unit(self.cm.units[pname])
                v = ext_over.get(pname, 0.0)
                si = np.asarray(
                    parse_quantity(v, pname) if isinstance(v, str) else v, dtype=np.float64
                )
                per, lo, hi = True, -math.inf, math.inf
            self.param_units[pname] = (dname, dval)
            self.param_bounds[pname] = (lo, hi)
            self._per_neuron[pname] = per
            raw = torch.as_tensor(si / dval, dtype=torch.float64)
            if per and raw.ndim == 0:
                raw = raw.expand(self.n).clone()
            if pname in heterogeneity:
                h = dict(heterogeneity[pname])
                dist = h.pop("distribution", "gamma")
                mean = float(raw.mean())
                raw = init_parameter(mean, self.n, dist, generator=generator, **h)
            if pname in trainable or pname in heterogeneity:
                self.clamp_counts.setdefault(pname, 0)
                out = (raw < lo) | (raw > hi)
                self.clamp_counts[pname] += int(out.sum())
                raw = raw.clamp(lo, hi)
            if pname in trainable:
                self.raw[pname] = nn.Parameter(raw.to(dtype))
            else:
                self.register_buffer(f"fixed_{pname}", raw.to(dtype))
        # ---- weights ---------------------------------------------------------------------
        if weight_std is None:
            weight_std = weight_gain * self._auto_weight_std(self.n_in)
        w = torch.randn(self.n_in, self.n, generator=generator, dtype=torch.float64)
        self.W_in = nn.Parameter((w * weight_std).to(dtype))
        if self.recurrent:
            if recurrent_std is None:
                recurrent_std = weight_gain * self._auto_weight_std(self.n)
            w = torch.randn(self.n, self.n, generator=generator, dtype=torch.float64)
            self.W_rec = nn.Parameter((w * recurrent_std).to(dtype))
        else:
            self.W_rec = None
        self.config = dict(
            n_in=self.n_in,
            n=self.n,
            dt_s=self.dt_s,
            recurrent=self.recurrent,
            trainable=list(trainable),
            target=list(self.targets),
            weight_unit=self.weight_unit_name,
            detach_reset=self.detach_reset,
            threshold_scale=self.threshold_scale,
            name=self.name,
            surrogate=self.surrogate.config() if self.surrogate else None,
            checkpoint_every=self.checkpoint_every,
            spiking=self.spiking,
            method=method,
        )

    # ---- parameters --------------------------------------------------------------------------
    def raw_parameter(self, name: str) -> torch.Tensor:
        """Stored value of a parameter in its display unit (see ``param_units``)."""
        if name in self.raw:
            return self.raw[name]
        return getattr(self, f"fixed_{name}")

    def parameter_si(self, name: str) -> np.ndarray:
        """Effective value of a parameter in SI units (numpy float64; ``[neurons]`` or 0-d)."""
        raw = self.raw_parameter(name).detach().to(torch.float64)
        lo, hi = self.param_bounds[name]
        return (raw.clamp(lo, hi) * self.param_units[name][1]).cpu().numpy()

    def time_constant_parameters(self) -> list:
        """The trainable time-constant tensors (``tau*`` parameters), e.g. for their own
        learning rate."""
        return [
            p
            for n, p in self.raw.items()
            if n in self.spec.parameters and self.spec.parameters[n].is_time_constant
        ]

    def weight_parameters(self) -> list:
        """``W_in`` (and ``W_rec``)."""
        return [self.W_in] + ([self.W_rec] if self.W_rec is not None else [])

    @torch.no_grad()
    def project_parameters_(self) -> int:
        """Clamp trainable parameters into their valid range in place (call after each
        optimiser step); adds the number of clamped elements to ``clamp_counts`` and
        returns it."""
        total = 0
        for name, p in self.raw.items():
            lo, hi = self.param_bounds[name]
            out = int(((p < lo) | (p > hi)).sum())
            if out:
                p.clamp_(lo, hi)
                self.clamp_counts[name] = self.clamp_counts.get(name, 0) + out
                total += out
        return total

    def effective_parameters(self) -> dict:
        """Parameters in SI units (tensors; ``[neurons]`` or 0-d), clamped into range (each
        clamped element counted in ``clamp_counts``)."""
        out = {}
        for name in self.param_units:
            raw = self.raw_parameter(name)
            lo, hi = self.param_bounds[name]
            if name in self.raw and (math.isfinite(lo) or math.isfinite(hi)):
                bad = int(((raw < lo) | (raw > hi)).sum())
                if bad:
                    self.clamp_counts[name] = self.clamp_counts.get(name, 0) + bad
                    raw = raw.clamp(lo, hi)
            out[name] = raw * self.param_units[name][1]
        return out

    def _auto_weight_std(self, fan_in: int) -> float:
        """Weight std (in weight units) so that ``sqrt(fan_in)`` unit-std inputs arriving
        together move the threshold variable from rest by its distance to threshold: the
        peak response to one unit weight is measured by simulating the model."""
        if not self.spiking:
            return 1.0 / math.sqrt(fan_in)
        cm = self.cm
        P = {
            n: torch.as_tensor(self.parameter_si(n), dtype=torch.float64)
            .reshape(-1)[:1]
            .reshape(())
            for n in self.param_units
        }
        C = cm.coefficients(P)
        S = cm.initial_state(P, (1, 1))
        x0 = float(cm.threshold(S, P).reshape(-1)[0])
        # relax to rest first (Izhikevich's initial u is not at the fixed point)
        for _ in range(int(min(5000, 0.2 / self.dt_s))):
            S = cm.update(S, C, 0.0)
        x_rest = float(cm.threshold(S, P).reshape(-1)[0])
        S[self.targets[0]] = S[self.targets[0]] + self.weight_unit
        peak = 0.0
        for _ in range(int(min(5000, 0.2 / self.dt_s))):
            S = cm.update(S, C, 0.0)
            peak = max(peak, float(cm.threshold(S, P).reshape(-1)[0]) - x_rest)
        dist = abs(x_rest) if math.isfinite(x_rest) and x_rest != 0 else abs(x0)
        if not peak > 0 or not math.isfinite(peak):
            return 1.0 / math.sqrt(fan_in)
        return dist / (peak * math.sqrt(fan_in))

    # ---- fused path ---------------------------------------------------------------------------
    def _linear_plan(self, P: dict, C: dict):
        """``(plan, A, b)`` for :class:`_FusedLinearLoop` when this layer's step is affine in the
        state, else None (the step-by-step path is used).

        Conditions, checked by probing the compiled functions (no model names involved): a
        spiking layer with a step surrogate, one synaptic target, no ``checkpoint_every``,
        ``fused`` not False; an update that does not use ``t`` and is affine in the state
        (``S' = A S + b``, checked at random states up to 50 display units, which rejects
        quadratic and exponential terms); an affine threshold and resets to constants that
        do not depend on trainable parameters; reset variables other than the target.
        ``A`` (only the entries the update depends on) and ``b`` are ``[1, n]`` tensors
        differentiable w.r.t. the parameters.
        """
        spiking = self.spiking
        if (
            self.fused is False
            or (spiking and self.surrogate.smooth)
            or len(self.targets) != 1
            or self.checkpoint_every
        ):
            return None
        if self._fusable is False:
            return None
        cm = self.cm
        body = cm.update_code.split("\n", 1)[-1]
        names = list(cm.state_names)
        tgt = self.targets[0]
        if (
            re.search(r"\bt\b", body)
            or tgt not in names
            or any(v == tgt or v not in names for v in cm.reset_targets)
        ):
            self._fusable = False
            return None
        k, n = len(names), self.n
        dtype, dev = self.W_in.dtype, self.W_in.device
        scales = [display_unit(cm.units[v])[1] for v in names]

        def state(**vals):
            return {v: vals.get(v, torch.zeros(1, n, dtype=dtype, device=dev)) for v in names}

        def full(x):
            return torch.broadcast_to(torch.as_tensor(x, dtype=dtype, device=dev), (1, n))

        def upd(S):
            out = cm.update(S, C, 0.0)
            return [full(out[v]) for v in names]

        b = upd(state())
        A_idx, A = [], []
        nan_probe = {}
        for j, v in enumerate(names):
            with torch.no_grad():
                nan_probe[j] = upd(
                    state(**{v: torch.full((1, n), math.nan, dtype=dtype, device=dev)})
                )
            out = upd(state(**{v: torch.full((1, n), scales[j], dtype=dtype, device=dev)}))
            for i in range(k):
                if bool(torch.isfinite(nan_probe[j][i]).all()):
                    continue  # the update of i does not depend on j
                A_idx.append((i, j))
                A.append((out[i] - b[i]) / scales[j])
        Ad = dict(zip(A_idx, A))
        tol = 1e-9 if dtype == torch.float64 else 2e-4
        g = torch.Generator().manual_seed(12345)
        with torch.no_grad():
            x0 = full(cm.threshold(state(), self._detached(P))) if spiking else None
            c = []
            for j, v in enumerate(names if spiking else ()):
                cj = (
                    full(
                        cm.threshold(
                            state(**{v: torch.full((1, n), scales[j], dtype=dtype, device=dev)}),
                            self._detached(P),
                        )
                    )
                    - x0
                ) / scales[j]
                if bool((cj != 0).any()):
                    c.append((j, cj))
            rconst = (
                [full(cm.reset(i, state(), P)) for i in range(len(cm.reset_targets))]
                if spiking
                else []
            )
            for amp in (1.0, 30.0, -50.0):
                R = {
                    v: torch.randn(1, n, generator=g, dtype=torch.float64).to(dev, dtype) * s * amp
                    for v, s in zip(names, scales)
                }
                got = upd(R)
                for i in range(k):
                    pred, mag = b[i].detach(), b[i].detach().abs()
                    for j, v in enumerate(names):
                        if (i, j) in Ad:
                            term = Ad[(i, j)].detach() * R[v]
                            pred, mag = pred + term, mag + term.abs()
                    if not bool(((got[i] - pred).abs() <= tol * mag + 1e-30).all()):
                        self._fusable = False
                        return None
                if not spiking:
                    continue
                xr = full(cm.threshold(R, self._detached(P)))
                pred, mag = x0, x0.abs()
                for j, cj in c:
                    pred, mag = pred + cj * R[names[j]], mag + (cj * R[names[j]]).abs()
                if not bool(((xr - pred).abs() <= tol * mag + 1e-30).all()):
                    self._fusable = False
                    return None
                for i in range(len(cm.reset_targets)):
                    if not torch.equal(full(cm.reset(i, R, P)), rconst[i]):
                        self._fusable = False
                        return None
        # parameters of the threshold/reset that are trained: gradients not handled here
        thr_grad = cm.threshold(state(), P) if spiking else None
        if (isinstance(thr_grad, torch.Tensor) and thr_grad.requires_grad) or any(
            isinstance(r, torch.Tensor) and r.requires_grad
            for r in (cm.reset(i, state(), P) for i in range(len(cm.reset_targets)))
        ):
            return None
        self._fusable = True
        plan = _LinearPlan()
        plan.cm, plan.names = cm, names
        plan.Cd = self._detached(C)
        plan.Pd = self._detached(P)
        plan.tgt = names.index(tgt)
        plan.c, plan.x0 = c, x0
        plan.resets = list(enumerate(cm.reset_targets)) if spiking else []
        plan.reset_idx = [(names.index(v), rconst[i]) for i, v in plan.resets]
        ref = cm.refractory_steps(P) if spiking else 0
        plan.ref = ref
        plan.has_ref = not isinstance(ref, int) or ref > 0
        plan.clamp = list(cm.clamped) if plan.has_ref else []
        plan.clamp_idx = [names.index(v) for v in plan.clamp]
        plan.surrogate = self.surrogate
        plan.scale = self.threshold_scale
        plan.strict = cm.threshold_strict
        plan.detach_reset = self.detach_reset
        plan.dt = self.dt_s
        plan.A_idx = A_idx
        return plan, A, b

    @staticmethod
    def _detached(D: dict) -> dict:
        return {key: (v.detach() if isinstance(v, torch.Tensor) else v) for key, v in D.items()}

    # ---- forward ------------------------------------------------------------------------------
    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(np.asarray(x))
        if x.ndim != 3 or x.shape[2] != self.n_in:
            raise ValueError(
                f"layer '{self.name}': input has shape {tuple(x.shape)}; expected "
                f"[time, batch, channels] = [T, B, {self.n_in}]"
            )
        return x.to(self.W_in.dtype)

    def _use_sparse(self, x: torch.Tensor) -> bool:
        """Whether the input drive is computed with sparse matmuls (``sparse_input``, or
        automatically: fewer than 10 % non-zero inputs and no gradient w.r.t. the input)."""
        if self.sparse_input is not None:
            return bool(self.sparse_input)
        return (
            x.numel() > 0 and not x.requires_grad and int(torch.count_nonzero(x)) < 0.1 * x.numel()
        )

    def _sparse_input(self, x: torch.Tensor):
        """The input as a :class:`_SparseInput` when the drive is computed with sparse
        matmuls (``sparse_input=True``, or automatically: fewer than 10 % non-zero entries;
        a strided sample of every 8th time step with 20 % or more skips the full scan),
        else None; None whenever ``x`` needs a gradient."""
        if self.sparse_input is False or x.numel() == 0 or x.requires_grad:
            return None
        if self.sparse_input is None:
            sample = x[::8]
            if int(torch.count_nonzero(sample)) >= 0.2 * sample.numel():
                return None
        xs = _SparseInput(x)
        if self.sparse_input is None and xs.nnz >= 0.1 * x.numel():
            return None
        return xs

    def _drive(self, x: torch.Tensor) -> list:
        """Input increments of the target variable(s) for all steps, ``[T, B, n]`` each (SI):
        one (sparse) matmul outside the time loop."""
        T, B, _ = x.shape
        W = self.W_in * self.weight_unit
        if len(self.targets) == 2:
            W = torch.cat([torch.relu(W), torch.relu(-W)], dim=1)
        flat = x.reshape(T * B, self.n_in)
        xs = self._sparse_input(x)
        if xs is not None:  # the same sparse matrix and product as the fused loop's
            out = (
                _SparseDrive.apply(xs, W)
                if torch.is_grad_enabled() and W.requires_grad
                else xs.rows_sum(0, None, W)
            )
        elif x.requires_grad and self._use_sparse(x):
            out = torch.sparse.mm(flat.to_sparse(), W)
        else:
            out = flat @ W
        out = out.reshape(T, B, -1)
        if len(self.targets) == 2:
            return [out[..., : self.n], out[..., self.n :]]
        return [out]

    def forward(self, x: torch.Tensor, record: Sequence[str] = ()):
        """Run the layer over a whole input sequence.

        Parameters
        ----------
        x : Tensor ``[time, batch, channels]``
            Presynaptic spikes (0/1, or any real drive) per time step.
        record : sequence of str
            State variables to return traces of.

        Returns
        -------
        spikes : Tensor ``[time, batch, neurons]``
            (For the readout: the ``v`` trace.)
        traces : dict of str -> Tensor ``[time, batch, neurons]``
            Only when ``record`` is not empty.

        Raises
        ------
        ValueError
            Input not shaped ``[time, batch, channels]`` with ``channels = n_in``.
        NonFiniteError
            NaN/inf in a state variable (names the layer, the variable and the time step).
        """
        x = self._check_input(x)
        T, B, _ = x.shape
        P = self.effective_parameters()
        C = self.cm.coefficients(P)
        record = tuple(record)
        if not record:
            res = self._fused(x, P, C)
            if res is not None:
                return res[0]
        return self._step_by_step(x, P, C, record)

    def _fused(self, x: torch.Tensor, P: dict, C: dict, project=None):
        """Run the fused loop (:class:`_FusedLinearLoop`) if this layer qualifies, else None
        (ValueError if ``fused=True`` and it does not). ``project``: the next layer (one
        synaptic target), whose input drive ``spikes @ W_in`` is then returned instead of
        the float spikes. Returns ``(out, counts, handle, spikes_bool)``."""
        if not self.spiking:
            return None
        fused = self._linear_plan(P, C)
        if fused is None and self.fused is True:
            raise ValueError(
                f"layer '{self.name}': fused=True but model '{self.spec.name}' "
                f"does not qualify for the fused loop (it needs an update "
                f"affine in the state without t, an affine threshold, resets "
                f"to constants, one synaptic target, a step surrogate, no "
                f"checkpointing and no trainable threshold/reset parameter)"
            )
        if fused is None:
            return None
        plan, A, b = fused
        S0 = self.cm.initial_state(P, (1, self.n))
        W = self.W_rec * self.weight_unit if self.W_rec is not None else None
        plan.recompute = self.fused_recompute
        plan.sparse = self.sparse_spikes
        plan.xs = self._sparse_input(x)
        Wo = project.W_in * project.weight_unit if project is not None else None
        out, counts, handle, spk, acc = _FusedLinearLoop.apply(
            plan, x, self.W_in * self.weight_unit, W, Wo, *A, *b, *[S0[v] for v in plan.names]
        )
        if self.check_finite and not bool(torch.isfinite(acc)):
            self._locate_non_finite(x)
        return out, counts, handle, spk

    def _forward_drive(self, drive: torch.Tensor) -> torch.Tensor:
        """Like :meth:`forward`, from the input increments of the (single) synaptic target
        ``drive`` ``[T, B, n]`` (SI) instead of the presynaptic spikes (used when the
        previous layer's fused loop projects its spikes onto this layer's weights)."""
        P = self.effective_parameters()
        C = self.cm.coefficients(P)
        return self._step_by_step(None, P, C, (), [drive])

    def _step_by_step(self, x, P, C, record=(), drive_in=None):
        """The step-by-step (autograd) time loop; ``drive``: precomputed input increments
        ``[T, B, n]`` per target instead of ``x @ W_in``."""
        T, B = (x if drive_in is None else drive_in[0]).shape[:2]
        if not self.spiking and not record and "v" in self.cm.state_names:
            fused = self._linear_plan(P, C)
            if fused is not None:  # the leaky readout: one custom function for all steps
                plan, A, b = fused
                drive = self._drive(x)[0] if drive_in is None else drive_in[0]
                S0 = self.cm.initial_state(P, (1, self.n))
                out = _FusedLinearScan.apply(
                    plan, plan.names.index("v"), drive, *A, *b, *[S0[v] for v in plan.names]
                )
                if self.check_finite and not bool(torch.isfinite(out.detach().sum())):
                    self._locate_non_finite(x, drive_in)
                return out
        # one view per step: indexing drive[n] inside the loop would make autograd build a
        # full-size zero gradient per step (quadratic in T); unbind's backward stacks once
        drive = [d.unbind(0) for d in (self._drive(x) if drive_in is None else drive_in)]
        S, last, ref, W_rec = self._loop_start(P, B)
        record = tuple(record)
        for r in record:
            if r not in S:
                raise ValueError(
                    f"layer '{self.name}': cannot record '{r}'; state variables: {', '.join(S)}"
                )
        acc = torch.zeros((), dtype=self.W_in.dtype, device=self.W_in.device)
        outs, traces = [], {r: [] for r in record}
        chunk = self.checkpoint_every if (self.checkpoint_every and torch.is_grad_enabled()) else T
        names = list(S)
        for start in range(0, T, chunk):
            stop = min(T, start + chunk)
            args = (P, C, drive, W_rec, ref, record, start, stop)
            if chunk < T:
                from torch.utils.checkpoint import checkpoint

                def run(*flat, _args=args):
                    St = dict(zip(names, flat[: len(names)]))
                    res = self._steps(St, flat[len(names)], flat[len(names) + 1], *_args)
                    return res

                res = checkpoint(run, *[S[n] for n in names], last, acc, use_reentrant=False)
            else:
                res = self._steps(S, last, acc, *args)
            S_list, last, acc, spk, tr = res
            S = dict(zip(names, S_list))
            outs.append(spk)
            for r, t in zip(record, tr):
                traces[r].append(t)
        if self.check_finite and not bool(torch.isfinite(acc)):
            self._locate_non_finite(x, drive_in)
        spikes = torch.cat(outs, 0)
        if record:
            return spikes, {r: torch.cat(v, 0) for r, v in traces.items()}
        return spikes

    def _steps(
        self, S, last, acc, P, C, drive, W_rec, ref, record, start, stop, locate: bool = False
    ):
        cm = self.cm
        has_ref = self.spiking and (not isinstance(ref, int) or ref > 0)
        clamp = list(cm.clamped) if has_ref else []
        spikes, traces = [], [[] for _ in record]
        smooth = bool(self.surrogate is not None and self.surrogate.smooth)
        grad = torch.is_grad_enabled()
        for n in range(start, stop):
            t = n * self.dt_s
            new = cm.update(S, C, t)
            if has_ref:
                nr = (n - last) >= ref
                for v in clamp:
                    new[v] = torch.where(nr, new[v], S[v])
            else:
                nr = None
            S = new
            if locate:
                for v, val in S.items():
                    bad = ~torch.isfinite(val)
                    if bool(bad.any()):
                        raise NonFiniteError(self.name, v, n, float(val[bad][0]))
            if self.spiking:
                xthr = cm.threshold(S, P)
                if locate:
                    bad = ~torch.isfinite(xthr)
                    if bool(bad.any()):
                        raise NonFiniteError(self.name, "threshold", n, float(xthr[bad][0]))
                u = xthr / self.threshold_scale
                s = self.surrogate(u, cm.threshold_strict)
                if smooth:
                    hard = (xthr > 0) if cm.threshold_strict else (xthr >= 0)
                    if nr is not None:
                        hard = hard & nr
                        s = s * nr
                else:
                    if nr is not None:
                        s = s * nr
                    hard = s > 0.5
                if self.check_finite:
                    acc = acc + xthr.detach().sum()
                if has_ref:
                    last = torch.where(hard, n, last)
                # synaptic propagation (same step), before the reset
                for k, tv in enumerate(self.targets):
                    inc = drive[k][n]
                    if W_rec is not None:  # the fused loop's product (_spike_product)
                        if smooth:
                            rec = s @ W_rec[k]
                        elif grad:
                            rec = _SpikeMatmul.apply(s, W_rec[k], self.sparse_spikes)
                        else:
                            rec = _spike_product(s, W_rec[k], self.sparse_spikes)[0]
                        inc = inc + rec
                    S[tv] = S[tv] + inc
                    if locate and not bool(torch.isfinite(S[tv]).all()):
                        bad = ~torch.isfinite(S[tv])
                        raise NonFiniteError(self.name, tv, n, float(S[tv][bad][0]))
                # reset
                for i, var in enumerate(cm.reset_targets):
                    target = cm.reset(i, S, P)
                    old = S[var]
                    if smooth:
                        S[var] = old + s * (target - old)
                    elif grad and not self.detach_reset:
                        if not isinstance(target, torch.Tensor):
                            target = torch.as_tensor(target, dtype=old.dtype, device=old.device)
                        S[var] = _HardReset.apply(old, target, s, hard)
                    else:
                        S[var] = torch.where(hard, target, old)
                spikes.append(s)
            else:
                for k, tv in enumerate(self.targets):
                    S[tv] = S[tv] + drive[k][n]
                if self.check_finite:
                    acc = acc + S["v"].detach().sum() if "v" in S else acc
                spikes.append(S["v"] if "v" in S else S[cm.state_names[0]])
            for j, r in enumerate(record):
                traces[j].append(S[r])
        names = list(S)
        return (
            [S[n_] for n_ in names],
            last,
            acc,
            torch.stack(spikes, 0),
            [torch.stack(t, 0) for t in traces],
        )

    def _loop_start(self, P, B):
        """State at t = 0 of the step-by-step loop: state variables ``[batch, neurons]``, the
        last-spike step (never), the refractory period in steps, and the recurrent weights
        (split into excitatory/inhibitory parts for two synaptic targets)."""
        S = self.cm.initial_state(P, (B, self.n))
        last = torch.full((B, self.n), _LAST_NEVER, dtype=torch.int64, device=self.W_in.device)
        ref = self.cm.refractory_steps(P) if self.spiking else 0
        W_rec = None
        if self.W_rec is not None:
            W = self.W_rec * self.weight_unit
            W_rec = [W] if len(self.targets) == 1 else [torch.relu(W), torch.relu(-W)]
        return S, last, ref, W_rec

    @torch.no_grad()
    def _locate_non_finite(self, x, drive=None):
        T, B = (x if drive is None else drive[0]).shape[:2]
        P = self.effective_parameters()
        for name, val in P.items():
            bad = ~torch.isfinite(val)
            if bool(bad.any()):
                raise NonFiniteError(self.name, name, 0, float(val[bad].reshape(-1)[0]))
        C = self.cm.coefficients(P)
        drive = self._drive(x) if drive is None else [d.detach() for d in drive]
        for k, d in enumerate(drive):
            if not bool(torch.isfinite(d).all()):
                idx = int((~torch.isfinite(d)).reshape(T, -1).any(1).nonzero()[0])
                raise NonFiniteError(self.name, f"input to {self.targets[k]}", idx, float("nan"))
        S, last, ref, W_rec = self._loop_start(P, B)
        self._steps(
            S,
            last,
            torch.zeros((), device=last.device),
            P,
            C,
            drive,
            W_rec,
            ref,
            (),
            0,
            T,
            locate=True,
        )
        raise NonFiniteError(self.name, "unknown", -1, float("nan"))

    def extra_repr(self):
        return (
            f"model={self.spec.name!r}, n_in={self.n_in}, n={self.n}, "
            f"recurrent={self.recurrent}, dt={self.dt_s * 1e3:g} ms, "
            f"trainable={list(self.trainable)}"
        )


class SpikingLayer(_ModelLayer):
    """A feed-forward or recurrent layer of spiking neurons of any compiled neuron model.

    Parameters
    ----------
    model : NeuronModel, str or CompiledModel
        Zoo name (``"lif"``), model file path, spec or compiled model.
    n_in, n : int
        Number of input channels and of neurons.
    dt : Quantity, str or float
        Time step (``"1 ms"``; a float is seconds).
    recurrent : bool
        Add all-to-all recurrent weights ``W_rec`` ``[n, n]`` (spikes of step ``n`` reach the
        other neurons in the same step's synaptic slot, as in Brian2).
    params : mapping, optional
        Parameter values overriding the spec's defaults (Quantities, strings, or arrays of
        ``n`` values for per-neuron parameters); also external inputs such as ``I_ext``.
    trainable : sequence of str
        Per-neuron parameters trained with the weights (e.g. ``("tau_m", "tau_syn")``).
    heterogeneity : mapping, optional
        ``{name: {"distribution": "gamma", "k": 3}}``: draw initial per-neuron values around
        the default (see :func:`init_parameter`); values outside the spec's range are clamped
        and counted.
    surrogate : str, dict, callable or Surrogate
        Surrogate derivative (:func:`neurolearn.torch.get_surrogate`); default fast sigmoid.
    target : str or (str, str), optional
        Variable incremented by presynaptic spikes; default ``I_syn``, or ``("g_e", "g_i")``
        (positive weights excite through ``g_e``, negative ones inhibit through ``g_i`` with
        conductance ``-w``) for conductance-based models.
    weight_unit : str, optional
        Unit of the stored weights (default: display unit of the target, e.g. ``"1 nA"``).
    weight_std, recurrent_std : float, optional
        Std of the normal initial weights in weight units; default: chosen so that
        ``sqrt(fan_in)`` coincident inputs drive the neuron from rest to threshold (measured
        on the model), times ``weight_gain``.
    detach_reset : bool
        Stop gradients through the reset (Zenke & Vogels 2021 recommend it).
    threshold_scale : float, optional
        SI distance normalising ``x`` before the surrogate (default: threshold minus reset
        state at default parameters, e.g. 20 mV for the LIF).
    checkpoint_every : int, optional
        Memory-lean mode: store states only every ``checkpoint_every`` steps and recompute
        each chunk in the backward pass (:func:`torch.utils.checkpoint.checkpoint`). Costs one
        extra forward pass of the step-by-step path: +40-100 % time per training step
        against that path (benchmarks/torch_step.py: 0.85 s vs 0.62 s), several times the
        time of the fused loop (which it disables); the tensors kept for the backward pass
        then grow with ``T/checkpoint_every + checkpoint_every`` instead of ``T`` (17 MB vs
        55 MB there). The fused loop with ``fused_recompute`` needs less memory still.
    check_finite : bool
        Detect NaN/inf (one reduction per step) and raise :class:`NonFiniteError`.
    sparse_input : bool, optional
        Compute the input drive with a sparse matmul (default: when < 10 % of inputs are
        non-zero).
    fused : bool, optional
        The fused time loop (one custom autograd function for all steps with a hand-written
        reverse-time adjoint) for models whose compiled update is affine in the state
        (current-based LIF, SRM0-like models): default (None) whenever it applies, False
        never, True required (ValueError when the model does not qualify). It is detected by
        probing the compiled update, threshold and reset (see ``_linear_plan``); it is not
        used with ``record``, ``checkpoint_every``, the smooth sigmoid, conductance targets,
        state-dependent resets (ALIF's ``a += ...``), nonlinear updates (AdEx, Izhikevich)
        or trainable threshold/reset parameters. The forward pass calls the same compiled
        update, so spikes are bit-identical to the step-by-step path; gradients agree to
        rounding (tests/test_torch_fused.py). What it keeps for the backward pass: the
        spikes as bool ``[time, batch, neurons]`` (and, where sparse, their indices, see
        ``sparse_spikes``), the non-zero entries of a sparse input
        (int32 indices), with a refractory period a bool mask, and either the state at the
        start of every chunk of 16 steps (``fused_recompute=True``) or the post-update
        threshold and reset variables of every step (``[time, batch, neurons]`` floats; all
        ``k`` state variables before each update when a time constant is trained). The
        input drive is computed from the (sparse) input in chunks of 16 steps in both
        passes, so no ``[time, batch, neurons]`` drive or drive gradient is materialised.
        In a :class:`SpikingNetwork` the last hidden layer also applies the readout weights
        inside the loop (spikes handed on as ``spikes @ W_out``), so neither float spikes
        nor their gradient exist unless a loss term asks for ``net.spikes``.
    fused_recompute : bool
        In the fused loop, recompute the membrane values of each chunk of 16 steps in the
        backward pass from the chunk's starting state and the stored spikes (one sparse
        product for the input and one for the recurrent spikes per chunk) instead of
        storing them: about 1/4 less peak memory of a training step (13 MB of 46 there) for
        about 10 % more time (README, benchmarks/torch_step.py ``neurolearn`` vs
        ``neurolearn-store``).
        Spikes are identical either way; the recomputed values can differ from the stored
        ones by rounding.
    sparse_spikes : bool, optional
        Products with this layer's spikes (the recurrent input ``spikes[t] @ W_rec`` of every
        step, and in the fused loop the readout projection and the weight gradients) as
        sums of the weight rows of the neurons that spiked (``embedding_bag``) instead of
        dense matmuls: True always, False never, None (default) on the CPU for products
        of at least 2**20 multiply-adds in the steps where at most 1/16 of the
        ``[batch, neurons]`` entries are spikes (decided from the spikes of each step, so
        the fused loop and the step-by-step path make the same choice and their spikes
        stay bit-identical). Sums run in increasing neuron order; their rounding differs
        from a dense matmul's.
    dtype : torch.dtype
        ``torch.float32`` or ``torch.float64`` (use float64 for spike-exact agreement with
        Brian2).
    generator : torch.Generator, optional
        Random source of weights and heterogeneous parameters.
    name : str, optional
        Layer name used in messages and in the Brian2 export.

    Attributes
    ----------
    W_in : Parameter ``[n_in, n]``, W_rec : Parameter ``[n, n]`` or None
        Weights in ``weight_unit``.
    raw : ParameterDict
        Trainable parameters in their display unit (``param_units``).
    clamp_counts : dict of str -> int
        Elements clamped into the valid range so far, per parameter.
    """


class LeakyReadout(_ModelLayer):
    """Non-spiking leaky-integrator readout (:func:`readout_model`).

    Parameters
    ----------
    n_in, n_out : int
    dt : Quantity, str or float
    tau_m, tau_syn : Quantity or str, optional
        Time constants (defaults 20 ms and 5 ms).
    trainable : sequence of str
        ``("tau_m", "tau_syn")`` to train them.
    weight_std : float, optional
        Default ``1/sqrt(n_in)``.
    fused : bool, optional
        False: the step-by-step autograd loop; otherwise (default) the whole time loop is
        one custom autograd function (:class:`_FusedLinearScan`: same output bit for bit,
        nothing saved for the backward pass unless a time constant is trained), except with
        ``checkpoint_every``.

    Forward returns the membrane trace ``v`` ``[time, batch, n_out]`` (the logits of
    :func:`neurolearn.torch.readout_loss`).
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        *,
        dt,
        tau_m=None,
        tau_syn=None,
        trainable: Sequence[str] = (),
        heterogeneity=None,
        weight_std=None,
        dtype=torch.float32,
        generator=None,
        name: str = "readout",
        checkpoint_every=None,
        check_finite=True,
        sparse_input=None,
        params=None,
        fused: bool | None = None,
    ):
        p = dict(params or {})
        if tau_m is not None:
            p["tau_m"] = tau_m
        if tau_syn is not None:
            p["tau_syn"] = tau_syn
        super().__init__(
            readout_model(),
            n_in,
            n_out,
            dt=dt,
            params=p,
            trainable=trainable,
            heterogeneity=heterogeneity,
            weight_std=weight_std,
            dtype=dtype,
            generator=generator,
            name=name,
            spiking=False,
            target="I_syn",
            checkpoint_every=checkpoint_every,
            check_finite=check_finite,
            sparse_input=sparse_input,
            weight_unit="1",
            fused=fused,
        )


class _LazySpikes:
    """Float spikes of a fused layer built on demand from its bool spikes (see
    :attr:`SpikingNetwork.spikes`)."""

    __slots__ = ("handle", "spk", "counts")

    def __init__(self, handle, spk, counts):
        self.handle, self.spk, self.counts = handle, spk, counts

    def __call__(self) -> torch.Tensor:
        if self.handle.requires_grad and torch.is_grad_enabled():
            return _BoolToFloat.apply(self.handle, self.spk)
        return _bool_to(self.spk, self.handle.dtype)


class SpikingNetwork(nn.Module):
    """Spiking layers in sequence followed by a leaky readout.

    ``forward(x)`` takes input spikes ``[time, batch, channels]`` and returns the readout
    ``[time, batch, classes]``; the spikes of every layer ``[time, batch, neurons]`` of the
    last forward pass are kept in :attr:`spikes` (with their graph, for rate regularisers).

    Parameters
    ----------
    layers : sequence of SpikingLayer
        Consecutive layers (``layers[i].n == layers[i+1].n_in``), all with the same ``dt``.
    readout : LeakyReadout, optional

    Attributes
    ----------
    dropout : float
        Probability in [0, 1) of dropping each spike a hidden layer passes on to the next
        layer or the readout, in training mode only (inverted dropout: kept spikes are
        scaled by ``1/(1 - dropout)``; Srivastava et al. 2014, J. Mach. Learn. Res.
        15:1929). The recurrent connections see every spike. 0 (default) and evaluation
        mode run the network unchanged; it is not saved with the network (not part of the
        model that is exported).

    Raises
    ------
    ValueError
        Mismatched sizes or time steps between consecutive layers.
    """

    dropout: float = 0.0

    def __init__(self, layers: Sequence[SpikingLayer], readout: LeakyReadout | None = None):
        super().__init__()
        if not layers:
            raise ValueError("a SpikingNetwork needs at least one spiking layer")
        self.layers = nn.ModuleList(layers)
        self.readout = readout
        prev = layers[0].n
        for i, layer in enumerate(list(layers[1:]) + ([readout] if readout else [])):
            if layer.n_in != prev:
                raise ValueError(
                    f"layer {i + 1} ('{layer.name}') expects {layer.n_in} inputs "
                    f"but the previous layer has {prev} neurons"
                )
            if layer.dt_s != layers[0].dt_s:
                raise ValueError(
                    f"layer '{layer.name}' has dt = {layer.dt_s} s but layer "
                    f"'{layers[0].name}' has {layers[0].dt_s} s"
                )
            prev = layer.n
        self._spikes: list = []

    @property
    def spikes(self) -> list:
        """Spikes of every spiking layer in the last forward pass, ``[time, batch, neurons]``
        float 0/1, with their graph (for loss terms such as rate regularisers). A layer run
        by the fused loop with the readout keeps its spikes as bool; the float tensor is
        built at each access (4 bytes per element while it is used; prefer
        :attr:`spike_counts` for rate regularisers)."""
        return [s() if callable(s) else s for s in self._spikes]

    @property
    def spike_counts(self) -> list:
        """Spike count of each neuron of each sample in the last forward pass, ``[batch,
        neurons]`` per spiking layer (float, differentiable with the surrogate gradient; for
        :func:`neurolearn.torch.rate_regulariser` with ``n_steps``)."""
        return [s.counts if callable(s) else s.sum(0) for s in self._spikes]

    @property
    def dt_s(self) -> float:
        """Time step in seconds."""
        return self.layers[0].dt_s

    @property
    def n_in(self) -> int:
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        return self.readout.n if self.readout is not None else self.layers[-1].n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Readout ``[time, batch, classes]`` (or the last layer's spikes without readout)
        for input ``x`` ``[time, batch, channels]``.

        Raises
        ------
        ValueError
            Input not ``[time, batch, channels]`` with the first layer's channel count.
        NonFiniteError
            NaN/inf in a forward pass (names layer, variable, step).
        """
        if not isinstance(x, torch.Tensor) or x.ndim != 3 or x.shape[2] != self.n_in:
            shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(
                f"network input has shape {shape}; expected [time, batch, "
                f"channels] = [T, B, {self.n_in}]"
            )
        self._spikes = []
        h = x
        drop = float(self.dropout) if self.training else 0.0
        for i, layer in enumerate(self.layers):
            if (
                i == len(self.layers) - 1
                and self.readout is not None
                and not drop
                and len(self.readout.targets) == 1
            ):
                # the fused loop projects the spikes onto the readout weights directly: no
                # float spikes [T, B, n] nor their gradient are materialised
                h = layer._check_input(h)
                P = layer.effective_parameters()
                res = layer._fused(h, P, layer.cm.coefficients(P), project=self.readout)
                if res is not None:
                    drive, counts, handle, spk = res
                    self._spikes.append(_LazySpikes(handle, spk, counts))
                    return self.readout._forward_drive(drive)
            h = layer(h)
            self._spikes.append(h)
            if drop and (i < len(self.layers) - 1 or self.readout is not None):
                h = torch.nn.functional.dropout(h, drop, training=True)
        if self.readout is None:
            return h
        return self.readout(h)

    def time_constant_parameters(self) -> list:
        """Trainable time constants of all layers (for their own learning rate)."""
        out = []
        for layer in self._all_layers():
            out += layer.time_constant_parameters()
        return out

    def weight_parameters(self) -> list:
        """All weights."""
        out = []
        for layer in self._all_layers():
            out += layer.weight_parameters()
        return out

    def project_parameters_(self) -> int:
        """Clamp all trainable parameters into range (after an optimiser step); returns the
        number of elements clamped."""
        return sum(layer.project_parameters_() for layer in self._all_layers())

    @property
    def clamp_counts(self) -> dict:
        """``{layer name: {parameter: clamped elements so far}}``."""
        return {layer.name: dict(layer.clamp_counts) for layer in self._all_layers()}

    def _all_layers(self):
        return list(self.layers) + ([self.readout] if self.readout is not None else [])

    @classmethod
    def build(
        cls,
        n_in: int,
        hidden: Sequence[int],
        n_out: int,
        *,
        model="lif",
        dt="1 ms",
        recurrent: bool = True,
        heterogeneity: str | None = None,
        taus: Sequence[str] | None = None,
        distribution: str = "gamma",
        k: float = 3.0,
        trainable: Sequence[str] = (),
        readout_trainable: Sequence[str] | None = None,
        params: Mapping | None = None,
        surrogate=None,
        dtype=torch.float32,
        generator: torch.Generator | None = None,
        readout_params: Mapping | None = None,
        **layer_kwargs,
    ) -> SpikingNetwork:
        """A network ``n_in -> hidden... -> n_out`` of one neuron model.

        Parameters
        ----------
        heterogeneity : str, optional
            One of :data:`PEREZ_NIEVES_CONFIGS` (``"het_init_het_train"``...); applies to
            ``taus`` (default: every per-neuron time constant of the model) of the hidden
            layers and to the readout's ``tau_m``/``tau_syn``.
        trainable : sequence of str
            Extra trainable per-neuron parameters of the hidden layers.
        readout_params : mapping, optional
            Parameters of the readout (:func:`readout_model`), e.g.
            ``{"tau_m": "50 ms", "tau_syn": "10 ms"}`` (defaults 20 ms and 5 ms); with a
            heterogeneous configuration they are the means of the initial draws.
        **layer_kwargs
            Passed to every :class:`SpikingLayer`.
        """
        spec = load_model(model) if isinstance(model, str) else model
        if taus is None:
            taus = [n for n, p in spec.parameters.items() if p.is_time_constant and p.per_neuron]
        het, het_train = {}, ()
        r_het, r_train = {}, ()
        if heterogeneity is not None:
            cfg = perez_nieves_config(heterogeneity, taus, distribution, k)
            het, het_train = cfg["heterogeneity"], cfg["trainable"]
            rcfg = perez_nieves_config(heterogeneity, ("tau_m", "tau_syn"), distribution, k)
            r_het, r_train = rcfg["heterogeneity"], rcfg["trainable"]
        if readout_trainable is not None:
            r_train = tuple(readout_trainable)
        layers, prev = [], n_in
        for i, h in enumerate(hidden):
            layers.append(
                SpikingLayer(
                    spec,
                    prev,
                    h,
                    dt=dt,
                    recurrent=recurrent,
                    params=params,
                    trainable=tuple(dict.fromkeys(tuple(het_train) + tuple(trainable))),
                    heterogeneity=het,
                    surrogate=surrogate,
                    dtype=dtype,
                    generator=generator,
                    name=f"hidden{i}",
                    **layer_kwargs,
                )
            )
            prev = h
        readout = LeakyReadout(
            prev,
            n_out,
            dt=dt,
            trainable=r_train,
            heterogeneity=r_het,
            dtype=dtype,
            generator=generator,
            params=readout_params,
            checkpoint_every=layer_kwargs.get("checkpoint_every"),
            fused=layer_kwargs.get("fused"),
        )
        return cls(layers, readout)

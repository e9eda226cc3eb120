"""Fused time loops: the whole time loop of a layer whose compiled update is affine in the
state as one custom autograd function with a hand-written reverse-time adjoint.

* :func:`_linear_plan` -- decides, from the model's symbolic affine form, whether a layer's step
  is affine in the state (``S' = A S + b``, affine threshold, resets to constants) and
  gathers what the loops need (:class:`_LinearPlan`, ``A``, ``b``).
* :class:`_FusedLinearLoop` -- a spiking layer (current-based LIF and similar): forward
  without a graph, backward as an adjoint loop; spikes bit-identical to the step-by-step path.
* :class:`_FusedLinearScan` -- a non-spiking layer (the leaky readout).
* :class:`_BoolToFloat` -- float spikes built on demand from the fused loop's bool spikes.
"""

from __future__ import annotations

import torch

from .sparse import _bool_to, _chunk_spikes, _rows_sum
from .step import _LAST_NEVER, BufferedStep, step

#: Internal to :mod:`neurolearn.torch` (no public names).
__all__: list = []


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
        "start",
        "last",
        "drive_in",
    )


def _linear_plan(layer, P: dict, C: dict):
    """``(plan, A, b)`` for :class:`_FusedLinearLoop` when this layer's step is affine in the
    state, else None (the step-by-step path is used).

    Conditions: a spiking layer with a step surrogate, one synaptic target, no
    ``checkpoint_every``, ``fused`` not False; and, from the model's symbolic affine form
    derived at compile time (:attr:`CompiledModel.affine`, :mod:`neurolearn.codegen`), an
    update that does not use ``t`` and is affine in the state (``S' = A S + b``), an affine
    threshold and resets to constants that do not depend on trainable parameters; reset
    variables other than the target. ``A`` (only the entries the update depends on) and ``b``
    are ``[1, n]`` tensors differentiable w.r.t. the parameters.
    """
    spiking = layer.spiking
    if (
        layer.fused is False
        or (spiking and layer.surrogate.smooth)
        or len(layer.targets) != 1
        or layer.checkpoint_every
        or layer.delay_rec is not None  # recurrent delays: the step-by-step path
    ):
        return None
    cm = layer.cm
    names = list(cm.state_names)
    tgt = layer.targets[0]
    affine = cm.affine
    thr = affine.threshold_form(_detached(P)) if affine is not None and spiking else None
    resets = affine.reset_constants(P) if affine is not None and spiking else []
    if (
        affine is None
        or (spiking and (thr is None or resets is None))
        or tgt not in names
        or any(v == tgt or v not in names for v in cm.reset_targets)
    ):
        layer._fusable = False
        return None
    # parameters of the threshold/reset that are trained: gradients not handled here
    if spiking:
        zero = {v: layer.W_in.new_zeros((1, layer.n)) for v in names}
        thr_grad = cm.threshold(zero, P)
        if (isinstance(thr_grad, torch.Tensor) and thr_grad.requires_grad) or any(
            isinstance(r, torch.Tensor) and r.requires_grad for r in resets
        ):
            return None
    layer._fusable = True

    def full(x):
        return torch.broadcast_to(
            torch.as_tensor(x, dtype=layer.W_in.dtype, device=layer.W_in.device), (1, layer.n)
        )

    A, b = affine.matrices(C)
    A, b = [full(a) for a in A], [full(v) for v in b]
    plan = _LinearPlan()
    plan.cm, plan.names = cm, names
    plan.Cd = _detached(C)
    plan.Pd = _detached(P)
    plan.tgt = names.index(tgt)
    if spiking:
        with torch.no_grad():
            c, x0 = thr
            plan.x0 = full(x0)
            plan.c = [(j, full(cj)) for j, cj in c if bool((full(cj) != 0).any())]
            rconst = [full(r) for r in resets]
    else:
        plan.x0, plan.c, rconst = None, [], []
    plan.resets = list(enumerate(cm.reset_targets)) if spiking else []
    plan.reset_idx = [(names.index(v), rconst[i]) for i, v in plan.resets]
    ref = cm.refractory_steps(P) if spiking else 0
    plan.ref = ref
    plan.has_ref = not isinstance(ref, int) or ref > 0
    plan.clamp = list(cm.clamped) if plan.has_ref else []
    plan.clamp_idx = [names.index(v) for v in plan.clamp]
    plan.surrogate = layer.surrogate
    plan.scale = layer.threshold_scale
    plan.strict = cm.threshold_strict
    plan.detach_reset = layer.detach_reset
    plan.dt = layer.dt_s
    plan.A_idx = list(affine.A_idx)
    plan.drive_in = False
    return plan, A, b


def _detached(D: dict) -> dict:
    return {key: (v.detach() if isinstance(v, torch.Tensor) else v) for key, v in D.items()}


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
        names = plan.names
        k = len(names)
        nA = len(plan.A_idx)
        S0 = tensors[nA + k : nA + 2 * k]
        T, B, n_in = x.shape
        # drive_in: x is the input current [T, B, n] itself (delays, convolutions), Wi None
        drive_in = plan.drive_in
        n = n_in if drive_in else Wi.shape[1]
        Tc = max(1, min(T, 16))
        Wid = None if drive_in else Wi.detach()
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
        acc = x.new_zeros(())
        acc_n = x.new_zeros((B, n))  # sum over steps of the distance to threshold
        counts = x.new_zeros((B, n))  # spikes per neuron and sample
        Wd = W.detach() if W is not None else None
        n0 = plan.start  # step index of x[0] (a state handed on: the steps already run)
        ops = BufferedStep(plan, x, (B, n), origin=n0)
        last = plan.last
        if last is None:
            last = torch.full((B, n), _LAST_NEVER, dtype=torch.int64, device=x.device)
        ops.compute_spikes(spk, nrs, last, acc_n if coef_grad or recompute else None)
        ops.W, ops.sparse = Wd, plan.sparse
        if not coef_grad and not recompute:  # the post-update values, [T, k', B, n]
            ops.record([(hist[:, a], names[j]) for a, j in enumerate(keep)], n0)
        chunk_spikes = []
        for c, t0 in enumerate(range(0, T, Tc)):
            t1 = min(T, t0 + Tc)
            if drive_in:
                dc = x[t0:t1].detach()
            elif plan.xs is not None:
                dc = plan.xs.rows_sum(t0 * B, (t1 - t0) * B, Wid)
            else:
                dc = x[t0:t1].detach().reshape(-1, n_in) @ Wid
            ops.drive, ops.drive_start = dc.reshape(-1, B, n), n0 + t0
            ops.spikes_out, ops.out_start = (sbuf, n0 + t0) if project else (out, n0)
            # linear indices of the chunk's spikes, from the sparse steps
            ops.lins = [] if Wd is not None else None
            if recompute:
                for j, nm in enumerate(names):
                    hist[c, j] = S[nm]
            for t in range(t0, t1):
                if coef_grad and not recompute:
                    for j, nm in enumerate(names):
                        hist[t, j] = S[nm]
                S, _ = step(ops, S, n0 + t)
            if not plan.has_ref:
                spk[t0:t1].copy_(sbuf[: t1 - t0] if project else out[t0:t1])
            sc = sbuf[: t1 - t0] if project else out[t0:t1]
            counts += sc.sum(0)
            # the chunk's spikes as linear indices into [L*B, n] (for the projection and the
            # backward pass), or None where dense products are cheaper
            lin = _chunk_spikes(sc.reshape(-1, n), ops.lins, plan.sparse)
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
        empty = x.new_empty(0)
        ctx.save_for_backward(
            hist,
            spk,
            nrs if nrs is not None else spk.new_empty(0),
            Wi if Wi is not None else empty,
            W if W is not None else empty,
            Wo if project else empty,
            *tensors[: nA + k],
        )
        ctx.mark_non_differentiable(spk, acc, ops.last)
        if not project:
            ctx.mark_non_differentiable(handle)
        return (out, counts, handle, spk, acc, ops.last, *[S[nm] for nm in names])

    @staticmethod
    def backward(ctx, g_out, g_counts, g_handle, _g_spk, _g_acc, _g_last, *g_state):
        plan = ctx.plan
        hist, spk, nrs, Wi, W, Wo, *Ab = ctx.saved_tensors
        A, b = Ab[: ctx.nA], Ab[ctx.nA :]
        names = plan.names
        k = len(names)
        T, B, n = spk.shape
        Ad = {ij: a for ij, a in zip(plan.A_idx, A)}
        coef_grad = ctx.coef_grad
        has_W = W.numel() > 0
        project = ctx.project
        gA = {ij: torch.zeros_like(a) for ij, a in Ad.items()} if coef_grad else None
        gb = [torch.zeros_like(bi) for bi in b] if coef_grad else None
        Tc = ctx.Tc
        g_chunk = hist.new_empty((Tc, B, n))  # gradient w.r.t. the input drive of a chunk
        gU_buf = [hist.new_empty((Tc, B, n)) for _ in range(k)] if coef_grad else None
        grads = {
            "Wi": torch.zeros_like(Wi) if ctx.needs_input_grad[2] else None,
            "W": torch.zeros_like(W) if has_W and ctx.needs_input_grad[3] else None,
            "Wo": torch.zeros_like(Wo)
            if project and ctx.needs_input_grad[4] and g_out is not None
            else None,
            "x": hist.new_empty((T, B, n if plan.drive_in else Wi.shape[0]))
            if ctx.needs_input_grad[1]
            else None,
        }
        gS_sets = [[hist.new_zeros((B, n)) for _ in range(k)] for _ in range(2)]
        for j, g in enumerate(g_state):  # the final state was used (handed on)
            if g is not None:
                gS_sets[1][j].copy_(g)
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
            if clin is not None and (grads["W"] is not None or grads["Wo"] is not None):
                st = torch.sparse_coo_tensor(
                    torch.stack([clin.remainder(n), clin.div(n, rounding_mode="floor")]),
                    W.new_ones(clin.numel()) if has_W else Wo.new_ones(clin.numel()),
                    (n, L * B),
                    check_invariants=False,
                )
            Sp, U = _FusedLinearLoop._chunk_values(
                ctx, plan, hist, b, Ad, spk, nrs, Wi, W, clin, t0, t1, need_U
            )
            sd = rdiff = silent = ge = None  # the previous chunk's, freed before the new
            sd, rdiff, silent = _chunk_surrogate(plan, U, spk[t0:t1], nr_c)
            ge = _chunk_external_grad(
                ctx, g_out, g_counts, g_handle, spk, Wo, st, grads, t0, t1, hist
            )
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
            _chunk_input_grads(ctx, plan, g_chunk[:L].reshape(-1, n), spk, Wi, W, st, grads, t0, t1)
        ctx.ws = None  # the recomputation's step buffers
        gAs, gbs, gS0 = _coefficient_grads(ctx, plan, gS, gA, gb, coef_grad, k)
        return (None, grads["x"], grads["Wi"], grads["W"], grads["Wo"], *gAs, *gbs, *gS0)

    @staticmethod
    def _chunk_values(ctx, plan, hist, b, Ad, spk, nrs, Wi, W, clin, t0, t1, need_U):
        """``(Sp, U)`` of the chunk ``t0..t1-1`` for the backward pass: the states before each
        update ``Sp`` ``[L, k, B, n]`` (with ``coef_grad``, else None) and the post-update
        values of the threshold and reset variables ``U`` ``{i: [L, B, n]}``, recomputed
        (``fused_recompute``), rebuilt from the stored states (trainable coefficients) or
        read from the stored values."""
        coef_grad = ctx.coef_grad
        if plan.recompute:
            return _FusedLinearLoop._recompute(
                ctx, plan, hist[t0 // ctx.Tc], spk, nrs, Wi, W, clin, t0, t1, need_U, coef_grad
            )
        if not coef_grad:
            slot = {j: a for a, j in enumerate(ctx.keep)}
            return None, {j: hist[t0:t1, slot[j]] for j in need_U}
        # recompute the post-update values from the stored state
        k = len(plan.names)
        Sp = hist[t0:t1]
        nr_c = nrs[t0:t1] if plan.has_ref else None
        U = {}
        for i in need_U:
            a_ = b[i]
            for j in range(k):
                a = Ad.get((i, j))
                if a is not None:
                    a_ = a_ + a * Sp[:, j]
            if nr_c is not None and i in plan.clamp_idx:
                a_ = torch.where(nr_c, a_, Sp[:, i])
            U[i] = a_
        return Sp, U

    @staticmethod
    def _recompute(ctx, plan, S0, spk, nrs, Wi, W, clin, t0, t1, need_U, coef_grad):
        """Recompute the chunk of steps ``t0..t1-1`` of the forward pass from its starting
        state ``S0`` ``[k, B, n]`` and the stored spikes (``clin``: their linear indices in
        the chunk, or None to use the dense ``spk``): ``(Sp, U)`` with ``Sp`` the states
        before each update ``[L, k, B, n]`` (only with ``coef_grad``) and ``U`` the
        post-update values of the threshold/reset variables ``{i: [L, B, n]}``. The recurrent
        input is one product per chunk, so ``U`` can differ from the forward pass by
        rounding; the spikes (stored) are exact."""
        names = plan.names
        L = t1 - t0
        _, B, n = spk.shape
        with torch.no_grad():
            Wid = Wi.detach()
            if plan.drive_in:  # a copy: the recurrent input is added to it in place
                inc = ctx.x[t0:t1].reshape(-1, n).clone()
            elif plan.xs is not None:
                inc = plan.xs.rows_sum(t0 * B, L * B, Wid)
            else:
                inc = ctx.x[t0:t1].reshape(-1, Wi.shape[0]) @ Wid
            if W.numel() > 0:
                if clin is not None:
                    inc += _rows_sum(clin, L * B, n, W.detach())
                else:
                    inc = torch.addmm(inc, _bool_to(spk[t0:t1].reshape(-1, n), W.dtype), W.detach())
            inc = inc.reshape(L, B, n)
            Sp = S0.new_empty((L, len(names), B, n)) if coef_grad else None
            U = {i: S0.new_empty((L, B, n)) for i in need_U}
            n0 = plan.start
            ops = getattr(ctx, "ws", None)
            if ops is None:
                ops = ctx.ws = BufferedStep(plan, S0, (B, n), origin=n0)
            sfl = _bool_to(spk[t0:t1], S0.dtype) if plan.resets else None
            ops.replay_spikes(sfl, n0 + t0, nrs)
            ops.drive, ops.drive_start = inc, n0 + t0
            ops.record([(U[i], names[i]) for i in need_U], n0 + t0)
            S = ops.start({nm: S0[j] for j, nm in enumerate(names)})
            for t in range(t0, t1):
                if coef_grad:
                    for j, nm in enumerate(names):
                        Sp[t - t0, j] = S[nm]
                S, _ = step(ops, S, n0 + t)
            ops.release()  # the chunk's drive, spikes and records: not kept past the chunk
        return Sp, U


def _chunk_surrogate(plan, U, spk_c, nr_c):
    """Per-chunk terms of the adjoint loop that do not depend on the adjoint state: the
    surrogate derivative ``sd`` ``[L, B, n]`` at the recomputed distance to threshold (zero
    while refractory), the reset differences ``rdiff`` ``{i: r_i - U_i}`` and ``silent``
    (1 where a neuron did not spike: the reset cuts the gradient of the old value)."""
    # distance to threshold and surrogate derivative with as few [L, B, n]
    # temporaries as possible (this is where the backward pass peaks in memory)
    xthr = plan.x0
    for j, cj in plan.c:
        term = cj * U[j]
        xthr = term.add_(xthr) if term.shape == U[j].shape else xthr + term
    if xthr.shape == spk_c.shape and xthr is not plan.x0:
        # in place (xthr is a temporary of this chunk), the division folded in
        sd = plan.surrogate.derivative_(xthr, 1.0 / plan.scale, 1.0 / plan.scale)
    else:
        sd = plan.surrogate.derivative(xthr / plan.scale) / plan.scale
    del xthr
    if nr_c is not None:
        sd = sd.masked_fill(~nr_c, 0.0)
    rdiff = {} if plan.detach_reset else {i: r - U[i] for i, r in plan.reset_idx}
    # (a product is much cheaper than masked_fill on these small tensors)
    silent = torch.rsub(_bool_to(spk_c, sd.dtype), 1.0) if plan.reset_idx else None
    return sd, rdiff, silent


def _chunk_external_grad(ctx, g_out, g_counts, g_handle, spk, Wo, st, grads, t0, t1, like):
    """Gradient w.r.t. the spikes of steps ``t0..t1-1`` from outside the layer, ``[L, B, n]``:
    through the projection ``Wo`` (whose gradient ``spikes^T @ g_out`` is accumulated into
    ``grads["Wo"]``; ``st``: the chunk's spikes as a sparse ``[n, L*B]`` matrix or None), the
    float spikes (placeholder ``g_handle``) and the spike counts (zeros of ``like``'s dtype
    when none)."""
    _, B, n = spk.shape
    L = t1 - t0
    ge = None
    if g_out is not None:
        if ctx.project:
            ge = (g_out[t0:t1].reshape(-1, g_out.shape[2]) @ Wo.t()).reshape(L, B, n)
            gWo = grads["Wo"]
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
        ge = like.new_zeros((1, B, n)).expand(L, B, n)
    return ge


def _chunk_input_grads(ctx, plan, g, spk, Wi, W, st, grads, t0, t1):
    """Accumulate the gradients of the input weights, the input and the recurrent weights from
    ``g`` ``[L*B, n]``, the gradient w.r.t. the target's input increments of steps
    ``t0..t1-1`` (one product per chunk)."""
    _, B, n = spk.shape
    L = t1 - t0
    if plan.drive_in:  # the gradient w.r.t. the input current itself
        if grads["x"] is not None:
            grads["x"][t0:t1] = g.reshape(L, B, n)
        return _chunk_recurrent_grad(grads, spk, W, st, g, t0, t1)
    if grads["Wi"] is not None:
        if plan.xs is not None:
            plan.xs.t_matmul(t0 * B, L * B, g, out=grads["Wi"])
        else:
            grads["Wi"] += ctx.x[t0:t1].reshape(-1, Wi.shape[0]).t() @ g
    if grads["x"] is not None:
        grads["x"][t0:t1] = (g @ Wi.t()).reshape(L, B, -1)
    _chunk_recurrent_grad(grads, spk, W, st, g, t0, t1)


def _chunk_recurrent_grad(grads, spk, W, st, g, t0, t1):
    """Accumulate the recurrent weights' gradient ``spikes^T @ g`` of steps ``t0..t1-1``
    (``st``: the chunk's spikes as a sparse ``[n, L*B]`` matrix, or None)."""
    n = spk.shape[2]
    gW = grads["W"]
    if gW is not None:  # spikes^T @ (gradient of the target)
        if st is not None:
            torch.addmm(gW, st, g, out=gW)
        else:
            gW += _bool_to(spk[t0:t1].reshape(-1, n), W.dtype).t() @ g


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
        names = plan.names
        k = len(names)
        nA = len(plan.A_idx)
        S0 = tensors[nA + k : nA + 2 * k]
        T, B, n = drive.shape
        coef_grad = any(ctx.needs_input_grad[3 : 3 + nA + k])
        S = {nm: s.detach().expand(B, n).clone() for nm, s in zip(names, S0)}
        n0 = plan.start  # step index of drive[0]
        ops = BufferedStep(plan, drive, (B, n), origin=n0)  # non-spiking: update and input
        ops.drive, ops.drive_start = drive.detach(), n0
        hist = drive.new_empty((T, k, B, n)) if coef_grad else drive.new_empty(0)
        out = drive.new_empty((T, B, n))
        vo = names[out_idx]
        for t in range(T):
            if coef_grad:
                for j, nm in enumerate(names):
                    hist[t, j] = S[nm]
            S, _ = step(ops, S, n0 + t)
            out[t] = S[vo]
        ctx.plan, ctx.nA, ctx.coef_grad, ctx.out_idx = plan, nA, coef_grad, out_idx
        ctx.A_shapes = [a.shape for a in tensors[:nA]]
        ctx.b_shapes = [bb.shape for bb in tensors[nA : nA + k]]
        ctx.S0_shapes = [s.shape for s in S0]
        ctx.save_for_backward(hist, *tensors[: nA + k])
        return (out, *[S[nm] for nm in names])

    @staticmethod
    def backward(ctx, g_out, *g_state):
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
        for j, g in enumerate(g_state):  # the final state (zeros unless handed on and used)
            gS_sets[1][j].copy_(g)
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

"""The time loop of a layer over a sequence: which path runs it, the input drive, the state at
the start and end, and the search for the first NaN.

:func:`run` chooses the path: the fused loop (:class:`~neurolearn.torch.fused._FusedLinearLoop`,
spiking layers whose update is affine in the state), the readout's scan
(:class:`~neurolearn.torch.fused._FusedLinearScan`) or the step-by-step autograd loop
(:func:`step_by_step`, any model, optionally checkpointed). Every path runs the steps through
:func:`neurolearn.torch.step.step`, starts from a :class:`~neurolearn.torch.step.LayerState`
(the model's initial state when none is given) and returns the state after its last step, so
that a sequence can be run in pieces with the same spikes.

The functions take the layer (:class:`neurolearn.torch.SpikingLayer` or
:class:`~neurolearn.torch.LeakyReadout`) and read its options and weights.
"""

from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint

from .delays import DelayedRecurrence
from .fused import _FusedLinearLoop, _FusedLinearScan
from .sparse import _SparseDrive, _SparseInput
from .step import _LAST_NEVER, AutogradStep, LayerState, NonFiniteError, step

#: Internal to :mod:`neurolearn.torch` (used by the layers and the network).
__all__: list = []


def run(layer, x: torch.Tensor, state=None, record=()):
    """``(output, state)`` of ``layer`` over the input ``x`` ``[T, B, n_in]`` from ``state``
    (:meth:`neurolearn.torch.SpikingLayer.run`)."""
    x = layer._check_input(x)
    P = layer.effective_parameters()
    C = layer.cm.coefficients(P)
    record = tuple(record)
    x, drive, carried = connection_input(layer, x, state)
    if not record:
        res = run_fused(layer, x, P, C, state=state, drive=drive)
        if res is not None:
            return res[0], carry(res[4], carried)
    out, end = step_by_step(layer, x, P, C, record, drive, state=state)
    return out, carry(end, carried)


def connection_input(layer, x: torch.Tensor, state=None):
    """``(x, drive, carried)``: the input of a layer's time loop through its input
    connection's delays or temporal kernel (:meth:`SpikingLayer._delayed`): the delayed
    input ``x`` (delays per presynaptic neuron or connection; else ``x`` itself) or the input
    current per target ``drive`` (per-synapse delays, convolutions; else None), and the last
    ``layer.input_history`` input steps to carry to the next piece (None without delays).
    The steps before the piece come from ``state`` (zeros at the start of a sequence)."""
    H = layer.input_history
    if layer.delay_in is None and not layer.convolutional:
        return x, None, None
    T, B, C = x.shape
    prev = None if state is None or state.delayed is None else state.delayed.get("input")
    if prev is None:
        prev = x.new_zeros((H, B, C))
    elif tuple(prev.shape) != (H, B, C):
        raise ValueError(
            f"layer '{layer.name}': state holds input history of shape {tuple(prev.shape)}; "
            f"expected [{H}, {B}, {C}]"
        )
    xh = torch.cat([prev.to(x.dtype), x], 0)
    kind, value = layer._delayed(xh, T)
    kept = xh[xh.shape[0] - H :]
    if kind == "input":
        return value, None, kept
    return x, value, kept


def carry(end: LayerState, carried) -> LayerState:
    """``end`` with the input history ``carried`` (:func:`connection_input`) added to its
    ``delayed`` entries."""
    if carried is None:
        return end
    return end._replace(delayed=dict(end.delayed or {}, input=carried))


def start_state(layer, P: dict, B: int, state):
    """``(S, last, n0)``: the state variables ``[B, n]``, the last-spike steps and the step
    index to start from: ``state`` (:class:`LayerState`, checked against the layer and the
    batch size) or the model's initial state at step 0.

    Raises
    ------
    ValueError
        A state of other variables, shapes or type.
    """
    if state is None:
        S = layer.cm.initial_state(P, (B, layer.n))
        dev = layer.W_in.device
        return S, torch.full((B, layer.n), _LAST_NEVER, dtype=torch.int64, device=dev), 0
    if not isinstance(state, LayerState):
        raise ValueError(
            f"layer '{layer.name}': state must be a LayerState (from run), got "
            f"{type(state).__name__}"
        )
    names = list(layer.cm.state_names)
    if sorted(state.variables) != sorted(names):
        raise ValueError(
            f"layer '{layer.name}': state has variables {sorted(state.variables)}; "
            f"expected {sorted(names)}"
        )
    for nm, v in list(state.variables.items()) + [("last_spike", state.last_spike)]:
        if tuple(v.shape) != (B, layer.n):
            raise ValueError(
                f"layer '{layer.name}': state '{nm}' has shape {tuple(v.shape)}; expected "
                f"[batch, neurons] = [{B}, {layer.n}] (the batch of the input)"
            )
    return {nm: state.variables[nm] for nm in names}, state.last_spike, int(state.step)


def run_fused(layer, x: torch.Tensor, P: dict, C: dict, project=None, state=None, drive=None):
    """Run the fused loop (:class:`_FusedLinearLoop`) if the layer qualifies, else None
    (ValueError if ``fused=True`` and it does not). ``project``: the next layer (one
    synaptic target), whose input drive ``spikes @ W_in`` is then returned instead of the
    float spikes; ``drive``: the input current ``[drive]`` ``[T, B, n]`` (SI) computed
    outside (:func:`connection_input`), used instead of ``x @ W_in``. Returns ``(out,
    counts, handle, spikes_bool, state)``."""
    if not layer.spiking:
        return None
    fused = layer._linear_plan(P, C)
    if fused is None and layer.fused is True:
        raise ValueError(
            f"layer '{layer.name}': fused=True but model '{layer.spec.name}' "
            f"does not qualify for the fused loop (it needs an update "
            f"affine in the state without t, an affine threshold, resets "
            f"to constants, one synaptic target, a step surrogate, no "
            f"checkpointing and no trainable threshold/reset parameter)"
        )
    if fused is None:
        return None
    plan, A, b = fused
    if state is None:  # [1, n]: the gradient w.r.t. the initial state reaches P
        S0, plan.last, plan.start = layer.cm.initial_state(P, (1, layer.n)), None, 0
    else:
        S0, plan.last, plan.start = start_state(layer, P, x.shape[1], state)
    W = layer.W_rec * layer.weight_unit if layer.W_rec is not None else None
    plan.recompute = layer.fused_recompute
    plan.sparse = layer.sparse_spikes
    plan.drive_in = drive is not None
    plan.xs = sparse_input(layer, x) if drive is None else None
    Wo = project.W_in * project.weight_unit if project is not None else None
    Wi = layer.W_in * layer.weight_unit if drive is None else None
    out, counts, handle, spk, acc, last, *S = _FusedLinearLoop.apply(
        plan, x if drive is None else drive[0], Wi, W, Wo, *A, *b, *[S0[v] for v in plan.names]
    )
    if layer.check_finite and not bool(torch.isfinite(acc)):
        locate_non_finite(layer, x, drive, state=state)
    end = LayerState(dict(zip(plan.names, S)), last, plan.start + x.shape[0])
    return out, counts, handle, spk, end


def run_projected(layer, x: torch.Tensor, project, state=None):
    """:func:`run_fused` of ``layer`` over ``x`` (through its input connection,
    :func:`connection_input`) with its spikes projected onto the next layer ``project``'s
    input weights: ``(projected, plain)`` with ``projected = (drive, counts, handle,
    spikes_bool, state)``, or where the fused loop does not apply ``plain = (spikes,
    state)`` of the step-by-step path (:func:`run`); the other one None."""
    x = layer._check_input(x)
    P = layer.effective_parameters()
    C = layer.cm.coefficients(P)
    xd, drive, carried = connection_input(layer, x, state)
    res = run_fused(layer, xd, P, C, project=project, state=state, drive=drive)
    if res is None:
        out, end = step_by_step(layer, xd, P, C, (), drive, state=state)
        return None, (out, carry(end, carried))
    return (*res[:4], carry(res[4], carried)), None


def run_drive(layer, drive: torch.Tensor, state=None):
    """Like :func:`run`, from the input increments of the (single) synaptic target ``drive``
    ``[T, B, n]`` (SI) instead of the presynaptic spikes (used when the previous layer's
    fused loop projects its spikes onto this layer's weights)."""
    P = layer.effective_parameters()
    C = layer.cm.coefficients(P)
    return step_by_step(layer, None, P, C, (), [drive], state)


def _scan(layer, x, P, C, drive_in, state):
    """The leaky readout's fused scan (:class:`_FusedLinearScan`), or None where it does not
    apply."""
    fused = layer._linear_plan(P, C)
    if fused is None:
        return None
    plan, A, b = fused
    drive = input_drive(layer, x)[0] if drive_in is None else drive_in[0]
    T, B = drive.shape[:2]
    if state is None:  # [1, n]: the gradient w.r.t. the initial state reaches P
        S0, plan.start = layer.cm.initial_state(P, (1, layer.n)), 0
        last = torch.full((B, layer.n), _LAST_NEVER, dtype=torch.int64, device=drive.device)
    else:
        S0, last, plan.start = start_state(layer, P, B, state)
    out, *S = _FusedLinearScan.apply(
        plan, plan.names.index("v"), drive, *A, *b, *[S0[v] for v in plan.names]
    )
    if layer.check_finite and not bool(torch.isfinite(out.detach().sum())):
        locate_non_finite(layer, x, drive_in, state)
    return out, LayerState(dict(zip(plan.names, S)), last, plan.start + T)


def step_by_step(layer, x, P, C, record=(), drive_in=None, state=None):
    """The step-by-step (autograd) time loop, ``(output, state)``; ``drive_in``: precomputed
    input increments ``[T, B, n]`` per target instead of ``x @ W_in``."""
    T, B = (x if drive_in is None else drive_in[0]).shape[:2]
    if not layer.spiking and not record and "v" in layer.cm.state_names:
        res = _scan(layer, x, P, C, drive_in, state)
        if res is not None:  # the leaky readout: one custom function for all steps
            return res
    # one view per step: indexing drive[n] inside the loop would make autograd build a
    # full-size zero gradient per step (quadratic in T); unbind's backward stacks once
    drive = [d.unbind(0) for d in (input_drive(layer, x) if drive_in is None else drive_in)]
    S, last, n0 = start_state(layer, P, B, state)
    ref, W_rec = _refractory_and_recurrent(layer, P, B, state)
    record = tuple(record)
    for r in record:
        if r not in S:
            raise ValueError(
                f"layer '{layer.name}': cannot record '{r}'; state variables: {', '.join(S)}"
            )
    acc = torch.zeros((), dtype=layer.W_in.dtype, device=layer.W_in.device)
    outs, traces = [], {r: [] for r in record}
    ckpt = layer.checkpoint_every
    chunk = ckpt if (ckpt and torch.is_grad_enabled()) else T
    names = list(S)
    for start in range(0, T, chunk):
        stop = min(T, start + chunk)
        args = (P, C, drive, W_rec, ref, record, n0 + start, n0 + stop, n0)
        if chunk < T:

            def run_chunk(*flat, _args=args):
                St = dict(zip(names, flat[: len(names)]))
                return steps(layer, St, flat[len(names)], flat[len(names) + 1], *_args)

            res = checkpoint(run_chunk, *[S[n] for n in names], last, acc, use_reentrant=False)
        else:
            res = steps(layer, S, last, acc, *args)
        S_list, last, acc, spk, tr = res
        S = dict(zip(names, S_list))
        outs.append(spk)
        for r, t in zip(record, tr):
            traces[r].append(t)
    if layer.check_finite and not bool(torch.isfinite(acc)):
        locate_non_finite(layer, x, drive_in, state)
    spikes = torch.cat(outs, 0)
    end = LayerState(S, last, n0 + T)
    if isinstance(W_rec, DelayedRecurrence):  # the spikes still in transit
        end = end._replace(delayed={"spikes": W_rec.history()})
    if record:
        return (spikes, {r: torch.cat(v, 0) for r, v in traces.items()}), end
    return spikes, end


def steps(
    layer, S, last, acc, P, C, drive, W_rec, ref, record, start, stop, drive_start, locate=False
):
    """Steps ``start..stop-1`` of the step-by-step path (:func:`step` over
    :class:`AutogradStep`; ``drive[k][n - drive_start]``): ``(state list, last, acc, spikes
    or v [L, B, n], traces)``."""
    ops = AutogradStep(
        layer, P, C, drive, W_rec, ref, last, acc, drive_start=drive_start, locate=locate
    )
    spikes, traces = [], [[] for _ in record]
    for n in range(start, stop):
        S, s = step(ops, S, n)
        if not layer.spiking:  # the readout: its membrane
            if layer.check_finite:
                ops.acc = ops.acc + S["v"].detach().sum() if "v" in S else ops.acc
            s = S["v"] if "v" in S else S[layer.cm.state_names[0]]
        spikes.append(s)
        for j, r in enumerate(record):
            traces[j].append(S[r])
    names = list(S)
    return (
        [S[n_] for n_ in names],
        ops.last,
        ops.acc,
        torch.stack(spikes, 0),
        [torch.stack(t, 0) for t in traces],
    )


def _refractory_and_recurrent(layer, P, B: int, state=None):
    """The refractory period in steps and the recurrent weights (split into
    excitatory/inhibitory parts for two synaptic targets), or with recurrent delays a
    :class:`DelayedRecurrence` starting from the spikes in transit in ``state``."""
    ref = layer.cm.refractory_steps(P) if layer.spiking else 0
    W_rec = None
    if layer.W_rec is not None:
        W = layer.W_rec * layer.weight_unit
        W_rec = [W] if len(layer.targets) == 1 else [torch.relu(W), torch.relu(-W)]
    d = layer.delay_rec
    if d is not None:
        hist = None if state is None or state.delayed is None else state.delayed.get("spikes")
        if hist is None:
            hist = W.new_zeros((d.max_steps, B, layer.n))
        elif tuple(hist.shape) != (d.max_steps, B, layer.n):
            raise ValueError(
                f"layer '{layer.name}': state holds spikes in transit of shape "
                f"{tuple(hist.shape)}; expected [{d.max_steps}, {B}, {layer.n}]"
            )
        W_rec = DelayedRecurrence(d, W_rec, hist.to(W.dtype))
    return ref, W_rec


@torch.no_grad()
def locate_non_finite(layer, x, drive=None, state=None):
    """Rerun the steps from the same start, checking every value, and raise
    :class:`NonFiniteError` at the first NaN/inf (parameter, input or state variable).

    Raises
    ------
    NonFiniteError
        Always (``variable="unknown"`` if the rerun finds nothing).
    """
    T, B = (x if drive is None else drive[0]).shape[:2]
    P = layer.effective_parameters()
    for name, val in P.items():
        bad = ~torch.isfinite(val)
        if bool(bad.any()):
            raise NonFiniteError(layer.name, name, 0, float(val[bad].reshape(-1)[0]))
    C = layer.cm.coefficients(P)
    drive = input_drive(layer, x) if drive is None else [d.detach() for d in drive]
    S, last, n0 = start_state(layer, P, B, state)
    S = {k: v.detach() for k, v in S.items()}
    for k, d in enumerate(drive):
        if not bool(torch.isfinite(d).all()):
            idx = int((~torch.isfinite(d)).reshape(T, -1).any(1).nonzero()[0])
            raise NonFiniteError(layer.name, f"input to {layer.targets[k]}", n0 + idx, float("nan"))
    ref, W_rec = _refractory_and_recurrent(layer, P, B, state)
    acc = torch.zeros((), device=last.device)
    steps(layer, S, last, acc, P, C, drive, W_rec, ref, (), n0, n0 + T, n0, locate=True)
    raise NonFiniteError(layer.name, "unknown", -1, float("nan"))


def _use_sparse(layer, x: torch.Tensor) -> bool:
    """Whether the input drive is computed with sparse matmuls (``sparse_input``, or
    automatically: fewer than 10 % non-zero inputs and no gradient w.r.t. the input)."""
    if layer.sparse_input is not None:
        return bool(layer.sparse_input)
    return x.numel() > 0 and not x.requires_grad and int(torch.count_nonzero(x)) < 0.1 * x.numel()


def sparse_input(layer, x: torch.Tensor):
    """The input as a :class:`_SparseInput` when the drive is computed with sparse
    matmuls (``sparse_input=True``, or automatically: fewer than 10 % non-zero entries;
    a strided sample of every 8th time step with 20 % or more skips the full scan),
    else None; None whenever ``x`` needs a gradient."""
    if layer.sparse_input is False or x.numel() == 0 or x.requires_grad:
        return None
    if layer.sparse_input is None:
        sample = x[::8]
        if int(torch.count_nonzero(sample)) >= 0.2 * sample.numel():
            return None
    xs = _SparseInput(x)
    if layer.sparse_input is None and xs.nnz >= 0.1 * x.numel():
        return None
    return xs


def input_drive(layer, x: torch.Tensor) -> list:
    """Input increments of the target variable(s) for all steps, ``[T, B, n]`` each (SI):
    one (sparse) matmul outside the time loop."""
    T, B, _ = x.shape
    W = layer.W_in * layer.weight_unit
    if len(layer.targets) == 2:
        W = torch.cat([torch.relu(W), torch.relu(-W)], dim=1)
    flat = x.reshape(T * B, layer.n_in)
    xs = sparse_input(layer, x)
    if xs is not None:  # the same sparse matrix and product as the fused loop's
        out = (
            _SparseDrive.apply(xs, W)
            if torch.is_grad_enabled() and W.requires_grad
            else xs.rows_sum(0, None, W)
        )
    elif x.requires_grad and _use_sparse(layer, x):
        out = torch.sparse.mm(flat.to_sparse(), W)
    else:
        out = flat @ W
    out = out.reshape(T, B, -1)
    if len(layer.targets) == 2:
        return [out[..., : layer.n], out[..., layer.n :]]
    return [out]

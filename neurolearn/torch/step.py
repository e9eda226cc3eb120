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
"""

from __future__ import annotations

import torch

from . import sparse

#: Internal to :mod:`neurolearn.torch` (no public names yet).
__all__: list = []

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

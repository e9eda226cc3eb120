"""The affine form of a model's step, derived symbolically (IR step "affine form").

Brian2's ``exact`` state updater writes linear equations as ``dX/dt = M X + B`` by reading the
coefficients of the state variables off the sympy expressions, and refuses the method when
they depend on the state (``brian2.stateupdaters.exact.get_linear_system``; Brian2
documentation, "Numerical integration"). The same reading applied to the *integrated* update
gives ``new_S = A S + b``: ``A_ij = d new_S_i / d S_j`` and ``b_i = new_S_i(S = 0)``, affine
exactly when every ``A_ij`` is free of the state. A layer whose update, threshold and resets
have this form can run its time loop as a few multiply-adds per step with a hand-written
adjoint (neurolearn.torch's fused loop), decided here at compile time.
"""

from __future__ import annotations

import sympy

from .ir import AffineUpdate, ThresholdAffine

__all__ = ["affine_update", "affine_threshold", "state_independent"]


def _symbols(exprs, names) -> dict:
    """Symbols of ``exprs`` by name, for the names in ``names`` (Brian2's parser creates its
    symbols with assumptions, so they are looked up rather than rebuilt)."""
    out = {}
    for e in exprs:
        if e is None:
            continue
        for s in e.free_symbols:
            if s.name in names:
                out.setdefault(s.name, s)
    return out


def _uses_time(e) -> bool:
    return any(s.name == "t" for s in e.free_symbols)


def affine_update(hoisted: dict, states) -> AffineUpdate | None:
    """``new_S = A S + b`` from the hoisted update, or None when it is not affine in the
    state or uses ``t``.

    Parameters
    ----------
    hoisted : dict of str -> sympy.Expr or None
        :attr:`~neurolearn.codegen.ir.ModelIR.hoisted` (None: the variable is unchanged,
        ``A_ii = 1``, ``b_i = 0``).
    states : sequence of str
        State variables, in the IR's order.

    Returns
    -------
    AffineUpdate or None
        ``A_idx`` ordered by ``j``, then ``i``; ``A`` and ``b`` as expressions of the
        coefficients (``C__*``) and parameters (``P__*``).
    """
    states = list(states)
    syms = _symbols(hoisted.values(), set(states))
    zero = {s: sympy.Integer(0) for s in syms.values()}
    rows = {}
    for i, v in enumerate(states):
        e = hoisted[v]
        if e is None:
            rows[i] = ({i: sympy.Integer(1)}, sympy.Integer(0))
            continue
        if _uses_time(e):
            return None
        deps = {}
        for j, w in enumerate(states):
            if w not in syms or syms[w] not in e.free_symbols:
                continue
            d = sympy.diff(e, syms[w])
            if d.free_symbols & set(syms.values()) or _uses_time(d):
                return None
            if d != 0:
                deps[j] = d
        rows[i] = (deps, e.xreplace(zero))
    A_idx, A = [], []
    for j in range(len(states)):
        for i in range(len(states)):
            if j in rows[i][0]:
                A_idx.append((i, j))
                A.append(rows[i][0][j])
    return AffineUpdate(tuple(A_idx), tuple(A), tuple(rows[i][1] for i in range(len(states))))


def affine_threshold(distance, states) -> ThresholdAffine | None:
    """``x = x0 + sum_j c_j S_j`` for a threshold's signed distance ``x``, or None when it is
    not affine in the state or uses ``t``.

    Parameters
    ----------
    distance : sympy.Expr
        :attr:`~neurolearn.codegen.ir.Threshold.distance`.
    states : sequence of str

    Returns
    -------
    ThresholdAffine or None
        ``c`` for the state variables ``x`` depends on (in state order), ``x0`` at the zero
        state; expressions of parameters.
    """
    states = list(states)
    if _uses_time(distance):
        return None
    syms = _symbols([distance], set(states))
    c = []
    for j, w in enumerate(states):
        if w not in syms:
            continue
        d = sympy.diff(distance, syms[w])
        if d.free_symbols & set(syms.values()) or _uses_time(d):
            return None
        if d != 0:
            c.append((j, d))
    x0 = distance.xreplace({s: sympy.Integer(0) for s in syms.values()})
    return ThresholdAffine(tuple(c), x0)


def state_independent(value, states) -> bool:
    """Whether a reset value depends on neither the state nor ``t`` (a constant per neuron,
    given the parameters)."""
    return not any(s.name in set(states) or s.name == "t" for s in value.free_symbols)

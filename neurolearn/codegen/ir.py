"""The engine-neutral model IR: a neuron model's time step as sympy expressions.

A :class:`ModelIR` holds everything an engine needs to simulate a neuron model with Brian2's
semantics (Stimberg, Brette & Goodman 2019, eLife 8:e47314): the state update Brian2's state
updater derives (as expressions of the state at the start of the step), the parameter-only
coefficients hoisted out of it with their removable singularities guarded, the threshold as a
signed distance, the reset statements, the initial values and the refractory period; and,
derived symbolically as Brian2's ``exact`` state updater derives its linear system
(``brian2.stateupdaters.exact.get_linear_system``; Brian2 documentation, "Numerical
integration"), the affine form ``S' = A S + b`` of the update where it exists. It is built by
the named steps of :mod:`neurolearn.codegen.steps` and printed by each engine (for PyTorch:
:mod:`neurolearn.torch.printer`).

Symbols
-------
In the update (:attr:`ModelIR.hoisted`, :attr:`ModelIR.cse`, :attr:`ModelIR.reduced`,
:class:`AffineUpdate`): a state variable by its name, ``t`` (time at the start of the step),
``C__<name>`` the coefficient ``<name>`` and ``P__<name>`` a parameter, an external variable or
``dt`` (``P__dt``); ``_x<k>`` a common sub-expression. In the coefficients, the threshold, the
resets, the initial values and :class:`ThresholdAffine`: parameters and external variables by
name, ``dt``, and the temporaries of a singularity guard (``_d<k>``, ``_safe<k>``,
``_tol_scale<k>``, see :class:`SingularGuard`). All values are in SI base units.
"""

from __future__ import annotations

import dataclasses

import sympy

__all__ = [
    "Plain",
    "SingularGuard",
    "Coefficient",
    "Threshold",
    "ThresholdAffine",
    "Reset",
    "AffineUpdate",
    "ModelIR",
]


@dataclasses.dataclass(frozen=True)
class Plain:
    """Evaluate ``expr`` as it is; its value is the temporary number ``index``."""

    index: int
    expr: sympy.Expr


@dataclasses.dataclass(frozen=True)
class SingularGuard:
    """``where(|d| < tol*scale, series, exact)`` for a removable singularity of a coefficient.

    The exact solution of coupled linear equations divides by differences of time constants
    (``1/(tau_m - tau_syn)`` for the current-based LIF); the quotient has a finite limit but
    loses all precision near equality (catastrophic cancellation) and is ``0/0`` at it. With
    ``d`` the vanishing denominator factor and ``k`` = :attr:`index`, an engine evaluates, in
    this order::

        _d<k> = difference
        _small<k> = |_d<k>| < tol*scale
        _tol_scale<k> = tol*scale
        _safe<k> = where(_small<k>, safe, variable)
        <exact>, <series>
        value<k> = where(_small<k>, <series>, <exact>)

    ``tol`` depends on the floating-point precision (1e-4 in float64, where cancellation and
    truncation errors are both ~1e-12). ``series`` is the Taylor expansion in ``d`` up to
    ``d**2`` (truncation error ``O(tol**3)``); the exact branch is evaluated at ``variable`` =
    ``_safe<k>``, moved to ``d = 4 tol scale`` where ``d`` is small, so that neither branch
    produces ``inf``/``NaN`` values or gradients.

    Attributes
    ----------
    index : int
        Number of the guarded value (and of its temporaries).
    difference : sympy.Expr
        The denominator factor ``d`` that can vanish (terms of both signs).
    scale : sympy.Expr
        ``sum |terms of d|``, the scale of ``d``.
    variable : sympy.Symbol
        The parameter solved for in ``d = eps``.
    safe : sympy.Expr
        Value of ``variable`` at ``d = 4 * _tol_scale<k>``.
    exact, series : Plain or SingularGuard
        The coefficient with ``variable`` replaced by ``_safe<k>``, and its Taylor series in
        ``_d<k>``; each may hold further singularities.
    """

    index: int
    difference: sympy.Expr
    scale: sympy.Expr
    variable: sympy.Symbol
    safe: sympy.Expr
    exact: Plain | SingularGuard
    series: Plain | SingularGuard


@dataclasses.dataclass(frozen=True)
class Coefficient:
    """A maximal sub-expression of the update that depends only on parameters and ``dt``
    (decay factors ``exp(-dt/tau)``, couplings...), computed once per run instead of once per
    step.

    Attributes
    ----------
    name : str
        ``c0``, ``c1``... (the update refers to it as ``C__<name>``).
    expr : sympy.Expr
        Its value, as an expression of parameters, external variables and ``dt``.
    program : Plain or SingularGuard
        How to evaluate it (with its removable singularities guarded).
    """

    name: str
    expr: sympy.Expr
    program: Plain | SingularGuard

    @property
    def symbol(self) -> sympy.Symbol:
        """The symbol ``C__<name>`` standing for the coefficient in the update."""
        return sympy.Symbol(f"C__{self.name}")


@dataclasses.dataclass(frozen=True)
class ThresholdAffine:
    """A threshold whose signed distance is affine in the state:
    ``x = x0 + sum_j c_j S_j``.

    Attributes
    ----------
    c : tuple of (int, sympy.Expr)
        Index ``j`` into :attr:`ModelIR.states` and the coefficient ``c_j`` (an expression of
        parameters), for the state variables ``x`` depends on, in state order.
    x0 : sympy.Expr
        ``x`` at the zero state (an expression of parameters).
    """

    c: tuple
    x0: sympy.Expr


@dataclasses.dataclass(frozen=True)
class Threshold:
    """The spike condition as a signed distance: a spike when ``distance > 0`` (strict,
    ``v > v_th``) or ``distance >= 0`` (``v >= v_peak``).

    Attributes
    ----------
    text : str
        The spec's condition.
    distance : sympy.Expr
        ``lhs - rhs`` of ``>``/``>=``, ``rhs - lhs`` of ``<``/``<=``, of the current state and
        parameters (SI).
    strict : bool
    variable : str
        The state variable the condition is taken through: the first state variable named in
        the condition, else (a condition on a subexpression, ``u > v_th`` with ``u = u_rest +
        h + eta``) the first, in state order, of those it depends on.
    affine : ThresholdAffine or None
        The affine form of ``distance``; None when it is not affine in the state or uses
        ``t``.
    """

    text: str
    distance: sympy.Expr
    strict: bool
    variable: str
    affine: ThresholdAffine | None


@dataclasses.dataclass(frozen=True)
class Reset:
    """One reset statement ``target = value`` (``v = v_reset``; ``a += 1`` becomes
    ``a = a + 1``), executed in file order after a spike.

    Attributes
    ----------
    statement : str
        The spec's statement.
    target : str
        The state variable assigned.
    value : sympy.Expr
        New value, of the current (partly reset) state and parameters.
    constant : sympy.Expr or None
        ``value`` when it depends on neither the state nor ``t``, else None.
    """

    statement: str
    target: str
    value: sympy.Expr
    constant: sympy.Expr | None


@dataclasses.dataclass(frozen=True)
class AffineUpdate:
    """The update ``new_S_i = sum_j A_ij S_j + b_i`` of a model whose update is affine in the
    state and does not use ``t`` (per-neuron ``A``, ``b``: they depend on parameters).

    Attributes
    ----------
    A_idx : tuple of (int, int)
        The pairs ``(i, j)`` with ``d new_S_i / d S_j != 0`` (indices into
        :attr:`ModelIR.states`), ordered by ``j``, then ``i``.
    A : tuple of sympy.Expr
        ``A_ij`` for each pair, expressions of the coefficients (``C__*``, ``P__*``).
    b : tuple of sympy.Expr
        ``b_i`` for every state variable, in state order.
    """

    A_idx: tuple
    A: tuple
    b: tuple


@dataclasses.dataclass(frozen=True)
class ModelIR:
    """A neuron model's time step as symbolic steps (see the module docstring).

    Attributes
    ----------
    name : str
        The model's name.
    method : str
        Brian2 state updater used.
    abstract_code : str
        Brian2's abstract update code (:func:`neurolearn.codegen.abstract_update_code`).
    states : tuple of str
        Differential-equation variables, in file order.
    externals : tuple of str
        Variables declared without an equation (``I_ext : amp``), set like parameters.
    params : tuple of str
        The spec's parameters.
    clamped : tuple of str
        Variables flagged ``(unless refractory)``: an engine keeps them unchanged while a
        neuron is refractory.
    units : dict of str -> brian2.Unit
        SI unit of every variable and parameter.
    update : dict of str -> sympy.Expr or None
        New value of each state variable as an expression of the state at the start of the
        step (``not_refractory = 1``, unit names replaced by SI values); None for a variable
        the state updater leaves unchanged.
    coefficients : tuple of Coefficient
    hoisted : dict of str -> sympy.Expr or None
        ``update`` with the coefficients and parameters substituted (``C__*``, ``P__*``).
    cse : tuple of (sympy.Symbol, sympy.Expr)
        Common sub-expressions ``_x<k>`` of ``hoisted``, evaluated in this order.
    reduced : dict of str -> sympy.Expr or None
        ``hoisted`` in terms of the common sub-expressions.
    threshold : Threshold or None
    resets : tuple of Reset
    initial : dict of str -> sympy.Expr or None
        Initial value of each state variable (an expression of parameters); None for 0.
    refractory : str, float or None
        Name of the refractory-period parameter, a fixed period in seconds, or None.
    affine : AffineUpdate or None
        The affine form of the update; None when the update is not affine in the state or
        uses ``t``.
    """

    name: str
    method: str
    abstract_code: str
    states: tuple
    externals: tuple
    params: tuple
    clamped: tuple
    units: dict
    update: dict
    coefficients: tuple
    hoisted: dict
    cse: tuple
    reduced: dict
    threshold: Threshold | None
    resets: tuple
    initial: dict
    refractory: object
    affine: AffineUpdate | None

"""The named steps that turn a neuron model into its :class:`~neurolearn.codegen.ir.ModelIR`.

In order (:func:`build_ir`):

1. **abstract code** -- Brian2 integrates the equations with the model's state updater
   (:func:`~neurolearn.codegen.abstract.abstract_update_code`; Stimberg, Brette & Goodman
   2019, eLife 8:e47314).
2. **parse** (:func:`parse_update`) -- the statements become sympy expressions
   (:func:`brian2.parsing.sympytools.str_to_sympy`) of the state at the start of the step.
3. **prepare** (:class:`Prepare`) -- Brian2 multiplies the right-hand side of every
   ``(unless refractory)`` equation by ``int(not_refractory)``; the IR uses
   ``not_refractory = 1`` and an engine keeps those variables unchanged while refractory,
   which is exactly the integral of ``dv/dt = 0`` (and avoids the ``0/0`` some updaters
   produce at ``not_refractory = 0``). Unit names in the code (``mV`` in the Izhikevich model)
   become their SI values; unknown names and constructs outside the IR's vocabulary
   (:mod:`~neurolearn.codegen.vocabulary`) raise a :class:`~neurolearn.spec.ModelError`
   naming the construct and the equation.
4. **hoist** (:func:`hoist`) -- every maximal sub-expression that depends only on parameters
   and ``dt`` becomes a coefficient, computed once per run; the per-step code is a few
   multiply-adds.
5. **common sub-expressions** (:func:`common_subexpressions`) of the per-step update.
6. **singular limits** (:func:`~neurolearn.codegen.singular.guard_singularities`) of the
   coefficients.
7. **threshold** (:func:`threshold_step`), **resets** (:func:`reset_step`), **initial values**
   (:func:`initial_step`), **refractoriness** (:func:`refractory_step`).
8. **affine form** (:mod:`~neurolearn.codegen.affine`).

Units: everything is in SI base units with no unit checking downstream; Brian2 checked the
equations' dimensions when it integrated them.
"""

from __future__ import annotations

import json
import re

import sympy
import sympy.core.relational as relational
from brian2.parsing.sympytools import str_to_sympy
from brian2.units.fundamentalunits import get_unit

from ..spec import ModelError, NeuronModel, _unit_namespace, load_model, parse_quantity
from .abstract import abstract_update_code, equation_text
from .affine import affine_threshold, affine_update, state_independent
from .ir import Coefficient, ModelIR, Reset, Threshold
from .singular import guard_singularities
from .vocabulary import check_supported

__all__ = [
    "parse_update",
    "Prepare",
    "hoist",
    "common_subexpressions",
    "threshold_step",
    "reset_step",
    "initial_step",
    "refractory_step",
    "build_ir",
    "model_ir",
]


def _sym_by_name(expr) -> dict:
    return {s.name: s for s in expr.free_symbols}


def parse_update(spec: NeuronModel, code: str, states) -> dict:
    """Brian2's abstract code as the new value of each state variable, an expression of the
    state at the start of the step (intermediate ``_v = ...`` statements substituted).

    Parameters
    ----------
    spec : NeuronModel
        For error messages.
    code : str
        Abstract code; the refractoriness statement (``not_refractory = ...``) is skipped.
    states : sequence of str

    Returns
    -------
    dict of str -> sympy.Expr or None
        None for a state variable the code does not assign.

    Raises
    ------
    ModelError
        For a statement that is not ``name = expression``.
    """
    env: dict = {}
    for raw in code.splitlines():
        line = raw.strip()
        if not line or line.startswith("not_refractory"):
            continue
        m = re.match(r"^([A-Za-z_]\w*)\s*=\s*(.+)$", line)
        if m is None:
            raise spec.error(f"cannot translate Brian2's update statement '{line}'")
        lhs, rhs = m.groups()
        expr = str_to_sympy(rhs)
        by = _sym_by_name(expr)
        expr = expr.xreplace({by[k]: v for k, v in env.items() if k in by})
        env[lhs] = expr
    return {var: env.get(var) for var in states}


def _unit_values(names) -> dict:
    ns = _unit_namespace()
    return {n: float(ns[n]) for n in names if n in ns and not callable(ns[n])}


class Prepare:
    """Step "prepare": ``not_refractory = 1``, unit names to SI values, names and constructs
    checked.

    Parameters
    ----------
    spec : NeuronModel
    names : set of str
        Names an expression may use: state variables, ``t``, parameters, external variables
        and ``dt``.
    """

    def __init__(self, spec: NeuronModel, names: set):
        self.spec = spec
        self.names = set(names)

    def __call__(self, expr, where: str):
        """The prepared ``expr`` (None stays None).

        Raises
        ------
        ModelError
            For ``int(condition)`` other than ``int(not_refractory)`` (a condition inside an
            equation), an unknown name, or a construct outside the IR's vocabulary; the
            message names the construct and ``where``.
        """
        if expr is None:
            return None
        repl = {}
        for f in list(expr.atoms(sympy.Function)):
            if type(f).__name__ == "int_":
                inner = f.args[0]
                if getattr(inner, "name", None) == "not_refractory":
                    repl[f] = sympy.Integer(1)
                else:
                    raise ModelError(
                        f"construct 'int({inner})' in {where} is not supported "
                        f"by the torch bridge (conditions inside equations)",
                        self.spec.path,
                        parameter=str(inner),
                    )
        expr = expr.xreplace(repl)
        by = _sym_by_name(expr)
        if "not_refractory" in by:
            expr = expr.xreplace({by["not_refractory"]: sympy.Integer(1)})
            by = _sym_by_name(expr)
        unknown = [n for n in by if n not in self.names]
        values = _unit_values(unknown)
        expr = expr.xreplace({by[n]: sympy.Float(v, 17) for n, v in values.items()})
        still = sorted(n for n in unknown if n not in values)
        if still:
            raise ModelError(
                f"unknown name(s) {', '.join(still)} in {where}",
                self.spec.path,
                parameter=still[0],
            )
        check_supported(expr, where)
        return expr


def _cancel_exponentials(expr):
    """``expr`` with products ``exp(x)*exp(-x)`` multiplied out, if it has any.

    Brian2's ``exact`` solution of the current-based LIF writes the coupling coefficient as
    ``(exp(dt/tau_syn) - exp(dt/tau_m))*exp(-dt/tau_m)*exp(-dt/tau_syn)``: with ``dt/tau``
    above ~709 the growing factor is ``inf`` and the decaying one ``0``, so the product is
    NaN although the coefficient is finite (``exp(-dt/tau_m) - exp(-dt/tau_syn)``, here).
    Distributing and cancelling (:func:`sympy.expand_mul`, :func:`sympy.factor_terms`) leaves
    only the decaying exponentials. Unchanged when there is no such pair, or when sympy's
    form would keep one.
    """

    def pairs(e) -> bool:
        args = {a.args[0] for a in e.atoms(sympy.exp)}
        return any(-a in args for a in args)

    if not pairs(expr):
        return expr
    try:
        out = sympy.factor_terms(sympy.expand_mul(expr))
    except Exception:  # pragma: no cover - sympy could not rewrite it: keep Brian2's form
        return expr
    return expr if pairs(out) else out


def _guarded(spec, method, expr, counter):
    """:func:`guard_singularities` of one coefficient; sympy's failure to expand a singular
    limit (``NotImplementedError``, e.g. GLIF5's four coupled time constants under
    ``exact``) becomes a :class:`ModelError` naming the file and the method."""
    try:
        return guard_singularities(expr, counter)
    except NotImplementedError:
        raise ModelError(
            f"method '{method or spec.method}': the singular limit of a coefficient of the "
            f"exact solution (where two time constants meet) is beyond sympy's series "
            f"expansion; integrate this model with another method (e.g. "
            f"exponential_euler{', or allen_glif' if spec.name.startswith('glif') else ''})",
            spec.path,
            parameter="method",
        ) from None


def hoist(updates: dict, static_names: set) -> tuple[dict, list]:
    """Step "hoist": maximal parameter-only sub-expressions of the update become coefficients.

    Parameters
    ----------
    updates : dict of str -> sympy.Expr or None
        Prepared update.
    static_names : set of str
        Parameters, external variables and ``dt``.

    Returns
    -------
    hoisted : dict of str -> sympy.Expr or None
        The update with ``C__c<k>`` for each coefficient and ``P__<name>`` for a lone
        parameter (sums and products are split into their state-dependent terms and one
        static rest).
    coefficients : list of (str, sympy.Expr)
        ``(c<k>, expression)`` in order of first appearance; equal sub-expressions share one.
        Products of growing and decaying exponentials are multiplied out
        (:func:`_cancel_exponentials`), so that a coefficient that is finite evaluates as
        finite for time constants far below ``dt``.
    """
    coeffs: list = []
    index: dict = {}

    def is_static(e):
        return all(s.name in static_names for s in e.free_symbols)

    def go(e):
        if e.is_number:
            return e
        if is_static(e):
            if e.is_Symbol:
                return sympy.Symbol(f"P__{e.name}")
            if e in index:
                return index[e]
            sym = sympy.Symbol(f"C__c{len(coeffs)}")
            coeffs.append((f"c{len(coeffs)}", _cancel_exponentials(e)))
            index[e] = sym
            return sym
        if e.is_Symbol:
            return e
        if e.is_Add or e.is_Mul:
            stat = [a for a in e.args if is_static(a)]
            parts = [go(a) for a in e.args if not is_static(a)]
            if stat:
                parts.append(go(e.func(*stat)))
            return e.func(*parts, evaluate=False)
        return e.func(*[go(a) for a in e.args])

    hoisted = {v: (go(e) if e is not None else None) for v, e in updates.items()}
    return hoisted, coeffs


def common_subexpressions(hoisted: dict, states) -> tuple[tuple, dict]:
    """Step "common sub-expressions" of the per-step update (:func:`sympy.cse`, symbols
    ``_x0, _x1...``, no reordering).

    Returns
    -------
    cse : tuple of (sympy.Symbol, sympy.Expr)
    reduced : dict of str -> sympy.Expr or None
    """
    exprs = [hoisted[v] for v in states if hoisted[v] is not None]
    replacements, reduced = sympy.cse(
        exprs, symbols=sympy.numbered_symbols("_x"), optimizations=None, order="none"
    )
    it = iter(reduced)
    return tuple(replacements), {v: (next(it) if hoisted[v] is not None else None) for v in states}


def _substitute_subexpressions(text: str, subexprs: dict):
    """A threshold, reset or initial-value string as sympy, with the model's subexpressions
    (``u = u_rest + h + eta``) substituted; a plain quantity (``"-65 mV"``) as its SI value."""
    try:
        q = parse_quantity(text)
        return sympy.Float(float(q), 17)
    except ModelError:
        pass
    expr = str_to_sympy(text)
    for _ in range(10):
        by = _sym_by_name(expr)
        hit = {by[n]: str_to_sympy(subexprs[n]) for n in subexprs if n in by}
        if not hit:
            break
        expr = expr.xreplace(hit)
    return expr


def threshold_step(spec: NeuronModel, prepare: Prepare, subexprs: dict, states) -> Threshold | None:
    """Step "threshold": the condition as a signed distance (None without a threshold).

    Raises
    ------
    ModelError
        If the condition cannot be parsed, is not a single comparison (``v > v_th``) or
        depends on no state variable.
    """
    if not spec.threshold.strip():
        return None
    try:
        rel = _substitute_subexpressions(spec.threshold, subexprs)
    except Exception as exc:
        raise spec.error(
            f"cannot parse threshold '{spec.threshold}' ({exc})", "threshold", "threshold"
        ) from None
    if isinstance(rel, (relational.StrictGreaterThan, relational.GreaterThan)):
        x = rel.lhs - rel.rhs
    elif isinstance(rel, (relational.StrictLessThan, relational.LessThan)):
        x = rel.rhs - rel.lhs
    else:
        raise spec.error(
            f"threshold '{spec.threshold}' must be a single comparison "
            f"(v > v_th) for the torch bridge",
            "threshold",
            "threshold",
        )
    strict = isinstance(rel, (relational.StrictGreaterThan, relational.StrictLessThan))
    x = prepare(x, f"threshold '{spec.threshold}'")
    used = {s.name for s in x.free_symbols}
    thr_vars = [n for n in states if n in used]  # state order: deterministic
    if not thr_vars:
        raise spec.error(
            f"threshold '{spec.threshold}' depends on no state variable",
            "threshold",
            "threshold",
        )
    first = re.findall(r"[A-Za-z_]\w*", spec.threshold)
    variable = next((n for n in first if n in thr_vars), thr_vars[0])
    return Threshold(spec.threshold, x, strict, variable, affine_threshold(x, states))


def reset_step(spec: NeuronModel, prepare: Prepare, subexprs: dict, states) -> tuple:
    """Step "resets": each statement ``var op expr`` (``=``, ``+=``, ``-=``, ``*=``, ``/=``) as
    the new value of ``var``, with whether it is state-independent.

    Raises
    ------
    ModelError
        For another form of statement, or one that assigns something other than a state
        variable.
    """
    resets = []
    for raw in spec.reset.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([A-Za-z_]\w*)\s*(=|\+=|-=|\*=|/=)\s*(.+)$", line)
        if m is None:
            raise spec.error(
                f"reset statement '{line}' is not supported by the torch bridge "
                f"(expected 'var = expr', 'var += expr'...)",
                line,
                "reset",
            )
        var, op, rhs = m.groups()
        if var not in states:
            raise spec.error(
                f"reset statement '{line}' assigns '{var}', which is not a "
                f"state variable (one of {', '.join(states)})",
                line,
                var,
            )
        rhs_e = _substitute_subexpressions(rhs, subexprs)
        full = {
            "=": rhs_e,
            "+=": sympy.Symbol(var) + rhs_e,
            "-=": sympy.Symbol(var) - rhs_e,
            "*=": sympy.Symbol(var) * rhs_e,
            "/=": sympy.Symbol(var) / rhs_e,
        }[op]
        full = prepare(full, f"reset statement '{line}'")
        constant = full if state_independent(full, states) else None
        resets.append(Reset(line, var, full, constant))
    return tuple(resets)


def initial_step(spec: NeuronModel, prepare: Prepare, subexprs: dict, states) -> dict:
    """Step "initial values": the spec's ``[initial]`` table as expressions of parameters
    (None for a variable without an entry: 0).

    Raises
    ------
    ModelError
        If an initial value refers to a state variable.
    """
    out = {}
    for var in states:
        text = spec.initial.get(var)
        if text is None:
            out[var] = None
            continue
        e = prepare(_substitute_subexpressions(text, subexprs), f"initial value of '{var}'")
        if any(s.name in states for s in e.free_symbols):
            raise spec.error(
                f"initial value of '{var}' ('{text}') refers to another state variable",
                f"{var} =",
                var,
            )
        out[var] = e
    return out


def refractory_step(spec: NeuronModel):
    """Step "refractoriness": the refractory period as a parameter name, a fixed period in
    seconds, or None.

    Raises
    ------
    ModelError
        For a refractory condition or expression (only a period is supported).
    """
    ref = spec.refractory.strip()
    if not ref:
        return None
    if ref in spec.parameters:
        return ref
    try:
        return float(parse_quantity(ref, "refractory"))
    except ModelError:
        raise spec.error(
            f"refractory condition '{ref}' is not supported by the "
            f"torch bridge (use a period: a parameter or a quantity)",
            "refractory",
            "refractory",
        ) from None


def build_ir(spec: NeuronModel, method: str | None = None) -> ModelIR:
    """Run the steps of the module docstring on a neuron model.

    Parameters
    ----------
    spec : NeuronModel
    method : str, optional
        Brian2 state updater overriding ``spec.method``.

    Returns
    -------
    ModelIR

    Raises
    ------
    ModelError
        From any step, naming the construct and the equation or statement.
    """
    eqs = spec.brian2_equations()
    states = list(spec.state_variables)
    externals = [n for n in eqs.parameter_names if n not in spec.parameters]
    subexprs = {n: eqs[n].expr.code for n in eqs.subexpr_names}
    params = list(spec.parameters)
    clamped = tuple(n for n, eq in eqs.items() if "unless refractory" in eq.flags)
    units = {n: get_unit(eq.dim) for n, eq in eqs.items()}
    units.update({n: get_unit(p.dim) for n, p in spec.parameters.items()})

    code = abstract_update_code(spec, method)
    updates = parse_update(spec, code, states)
    static_names = set(params) | set(externals) | {"dt"}
    prepare = Prepare(spec, set(states) | {"t"} | static_names)
    for var in states:
        updates[var] = prepare(updates[var], f"equation '{equation_text(spec, var)}'")
    hoisted, coeff_exprs = hoist(updates, static_names)
    cse, reduced = common_subexpressions(hoisted, states)
    counter = [0]
    coefficients = tuple(
        Coefficient(name, e, _guarded(spec, method, e, counter)) for name, e in coeff_exprs
    )
    threshold = threshold_step(spec, prepare, subexprs, states)
    resets = reset_step(spec, prepare, subexprs, states)
    initial = initial_step(spec, prepare, subexprs, states)
    refractory = refractory_step(spec)
    return ModelIR(
        name=spec.name,
        method=method or spec.method,
        abstract_code=code,
        states=tuple(states),
        externals=tuple(externals),
        params=tuple(params),
        clamped=clamped,
        units=units,
        update=updates,
        coefficients=coefficients,
        hoisted=hoisted,
        cse=cse,
        reduced=reduced,
        threshold=threshold,
        resets=resets,
        initial=initial,
        refractory=refractory,
        affine=affine_update(hoisted, states),
    )


_CACHE: dict = {}


def model_ir(model, method: str | None = None) -> ModelIR:
    """The :class:`ModelIR` of a neuron model, cached per (spec, method).

    Parameters
    ----------
    model : NeuronModel or str
        A spec or a zoo name / path (:func:`neurolearn.spec.load_model`).
    method : str, optional
        Brian2 state updater overriding the spec's ``method``.

    Returns
    -------
    ModelIR
        Shared between callers: do not modify.

    Raises
    ------
    ModelError
        For a model that is not a neuron model, or from :func:`build_ir`.
    """
    if isinstance(model, str):
        model = load_model(model)
    if not isinstance(model, NeuronModel):
        raise ModelError(
            f"'{getattr(model, 'name', model)}' is not a neuron model; the torch "
            f"bridge compiles neuron models",
            getattr(model, "path", None),
            parameter="model",
        )
    key = json.dumps(model.to_dict(), sort_keys=True) + f"|{method}"
    if key not in _CACHE:
        _CACHE[key] = build_ir(model, method)
    return _CACHE[key]

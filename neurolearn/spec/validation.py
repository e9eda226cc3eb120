"""Checks of a model specification: every symbol defined, consistent units in every
equation and in every other expression (threshold, reset, refractory period, initial values,
``on_pre``/``on_post``), initial values of existing variables, a known state updater.

Each check raises :class:`~neurolearn.spec.errors.ModelError` naming the file, the line or
equation, and the symbol or parameter at fault; :meth:`ModelSpec.validate` runs them in turn.
"""

from __future__ import annotations

import re

from .errors import ModelError
from .quantities import _dim, _unit_namespace, looks_like_quantity, parse_quantity
from .stateupdaters import STATE_UPDATERS, register_state_updaters, unknown_methods

__all__ = [
    "BUILTIN_IDENTIFIERS",
    "check_symbols",
    "check_dimensions",
    "check_expressions",
    "check_initial",
    "check_method",
    "check_parameters",
    "check_presets",
    "eq_needle",
]

#: Identifiers Brian2 provides in every code string.
BUILTIN_IDENTIFIERS = {
    "t",
    "dt",
    "i",
    "j",
    "N",
    "xi",
    "lastspike",
    "not_refractory",
    "t_in_timesteps",
    "N_incoming",
    "N_outgoing",
    "True",
    "False",
}


def eq_needle(var: str, eq) -> str:
    """Text that finds the line of ``var``'s equation in the model file."""
    return f"d{var}/dt" if eq.type == "differential equation" else f"{var} "


def check_symbols(spec, eqs, known: set) -> None:
    """Every identifier of the equations and of the other code strings (threshold, reset,
    refractory condition, ``on_pre``/``on_post``) is ``known``.

    Raises
    ------
    ModelError
        Naming the first undefined symbol and the equation or statement using it.
    """
    from brian2.utils.stringtools import get_identifiers

    for var, eq in eqs.items():
        if eq.expr is None:
            continue
        undefined = get_identifiers(eq.expr.code) - known
        if undefined:
            sym = sorted(undefined)[0]
            raise spec.error(
                f"undefined symbol '{sym}' in the equation for '{var}' "
                f"(not a parameter, state variable, unit or function)",
                eq_needle(var, eq),
                parameter=sym,
            )
    for label, code in spec._code_strings():
        for statement in re.split(r"[\n;]", code):
            undefined = get_identifiers(statement) - known
            if undefined:
                sym = sorted(undefined)[0]
                raise spec.error(
                    f"undefined symbol '{sym}' in {label} '{statement.strip()}'",
                    statement.strip() or None,
                    parameter=sym,
                )


def _dimension_variables(spec, eqs) -> dict:
    """Brian2 ``Constant`` of every name an equation may use (units, functions, constants,
    parameters, built-ins, the model's variables) for dimension analysis."""
    import brian2
    from brian2 import Quantity, second
    from brian2.core.variables import Constant

    variables = {}
    for uname, uval in _unit_namespace().items():
        if hasattr(uval, "dim") or isinstance(uval, (int, float)):
            try:
                variables[uname] = Constant(uname, uval, dimensions=_dim(uval))
            except Exception:
                pass
    variables.update(brian2.DEFAULT_FUNCTIONS)
    for cname, cval in brian2.DEFAULT_CONSTANTS.items():
        variables[cname] = cval
    for pname, p in spec.parameters.items():
        variables[pname] = Constant(pname, p.value, dimensions=p.dim)
    for builtin, dimq in (
        ("t", 1 * second),
        ("dt", 1 * second),
        ("lastspike", 1 * second),
        ("i", 1),
        ("j", 1),
        ("N", 1),
    ):
        variables[builtin] = Constant(builtin, dimq, dimensions=_dim(dimq))
    # white noise of stochastic equations (Brian2: xi and xi_<name>, units of second**-0.5)
    for noise in ("xi", *getattr(eqs, "stochastic_variables", ())):
        variables[noise] = Constant(noise, second**-0.5, dimensions=(second**-0.5).dim)
    for var, eq in eqs.items():
        variables[var] = Constant(var, Quantity(1.0, dim=eq.dim), dimensions=eq.dim)
    return variables


def _unresolved(spec, code: str) -> set:
    """Names of ``code`` whose units are only known when the model is connected: a synapse
    model's ``*_pre``/``*_post`` names and the postsynaptic variables its statements write
    (``{target}``, ``v += w``); checked by Brian2 when the network is built."""
    return spec._deferred_identifiers(code)


def check_dimensions(spec, eqs) -> None:
    """Each right-hand side has the units of its left-hand side (per second for a
    differential equation), checked with Brian2's own expression parser.

    Raises
    ------
    ModelError
        Naming the equation, its line and both units.
    """
    from brian2 import second
    from brian2.parsing.expressions import parse_expression_dimensions
    from brian2.units.fundamentalunits import DimensionMismatchError, get_unit

    variables = _dimension_variables(spec, eqs)
    for var, eq in eqs.items():
        if eq.expr is None or _unresolved(spec, eq.expr.code):
            continue
        expected = eq.dim / second.dim if eq.type == "differential equation" else eq.dim
        try:
            found = parse_expression_dimensions(eq.expr.code, variables)
        except (DimensionMismatchError, KeyError, SyntaxError, TypeError) as exc:
            raise spec.error(
                f"inconsistent units in the equation for '{var}': {exc}",
                eq_needle(var, eq),
                parameter=var,
            ) from None
        if found is not expected and found != expected:
            lhs = "d" + var + "/dt" if eq.type == "differential equation" else var
            raise spec.error(
                f"inconsistent units in the equation for '{var}': the right-hand side has "
                f"units of {get_unit(found)!r} but {lhs} "
                f"needs {get_unit(expected)!r}",
                eq_needle(var, eq),
                parameter=var,
            )


def _statement_error(spec, label: str, code: str, exc: Exception):
    text = " ".join(str(exc).split())
    parse = isinstance(exc, SyntaxError) or "Parsing the statement failed" in text
    what = "cannot parse" if parse else "inconsistent units in"
    return spec.error(
        f"{what} {label} '{' '.join(code.split())}': {text}",
        code.strip().splitlines()[0] if code.strip() else None,
        parameter=label,
    )


def check_expressions(spec, eqs) -> None:
    """Units and syntax of every expression outside the equations, checked with Brian2's
    own parser against the model's variables and parameters (as Brian2 checks them when it
    runs): the threshold (a condition comparing like units), each reset statement (the
    right-hand side in the units of the variable it sets), the refractory period (a time, or
    a condition), the initial values (in their variable's units), ``on_pre``/``on_post``
    (names whose units depend on the connected groups are checked when the network is built).

    Raises
    ------
    ModelError
        Naming the file, the field (``threshold``, ``reset``, ``refractory``,
        ``initial.<variable>``, ``on_pre``, ``on_post``), the statement and both units.
    """
    from brian2 import second
    from brian2.equations.unitcheck import check_units_statements
    from brian2.parsing.expressions import is_boolean_expression, parse_expression_dimensions
    from brian2.units.fundamentalunits import (
        DIMENSIONLESS,
        DimensionMismatchError,
        get_unit,
    )

    errors = (DimensionMismatchError, KeyError, SyntaxError, TypeError, ValueError)
    variables = _dimension_variables(spec, eqs)
    threshold = str(getattr(spec, "threshold", "")).strip()
    for field in ("reset", "refractory"):
        if str(getattr(spec, field, "")).strip() and not threshold:
            raise spec.error(
                f"{field} '{getattr(spec, field).strip()}' given without a threshold (Brian2 "
                f"resets and makes refractory only after a spike); add a threshold",
                f"{field} =",
                parameter=field,
            )
    refractory = str(getattr(spec, "refractory", "")).strip()
    if refractory and looks_like_quantity(refractory):
        dim = _dim(parse_quantity(refractory, "refractory"))
        if dim is not second.dim:
            raise spec.error(
                f"refractory period '{refractory}' has units of {get_unit(dim)!r}, not a time",
                "refractory =",
                parameter="refractory",
            )
    for label, code in spec._code_strings():
        if label not in ("threshold", "refractory"):  # statements: skip the deferred ones
            code = "\n".join(
                line for line in re.split(r"[\n;]", code) if not _unresolved(spec, line)
            )
        if not code.strip() or _unresolved(spec, code):
            continue
        try:
            if label in ("threshold", "refractory"):
                dim = parse_expression_dimensions(code, variables)
                if label == "refractory" and dim is second.dim:
                    continue
                if not is_boolean_expression(code, variables):
                    wanted = "a time or a condition" if label == "refractory" else "a condition"
                    raise spec.error(
                        f"{label} '{code.strip()}' is not {wanted} (it has units of "
                        f"{get_unit(dim)!r})",
                        code.strip(),
                        parameter=label,
                    )
                if dim is not DIMENSIONLESS:  # pragma: no cover - Brian2 returns dimensionless
                    raise DimensionMismatchError("a condition is dimensionless", dim)
            else:
                check_units_statements(code, variables)
        except ModelError:
            raise
        except errors as exc:
            raise _statement_error(spec, label, code, exc) from None
    for var, expr in spec.initial.items():
        if var not in eqs.names:
            continue  # check_initial names it
        try:
            if looks_like_quantity(str(expr)):
                dim = _dim(parse_quantity(str(expr), var))
            else:
                dim = parse_expression_dimensions(str(expr), variables)
        except (*errors, ModelError) as exc:
            raise spec.error(
                f"initial value of '{var}' ('{expr}'): {' '.join(str(exc).split())}",
                parameter=f"initial.{var}",
                line=spec.line_in_table("initial", var),
            ) from None
        if dim is not eqs[var].dim and dim != eqs[var].dim:
            raise spec.error(
                f"initial value of '{var}' ('{expr}') has units of {get_unit(dim)!r} but "
                f"'{var}' has units of {get_unit(eqs[var].dim)!r}",
                parameter=f"initial.{var}",
                line=spec.line_in_table("initial", var),
            )


def check_initial(spec, eqs, known: set) -> None:
    """Initial values are given for variables of the model, with known symbols only.

    Raises
    ------
    ModelError
        Naming the variable or symbol and the line in ``[initial]``.
    """
    from brian2.utils.stringtools import get_identifiers

    for var, expr in spec.initial.items():
        if var not in eqs.names:
            raise spec.error(
                f"initial value given for '{var}', which is not a variable of the model",
                parameter=var,
                line=spec.line_in_table("initial", var),
            )
        undefined = get_identifiers(str(expr)) - known
        if undefined:
            sym = sorted(undefined)[0]
            raise spec.error(
                f"undefined symbol '{sym}' in the initial value of '{var}' ('{expr}')",
                parameter=sym,
                line=spec.line_in_table("initial", var),
            )


def check_method(spec) -> None:
    """``method`` names state updaters Brian2 or neurolearn knows (a state updater object is
    accepted as it is); neurolearn's are registered with Brian2.

    Raises
    ------
    ModelError
        Naming the unknown method and listing the known ones.
    """
    if not isinstance(spec.method, str):
        return
    from brian2.stateupdaters.base import StateUpdateMethod

    register_state_updaters()
    for name in unknown_methods(spec.method):
        brian = [n for n in StateUpdateMethod.stateupdaters if n not in STATE_UPDATERS]
        raise spec.error(
            f"unknown state updater method '{name}'; Brian2 has: {', '.join(brian)}; "
            f"neurolearn adds: {', '.join(STATE_UPDATERS)}",
            "method =",
            parameter="method",
        )


def check_parameters(spec) -> None:
    """Every parameter's default value has its unit, is not NaN, lies in its range and, for
    a time constant, is > 0 (:meth:`Parameter.check`).

    Raises
    ------
    ModelError
        Naming the parameter and its line.
    """
    for name, p in spec.parameters.items():
        p.check(
            p.value,
            spec.path,
            spec.line_of(f"parameters.{name}") or spec.line_of(f"{name} ="),
            context=f"model '{spec.name}'",
        )


def check_presets(spec) -> None:
    """Every named parameter set of ``[presets]`` resolves.

    Raises
    ------
    ModelError
        Naming the preset and the parameter at fault.
    """
    for preset, values in spec.presets.items():
        try:
            spec.resolve_parameters(values)
        except ModelError as exc:
            raise spec.error(f"preset '{preset}': {exc}", f"presets.{preset}") from None

"""Physical quantities as written in model files and on the command line (``"20 ms"``),
parsed with Brian2's units."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from .errors import ModelError

__all__ = ["parse_quantity", "looks_like_quantity"]

_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf)\s*(.*?)\s*$")

_UNITS: dict = {}


def _unit_namespace() -> dict:
    """Names a quantity string may use: Brian2's units (plus ``s`` for second), ``inf``,
    ``pi``, ``e``, ``exp``, ``log``, ``sqrt``; built once, on first use."""
    if _UNITS:
        return _UNITS
    import brian2
    from brian2.units import allunits

    ns = {
        name: getattr(allunits, name)
        for name in dir(allunits)
        if not name.startswith("_") and isinstance(getattr(allunits, name), brian2.Unit)
    }
    ns.update(
        {
            name: getattr(brian2.units, name)
            for name in dir(brian2.units)
            if not name.startswith("_") and isinstance(getattr(brian2.units, name), brian2.Unit)
        }
    )
    ns.setdefault("s", brian2.second)  # 's' is not a Brian2 name; accept it in files
    ns.update(
        {"inf": math.inf, "pi": math.pi, "e": math.e, "exp": np.exp, "log": np.log, "sqrt": np.sqrt}
    )
    _UNITS.update(ns)
    return _UNITS


def parse_quantity(text: Any, what: str = "value"):
    """Parse a physical quantity written in a model file or on the command line.

    Parameters
    ----------
    text : str, int, float or brian2 Quantity
        ``"20 ms"``, ``"20*ms"``, ``"-70 mV"``, ``"0.5 nA"``, ``"1.5 nS/mV"``, ``"inf"`` or a
        plain number (dimensionless). A Quantity is returned unchanged.
    what : str
        Name used in the error message (the parameter being parsed).

    Returns
    -------
    brian2.Quantity or float
        The value in SI base units with its dimensions.

    Raises
    ------
    ModelError
        If the text is not a number followed by a Brian2 unit expression.
    """
    import brian2

    if isinstance(text, brian2.Quantity):
        return text
    if isinstance(text, bool):
        raise ModelError(
            f"{what}: expected a number with a unit, got the boolean {text!r}", parameter=what
        )
    if isinstance(text, (int, float)):
        return float(text)
    if not isinstance(text, str):
        raise ModelError(f"{what}: expected a string such as '20 ms', got {text!r}", parameter=what)
    match = _NUMBER_UNIT.match(text)
    if match is None:
        expr = text
    else:
        number, unit = match.groups()
        unit = unit.lstrip("*").strip()
        if unit.startswith("/"):
            expr = f"({number})/({unit[1:].strip()})"
        else:
            expr = f"({number})*({unit})" if unit else number
    try:
        value = eval(expr, {"__builtins__": {}}, _unit_namespace())  # noqa: S307 - units only
    except Exception as exc:  # NameError, SyntaxError, ...
        raise ModelError(
            f"{what}: cannot read {text!r} as a quantity ({exc}); write a number "
            f"followed by a Brian2 unit, e.g. '20 ms'",
            parameter=what,
        ) from None
    if isinstance(value, (int, float, np.floating, np.integer)):
        return float(value)
    if not isinstance(value, brian2.Quantity):
        raise ModelError(f"{what}: {text!r} is not a quantity", parameter=what)
    return value


def _dim(q):
    from brian2.units.fundamentalunits import get_dimensions

    return get_dimensions(q)


def _fmt(q) -> str:
    import brian2

    if isinstance(q, brian2.Quantity):
        return str(q.in_best_unit(precision=6)) if hasattr(q, "in_best_unit") else str(q)
    return repr(q)


def _qstr(q) -> str:
    """A quantity as a parseable string ('0.02 * second' style, SI)."""
    import brian2

    if isinstance(q, brian2.Quantity):
        from brian2.units.fundamentalunits import get_unit

        if q.dim.is_dimensionless:
            return repr(float(q))
        return f"{float(q)!r} {get_unit(q.dim)!r}"
    return repr(float(q))


def looks_like_quantity(text: str) -> bool:
    """True if ``text`` parses as a quantity (``"2 ms"``), False for an expression
    (``"t_cut + dt"``)."""
    try:
        parse_quantity(text)
        return True
    except ModelError:
        return False

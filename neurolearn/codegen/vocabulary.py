"""The expressions the model IR admits: numbers, symbols, sums, products, powers and a fixed set
of elementary functions of one argument (among the functions Brian2's code generation targets
provide, see Brian2's documentation, "Models and neuron groups: Functions"). Every engine's printer maps each of them
to its own operation; anything else is refused with a :class:`~neurolearn.spec.ModelError`
naming the construct and the equation, before any printing.
"""

from __future__ import annotations

import sympy

from ..spec import ModelError

__all__ = ["UNARY_FUNCTIONS", "split_fraction", "check_supported"]

#: Functions of one argument, by sympy class name (``Abs`` is Brian2's ``abs``, ``ceiling``
#: its ``ceil``).
UNARY_FUNCTIONS = (
    "exp",
    "log",
    "sqrt",
    "sin",
    "cos",
    "tan",
    "sinh",
    "cosh",
    "tanh",
    "Abs",
    "sign",
    "floor",
    "ceiling",
    "asin",
    "acos",
    "atan",
    "log10",
)


def split_fraction(e: sympy.Mul) -> tuple[list, list]:
    """Numerator and denominator factors of a product.

    Parameters
    ----------
    e : sympy.Mul

    Returns
    -------
    (num, den) : lists of sympy expressions
        ``e == Mul(*num) / Mul(*den)``, in the order of ``e.args``; a factor ``b**-k`` with a
        negative numeric exponent goes to ``den`` as ``b`` (``k == 1``) or ``b**k``. Printers
        write ``num[0]*num[1]*.../(den[0]*den[1]*...)``, so the split fixes the order of the
        floating-point operations.
    """
    num, den = [], []
    for a in e.args:
        if a.is_Pow and a.exp.is_number and a.exp.is_negative:
            den.append(a.base if a.exp == -1 else sympy.Pow(a.base, -a.exp))
        else:
            num.append(a)
    return num, den


def check_supported(e, where: str) -> None:
    """Raise if ``e`` holds a construct outside the IR's vocabulary.

    The expression is walked in the order in which printers write it (sums term by term,
    products numerator then denominator, powers base then exponent), so the first offending
    construct is the one named.

    Parameters
    ----------
    e : sympy expression
    where : str
        The equation or statement ``e`` comes from, for the message
        (``"equation 'dv/dt = ...'"``).

    Raises
    ------
    ModelError
        For a complex constant, a function outside :data:`UNARY_FUNCTIONS` (``parameter`` is
        its name: Brian2's ``clip``, ``exprel``...), or any other construct (relations,
        ``Max``/``Min``...).
    """
    if e.is_Symbol:
        return
    if e.is_number:
        value = complex(e)
        if value.imag != 0:
            raise ModelError(f"complex constant {e} in {where}")
        return
    if e.is_Add:
        for a in e.args:
            check_supported(a, where)
        return
    if e.is_Mul:
        num, den = split_fraction(e)
        for a in num + den:
            check_supported(a, where)
        return
    if e.is_Pow:
        check_supported(e.base, where)
        if e.exp != sympy.Rational(1, 2) and not e.exp.is_Integer:
            check_supported(e.exp, where)
        return
    if isinstance(e, sympy.Function):
        name = type(e).__name__
        if name in UNARY_FUNCTIONS and len(e.args) == 1:
            check_supported(e.args[0], where)
            return
        raise ModelError(
            f"function '{name}' has no PyTorch equivalent in the torch bridge ({where})",
            parameter=name,
        )
    raise ModelError(
        f"construct '{e}' ({type(e).__name__}) is not supported by the torch bridge ({where})"
    )

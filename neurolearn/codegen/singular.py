"""Removable singularities of the hoisted coefficients (IR step "singular limits").

The exact solution of coupled linear equations (Brian2's ``exact`` state updater; Brian2
documentation, "Numerical integration") divides by differences of time constants, e.g.
``1/(tau_syn - tau_m)`` for the current-based LIF. The quotient has a finite limit, but a
heterogeneous, trained ``tau_m`` can come arbitrarily close to ``tau_syn``. For every
denominator factor that can vanish (an additive expression with terms of both signs), the
coefficient is evaluated as ``where(|d| < tol*scale, series, exact)``
(:class:`~neurolearn.codegen.ir.SingularGuard`).
"""

from __future__ import annotations

import sympy

from .ir import Plain, SingularGuard

__all__ = ["find_singular", "series_limit", "guard_singularities"]


def find_singular(expr, handled):
    """First denominator factor of ``expr`` that can vanish (terms of both signs).

    Parameters
    ----------
    expr : sympy.Expr
        An expression of parameters and ``dt``.
    handled : set of sympy.Expr
        Factors already guarded further out (skipped, with their negatives); factors holding a
        ``_safe<k>`` symbol are already moved away from their singularity.

    Returns
    -------
    (fac, var, sol, eps) or None
        The factor, the symbol solved for (the first by name, never ``dt``), ``var`` as a
        function of the dummy ``eps`` in ``fac = eps``, and ``eps``.
    """
    for p in sorted(expr.atoms(sympy.Pow), key=sympy.default_sort_key):
        if not (p.exp.is_number and p.exp.is_negative) or not p.base.is_Add:
            continue
        for fac in sympy.Mul.make_args(sympy.factor(p.base)):
            if fac.is_Pow:
                fac = fac.base
            if not fac.is_Add or not fac.free_symbols:
                continue
            if any(s.name.startswith("_safe") for s in fac.free_symbols):
                continue  # already moved away from the singularity
            if fac.could_extract_minus_sign():
                fac = -fac
            if fac in handled or -fac in handled:
                continue
            signs = {sympy.sign(a.as_coeff_Mul()[0]) for a in fac.args}
            if len(signs) < 2:
                continue
            eps = sympy.Dummy("eps")
            for var in sorted(fac.free_symbols, key=lambda s: s.name):
                if var.name == "dt":
                    continue
                sols = sympy.solve(sympy.Eq(fac, eps), var)
                if len(sols) == 1:
                    return fac, var, sols[0], eps
    return None


def series_limit(expr, var, sol, eps, order: int = 3):
    """Taylor expansion of ``expr`` with ``var = sol(eps)`` around ``eps = 0`` (terms up to
    ``eps**(order-1)``; the truncation error of the default is ``O(eps**3)``)."""
    sub = expr.xreplace({var: sol})
    return sympy.series(sub, eps, 0, order).removeO()


def guard_singularities(expr, counter: list, handled=frozenset()):
    """The evaluation program of a coefficient: ``expr`` itself, or a
    :class:`~neurolearn.codegen.ir.SingularGuard` for its first removable singularity whose
    exact and series branches are guarded in turn.

    Parameters
    ----------
    expr : sympy.Expr
        The coefficient (parameters and ``dt``).
    counter : list of one int
        Number of the last temporary; incremented once per node, in the order node, exact
        branch, series branch (the ``<k>`` of the temporaries' names).
    handled : frozenset
        Factors guarded further out.

    Returns
    -------
    Plain or SingularGuard
    """
    counter[0] += 1
    k = counter[0]
    base = find_singular(expr, handled)
    if base is None:
        return Plain(k, expr)
    fac, var, sol, eps = base
    scale = sympy.Add(*[sympy.Abs(a) for a in sympy.Add.make_args(fac)])
    # safe value of `var`: moves the difference to 4*tol*scale where it is small
    safe = sol.xreplace({eps: 4 * sympy.Symbol(f"_tol_scale{k}")})
    exact = expr.xreplace({var: sympy.Symbol(f"_safe{k}")})
    series = series_limit(expr, var, sol, eps)
    series = series.xreplace({eps: sympy.Symbol(f"_d{k}")})
    exact_program = guard_singularities(exact, counter, handled | {fac})
    series_program = guard_singularities(series, counter, handled | {fac})
    return SingularGuard(k, fac, scale, var, safe, exact_program, series_program)

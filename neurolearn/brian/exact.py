"""Brian2's ``exact`` state updater with the singular limits of the model IR: finite and
accurate when time constants are equal or nearly equal.

The exact solution of coupled linear equations divides by differences of time constants: for
the current-based LIF, the coupling of ``I_syn`` into ``v`` over one step is
``R tau_syn (exp(-dt/tau_m) - exp(-dt/tau_syn))/(tau_m - tau_syn)``. Brian2's ``exact`` state
updater (``brian2.stateupdaters.exact.LinearStateUpdater``; Brian2 documentation, "Numerical
integration") prints this quotient as it is: ``0/0 = NaN`` at ``tau_m == tau_syn`` and all
precision lost by cancellation near it (1 % wrong at a relative difference of 1e-12). The torch
engine evaluates the same update through the model IR (:mod:`neurolearn.codegen`), whose
"singular limits" step guards every such quotient with its Taylor series
(:class:`~neurolearn.codegen.SingularGuard`). This module prints that guarded form as Brian2
abstract code, so that both engines compute the same values in every limit:

1. Brian2's ``exact`` code for the equations (the linear system and its matrix exponential,
   exactly as Brian2 derives it);
2. the IR's steps on it: :func:`~neurolearn.codegen.steps.hoist` (parameter-only
   coefficients) and :func:`~neurolearn.codegen.singular.guard_singularities` (their
   removable singularities);
3. if no coefficient has a removable singularity, Brian2's code is returned unchanged;
   otherwise each coefficient is printed as abstract code, a guard
   ``where(|d| < tol*scale, series, exact)`` written with Brian2's ``int`` of the comparison
   (``w*series + (1 - w)*exact`` with ``w`` in {0, 1}: exactly one of the two branches, both
   finite), followed by the update of each state variable in terms of the coefficients.

Refractoriness: Brian2 multiplies the right-hand side of an ``(unless refractory)`` equation by
``int(not_refractory)`` before integrating. The update is derived at ``not_refractory = 1`` and
at ``not_refractory = 0``, each guarded, and selected per neuron the same way; so refractory
neurons follow Brian2's own solution (the clamped variables constant, the others integrated
with them held).

The updater is registered with Brian2 as ``"exact_guarded"``
(``brian2.StateUpdateMethod.register``); :func:`neurolearn.brian.build.make_neuron_group` and
:func:`~neurolearn.brian.build.make_synapses` use it wherever a model names ``exact``, so
``neurolearn simulate``, :class:`~neurolearn.brian.network.NetworkSpec` and
:func:`neurolearn.bridge.to_brian2` all integrate with it. ``tol`` is the torch engine's for
float64 (1e-4: cancellation and truncation errors both ~1e-12 relative).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import brian2
import sympy
from brian2.parsing.sympytools import str_to_sympy, sympy_to_str
from brian2.stateupdaters.base import StateUpdateMethod, UnsupportedEquationsException
from brian2.stateupdaters.exact import linear
from brian2.utils.caching import cached

from ..codegen import Plain, SingularGuard
from ..codegen.singular import guard_singularities
from ..codegen.steps import hoist
from ..io import atomic_write_text
from ..paths import cache_dir

__all__ = [
    "GUARDED_EXACT",
    "TOLERANCE",
    "GuardedLinearStateUpdater",
    "guarded_exact",
    "register_guarded_exact",
    "brian2_method",
]

#: Name under which the updater is registered with Brian2.
GUARDED_EXACT = "exact_guarded"
#: Relative width of the band around a singularity where the series is used (float64).
TOLERANCE = 1e-4

#: Folder of :func:`neurolearn.paths.cache_dir` holding the guarded code.
CACHE_FOLDER = "brian_exact"
#: Version of the printed form (part of the cache key: change it when the printer changes).
_FORM_VERSION = 2  # 2: exp(x)*exp(-x) products cancelled (codegen.steps.hoist)
_NONE = "# no removable singularity\n"

_STATEMENT = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*(.+?)\s*$")
_PREFIX = "_nl"  # prefix of this updater's temporaries (Brian2's own start with '_' too)


def _int_not_refractory(expr) -> list:
    return [
        f
        for f in expr.atoms(sympy.Function)
        if type(f).__name__ == "int_" and getattr(f.args[0], "name", None) == "not_refractory"
    ]


def _at_refractoriness(expr, value: int):
    """``expr`` with ``int(not_refractory)`` (and a bare ``not_refractory``) set to ``value``."""
    repl = {f: sympy.Integer(value) for f in _int_not_refractory(expr)}
    expr = expr.xreplace(repl)
    bare = [s for s in expr.free_symbols if s.name == "not_refractory"]
    return expr.xreplace({s: sympy.Integer(value) for s in bare})


class _Printer:
    """Abstract-code statements of the guarded coefficients and updates of one branch."""

    def __init__(self, tag: str):
        self.tag = tag
        self.lines: list[str] = []
        self.counter = [0]

    def name(self, base: str) -> str:
        return f"{_PREFIX}{self.tag}_{base}"

    def rename(self, expr):
        """The IR's symbols as Brian2 names: ``C__c<k>`` and the guards' temporaries to this
        printer's temporaries, ``P__<name>`` to the parameter itself."""
        repl = {}
        for s in expr.free_symbols:
            n = s.name
            if n.startswith("C__"):
                repl[s] = sympy.Symbol(self.name(n[3:]))
            elif n.startswith("P__"):
                repl[s] = sympy.Symbol(n[3:])
            elif re.match(r"^_(d|safe|tol_scale|v)\d+$", n):
                repl[s] = sympy.Symbol(self.name(n[1:]))
        return expr.xreplace(repl)

    def emit(self, node) -> str:
        """Statements evaluating a coefficient's program; returns the temporary holding it."""
        out = self.name(f"v{node.index}")
        if isinstance(node, Plain):
            self.lines.append(f"{out} = {sympy_to_str(self.rename(node.expr))}")
            return out
        k = node.index
        d, w = self.name(f"d{k}"), self.name(f"w{k}")
        scale = sympy_to_str(self.rename(node.scale))
        self.lines.append(f"{d} = {sympy_to_str(self.rename(node.difference))}")
        self.lines.append(f"{self.name(f'tol_scale{k}')} = {TOLERANCE!r}*({scale})")
        self.lines.append(f"{w} = int(abs({d}) < {self.name(f'tol_scale{k}')})")
        safe = sympy_to_str(self.rename(node.safe))
        variable = sympy_to_str(node.variable)
        self.lines.append(f"{self.name(f'safe{k}')} = {w}*({safe}) + (1 - {w})*({variable})")
        exact = self.emit(node.exact)
        series = self.emit(node.series)
        self.lines.append(f"{out} = {w}*{series} + (1 - {w})*{exact}")
        return out

    def branch(self, updates: dict, static: set) -> dict | None:
        """Print ``updates`` (state variable -> sympy expression) with guarded coefficients;
        None when no coefficient has a removable singularity."""
        hoisted, coefficients = hoist(updates, static)
        try:
            programs = [(c, guard_singularities(e, self.counter)) for c, e in coefficients]
        except NotImplementedError:  # sympy cannot expand a limit: Brian2 refuses the model
            raise UnsupportedEquationsException(
                "the singular limit of a coefficient of the exact solution (where two time "
                "constants meet) is beyond sympy's series expansion"
            ) from None
        if not any(isinstance(p, SingularGuard) for _, p in programs):
            return None
        for c, program in programs:
            self.lines.append(f"{self.name(c)} = {self.emit(program)}")
        return {v: sympy_to_str(self.rename(e)) for v, e in hoisted.items()}


def _cache_file(code: str) -> Path | None:
    key = f"{_FORM_VERSION}|{TOLERANCE!r}|{brian2.__version__}|{sympy.__version__}|{code}"
    try:
        return Path(cache_dir()) / CACHE_FOLDER / f"{hashlib.sha256(key.encode()).hexdigest()}.txt"
    except Exception:  # no writable cache: compute every time
        return None


def guarded_exact(code: str) -> str | None:
    """Brian2's ``exact`` abstract code with its coefficients' singular limits guarded.

    Parameters
    ----------
    code : str
        Abstract code of Brian2's ``exact`` state updater: ``_x = expression`` for each state
        variable ``x``, then ``x = _x``.

    Returns
    -------
    str or None
        The guarded code (same variables, same statements ``x = _x`` at the end); None when
        no coefficient has a removable singularity (Brian2's code is right as it is).

    Notes
    -----
    The series expansions take seconds of sympy; the result is cached on disk in
    ``cache_dir()/brian_exact`` under a sha256 key of the code, the tolerance and the versions
    of Brian2, sympy and this printer.
    """
    cache_file = _cache_file(code)
    try:
        if cache_file is not None and cache_file.is_file():
            text = cache_file.read_text(encoding="utf-8")
            return None if text == _NONE else text
    except OSError:  # unreadable cache: compute
        cache_file = None
    out = _guarded_exact_uncached(code)
    if cache_file is not None:
        try:
            atomic_write_text(cache_file, _NONE if out is None else out)
        except OSError:
            pass
    return out


def _guarded_exact_uncached(code: str) -> str | None:
    updates, finals = {}, []
    for raw in code.splitlines():
        if not raw.strip():
            continue
        m = _STATEMENT.match(raw)
        if m is None:  # pragma: no cover - Brian2's exact code is a list of assignments
            return None
        lhs, rhs = m.groups()
        if lhs.startswith("_") and lhs[1:]:
            updates[lhs[1:]] = str_to_sympy(rhs)
        else:
            finals.append(raw.strip())
    states = set(updates)
    names = set().union(*(e.free_symbols for e in updates.values())) if updates else set()
    static = {s.name for s in names if s.name not in states and s.name != "t"} | {"dt"}
    static.discard("not_refractory")
    active = {v: _at_refractoriness(e, 1) for v, e in updates.items()}
    # refractory neurons: only the variables whose update depends on not_refractory
    held = {v: _at_refractoriness(e, 0) for v, e in updates.items() if _int_not_refractory(e)}
    printers = [(_Printer("a" if held else ""), active), (_Printer("r"), held)]
    branches = [p.branch(upd, static) if upd else None for p, upd in printers]
    if all(b is None for b in branches):
        return None
    lines = []
    for (printer, upd), k in zip(printers, range(2)):
        if branches[k] is None:  # no singularity in this branch: Brian2's expressions
            branches[k] = {v: sympy_to_str(e) for v, e in upd.items()}
        lines += printer.lines
    on, off = branches
    nr = "int(not_refractory)"
    for var in updates:
        if var in held:
            lines.append(f"_{var} = {nr}*({on[var]}) + (1 - {nr})*({off[var]})")
        else:
            lines.append(f"_{var} = {on[var]}")
    return "\n".join(lines + finals)


class GuardedLinearStateUpdater(StateUpdateMethod):
    """Brian2's ``exact`` (linear) state updater whose removable singularities are guarded
    as the model IR guards them (see the module docstring).

    Integrates the same equations as Brian2's ``exact`` and refuses the same ones (raising
    Brian2's ``UnsupportedEquationsException``: nonlinear or stochastic equations, complex
    eigenvalues).
    """

    @cached
    def __call__(self, equations, variables=None, method_options=None):
        """Abstract code of one time step (Brian2's ``StateUpdateMethod`` interface).

        Parameters
        ----------
        equations : brian2.Equations
        variables : dict, optional
            Brian2's ``Variable`` objects of the group.
        method_options : dict, optional
            Those of Brian2's ``exact`` (``simplify``).

        Returns
        -------
        str

        Raises
        ------
        brian2.stateupdaters.base.UnsupportedEquationsException
            Where Brian2's ``exact`` raises it.
        """
        code = linear(equations, variables, method_options)
        return guarded_exact(code) or code

    def __repr__(self):
        return f"{type(self).__name__}()"


_UPDATER = GuardedLinearStateUpdater()


def register_guarded_exact() -> None:
    """Register the updater with Brian2 as :data:`GUARDED_EXACT` (idempotent)."""
    if StateUpdateMethod.stateupdaters.get(GUARDED_EXACT) is not _UPDATER:
        StateUpdateMethod.stateupdaters.pop(GUARDED_EXACT, None)
        StateUpdateMethod.register(GUARDED_EXACT, _UPDATER)


def brian2_method(method):
    """The ``method`` argument neurolearn gives Brian2 for a model's ``method``: ``"exact"``
    (alone or in a comma-separated list of methods Brian2 tries in turn) becomes
    :data:`GUARDED_EXACT`; anything else is returned unchanged."""
    if not isinstance(method, str):
        return method
    names = [m.strip() for m in method.split(",")]
    if not any(n.lower() in ("exact", "linear") for n in names):
        return method
    register_guarded_exact()
    names = [GUARDED_EXACT if n.lower() in ("exact", "linear") else n for n in names]
    return names[0] if len(names) == 1 else names

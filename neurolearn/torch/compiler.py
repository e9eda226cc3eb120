"""Compile a neuron model's Brian2 equations into differentiable PyTorch update functions.

The update is *derived*, not hand-written: Brian2 itself integrates the model's equations
with the spec's state updater (``exact``, ``exponential_euler``, ``euler``...; Stimberg,
Brette & Goodman 2019, eLife 8:e47314), producing the same abstract code its code generators
turn into C++/Cython/NumPy. That code is parsed into sympy
(:func:`brian2.parsing.sympytools.str_to_sympy`) and printed as PyTorch expressions.

Three transformations are applied to the symbolic update before printing:

* **refractoriness** -- Brian2 multiplies the right-hand side of every ``(unless refractory)``
  equation by ``int(not_refractory)``. The compiled update uses ``not_refractory = 1`` and the
  layer keeps the variable unchanged (``torch.where``) while refractory, which is exactly the
  integral of ``dv/dt = 0`` (and avoids the ``0/0`` some updaters produce at
  ``not_refractory = 0``).
* **hoisting** -- every maximal sub-expression that depends only on parameters and ``dt``
  (decay factors ``exp(-dt/tau)``, the coupling coefficient of ``I_syn`` in the exact LIF
  solution...) becomes a *coefficient* computed once per forward pass; the per-step code is a
  few multiply-adds. Gradients reach the parameters through the coefficients.
* **removable singularities** -- the exact solution of coupled linear equations divides by
  differences of time constants, e.g. ``1/(tau_syn - tau_m)`` for the current-based LIF.
  The quotient has a finite limit, but a heterogeneous, trained ``tau_m`` can come arbitrarily
  close to ``tau_syn``, where the formula loses all precision (catastrophic cancellation) and
  is ``0/0`` at equality. For every denominator factor that can vanish (an additive
  expression with terms of both signs), the coefficient is evaluated as
  ``where(|d| < tol*scale, series, exact)``: ``series`` is sympy's Taylor expansion in the
  vanishing difference ``d`` up to ``d**2`` (truncation error ``O(tol**3)``), and the exact
  branch is evaluated at a shifted, safe value of the parameter so that neither branch
  produces ``inf``/``NaN`` values or gradients. ``tol`` is 1e-4 in float64 (cancellation error
  and truncation error both ~1e-12) and 1e-2 in float32.

Units: everything is computed in SI base units (volt, ampere, second, siemens...) with no
unit checking inside torch; Brian2 checked the equations' dimensions when it integrated them.
Unit names appearing in the code (``mV`` in the Izhikevich model) are replaced by their SI
values.

Unsupported constructs (stochastic ``xi`` terms, functions without a PyTorch equivalent,
conditions inside equations, synaptic or summed variables) raise :class:`~neurolearn.spec.ModelError`
naming the construct and the equation.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import math
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..spec import ModelError, NeuronModel, load_model, parse_quantity

__all__ = ["CompiledModel", "compile_model", "SI_DISPLAY_UNITS"]

#: Display unit in which a parameter of a given SI dimension is stored (and trained) by the
#: torch layers: numbers of order 1-100, so that optimiser step sizes mean the same thing
#: for every parameter. Keys are Brian2 unit names of the SI dimension.
SI_DISPLAY_UNITS = {
    "second": "ms",
    "volt": "mV",
    "amp": "nA",
    "siemens": "nS",
    "farad": "pF",
    "ohm": "Mohm",
    "hertz": "Hz",
    "1": "1",
    "volt/second": "mV/ms",
}

_TORCH_FUNCS = {
    "exp": "torch.exp",
    "log": "torch.log",
    "sqrt": "torch.sqrt",
    "sin": "torch.sin",
    "cos": "torch.cos",
    "tan": "torch.tan",
    "sinh": "torch.sinh",
    "cosh": "torch.cosh",
    "tanh": "torch.tanh",
    "Abs": "torch.abs",
    "sign": "torch.sign",
    "floor": "torch.floor",
    "ceiling": "torch.ceil",
    "asin": "torch.asin",
    "acos": "torch.acos",
    "atan": "torch.atan",
    "log10": "torch.log10",
}

_TOL = {"float64": 1e-4, "float32": 1e-2, "float16": 3e-2, "bfloat16": 3e-2}


def _sym_by_name(expr) -> dict:
    return {s.name: s for s in expr.free_symbols}


class _Printer:
    """Minimal sympy -> PyTorch source printer (every symbol is looked up in ``names``)."""

    def __init__(self, names: Callable[[str], str], where: str):
        self.names = names
        self.where = where

    def __call__(self, e) -> str:
        import sympy

        if e.is_Symbol:
            return self.names(e.name)
        if e.is_number:
            value = complex(e)
            if value.imag != 0:
                raise ModelError(f"complex constant {e} in {self.where}")
            return repr(float(value.real))
        if e.is_Add:
            return "(" + " + ".join(self(a) for a in e.args) + ")"
        if e.is_Mul:
            num, den = [], []
            for a in e.args:
                if a.is_Pow and a.exp.is_number and a.exp.is_negative:
                    den.append(a.base if a.exp == -1 else sympy.Pow(a.base, -a.exp))
                else:
                    num.append(a)
            out = "*".join(self(a) for a in num) if num else "1.0"
            if den:
                out += "/(" + "*".join(self(d) for d in den) + ")"
            return "(" + out + ")"
        if e.is_Pow:
            if e.exp == sympy.Rational(1, 2):
                return f"torch.sqrt({self(e.base)})"
            if e.exp.is_Integer:
                return f"({self(e.base)})**{int(e.exp)}"
            return f"torch.pow({self(e.base)}, {self(e.exp)})"
        if isinstance(e, sympy.Function):
            name = type(e).__name__
            if name in _TORCH_FUNCS and len(e.args) == 1:
                return f"{_TORCH_FUNCS[name]}({self(e.args[0])})"
            if name in ("Max", "Min"):
                op = "torch.maximum" if name == "Max" else "torch.minimum"
                out = self(e.args[0])
                for a in e.args[1:]:
                    out = f"{op}({out}, {self(a)})"
                return out
            raise ModelError(
                f"function '{name}' has no PyTorch equivalent in the torch bridge ({self.where})",
                parameter=name,
            )
        raise ModelError(
            f"construct '{e}' ({type(e).__name__}) is not supported by the "
            f"torch bridge ({self.where})"
        )


@dataclasses.dataclass
class _Coefficient:
    name: str
    expr: object  # sympy expression of parameters and dt


@dataclasses.dataclass(eq=False)
class CompiledModel:
    """A neuron model compiled to PyTorch update functions (see the module docstring).

    Build with :func:`compile_model`. All tensors are in SI units; ``P`` below is a dict of
    parameter tensors (0-d for shared parameters, ``[neurons]`` for per-neuron ones, also the
    model's external variables such as ``I_ext``), ``S`` a dict of state tensors
    ``[batch, neurons]``.

    Attributes
    ----------
    spec : NeuronModel
        The model the code was derived from.
    dt : float
        Time step in seconds.
    state_names : list of str
        Differential-equation variables, in file order.
    external_names : list of str
        Variables declared without an equation (``I_ext : amp``): constant inputs, set like
        parameters (default 0).
    param_names : list of str
        The spec's parameters.
    clamped : tuple of str
        Variables flagged ``(unless refractory)``.
    refractory : str, float or None
        Name of the refractory-period parameter, a fixed period in seconds, or None.
    threshold_variable : str
        The state variable the spike condition is taken through.
    threshold_strict : bool
        ``True`` for ``>`` / ``<`` conditions (a spike needs ``x > 0``), ``False`` for ``>=``.
    threshold_scale : float
        Distance (SI) between the threshold and the post-reset state at default parameters;
        the surrogate derivative is evaluated at ``x / threshold_scale``.
    units : dict of str -> brian2.Unit
        SI unit of every state variable, external variable and parameter.
    update_code, threshold_code, reset_code, static_code : str
        The generated PyTorch source (for inspection).
    """

    spec: NeuronModel
    dt: float
    state_names: list
    external_names: list
    param_names: list
    clamped: tuple
    refractory: object
    threshold_variable: str | None
    threshold_strict: bool
    threshold_scale: float
    units: dict
    reset_targets: list
    update_code: str = ""
    threshold_code: str = ""
    reset_code: str = ""
    static_code: str = ""
    initial_code: str = ""
    _fns: dict = dataclasses.field(default_factory=dict, repr=False)

    # -- runtime -------------------------------------------------------------------------------
    def coefficients(self, P: dict) -> dict:
        """Per-forward-pass coefficients (decay factors etc.) from parameters ``P`` (SI).

        Returns
        -------
        dict of str -> Tensor
            Broadcastable against ``[batch, neurons]``; differentiable w.r.t. ``P``.
        """
        import torch

        ref = next(iter(P.values()))
        tol = _TOL.get(str(ref.dtype).replace("torch.", ""), 1e-4)
        dt = torch.as_tensor(self.dt, dtype=ref.dtype, device=ref.device)
        return self._fns["static"](P, dt, tol)

    def update(self, S: dict, C: dict, t=None) -> dict:
        """One state update (integration over ``dt``) ignoring refractoriness.

        Parameters
        ----------
        S : dict of str -> Tensor ``[batch, neurons]``
            Current state (SI).
        C : dict
            From :meth:`coefficients`.
        t : Tensor or float, optional
            Time at the start of the step (s), for models that use ``t``.

        Returns
        -------
        dict of str -> Tensor
            New value of every state variable (the layer keeps ``clamped`` variables of
            refractory neurons unchanged).
        """
        return self._fns["update"](S, C, t)

    def threshold(self, S: dict, P: dict):
        """Signed distance to threshold ``x`` (SI, ``[batch, neurons]``): a spike is ``x > 0``
        (``x >= 0`` if not :attr:`threshold_strict`)."""
        return self._fns["threshold"](S, P)

    def reset(self, index: int, S: dict, P: dict):
        """Value assigned by reset statement ``index`` (in file order) to
        ``reset_targets[index]``, computed from the current (partly reset) state."""
        return self._fns["reset"][index](S, P)

    def initial_state(self, P: dict, shape) -> dict:
        """Initial value of every state variable, ``[batch, neurons]`` (``shape``), from the
        spec's ``[initial]`` table (0 where absent)."""
        import torch

        ref = next(iter(P.values()))
        out = self._fns["initial"](P)
        return {
            k: torch.broadcast_to(
                torch.as_tensor(v, dtype=ref.dtype, device=ref.device), shape
            ).clone()
            for k, v in out.items()
        }

    def inplace(self, which: str):
        """The in-place (``out=``) variant of the generated ``update`` or ``threshold``
        function, translated from the same generated source (:func:`_inplace_source`), or
        None when a construct has no in-place form.

        Returns
        -------
        (fn, n_tmp) or None
            ``fn(S, C, t, out, tmp)`` for ``'update'`` writes the new value of every state
            variable into ``out[name]`` (tensors ``[batch, neurons]`` that must not alias
            ``S``); ``fn(S, P, out, tmp)`` for ``'threshold'`` writes the signed distance to
            threshold into the tensor ``out``. ``tmp`` is a list of ``n_tmp`` scratch
            tensors ``[batch, neurons]``. Every operation is the one the generated function
            performs, in the same order, so results are bit-identical; only the result
            tensors are reused instead of allocated (the per-step cost of the fused loops).

        Raises
        ------
        ValueError
            If ``which`` is neither ``'update'`` nor ``'threshold'``.
        """
        if which not in ("update", "threshold"):
            raise ValueError(f"inplace: which must be 'update' or 'threshold', not {which!r}")
        key = "inplace_" + which
        if key not in self._fns:
            src = {"update": self.update_code, "threshold": self.threshold_code}[which]
            res = _inplace_source(src)
            if res is not None:
                import torch

                code, n_tmp = res
                ns = {"torch": torch}
                exec(
                    compile(
                        code,
                        f"<neurolearn.torch:{self.spec.name}:inplace>",  # noqa: S102
                        "exec",
                    ),
                    ns,
                )
                res = (ns["_inplace"], n_tmp)
            self._fns[key] = res
        return self._fns[key]

    @property
    def has_refractory(self) -> bool:
        """Whether the model has a refractory period."""
        return self.refractory is not None

    def refractory_steps(self, P: dict) -> int | object:
        """Refractory period in time steps, with Brian2's rounding
        (``timestep(t_ref, dt) = int((t_ref + 1e-3 dt)/dt)``); a tensor for per-neuron
        periods, 0 without refractoriness."""
        import torch

        if self.refractory is None:
            return 0
        value = (
            P[self.refractory]
            if isinstance(self.refractory, str)
            else torch.as_tensor(float(self.refractory))
        )
        value = value.detach().to(torch.float64)
        steps = torch.floor((value + 1e-3 * self.dt) / self.dt).to(torch.int64)
        return int(steps) if steps.ndim == 0 else steps


# ---------------------------------------------------------------------------------------------
# Compilation
# ---------------------------------------------------------------------------------------------
def compile_model(model, dt, method: str | None = None) -> CompiledModel:
    """Compile a neuron model into differentiable PyTorch update functions.

    Parameters
    ----------
    model : NeuronModel or str
        A spec or a zoo name / path (:func:`neurolearn.spec.load_model`).
    dt : Quantity, str or float
        Time step (a Quantity, ``"1 ms"``, or seconds).
    method : str, optional
        Brian2 state updater overriding the spec's ``method``.

    Returns
    -------
    CompiledModel

    Raises
    ------
    ModelError
        For a non-neuron model, a stochastic equation (``xi``), a function without a PyTorch
        equivalent, a threshold that is not a single comparison, or a reset statement that is
        not ``var = expr`` / ``var += expr`` / ``var -= expr`` / ``var *= expr``; the message
        names the construct and the equation.

    Notes
    -----
    Results are cached per (spec, dt, method); compiling a zoo model takes 0.1-1 s (sympy).
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
    dt_s = float(parse_quantity(dt, "dt")) if not isinstance(dt, float) else dt
    if not dt_s > 0:
        raise ModelError(f"dt must be > 0, got {dt!r}", parameter="dt")
    key = json.dumps(model.to_dict(), sort_keys=True) + f"|{dt_s!r}|{method}"
    return _compile_cached(key, model, dt_s, method)


_CACHE: dict = {}


def _compile_cached(key, model, dt_s, method):
    if key not in _CACHE:
        _CACHE[key] = _compile(model, dt_s, method)
    cm = _CACHE[key]
    return dataclasses.replace(cm, spec=model, _fns=cm._fns)


def _equation_text(spec, name: str) -> str:
    for raw in spec.equations.splitlines():
        s = raw.strip()
        if s.startswith(f"d{name}/dt") or re.match(rf"^{re.escape(name)}\s*[:=]", s):
            return s
    return name


def _abstract_update_code(spec, method):
    """Brian2's abstract state-update code for ``spec`` (with its refractoriness handling).

    Brian2's ``exact`` integration of coupled equations takes seconds (sympy's matrix
    exponential), so the code is cached on disk under :func:`neurolearn.paths.cache_dir`
    keyed by the equations, method, refractoriness and Brian2's version.
    """
    import hashlib

    import brian2

    key = json.dumps(
        [
            spec.equations,
            method or spec.method,
            spec.refractory,
            spec.threshold,
            brian2.__version__,
            sorted(spec.parameters),
        ]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    cache_file = None
    try:
        from ..paths import cache_dir

        cache_file = Path(cache_dir()) / "torch_bridge" / f"{digest}.txt"
        if cache_file.is_file():
            return cache_file.read_text(encoding="utf-8")
    except Exception:  # no writable cache: compute every time
        cache_file = None
    code = _abstract_update_code_uncached(spec, method)
    if cache_file is not None:
        try:
            from ..io import atomic_write_text

            atomic_write_text(cache_file, code)
        except OSError:
            pass
    return code


def _abstract_update_code_uncached(spec, method):
    import brian2

    from ..brian.build import make_neuron_group

    eqs = spec.brian2_equations()
    for name, eq in eqs.items():
        if eq.expr is not None and "xi" in eq.identifiers | set(
            getattr(eq, "stochastic_variables", ())
        ):
            raise spec.error(
                f"stochastic term 'xi' in equation '{_equation_text(spec, name)}' "
                f"is not supported by the torch bridge (surrogate-gradient "
                f"training needs a deterministic model)",
                f"d{name}/dt",
                name,
            )
    for name, eq in eqs.items():
        if eq.type == "differential equation" and eq.expr is not None:
            ids = eq.identifiers
            if any(i.startswith("xi") and (i == "xi" or i.startswith("xi_")) for i in ids):
                raise spec.error(
                    f"stochastic term in equation '{_equation_text(spec, name)}' "
                    f"is not supported by the torch bridge",
                    f"d{name}/dt",
                    name,
                )
        for flag in eq.flags:
            if flag not in ("unless refractory", "constant", "shared"):
                raise spec.error(
                    f"flag '({flag})' of '{_equation_text(spec, name)}' is not "
                    f"supported by the torch bridge",
                    name,
                    name,
                )
    try:
        with _quiet_brian():
            group = make_neuron_group(spec, 1, method=method)
            group.state_updater.update_abstract_code(run_namespace={})
            code = group.state_updater.abstract_code
            del group
            import gc

            gc.collect()
    except ModelError:
        raise
    except Exception as exc:
        raise spec.error(
            f"Brian2 could not integrate the equations with method "
            f"'{method or spec.method}': {exc}",
            "method",
            "method",
        ) from None
    del brian2
    return code


class _quiet_brian:
    def __enter__(self):
        import logging

        self._logger = logging.getLogger("brian2")
        self._level = self._logger.level
        self._logger.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        self._logger.setLevel(self._level)


def _unit_values(names) -> dict:
    from ..spec import _unit_namespace

    ns = _unit_namespace()
    out = {}
    for n in names:
        if n in ns and not callable(ns[n]):
            out[n] = float(ns[n])
    return out


def _compile(spec: NeuronModel, dt: float, method) -> CompiledModel:
    import sympy
    from brian2.parsing.sympytools import str_to_sympy
    from brian2.units.fundamentalunits import get_unit

    eqs = spec.brian2_equations()
    states = list(spec.state_variables)
    externals = [n for n in eqs.parameter_names if n not in spec.parameters]
    subexprs = {n: eqs[n].expr.code for n in eqs.subexpr_names}
    params = list(spec.parameters)
    clamped = tuple(n for n, eq in eqs.items() if "unless refractory" in eq.flags)
    units = {}
    for n, eq in eqs.items():
        units[n] = get_unit(eq.dim)
    for n, p in spec.parameters.items():
        units[n] = get_unit(p.dim)

    code = _abstract_update_code(spec, method)

    # ---- parse the abstract code into final expressions of the old state -------------------
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
    updates = {}
    for var in states:
        if var not in env:
            updates[var] = None
            continue
        updates[var] = env[var]

    dynamic = set(states) | {"t"}
    static_names = set(params) | set(externals) | {"dt"}

    def prepare(expr, where):
        """Substitute not_refractory=1 and unit names; check symbols and functions."""
        if expr is None:
            return None
        repl = {}
        for f in list(expr.atoms(sympy.Function)):
            fname = type(f).__name__
            if fname == "int_":
                inner = f.args[0]
                if getattr(inner, "name", None) == "not_refractory":
                    repl[f] = sympy.Integer(1)
                else:
                    raise ModelError(
                        f"construct 'int({inner})' in {where} is not supported "
                        f"by the torch bridge (conditions inside equations)",
                        spec.path,
                        parameter=str(inner),
                    )
        expr = expr.xreplace(repl)
        by = _sym_by_name(expr)
        if "not_refractory" in by:
            expr = expr.xreplace({by["not_refractory"]: sympy.Integer(1)})
            by = _sym_by_name(expr)
        unknown = [n for n in by if n not in dynamic | static_names]
        values = _unit_values(unknown)
        expr = expr.xreplace({by[n]: sympy.Float(v, 17) for n, v in values.items()})
        still = sorted(n for n in unknown if n not in values)
        if still:
            raise ModelError(
                f"unknown name(s) {', '.join(still)} in {where}", spec.path, parameter=still[0]
            )
        # check functions now, for a clear message
        _Printer(lambda n: n, where)(expr)
        return expr

    for var in states:
        updates[var] = prepare(updates[var], f"equation '{_equation_text(spec, var)}'")

    # ---- hoist static sub-expressions into coefficients --------------------------------------
    coeffs: list[_Coefficient] = []
    coeff_index: dict = {}

    def is_static(e):
        return all(s.name in static_names for s in e.free_symbols)

    def hoist(e):
        if e.is_number:
            return e
        if is_static(e):
            if e.is_Symbol:
                return sympy.Symbol(f"P__{e.name}")
            if e in coeff_index:
                return coeff_index[e]
            sym = sympy.Symbol(f"C__c{len(coeffs)}")
            coeffs.append(_Coefficient(sym.name, e))
            coeff_index[e] = sym
            return sym
        if e.is_Symbol:
            return e
        if e.is_Add or e.is_Mul:
            stat = [a for a in e.args if is_static(a)]
            dyn = [a for a in e.args if not is_static(a)]
            parts = [hoist(a) for a in dyn]
            if stat:
                parts.append(hoist(e.func(*stat)))
            return e.func(*parts, evaluate=False)
        return e.func(*[hoist(a) for a in e.args])

    hoisted = {v: (hoist(e) if e is not None else None) for v, e in updates.items()}

    # ---- per-step code -----------------------------------------------------------------------
    def state_name(n):
        if n.startswith("C__"):
            return f"C[{n[3:]!r}]"
        if n.startswith("P__"):
            return f"C[{('P_' + n[3:])!r}]"
        if n == "t":
            return "t"
        if n.startswith("_x"):
            return n
        return f"S[{n!r}]"

    exprs = [hoisted[v] for v in states if hoisted[v] is not None]
    replacements, reduced = sympy.cse(
        exprs, symbols=sympy.numbered_symbols("_x"), optimizations=None, order="none"
    )
    pr = _Printer(state_name, f"model '{spec.name}'")
    lines = ["def _update(S, C, t):"]
    for sym, e in replacements:
        lines.append(f"    {sym.name} = {pr(e)}")
    it = iter(reduced)
    out_items = []
    for v in states:
        if hoisted[v] is None:
            out_items.append(f"{v!r}: S[{v!r}]")
        else:
            out_items.append(f"{v!r}: {pr(next(it))}")
    lines.append("    return {" + ", ".join(out_items) + "}")
    update_code = "\n".join(lines)

    # ---- static coefficients with removable singularities ------------------------------------
    static_lines = ["def _static(P, dt, tol):", "    C = {'P_dt': dt}"]
    for n in params + externals:
        static_lines.append(f"    C['P_{n}'] = P[{n!r}]")
    counter = [0]

    def pname(n):
        if n == "dt":
            return "dt"
        if n.startswith("_"):
            return n
        return f"P[{n!r}]"

    def emit(expr, indent, handled=frozenset()) -> str:
        """Emit lines computing ``expr`` into a fresh variable; returns its name."""
        counter[0] += 1
        out = f"_v{counter[0]}"
        base = _find_singular(expr, handled)
        spr = _Printer(pname, f"model '{spec.name}'")
        if base is None:
            static_lines.append(f"{indent}{out} = {spr(expr)}")
            return out
        fac, var, sol, eps = base
        k = counter[0]
        scale = sympy.Add(*[sympy.Abs(a) for a in sympy.Add.make_args(fac)])
        static_lines.append(f"{indent}_d{k} = {spr(fac)}")
        static_lines.append(f"{indent}_small{k} = torch.abs(_d{k}) < tol*({spr(scale)})")
        # safe value of `var`: moves the difference to 4*tol*scale where it is small
        safe = sol.xreplace({eps: 4 * sympy.Symbol(f"_tol_scale{k}")})
        static_lines.append(f"{indent}_tol_scale{k} = tol*({spr(scale)})")
        static_lines.append(f"{indent}_safe{k} = torch.where(_small{k}, {spr(safe)}, {spr(var)})")
        exact = expr.xreplace({var: sympy.Symbol(f"_safe{k}")})
        series = _series(expr, var, sol, eps)
        series = series.xreplace({eps: sympy.Symbol(f"_d{k}")})
        e_name = emit(exact, indent, handled | {fac})
        s_name = emit(series, indent, handled | {fac})
        static_lines.append(f"{indent}{out} = torch.where(_small{k}, {s_name}, {e_name})")
        return out

    for c in coeffs:
        name = emit(c.expr, "    ")
        static_lines.append(f"    C[{c.name[3:]!r}] = {name}")
    static_lines.append("    return C")
    static_code = "\n".join(static_lines)

    # ---- threshold ------------------------------------------------------------------------
    def substitute_subexpressions(text):
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

    def sp_name(n):
        if n in states:
            return f"S[{n!r}]"
        if n == "t":
            return "t"
        return f"P[{n!r}]"

    thr_code = "def _threshold(S, P):\n    return None"
    strict = True
    thr_var = None
    if spec.threshold.strip():
        try:
            rel = substitute_subexpressions(spec.threshold)
        except Exception as exc:
            raise spec.error(
                f"cannot parse threshold '{spec.threshold}' ({exc})", "threshold", "threshold"
            ) from None
        import sympy.core.relational as R

        if isinstance(rel, (R.StrictGreaterThan, R.GreaterThan)):
            x = rel.lhs - rel.rhs
        elif isinstance(rel, (R.StrictLessThan, R.LessThan)):
            x = rel.rhs - rel.lhs
        else:
            raise spec.error(
                f"threshold '{spec.threshold}' must be a single comparison "
                f"(v > v_th) for the torch bridge",
                "threshold",
                "threshold",
            )
        strict = isinstance(rel, (R.StrictGreaterThan, R.StrictLessThan))
        x = prepare(x, f"threshold '{spec.threshold}'")
        thr_vars = [s.name for s in x.free_symbols if s.name in states]
        if not thr_vars:
            raise spec.error(
                f"threshold '{spec.threshold}' depends on no state variable",
                "threshold",
                "threshold",
            )
        first = re.findall(r"[A-Za-z_]\w*", spec.threshold)
        thr_var = next((n for n in first if n in thr_vars), thr_vars[0])
        thr_code = "def _threshold(S, P):\n    return " + _Printer(sp_name, "threshold")(x)

    # ---- reset ----------------------------------------------------------------------------
    reset_fns_src = []
    reset_targets = []
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
        rhs_e = substitute_subexpressions(rhs)
        full = {
            "=": rhs_e,
            "+=": sympy.Symbol(var) + rhs_e,
            "-=": sympy.Symbol(var) - rhs_e,
            "*=": sympy.Symbol(var) * rhs_e,
            "/=": sympy.Symbol(var) / rhs_e,
        }[op]
        full = prepare(full, f"reset statement '{line}'")
        reset_targets.append(var)
        src = f"def _reset{len(reset_fns_src)}(S, P):\n    return " + _Printer(
            sp_name, f"reset statement '{line}'"
        )(full)
        reset_fns_src.append(src)

    # ---- initial values -------------------------------------------------------------------
    init_items = []
    for var in states:
        text = spec.initial.get(var)
        if text is None:
            init_items.append(f"{var!r}: 0.0")
            continue
        e = prepare(substitute_subexpressions(text), f"initial value of '{var}'")
        if any(s.name in states for s in e.free_symbols):
            raise spec.error(
                f"initial value of '{var}' ('{text}') refers to another state variable",
                f"{var} =",
                var,
            )
        init_items.append(f"{var!r}: " + _Printer(sp_name, f"initial value of '{var}'")(e))
    init_code = "def _initial(P):\n    return {" + ", ".join(init_items) + "}"

    # ---- refractoriness -------------------------------------------------------------------
    ref = spec.refractory.strip()
    refractory = None
    if ref:
        if ref in spec.parameters:
            refractory = ref
        else:
            try:
                refractory = float(parse_quantity(ref, "refractory"))
            except ModelError:
                raise spec.error(
                    f"refractory condition '{ref}' is not supported by the "
                    f"torch bridge (use a period: a parameter or a quantity)",
                    "refractory",
                    "refractory",
                ) from None

    import torch

    ns = {"torch": torch}
    fns = {}
    for src in (update_code, static_code, thr_code, init_code, *reset_fns_src):
        exec(compile(src, f"<neurolearn.torch:{spec.name}>", "exec"), ns)  # noqa: S102
    fns["update"] = ns["_update"]
    fns["static"] = ns["_static"]
    fns["threshold"] = ns["_threshold"]
    fns["initial"] = ns["_initial"]
    fns["reset"] = [ns[f"_reset{i}"] for i in range(len(reset_fns_src))]

    cm = CompiledModel(
        spec=spec,
        dt=dt,
        state_names=states,
        external_names=externals,
        param_names=params,
        clamped=clamped,
        refractory=refractory,
        threshold_variable=thr_var,
        threshold_strict=strict,
        threshold_scale=1.0,
        units=units,
        reset_targets=reset_targets,
        update_code=update_code,
        threshold_code=thr_code,
        reset_code="\n".join(reset_fns_src),
        static_code=static_code,
        initial_code=init_code,
        _fns=fns,
    )
    cm.threshold_scale = _default_threshold_scale(cm)
    return cm


def _inplace_source(src: str):
    """Translate a generated function (``def f(S, C, t)`` returning a dict of state
    expressions, or ``def f(S, P)`` returning one expression) into ``def _inplace(S, C, t,
    out, tmp)`` / ``def _inplace(S, P, out, tmp)`` that writes each result into ``out`` with
    the ``out=`` form of the same PyTorch operations, evaluated in the same order (Python
    evaluates the generated expressions left to right, and the translation walks the same
    syntax tree). Subexpressions that do not depend on the state ``S`` (coefficients,
    constants) are evaluated as before. Operands are swapped only for ``+`` and ``*`` with a
    constant on the left (exact in floating point); any other construct of a state-dependent
    value is evaluated as before and copied into its buffer (still exact). Returns
    ``(source, n_tmp)`` or None if the source has an unexpected form."""
    try:
        fn = ast.parse(src).body[0]
    except (SyntaxError, IndexError):
        return None
    if (
        not isinstance(fn, ast.FunctionDef)
        or not fn.body
        or not isinstance(fn.body[-1], ast.Return)
    ):
        return None
    args = [a.arg for a in fn.args.args]
    if not args or args[0] != "S":
        return None
    dep = set()  # names of local variables that depend on S
    n_tmp = [0]
    free: list = []

    def depends(node) -> bool:
        for sub in ast.walk(node):
            if (
                isinstance(sub, ast.Subscript)
                and isinstance(sub.value, ast.Name)
                and sub.value.id == "S"
            ):
                return True
            if isinstance(sub, ast.Name) and sub.id in dep:
                return True
        return False

    def is_const(node) -> bool:
        return all(
            isinstance(
                sub,
                (ast.Constant, ast.UnaryOp, ast.BinOp, ast.operator, ast.unaryop, ast.expr_context),
            )
            for sub in ast.walk(node)
        )

    def take() -> str:
        if free:
            return free.pop()
        n_tmp[0] += 1
        return f"tmp[{n_tmp[0] - 1}]"

    ops = {
        ast.Add: "torch.add",
        ast.Sub: "torch.sub",
        ast.Mult: "torch.mul",
        ast.Div: "torch.div",
        ast.Pow: "torch.pow",
    }

    def value(node, lines) -> tuple:
        """Source of node's value and the scratch buffer holding it (or None)."""
        if not depends(node) or isinstance(node, (ast.Subscript, ast.Name)):
            return ast.unparse(node), None
        buf = take()
        into(node, buf, lines)
        return buf, buf

    def into(node, dest: str, lines) -> None:
        if isinstance(node, ast.BinOp) and type(node.op) in ops:
            left, right = node.left, node.right
            if is_const(left) and type(node.op) in (ast.Add, ast.Mult):
                left, right = right, left
            if not is_const(left):
                lv, lb = value(left, lines)
                rv, rb = value(right, lines)
                lines.append(f"{ops[type(node.op)]}({lv}, {rv}, out={dest})")
                free.extend(b for b in (rb, lb) if b is not None)
                return
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            v, b = value(node.operand, lines)
            lines.append(f"torch.neg({v}, out={dest})")
            if b is not None:
                free.append(b)
            return
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "torch"
            and not node.keywords
            and node.args
            and not any(is_const(a) for a in node.args)
        ):
            vals = [value(a, lines) for a in node.args]
            lines.append(f"torch.{node.func.attr}({', '.join(v for v, _ in vals)}, out={dest})")
            free.extend(b for _, b in reversed(vals) if b is not None)
            return
        lines.append(f"{dest}.copy_({ast.unparse(node)})")

    body = []
    for stmt in fn.body[:-1]:
        if not (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
        ):
            return None
        name = stmt.targets[0].id
        if depends(stmt.value):
            lines: list = []
            buf = take()
            into(stmt.value, buf, lines)
            body += lines + [f"{name} = {buf}"]
            dep.add(name)
        else:
            body.append(ast.unparse(stmt))
    ret = fn.body[-1].value
    if isinstance(ret, ast.Dict):
        for k, v in zip(ret.keys, ret.values):
            if not isinstance(k, ast.Constant):
                return None
            into(v, f"out[{k.value!r}]", body)
    elif ret is not None:
        into(ret, "out", body)
    else:
        return None
    head = f"def _inplace({', '.join(args)}, out, tmp):"
    return "\n".join([head] + ["    " + line for line in body] + ["    return out"]), n_tmp[0]


def _find_singular(expr, handled):
    """First denominator factor of ``expr`` that can vanish (terms of both signs)."""
    import sympy

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


def _series(expr, var, sol, eps, order: int = 3):
    """Taylor expansion of ``expr`` with ``var = sol(eps)`` around ``eps = 0`` (terms up to
    ``eps**(order-1)``)."""
    import sympy

    sub = expr.xreplace({var: sol})
    return sympy.series(sub, eps, 0, order).removeO()


def _default_threshold_scale(cm: CompiledModel) -> float:
    """|x| right after a reset from the initial state at default parameters (SI)."""
    import torch

    if cm._fns["threshold"] is None or cm.threshold_variable is None:
        return 1.0
    try:
        P = {
            n: torch.tensor(float(np.asarray(cm.spec.parameters[n].value)), dtype=torch.float64)
            for n in cm.param_names
        }
        for n in cm.external_names:
            P[n] = torch.tensor(0.0, dtype=torch.float64)
        S = cm.initial_state(P, (1, 1))
        for i, var in enumerate(cm.reset_targets):
            S[var] = torch.broadcast_to(cm.reset(i, S, P), (1, 1))
        x = float(cm.threshold(S, P).reshape(-1)[0])
    except Exception:
        return 1.0
    if not math.isfinite(x) or x == 0:
        return 1.0
    return abs(x)

"""Model specifications: neuron, synapse and input models written as Brian2 equations.

A model file (TOML) holds Brian2 strings (equations, threshold, reset, refractory period,
``on_pre``/``on_post`` pathways), the parameters with physical units, default values, valid
ranges and whether each may differ per neuron, the initial values, and the paper the model
comes from. The files of the zoo live in the package's ``models/`` folder
(``neurolearn/models``); a user's own file loads by path::

    >>> from neurolearn import load_model
    >>> lif = load_model("lif")                    # from the zoo
    >>> mine = load_model("path/to/my_model.toml") # a user's file

The spec knows no backend: ``neurolearn.brian`` turns it into Brian2 objects and
``neurolearn.torch`` compiles it into a differentiable PyTorch model.

File format (``kind = "neuron"``)::

    name = "lif"
    kind = "neuron"
    title = "Current-based LIF with exponential synaptic current"
    reference = "Gerstner, Kistler, Naud & Paninski (2014), Neuronal Dynamics, ch. 1.3"
    method = "exact"                 # Brian2 state updater
    equations = '''
    dv/dt = (v_rest - v + R_m*(I_syn + I_ext))/tau_m : volt (unless refractory)
    dI_syn/dt = -I_syn/tau_syn : amp
    I_ext : amp
    '''
    threshold = "v > v_th"
    reset = "v = v_reset"
    refractory = "t_ref"

    [parameters.tau_m]
    value = "20 ms"                  # a number followed by a Brian2 unit expression
    range = ["0.1 ms", "1 s"]        # valid range, inclusive (optional)
    per_neuron = true                # may differ between neurons (and may be trained)
    description = "membrane time constant"

    [initial]
    v = "v_rest"                     # any Brian2 expression of parameters and units

Synapse models (``kind = "synapse"``) have ``model`` (per-synapse equations), ``on_pre``,
``on_post`` and ``target``, the postsynaptic variable that a presynaptic spike increments.
Input models (``kind = "input"``) have ``generator = "poisson"`` or ``"spike_generator"``.

Time constants (parameters named ``tau*`` with the dimension of time) must be strictly
positive; every parameter must lie inside its declared ``range``.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import math
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

import numpy as np

__all__ = [
    "ModelError",
    "Parameter",
    "ModelSpec",
    "NeuronModel",
    "SynapseModel",
    "InputModel",
    "load_model",
    "list_models",
    "zoo_dir",
    "parse_quantity",
]

#: Identifiers Brian2 provides in every code string.
_BUILTIN_IDENTIFIERS = {
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
_KINDS = ("neuron", "synapse", "input")
_GENERATORS = ("poisson", "spike_generator")


class ModelError(ValueError):
    """A model file or specification is invalid.

    The message names the file (when there is one), the line or equation, and the parameter
    at fault. ``path``, ``line`` and ``parameter`` hold the same facts for programs.
    """

    def __init__(
        self,
        message: str,
        path: str | Path | None = None,
        line: int | None = None,
        parameter: str | None = None,
    ):
        self.path = None if path is None else str(path)
        self.line = line
        self.parameter = parameter
        where = ""
        if self.path is not None:
            where = self.path + (f":{line}" if line is not None else "") + ": "
        super().__init__(where + message)


# ---------------------------------------------------------------------------------------------
# Quantities
# ---------------------------------------------------------------------------------------------
_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf)\s*(.*?)\s*$")


_UNITS: dict = {}


def _unit_namespace() -> dict:
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


# ---------------------------------------------------------------------------------------------
# Parameters and specs
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Parameter:
    """One parameter of a model.

    Attributes
    ----------
    name : str
        Name used in the equations (``tau_m``, ``v_th``...).
    value : Quantity or float
        Default value with its unit (SI internally).
    low, high : Quantity or float or None
        Valid range, inclusive; ``None`` for unbounded.
    per_neuron : bool
        The value may differ between neurons (or synapses): Brian2 stores it as a per-element
        constant state variable and the torch bridge as a tensor that can be trained.
    description : str
        What the parameter means, for humans.
    """

    name: str
    value: Any
    low: Any = None
    high: Any = None
    per_neuron: bool = False
    description: str = ""

    @property
    def dim(self):
        """Physical dimensions of the parameter (a Brian2 ``Dimension``)."""
        return _dim(self.value)

    @property
    def unit_name(self) -> str:
        """Brian2 name of the SI unit (``"second"``, ``"volt"``, ``"1"`` if dimensionless)."""
        from brian2.units.fundamentalunits import get_unit

        if self.dim.is_dimensionless:
            return "1"
        return repr(get_unit(self.dim))

    @property
    def is_time_constant(self) -> bool:
        """True for ``tau*`` parameters with the dimension of time (these must be > 0)."""
        from brian2 import second

        return self.dim == _dim(second) and self.name.startswith("tau")

    def check(self, value, path=None, line=None, context="") -> None:
        """Check a value against this parameter's unit and range.

        Parameters
        ----------
        value : Quantity, float or array of them
            Candidate value (scalar or one per neuron).

        Raises
        ------
        ModelError
            If the unit differs, a value is NaN, a time constant is <= 0, or a value lies
            outside ``[low, high]``. The message names the parameter.
        """
        from brian2.units.fundamentalunits import (
            DimensionMismatchError,
            fail_for_dimension_mismatch,
        )

        where = f"parameter '{self.name}'" + (f" of {context}" if context else "")
        try:
            fail_for_dimension_mismatch(value, self.value)
        except DimensionMismatchError:
            raise ModelError(
                f"{where}: expected a value in units of {self.unit_name}, got {_fmt(value)}",
                path,
                line,
                self.name,
            ) from None
        arr = np.asarray(value, dtype=float)
        if np.any(np.isnan(arr)):
            raise ModelError(f"{where}: value is NaN", path, line, self.name)
        if self.is_time_constant and np.any(arr <= 0):
            raise ModelError(
                f"{where}: a time constant must be > 0, got {_fmt(value)}", path, line, self.name
            )
        if self.low is not None and np.any(arr < float(self.low)):
            raise ModelError(
                f"{where}: {_fmt(value)} is below the valid range "
                f"[{_fmt(self.low)}, {_fmt(self.high)}]",
                path,
                line,
                self.name,
            )
        if self.high is not None and np.any(arr > float(self.high)):
            raise ModelError(
                f"{where}: {_fmt(value)} is above the valid range "
                f"[{_fmt(self.low)}, {_fmt(self.high)}]",
                path,
                line,
                self.name,
            )


@dataclasses.dataclass
class ModelSpec:
    """Common part of every model: name, source, parameters, equations.

    Use :func:`load_model` to read one from a file; construct directly for models made in code.
    Units are Brian2 quantities throughout.

    Attributes
    ----------
    name, kind, title, reference : str
        ``kind`` is ``"neuron"``, ``"synapse"`` or ``"input"``; ``reference`` is the paper the
        equations and default values come from.
    equations : str
        Brian2 equations (neuron: the neuron's; synapse: the per-synapse ``model``).
    method : str
        Brian2 state updater (``"exact"``, ``"exponential_euler"``, ``"euler"``, ``"rk4"``...).
    parameters : dict of str -> Parameter
    initial : dict of str -> str
        Initial value expression of each state variable (Brian2 syntax).
    path : Path or None
        The file the spec was read from.
    """

    name: str
    kind: str
    equations: str = ""
    method: str = "exact"
    parameters: dict = dataclasses.field(default_factory=dict)
    initial: dict = dataclasses.field(default_factory=dict)
    title: str = ""
    reference: str = ""
    path: Path | None = None
    source_text: str | None = dataclasses.field(default=None, repr=False)
    presets: dict = dataclasses.field(default_factory=dict)

    # --- helpers ------------------------------------------------------------------------------
    def line_of(self, needle: str) -> int | None:
        """1-based line of the model file that contains ``needle`` (None if not found)."""
        if not self.source_text or not needle:
            return None
        for number, line in enumerate(self.source_text.splitlines(), start=1):
            if needle in line:
                return number
        return None

    def line_in_table(self, table: str, key: str) -> int | None:
        """1-based line of ``key = ...`` inside the TOML table ``[table]`` (None if absent)."""
        if not self.source_text:
            return None
        inside = False
        for number, line in enumerate(self.source_text.splitlines(), start=1):
            stripped = line.strip()
            if stripped.startswith("["):
                inside = stripped.strip("[] ") == table
            elif inside and re.match(rf"{re.escape(key)}\s*=", stripped):
                return number
        return None

    def error(
        self,
        message: str,
        needle: str | None = None,
        parameter: str | None = None,
        line: int | None = None,
    ):
        """A :class:`ModelError` located in this spec's file (at ``line``, else at the line
        holding ``needle``)."""
        if line is None and needle:
            line = self.line_of(needle)
        return ModelError(f"model '{self.name}': {message}", self.path, line, parameter)

    def brian2_equations(self):
        """The equations as a Brian2 ``Equations`` object.

        Raises
        ------
        ModelError
            If Brian2 cannot parse them (names the file and the line).
        """
        from brian2 import Equations

        try:
            return Equations(self.equations)
        except Exception as exc:
            bad = None
            for raw in self.equations.splitlines():
                try:
                    if raw.strip():
                        Equations(raw)
                except Exception:
                    bad = raw.strip()
                    break
            raise self.error(
                f"cannot parse the equations ({exc})" + (f": in '{bad}'" if bad else ""), bad
            ) from None

    @property
    def state_variables(self) -> list[str]:
        """Names of the differential-equation variables, in file order."""
        eqs = self.brian2_equations()
        order = {name: self.equations.find(f"d{name}/dt") for name in eqs.diff_eq_names}
        return sorted(eqs.diff_eq_names, key=lambda name: order[name])

    def defaults(self) -> dict:
        """Default value of every parameter, as a dict of name -> Quantity."""
        return {name: p.value for name, p in self.parameters.items()}

    def resolve_parameters(self, overrides: Mapping | None = None, n: int | None = None) -> dict:
        """Defaults updated with ``overrides``, each value checked.

        Parameters
        ----------
        overrides : mapping of str -> Quantity, array of Quantity, or str
            New values; strings are parsed with :func:`parse_quantity`. Per-neuron parameters
            accept an array of length ``n``.
        n : int, optional
            Number of neurons (or synapses), to check array lengths.

        Returns
        -------
        dict of str -> Quantity (scalar or array)

        Raises
        ------
        ModelError
            For an unknown name, a wrong unit, a value out of range, a non-positive time
            constant, or an array given for a shared parameter or of the wrong length.
        """
        values = self.defaults()
        for name, value in (overrides or {}).items():
            if name not in self.parameters:
                raise self.error(
                    f"unknown parameter '{name}'; the model has: "
                    f"{', '.join(sorted(self.parameters)) or 'none'}",
                    parameter=name,
                )
            p = self.parameters[name]
            if isinstance(value, str):
                value = parse_quantity(value, name)
            if np.ndim(value) > 0:
                if not p.per_neuron:
                    raise self.error(
                        f"parameter '{name}' is shared by all neurons; give one "
                        f"value, not an array of {np.size(value)}",
                        parameter=name,
                    )
                if n is not None and np.size(value) != n:
                    raise self.error(
                        f"parameter '{name}': expected {n} values (one per "
                        f"element), got {np.size(value)}",
                        parameter=name,
                    )
            p.check(value, context=f"model '{self.name}'")
            values[name] = value
        return values

    # --- validation ---------------------------------------------------------------------------
    def _code_strings(self) -> list[tuple[str, str]]:
        """(label, code) pairs of every non-equation code string, for validation."""
        return []

    def _known_identifiers(self) -> set:
        import brian2

        eqs = self.brian2_equations()
        known = set(eqs.names) | set(self.parameters) | _BUILTIN_IDENTIFIERS
        known |= (
            set(_unit_namespace()) | set(brian2.DEFAULT_FUNCTIONS) | set(brian2.DEFAULT_CONSTANTS)
        )
        return known

    def _extra_identifiers(self) -> set:
        return set()

    def validate(self) -> ModelSpec:
        """Check the spec: parseable equations, no undefined symbol, consistent units,
        parameter values inside their ranges.

        Returns
        -------
        self

        Raises
        ------
        ModelError
            Naming the file, the line or equation, and the symbol or parameter at fault.
        """
        from brian2.core.variables import Constant
        from brian2.parsing.expressions import parse_expression_dimensions
        from brian2.units.fundamentalunits import DimensionMismatchError
        from brian2.utils.stringtools import get_identifiers

        for name, p in self.parameters.items():
            p.check(
                p.value,
                self.path,
                self.line_of(f"parameters.{name}") or self.line_of(f"{name} ="),
                context=f"model '{self.name}'",
            )
        eqs = self.brian2_equations()
        known = self._known_identifiers() | self._extra_identifiers()
        for var, eq in eqs.items():
            if eq.expr is None:
                continue
            undefined = get_identifiers(eq.expr.code) - known
            if undefined:
                sym = sorted(undefined)[0]
                raise self.error(
                    f"undefined symbol '{sym}' in the equation for '{var}' "
                    f"(not a parameter, state variable, unit or function)",
                    _eq_needle(var, eq),
                    parameter=sym,
                )
        for label, code in self._code_strings():
            for statement in re.split(r"[\n;]", code):
                undefined = get_identifiers(statement) - known
                if undefined:
                    sym = sorted(undefined)[0]
                    raise self.error(
                        f"undefined symbol '{sym}' in {label} '{statement.strip()}'",
                        statement.strip() or None,
                        parameter=sym,
                    )

        # Dimension check of each right-hand side with Brian2's own expression parser.
        variables = {}
        for uname, uval in _unit_namespace().items():
            if hasattr(uval, "dim") or isinstance(uval, (int, float)):
                try:
                    variables[uname] = Constant(uname, uval, dimensions=_dim(uval))
                except Exception:
                    pass
        import brian2

        variables.update(brian2.DEFAULT_FUNCTIONS)
        for cname, cval in brian2.DEFAULT_CONSTANTS.items():
            variables[cname] = cval
        for pname, p in self.parameters.items():
            variables[pname] = Constant(pname, p.value, dimensions=p.dim)
        from brian2 import Quantity, second

        for builtin, dimq in (
            ("t", 1 * second),
            ("dt", 1 * second),
            ("lastspike", 1 * second),
            ("i", 1),
            ("j", 1),
            ("N", 1),
        ):
            variables[builtin] = Constant(builtin, dimq, dimensions=_dim(dimq))
        for var, eq in eqs.items():
            variables[var] = Constant(var, Quantity(1.0, dim=eq.dim), dimensions=eq.dim)
        for extra in self._extra_identifiers():
            variables.setdefault(extra, Constant(extra, 1.0))
        for var, eq in eqs.items():
            if eq.expr is None:
                continue
            expected = eq.dim / second.dim if eq.type == "differential equation" else eq.dim
            try:
                found = parse_expression_dimensions(eq.expr.code, variables)
            except (DimensionMismatchError, KeyError, SyntaxError, TypeError) as exc:
                raise self.error(
                    f"inconsistent units in the equation for '{var}': {exc}", _eq_needle(var, eq)
                ) from None
            if found is not expected and found != expected:
                from brian2.units.fundamentalunits import get_unit

                raise self.error(
                    f"inconsistent units in the equation for '{var}': the right-hand side has "
                    f"units of {get_unit(found)!r} but {'d' + var + '/dt' if eq.type == 'differential equation' else var} "
                    f"needs {get_unit(expected)!r}",
                    _eq_needle(var, eq),
                    parameter=var,
                )
        for var, expr in self.initial.items():
            if var not in eqs.names:
                raise self.error(
                    f"initial value given for '{var}', which is not a variable of the model",
                    parameter=var,
                    line=self.line_in_table("initial", var),
                )
            undefined = get_identifiers(str(expr)) - known
            if undefined:
                sym = sorted(undefined)[0]
                raise self.error(
                    f"undefined symbol '{sym}' in the initial value of '{var}' ('{expr}')",
                    parameter=sym,
                    line=self.line_in_table("initial", var),
                )
        if isinstance(self.method, str):
            from brian2.stateupdaters.base import StateUpdateMethod

            valid = StateUpdateMethod.stateupdaters
            for name in (m.strip() for m in self.method.split(",")):
                if name not in valid:
                    raise self.error(
                        f"unknown state updater method '{name}'; Brian2 has: {', '.join(valid)}",
                        "method =",
                        parameter="method",
                    )
        for preset, values in self.presets.items():
            try:
                self.resolve_parameters(values)
            except ModelError as exc:
                raise self.error(f"preset '{preset}': {exc}", f"presets.{preset}") from None
        return self

    def to_dict(self) -> dict:
        """JSON/TOML-ready dict holding the whole spec, every quantity as a string with unit.

        ``ModelSpec.from_dict(spec.to_dict())`` gives back an equal spec.
        """
        out = {
            "name": self.name,
            "kind": self.kind,
            "title": self.title,
            "reference": self.reference,
            "method": self.method,
            "equations": self.equations,
        }
        out.update(self._extra_dict())
        out["parameters"] = {
            n: {
                k: v
                for k, v in {
                    "value": _qstr(p.value),
                    "range": None
                    if p.low is None and p.high is None
                    else [
                        _qstr(p.low if p.low is not None else -math.inf),
                        _qstr(p.high if p.high is not None else math.inf),
                    ],
                    "per_neuron": p.per_neuron,
                    "description": p.description,
                }.items()
                if v is not None
            }
            for n, p in self.parameters.items()
        }
        out["initial"] = dict(self.initial)
        if self.presets:
            out["presets"] = {k: dict(v) for k, v in self.presets.items()}
        return out

    def with_preset(self, preset: str) -> ModelSpec:
        """A copy whose defaults are replaced by a named parameter set of the file's
        ``[presets]`` table (e.g. Izhikevich's ``"fs"``).

        Raises
        ------
        ModelError
            If the preset does not exist (lists the ones that do) or holds a bad value.
        """
        if preset not in self.presets:
            raise self.error(
                f"unknown preset '{preset}'; available: "
                f"{', '.join(sorted(self.presets)) or 'none'}",
                parameter=preset,
            )
        values = self.resolve_parameters(self.presets[preset])
        params = {n: dataclasses.replace(p, value=values[n]) for n, p in self.parameters.items()}
        return dataclasses.replace(self, parameters=params, initial=dict(self.initial))

    def _extra_dict(self) -> dict:
        return {}

    @staticmethod
    def from_dict(
        data: Mapping, path: str | Path | None = None, source_text: str | None = None
    ) -> ModelSpec:
        """Build (and validate) a spec from a dict laid out like a model file.

        Raises
        ------
        ModelError
            For a missing or unknown field, a bad value, or anything :meth:`validate` finds.
        """
        return _spec_from_dict(dict(data), path, source_text)


def _qstr(q) -> str:
    """A quantity as a parseable string ('0.02 * second' style, SI)."""
    import brian2

    if isinstance(q, brian2.Quantity):
        from brian2.units.fundamentalunits import get_unit

        if q.dim.is_dimensionless:
            return repr(float(q))
        return f"{float(q)!r} {get_unit(q.dim)!r}"
    return repr(float(q))


def _eq_needle(var: str, eq) -> str:
    return f"d{var}/dt" if eq.type == "differential equation" else f"{var} "


@dataclasses.dataclass
class NeuronModel(ModelSpec):
    """A neuron model: equations, threshold, reset and refractory period.

    Attributes (beyond :class:`ModelSpec`)
    ----------
    threshold : str
        Brian2 threshold condition, e.g. ``"v > v_th"``.
    reset : str
        Brian2 reset statements, e.g. ``"v = v_reset"`` (may be several, separated by newlines).
    refractory : str
        Refractory period: a parameter name, a quantity string, or a Brian2 condition; ``""``
        for none.
    threshold_variable : str
        The variable the surrogate gradient is taken through (default: first variable in
        ``threshold``).

    Notes
    -----
    Within a time step Brian2's schedule is: state update, threshold, synaptic propagation,
    reset. The torch bridge follows the same order.
    """

    threshold: str = ""
    reset: str = ""
    refractory: str = ""

    def _code_strings(self):
        out = []
        if self.threshold:
            out.append(("threshold", self.threshold))
        if self.reset:
            out.append(("reset", self.reset))
        if self.refractory and not _looks_like_quantity(self.refractory):
            out.append(("refractory", self.refractory))
        return out

    def _extra_dict(self):
        return {"threshold": self.threshold, "reset": self.reset, "refractory": self.refractory}


@dataclasses.dataclass
class SynapseModel(ModelSpec):
    """A synapse model: per-synapse equations and what happens at pre/post spikes.

    Attributes (beyond :class:`ModelSpec`)
    ----------
    on_pre, on_post : str
        Brian2 statements run at a presynaptic / postsynaptic spike. ``{target}`` is replaced
        by the postsynaptic variable the connection drives.
    target : str
        Default postsynaptic variable (``"I_syn"``, ``"g_e"``...).
    post_equations : str
        Equations added to the postsynaptic neuron group (e.g. an alpha kernel's second
        variable); ``{target}`` is substituted. Optional.
    replaces : list of str
        Variables of the postsynaptic neuron model whose equation ``post_equations`` replaces.
    """

    on_pre: str = ""
    on_post: str = ""
    target: str = ""
    post_equations: str = ""
    replaces: list = dataclasses.field(default_factory=list)

    def _code_strings(self):
        return [
            (lab, code.replace("{target}", self.target or "target"))
            for lab, code in (("on_pre", self.on_pre), ("on_post", self.on_post))
            if code
        ]

    def _extra_identifiers(self):
        from brian2.utils.stringtools import get_identifiers

        ids = set()
        for code in (self.on_pre, self.on_post, self.equations):
            for ident in get_identifiers(code.replace("{target}", self.target or "target")):
                if ident.endswith("_post") or ident.endswith("_pre"):
                    ids.add(ident)
        return ids

    def _extra_dict(self):
        return {
            "on_pre": self.on_pre,
            "on_post": self.on_post,
            "target": self.target,
            "post_equations": self.post_equations,
            "replaces": list(self.replaces),
        }


@dataclasses.dataclass
class InputModel(ModelSpec):
    """An input population: Poisson spike sources or a spike generator.

    Attributes (beyond :class:`ModelSpec`)
    ----------
    generator : str
        ``"poisson"`` (parameter ``rate``) or ``"spike_generator"`` (spike times given at build
        time).
    """

    generator: str = "poisson"

    def validate(self):
        if self.generator not in _GENERATORS:
            raise self.error(
                f"unknown generator '{self.generator}'; expected one of {', '.join(_GENERATORS)}",
                "generator",
                "generator",
            )
        if self.generator == "poisson" and "rate" not in self.parameters:
            raise self.error("a poisson input needs a 'rate' parameter", "generator", "rate")
        for name, p in self.parameters.items():
            p.check(
                p.value,
                self.path,
                self.line_of(f"parameters.{name}"),
                context=f"model '{self.name}'",
            )
        return self

    def _extra_dict(self):
        return {"generator": self.generator}


def _looks_like_quantity(text: str) -> bool:
    try:
        parse_quantity(text)
        return True
    except ModelError:
        return False


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------
_COMMON_FIELDS = {
    "name",
    "kind",
    "title",
    "reference",
    "method",
    "equations",
    "parameters",
    "initial",
    "description",
    "presets",
}
_KIND_FIELDS = {
    "neuron": {"threshold", "reset", "refractory"},
    "synapse": {"model", "on_pre", "on_post", "target", "post_equations", "replaces"},
    "input": {"generator"},
}


def _spec_from_dict(data: dict, path, source_text) -> ModelSpec:
    def err(msg, needle=None, parameter=None):
        line = None
        if source_text and needle:
            for number, text in enumerate(source_text.splitlines(), start=1):
                if needle in text:
                    line = number
                    break
        return ModelError(msg, path, line, parameter)

    for required in ("name", "kind"):
        if required not in data:
            raise err(f"missing required field '{required}'", parameter=required)
    kind = data["kind"]
    if kind not in _KINDS:
        raise err(f"unknown kind '{kind}'; expected one of {', '.join(_KINDS)}", "kind", "kind")
    allowed = _COMMON_FIELDS | _KIND_FIELDS[kind]
    unknown = set(data) - allowed
    if unknown:
        field = sorted(unknown)[0]
        raise err(
            f"unknown field '{field}' for a {kind} model; allowed: {', '.join(sorted(allowed))}",
            field,
            field,
        )
    if kind != "input" and kind == "neuron" and not str(data.get("equations", "")).strip():
        raise err("a neuron model needs 'equations'", "name", "equations")

    params = {}
    raw_params = data.get("parameters", {}) or {}
    if not isinstance(raw_params, dict):
        raise err("'parameters' must be a table", "parameters", "parameters")
    for pname, pdata in raw_params.items():
        if not isinstance(pdata, dict):
            pdata = {"value": pdata}
        unknown_keys = set(pdata) - {"value", "range", "per_neuron", "description", "unit"}
        if unknown_keys:
            k = sorted(unknown_keys)[0]
            raise err(
                f"parameter '{pname}': unknown key '{k}' (allowed: value, range, "
                f"per_neuron, description)",
                f"parameters.{pname}",
                pname,
            )
        if "value" not in pdata:
            raise err(f"parameter '{pname}' has no value", f"parameters.{pname}", pname)
        try:
            value = parse_quantity(pdata["value"], pname)
            low = high = None
            if "range" in pdata:
                rng = pdata["range"]
                if not (isinstance(rng, list) and len(rng) == 2):
                    raise ModelError(
                        f"parameter '{pname}': range must be [low, high]", parameter=pname
                    )
                low, high = (parse_quantity(x, pname) for x in rng)
                if np.isinf(float(low)):
                    low = None
                if np.isinf(float(high)):
                    high = None
        except ModelError as exc:
            raise err(str(exc), f"parameters.{pname}", pname) from None
        params[pname] = Parameter(
            pname,
            value,
            low,
            high,
            bool(pdata.get("per_neuron", False)),
            str(pdata.get("description", "")),
        )

    common = dict(
        name=str(data["name"]),
        kind=kind,
        equations=str(data.get("equations", data.get("model", "")) or ""),
        method=str(data.get("method", "exact" if kind != "synapse" else "exact")),
        parameters=params,
        initial={k: str(v) for k, v in (data.get("initial", {}) or {}).items()},
        title=str(data.get("title", data.get("description", ""))),
        reference=str(data.get("reference", "")),
        path=Path(path) if path is not None else None,
        source_text=source_text,
        presets={str(k): dict(v) for k, v in (data.get("presets", {}) or {}).items()},
    )
    if kind == "neuron":
        refractory = data.get("refractory", "")
        if isinstance(refractory, (int, float)) and not isinstance(refractory, bool):
            refractory = repr(float(refractory))
        spec = NeuronModel(
            **common,
            threshold=str(data.get("threshold", "")),
            reset=str(data.get("reset", "")),
            refractory=str(refractory),
        )
    elif kind == "synapse":
        spec = SynapseModel(
            **common,
            on_pre=str(data.get("on_pre", "")),
            on_post=str(data.get("on_post", "")),
            target=str(data.get("target", "")),
            post_equations=str(data.get("post_equations", "")),
            replaces=list(data.get("replaces", [])),
        )
    else:
        spec = InputModel(**common, generator=str(data.get("generator", "poisson")))
    return spec.validate()


def zoo_dir() -> Path:
    """Folder of the model zoo, ``neurolearn/models`` inside the installed package (read
    through :mod:`importlib.resources`)."""
    return Path(str(importlib.resources.files("neurolearn") / "models"))


def list_models(kind: str | None = None) -> list[ModelSpec]:
    """All models of the zoo (optionally only one ``kind``), sorted by name.

    Raises
    ------
    ModelError
        If a zoo file is invalid (names the file).
    """
    specs = [load_model(p) for p in sorted(zoo_dir().glob("*.toml"))]
    return [s for s in specs if kind is None or s.kind == kind]


_CACHE: dict = {}


def load_model(name_or_path: str | Path) -> ModelSpec:
    """Load a model by zoo name (``"lif"``) or by path to a ``.toml`` file.

    Parameters
    ----------
    name_or_path : str or Path
        A zoo name (the file stem in ``models/``) or a path to a model file.

    Returns
    -------
    NeuronModel, SynapseModel or InputModel
        A validated spec (a fresh copy; changing it does not change the cache).

    Raises
    ------
    ModelError
        Unknown model name (the message lists the zoo), a missing file, malformed TOML (with
        the line), or any error :meth:`ModelSpec.validate` finds.
    """
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith(".toml") or path.is_file() or "/" in text or "\\" in text):
        candidate = zoo_dir() / f"{text}.toml"
        if not candidate.is_file():
            names = sorted(p.stem for p in zoo_dir().glob("*.toml"))
            raise ModelError(
                f"unknown model '{text}'; the zoo has: {', '.join(names)} "
                f"(or give the path to a .toml file)",
                parameter="model",
            )
        path = candidate
    if not path.is_file():
        raise ModelError(f"model file not found: {path}", path)
    key = (str(path.resolve()), path.stat().st_mtime_ns)
    if key not in _CACHE:
        source = path.read_text(encoding="utf-8")
        try:
            data = tomllib.loads(source)
        except tomllib.TOMLDecodeError as exc:
            line = None
            m = re.search(r"line (\d+)", str(exc))
            if m:
                line = int(m.group(1))
            raise ModelError(f"malformed TOML: {exc}", path, line) from None
        _CACHE[key] = _spec_from_dict(data, path, source)
    return dataclasses.replace(
        _CACHE[key], parameters=dict(_CACHE[key].parameters), initial=dict(_CACHE[key].initial)
    )

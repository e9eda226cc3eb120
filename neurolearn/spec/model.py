"""Model specifications: the common :class:`ModelSpec` and its three kinds, neuron, synapse
and input models."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .errors import ModelError
from .parameters import Parameter
from .quantities import _qstr, _unit_namespace, looks_like_quantity, parse_quantity
from .roles import check_roles, complete_roles, conventional_roles, parse_roles, required_roles
from .validation import (
    BUILTIN_IDENTIFIERS,
    check_dimensions,
    check_expressions,
    check_initial,
    check_method,
    check_parameters,
    check_presets,
    check_symbols,
)

__all__ = [
    "ModelSpec",
    "NeuronModel",
    "SynapseModel",
    "InputModel",
    "KINDS",
    "GENERATORS",
    "spec_from_dict",
]

#: Kinds of model files.
KINDS = ("neuron", "synapse", "input")
#: Generators of input models.
GENERATORS = ("poisson", "spike_generator")


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
        State updater by name: Brian2's (``"exact"``, ``"exponential_euler"``, ``"euler"``,
        ``"rk4"``...) or neurolearn's (``"allen_glif"``, :mod:`neurolearn.spec.stateupdaters`).
    parameters : dict of str -> Parameter
    initial : dict of str -> str
        Initial value expression of each state variable (Brian2 syntax).
    path : Path or None
        The file the spec was read from.
    roles : dict
        The model contract of the ``[roles]`` table (:mod:`neurolearn.spec.roles`):
        ``time_constants`` (tuple of parameter names) and, for neuron models,
        ``synaptic_targets`` (tuple of variables) and ``threshold_variable``. A spec loaded
        from a file or dict holds every role (missing ones inferred, with a warning); read them
        through :attr:`time_constants`, :attr:`NeuronModel.synaptic_targets` and
        :attr:`NeuronModel.threshold_variable`, which infer what a spec made in code leaves
        out.
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
    roles: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self.set_roles(self.roles)

    # --- roles --------------------------------------------------------------------------------
    def set_roles(self, roles: Mapping) -> None:
        """Replace the declared roles (a copy is kept) and mark the declared time constants
        on the parameters (:attr:`Parameter.time_constant`). Checked by :meth:`validate`."""
        self.roles = {k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in roles.items()}
        if "time_constants" in self.roles:
            declared = set(self.roles["time_constants"])
            self.parameters = {
                n: p
                if p.time_constant == (n in declared)
                else dataclasses.replace(p, time_constant=n in declared)
                for n, p in self.parameters.items()
            }

    @property
    def time_constants(self) -> tuple[str, ...]:
        """Names of the parameters that are time constants (declared in ``roles``, else by
        the naming convention ``tau*`` with the dimension of time), in parameter order."""
        return tuple(n for n, p in self.parameters.items() if p.is_time_constant)

    def role_table(self) -> dict:
        """Every role of this kind of model, declared or (for a spec made in code) inferred by
        the naming conventions: the ``[roles]`` table that describes the spec completely."""
        inferred = None
        out = {}
        for field in required_roles(self):
            if field in self.roles:
                out[field] = self.roles[field]
            else:
                inferred = inferred or conventional_roles(self)
                out[field] = inferred[field]
        return out

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
        return _line_in_table(self.source_text, table, key)

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
        known = set(eqs.names) | set(self.parameters) | BUILTIN_IDENTIFIERS
        known |= set(getattr(eqs, "stochastic_variables", ()))  # xi_<name>
        known |= (
            set(_unit_namespace()) | set(brian2.DEFAULT_FUNCTIONS) | set(brian2.DEFAULT_CONSTANTS)
        )
        return known

    def _extra_identifiers(self) -> set:
        return set()

    def _deferred_identifiers(self, code: str) -> set:
        """Names of ``code`` whose units are known only once the model is connected (a
        synapse model's ``*_pre``/``*_post``); their expressions are unit-checked by Brian2
        when the network is built."""
        return set()

    def validate(self) -> ModelSpec:
        """Check the spec: parameter values inside their ranges (time constants > 0),
        parseable equations, no undefined symbol, consistent units, initial values of existing
        variables, a known state updater, valid presets and declared roles.

        Returns
        -------
        self

        Raises
        ------
        ModelError
            Naming the file, the line or equation, and the symbol or parameter at fault.
        """
        check_parameters(self)
        eqs = self.brian2_equations()
        known = self._known_identifiers() | self._extra_identifiers()
        check_symbols(self, eqs, known)
        check_dimensions(self, eqs)
        check_initial(self, eqs, known)
        check_expressions(self, eqs)
        check_method(self)
        check_presets(self)
        check_roles(self)
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
        out["roles"] = {
            k: list(v) if isinstance(v, tuple) else v for k, v in self.role_table().items()
        }
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
        return spec_from_dict(dict(data), path, source_text)


@dataclasses.dataclass
class NeuronModel(ModelSpec):
    """A neuron model: equations, threshold, reset and refractory period.

    The attributes below come in addition to those of :class:`ModelSpec`.

    Attributes
    ----------
    threshold : str
        Brian2 threshold condition, e.g. ``"v > v_th"``.
    reset : str
        Brian2 reset statements, e.g. ``"v = v_reset"`` (may be several, separated by newlines).
    refractory : str
        Refractory period: a parameter name, a quantity string, or a Brian2 condition; ``""``
        for none.
    synaptic_targets : tuple of str
        Variables that receive synaptic input (role, read only).
    threshold_variable : str or None
        The variable the threshold compares (role, read only).

    Notes
    -----
    Within a time step Brian2's schedule is: state update, threshold, synaptic propagation,
    reset. The torch bridge follows the same order.
    """

    threshold: str = ""
    reset: str = ""
    refractory: str = ""

    @property
    def synaptic_targets(self) -> tuple[str, ...]:
        """Variables that receive synaptic input, excitatory first (``("I_syn",)``,
        ``("g_e", "g_i")``; empty: the model takes no synaptic input): the declared role
        ``roles.synaptic_targets``, else the naming convention (``I_syn``, else ``g_e`` and
        ``g_i``)."""
        if "synaptic_targets" in self.roles:
            return tuple(self.roles["synaptic_targets"])
        return conventional_roles(self)["synaptic_targets"]

    @property
    def threshold_variable(self) -> str | None:
        """The variable the threshold condition compares (``"v"``; a subexpression such as
        SRM0's ``"u"`` is possible), None without a threshold: the declared role
        ``roles.threshold_variable``, else the first variable of the equations named in the
        threshold."""
        if not self.threshold.strip():
            return None
        if "threshold_variable" in self.roles:
            return self.roles["threshold_variable"]
        return conventional_roles(self)["threshold_variable"]

    def _code_strings(self):
        out = []
        if self.threshold:
            out.append(("threshold", self.threshold))
        if self.reset:
            out.append(("reset", self.reset))
        if self.refractory and not looks_like_quantity(self.refractory):
            out.append(("refractory", self.refractory))
        return out

    def _extra_dict(self):
        return {"threshold": self.threshold, "reset": self.reset, "refractory": self.refractory}


@dataclasses.dataclass
class SynapseModel(ModelSpec):
    """A synapse model: per-synapse equations and what happens at pre/post spikes.

    The attributes below come in addition to those of :class:`ModelSpec`.

    Attributes
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

    def _deferred_identifiers(self, code: str) -> set:
        from brian2.utils.stringtools import get_identifiers

        return {i for i in get_identifiers(code) if i.endswith(("_pre", "_post"))}

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

    The attributes below come in addition to those of :class:`ModelSpec`.

    Attributes
    ----------
    generator : str
        ``"poisson"`` (parameter ``rate``) or ``"spike_generator"`` (spike times given at build
        time).
    """

    generator: str = "poisson"

    def validate(self):
        """Check the generator, the parameters (a ``rate`` for Poisson inputs) and the
        declared roles.

        Returns
        -------
        self

        Raises
        ------
        ModelError
            Naming the file, the field or parameter at fault.
        """
        if self.generator not in GENERATORS:
            raise self.error(
                f"unknown generator '{self.generator}'; expected one of {', '.join(GENERATORS)}",
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
        check_roles(self)
        return self

    def _extra_dict(self):
        return {"generator": self.generator}


# ---------------------------------------------------------------------------------------------
# From a dict laid out like a model file
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
    "roles",
}
_KIND_FIELDS = {
    "neuron": {"threshold", "reset", "refractory"},
    "synapse": {"model", "on_pre", "on_post", "target", "post_equations", "replaces"},
    "input": {"generator"},
}


def _line_in_table(source_text: str | None, table: str, key: str) -> int | None:
    """1-based line of ``key = ...`` inside the TOML table ``[table]`` (None if absent)."""
    if not source_text:
        return None
    inside = False
    for number, line in enumerate(source_text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            inside = stripped.strip("[] ") == table
        elif inside and re.match(rf"{re.escape(key)}\s*=", stripped):
            return number
    return None


def _locator(path, source_text):
    """``err(message, needle, parameter)``: a ModelError at the first line holding
    ``needle``."""

    def err(msg, needle=None, parameter=None):
        line = None
        if source_text and needle:
            for number, text in enumerate(source_text.splitlines(), start=1):
                if needle in text:
                    line = number
                    break
        return ModelError(msg, path, line, parameter)

    return err


def _check_fields(data: dict, err) -> str:
    """The model's kind, after checking the required and allowed fields."""
    for required in ("name", "kind"):
        if required not in data:
            raise err(f"missing required field '{required}'", parameter=required)
    kind = data["kind"]
    if kind not in KINDS:
        raise err(f"unknown kind '{kind}'; expected one of {', '.join(KINDS)}", "kind", "kind")
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
    return kind


def _parse_parameters(raw_params, err) -> dict:
    """``[parameters]`` as a dict of :class:`Parameter` (values parsed, ranges checked)."""
    params = {}
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
    return params


def spec_from_dict(data: dict, path=None, source_text: str | None = None) -> ModelSpec:
    """Build and validate a spec from a dict laid out like a model file; roles the dict does
    not declare are inferred with a warning (:func:`neurolearn.spec.roles.complete_roles`).

    Parameters
    ----------
    data : dict
        The fields of a model file (``name``, ``kind``, ``equations``, ``parameters``...).
    path : path, optional
        The file it was read from (named in errors and warnings).
    source_text : str, optional
        The file's text (to find the line of an error).

    Returns
    -------
    NeuronModel, SynapseModel or InputModel

    Raises
    ------
    ModelError
        For a missing or unknown field, a bad value, or anything :meth:`ModelSpec.validate`
        finds.
    """
    err = _locator(path, source_text)
    kind = _check_fields(data, err)
    common = dict(
        name=str(data["name"]),
        kind=kind,
        equations=str(data.get("equations", data.get("model", "")) or ""),
        method=str(data.get("method", "exact" if kind != "synapse" else "exact")),
        parameters=_parse_parameters(data.get("parameters", {}) or {}, err),
        initial={k: str(v) for k, v in (data.get("initial", {}) or {}).items()},
        title=str(data.get("title", data.get("description", ""))),
        reference=str(data.get("reference", "")),
        path=Path(path) if path is not None else None,
        source_text=source_text,
        presets={str(k): dict(v) for k, v in (data.get("presets", {}) or {}).items()},
        roles=parse_roles(
            data.get("roles"),
            kind,
            lambda msg, key, parameter: ModelError(
                msg, path, _line_in_table(source_text, "roles", key), parameter
            ),
        ),
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
    spec.validate()
    complete_roles(spec)
    return spec

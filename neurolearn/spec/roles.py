"""The model contract: the roles a model file declares in its ``[roles]`` table.

=======================  =========  ==============================================================
field                    kinds      meaning
=======================  =========  ==============================================================
``time_constants``       all        parameters that are time constants: strictly positive; the
                                    torch engine clamps them to a floor and trains them with
                                    the time-constant learning rate
``synaptic_targets``     neuron     variables that receive synaptic input, excitatory first
                                    (``["I_syn"]``; ``["g_e", "g_i"]``: positive weights onto
                                    ``g_e``, negative ones as conductances onto ``g_i``)
``threshold_variable``   neuron     the variable the threshold condition compares (a state
                                    variable or subexpression of the equations; recorded as
                                    the membrane potential); not for models without threshold
=======================  =========  ==============================================================

The state updater is declared by name in the file's ``method`` field (Brian2's names and
neurolearn's, :mod:`neurolearn.spec.stateupdaters`).

Files without a ``[roles]`` table (or with some fields missing) still load: the missing roles
are inferred from the naming conventions neurolearn used before roles existed (time constants:
parameters named ``tau*`` with the dimension of time; synaptic target: ``I_syn``, else ``g_e``
and ``g_i``; threshold variable: the first variable of the equations named in the threshold),
with a warning naming the file and the lines to add. The warning is a :class:`FutureWarning`
for a model file: its reader is the file's author, an end user who may never see a
:class:`DeprecationWarning` (Python hides those outside ``__main__``, and the command line runs
inside neurolearn); a spec made in code without a file (``ModelSpec.from_dict``) gets a
:class:`DeprecationWarning`, the category for developers, shown when their own code made it.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Mapping

from .parameters import is_conventional_time_constant

__all__ = [
    "ROLE_FIELDS",
    "parse_roles",
    "conventional_roles",
    "required_roles",
    "check_roles",
    "complete_roles",
]

#: Role fields of each kind of model.
ROLE_FIELDS = {
    "neuron": ("time_constants", "synaptic_targets", "threshold_variable"),
    "synapse": ("time_constants",),
    "input": ("time_constants",),
}
_LISTS = ("time_constants", "synaptic_targets")
_CONVENTIONS = {
    "time_constants": "parameters named tau* in units of time",
    "synaptic_targets": "I_syn, else g_e and g_i",
    "threshold_variable": "the first variable named in the threshold",
}


def parse_roles(raw, kind: str, err) -> dict:
    """The ``[roles]`` table of a model file as a dict (lists as tuples).

    Parameters
    ----------
    raw : mapping or None
    kind : {"neuron", "synapse", "input"}
    err : callable (message, key, parameter) -> ModelError
        A ModelError at the line of ``key`` in the file's ``[roles]`` table.

    Raises
    ------
    ModelError
        Not a table, an unknown field for the kind, or a value of the wrong type.
    """
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise err("'roles' must be a table", "roles", "roles")
    out = {}
    for key, value in raw.items():
        if key not in ROLE_FIELDS[kind]:
            raise err(
                f"unknown role '{key}' for a {kind} model; allowed: {', '.join(ROLE_FIELDS[kind])}",
                key,
                key,
            )
        if key in _LISTS:
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise err(f"roles.{key} must be a list of names, got {value!r}", key, key)
            out[key] = tuple(value)
        else:
            if not isinstance(value, str) or not value:
                raise err(f"roles.{key} must be a variable name, got {value!r}", key, key)
            out[key] = value
    return out


def required_roles(spec) -> tuple[str, ...]:
    """The role fields a model of this kind declares (``threshold_variable`` only when the
    neuron model has a threshold)."""
    fields = ROLE_FIELDS[spec.kind]
    if spec.kind == "neuron" and not spec.threshold.strip():
        fields = tuple(f for f in fields if f != "threshold_variable")
    return fields


def _threshold_identifiers(spec) -> list[str]:
    from brian2.utils.stringtools import get_identifiers

    return sorted(get_identifiers(spec.threshold), key=spec.threshold.find)


def conventional_roles(spec) -> dict:
    """The roles the old naming conventions give ``spec`` (see the module docstring).

    Returns
    -------
    dict
        ``time_constants`` (tuple of parameter names) and, for neuron models,
        ``synaptic_targets`` (tuple) and ``threshold_variable`` (str, None without threshold).
    """
    out = {
        "time_constants": tuple(
            n for n, p in spec.parameters.items() if is_conventional_time_constant(n, p.value)
        )
    }
    if spec.kind != "neuron":
        return out
    states = spec.state_variables
    if "I_syn" in states:
        out["synaptic_targets"] = ("I_syn",)
    elif "g_e" in states and "g_i" in states:
        out["synaptic_targets"] = ("g_e", "g_i")
    elif "g_e" in states:
        out["synaptic_targets"] = ("g_e",)
    else:
        out["synaptic_targets"] = ()
    out["threshold_variable"] = None
    if spec.threshold.strip():
        names = spec.brian2_equations().names
        out["threshold_variable"] = next(
            (n for n in _threshold_identifiers(spec) if n in names), spec.state_variables[0]
        )
    return out


def check_roles(spec) -> None:
    """Check the declared roles of ``spec`` against its parameters and equations.

    Raises
    ------
    ModelError
        A time constant that is not a parameter with the dimension of time; a synaptic target
        that is not a (non-subexpression) variable of the equations; a threshold variable that
        is not a variable named in the threshold, or one given for a model without threshold.
        The message names the file, the line in ``[roles]`` and the name at fault.
    """
    from brian2 import second

    def fail(field, message, name):
        return spec.error(
            f"roles.{field}: {message}", parameter=name, line=spec.line_in_table("roles", field)
        )

    roles = spec.roles
    for name in roles.get("time_constants", ()):
        p = spec.parameters.get(name)
        if p is None:
            raise fail(
                "time_constants",
                f"'{name}' is not a parameter of the model (it has: "
                f"{', '.join(spec.parameters) or 'none'})",
                name,
            )
        if p.dim != second.dim:
            raise fail("time_constants", f"'{name}' is in units of {p.unit_name}, not a time", name)
    if spec.kind != "neuron":
        return
    eqs = spec.brian2_equations()
    writable = [n for n in eqs.names if n not in eqs.subexpr_names]
    for name in roles.get("synaptic_targets", ()):
        if name not in writable:
            raise fail(
                "synaptic_targets",
                f"'{name}' is not a variable of the equations (they have: {', '.join(writable)})",
                name,
            )
    name = roles.get("threshold_variable")
    if name is not None:
        if not spec.threshold.strip():
            raise fail("threshold_variable", "the model has no threshold", name)
        if name not in eqs.names or name not in _threshold_identifiers(spec):
            raise fail(
                "threshold_variable",
                f"'{name}' is not a variable of the equations named in the threshold "
                f"'{spec.threshold}'",
                name,
            )


def _toml(value) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    return "[" + ", ".join(f'"{v}"' for v in value) + "]"


def _warn(message: str, category) -> None:
    """Warn, attributed to the first caller outside :mod:`neurolearn.spec` (so that a
    DeprecationWarning shows when the user's own code made the spec)."""
    here = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(0), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(here):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def complete_roles(spec) -> tuple[str, ...]:
    """Fill in the roles ``spec`` does not declare from the naming conventions, with a warning.

    Returns
    -------
    tuple of str
        The role fields that were missing (and are now inferred); empty if none.

    Warns
    -----
    FutureWarning
        For a spec read from a file: names the file and gives the ``[roles]`` lines to add.
    DeprecationWarning
        For a spec made in code (no file).
    """
    missing = tuple(f for f in required_roles(spec) if f not in spec.roles)
    if not missing:
        return missing
    inferred = conventional_roles(spec)
    roles = dict(spec.roles)
    roles.update({f: inferred[f] for f in missing})
    spec.set_roles(roles)
    lines = "\n".join(f"{f} = {_toml(inferred[f])}" for f in missing)
    where = f"model file {spec.path}" if spec.path is not None else f"model '{spec.name}'"
    conventions = "; ".join(f"{f}: {_CONVENTIONS[f]}" for f in missing)
    _warn(
        f"{where} does not declare the role{'s' if len(missing) > 1 else ''} "
        f"{', '.join(missing)}; inferred from neurolearn's old naming conventions "
        f"({conventions}). This inference will be removed: add to the "
        f"{'file' if spec.path is not None else 'spec'}\n[roles]\n{lines}",
        FutureWarning if spec.path is not None else DeprecationWarning,
    )
    return missing

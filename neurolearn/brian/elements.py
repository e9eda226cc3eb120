"""The elements of a :class:`~neurolearn.brian.network.NetworkSpec` (populations, inputs,
connections, state monitors) and the checks shared by describing and building a network."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..spec import InputModel, ModelError, NeuronModel, SynapseModel, load_model, parse_quantity
from .results import quantity_to_str

__all__ = [
    "NAME",
    "RESERVED_SUFFIXES",
    "Population",
    "Input",
    "Connection",
    "StateMon",
    "is_expression",
    "to_value",
    "load_spec",
    "check_syn_value",
    "summary",
]

#: Names of populations, inputs and connections.
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
#: Suffixes of the monitors' names, not allowed in element names.
RESERVED_SUFFIXES = ("_spikes", "_state", "_rate")


def is_expression(value) -> bool:
    """A string that is not a plain quantity, i.e. a Brian2 expression to evaluate."""
    if not isinstance(value, str):
        return False
    try:
        parse_quantity(value)
        return False
    except ModelError:
        return True


def to_value(value, what: str):
    """Strings that are quantities become Quantities; expressions stay strings."""
    if isinstance(value, str) and not is_expression(value):
        return parse_quantity(value, what)
    return value


@dataclasses.dataclass
class Population:
    """A population of a network: ``n`` neurons of a neuron model."""

    name: str
    spec: NeuronModel
    n: int
    params: dict
    initial: dict
    method: str | None


@dataclasses.dataclass
class Input:
    """An input of a network: Poisson sources or a spike generator (indices, times)."""

    name: str
    spec: InputModel
    n: int
    params: dict
    indices: Any = None
    times: Any = None


@dataclasses.dataclass
class Connection:
    """A connection of a network: a synapse model from a source to a target population."""

    name: str
    source: str
    target: str
    spec: SynapseModel
    target_var: str
    p: float | None
    condition: str | None
    i: Any
    j: Any
    weight: Any
    weight_var: str | None
    delay: Any
    params: dict


@dataclasses.dataclass
class StateMon:
    """State variables of a population to record (which neurons, sampling interval)."""

    population: str
    variables: list
    record: Any
    dt: Any


def load_spec(model, kind: str, what: str):
    """``model`` (zoo name, path or spec) as a spec of ``kind``.

    Raises
    ------
    ModelError
        Unknown model, or a model of another kind (names ``what``).
    """
    spec = load_model(model) if isinstance(model, (str, Path)) else model
    if getattr(spec, "kind", None) != kind:
        raise ModelError(
            f"{what}: '{getattr(spec, 'name', spec)}' is a "
            f"{getattr(spec, 'kind', type(spec).__name__)} model, not a {kind} "
            f"model",
            getattr(spec, "path", None),
            parameter="model",
        )
    return spec


def check_syn_value(name, spec, var, value, explicit_i, dim_of=None) -> None:
    """Check a connection's weight or delay: its unit (that of ``var`` in the synapse model,
    or of ``dim_of``) and, for an array, that it has one value per explicit synapse.

    Raises
    ------
    ModelError
        Naming the connection and ``var``.
    """
    from brian2.units.fundamentalunits import (
        DimensionMismatchError,
        fail_for_dimension_mismatch,
    )

    if isinstance(value, str):
        return
    if dim_of is None:
        eqs = spec.brian2_equations()
        if var in eqs.names:
            from brian2 import Quantity

            dim_of = Quantity(1.0, dim=eqs[var].dim)
        else:
            dim_of = spec.parameters[var].value
    try:
        fail_for_dimension_mismatch(value, dim_of)
    except DimensionMismatchError:
        from brian2.units.fundamentalunits import get_dimensions, get_unit

        raise ModelError(
            f"connection '{name}': {var} must be in units of "
            f"{get_unit(get_dimensions(dim_of))!r}, got {value!r}",
            parameter=var,
        ) from None
    if np.ndim(value) > 0:
        if explicit_i is None:
            raise ModelError(
                f"connection '{name}': an array of {var} values needs "
                f"explicit synapses 'i', 'j' (or give a scalar or a Brian2 "
                f"expression)",
                parameter=var,
            )
        if np.size(value) != np.size(explicit_i):
            raise ModelError(
                f"connection '{name}': {np.size(explicit_i)} synapses but "
                f"{np.size(value)} {var} values",
                parameter=var,
            )


def summary(value):
    """A weight or delay for ``NetworkSpec.to_dict``: as it is, or mean/min/max of an array."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if np.ndim(value) == 0:
        return quantity_to_str(value)
    arr = np.asarray(value, dtype=float)
    return {
        "n": int(arr.size),
        "mean": quantity_to_str(np.mean(value)),
        "min": quantity_to_str(np.min(value)),
        "max": quantity_to_str(np.max(value)),
    }

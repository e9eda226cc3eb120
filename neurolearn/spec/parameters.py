"""One parameter of a model: value with unit, valid range, per-neuron flag and its role."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .errors import ModelError
from .quantities import _dim, _fmt

__all__ = ["Parameter", "is_conventional_time_constant"]


def is_conventional_time_constant(name: str, value) -> bool:
    """The naming convention for time constants of model files without a ``[roles]`` table:
    a parameter named ``tau*`` with the dimension of time."""
    from brian2 import second

    return _dim(value) == _dim(second) and name.startswith("tau")


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
    time_constant : bool or None
        The declared role: a time constant (strictly positive; in the torch engine, clamped
        to a floor and trained with the time-constant learning rate). Set from the model
        file's ``roles.time_constants``; None (undeclared) falls back to the naming
        convention (``tau*`` with the dimension of time).
    """

    name: str
    value: Any
    low: Any = None
    high: Any = None
    per_neuron: bool = False
    description: str = ""
    time_constant: bool | None = None

    @property
    def dim(self):
        """Physical dimensions of the parameter (a Brian2 ``Dimension``)."""
        return _dim(self.value)

    @property
    def unit_name(self) -> str:
        """Brian2 name of the SI unit (``"second"``, ``"volt"``, ``"1"`` if dimensionless),
        usable in Brian2 equations: where Brian2's unit registry names the dimension by a
        scaled unit (``"mvolt / msecond"`` once ``mV/ms`` was used), the SI base units."""
        from brian2 import Equations
        from brian2.units.fundamentalunits import get_unit

        if self.dim.is_dimensionless:
            return "1"
        text = repr(get_unit(self.dim))
        try:
            Equations(f"x : {text}")
        except Exception:  # Brian2 accepts only unscaled units in equations
            text = repr(self.dim)
        return text

    @property
    def is_time_constant(self) -> bool:
        """True for a time constant (these must be > 0): the declared role
        (:attr:`time_constant`), or, when undeclared, a ``tau*`` parameter with the dimension
        of time."""
        if self.time_constant is not None:
            return self.time_constant
        return is_conventional_time_constant(self.name, self.value)

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

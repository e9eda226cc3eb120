"""Simulation results with units, and their HDF5 file.

A :class:`Results` object holds what the monitors of a network recorded, as NumPy arrays and
Brian2 quantities (values in SI units with their dimensions):

* ``spikes[population]`` -> :class:`SpikeTrains`: ``indices`` (int64, ``[spikes]``) and
  ``times`` (second, ``[spikes]``), in the order Brian2 recorded them (by time);
* ``states[population]`` -> :class:`StateRecord`: ``t`` (second, ``[time]``), ``neurons``
  (int64, ``[neurons]``) and ``values[variable]`` (its unit, ``[time, neurons]``);
* ``rates[population]`` -> :class:`RateRecord`: ``t`` (second, ``[time]``) and ``rate``
  (hertz, ``[time]``), the population rate per time step (Brian2 ``PopulationRateMonitor``);

plus the metadata of the run (backend, seed, dt, duration, parameter values, the network
description with every model spec, wall-clock timings).

HDF5 layout (``Results.save`` / :func:`load`), format version 1
----------------------------------------------------------------
::

    /                              attrs: format = "neurolearn.results", format_version = 1,
                                          backend, seed (-1: none), neurolearn_version,
                                          brian2_version, created (ISO 8601, UTC),
                                          network (JSON: populations, inputs, connections,
                                          monitors, and the full model specs),
                                          params (JSON: parameter values of this run,
                                          quantities as strings with units),
                                          timings (JSON: wall-clock seconds)
    /dt, /duration                 scalar float64 datasets, with unit attributes
    /spikes/<population>/indices   int64  [spikes]
    /spikes/<population>/times     float64 [spikes]                 unit attributes
    /spikes/<population>           attrs: n (population size)
    /states/<population>/t         float64 [time]                   unit attributes
    /states/<population>/neurons   int64  [neurons] (recorded neuron indices)
    /states/<population>/<var>     float64 [time, neurons]          unit attributes
    /rates/<population>/t          float64 [time]                   unit attributes
    /rates/<population>/rate       float64 [time]                   unit attributes

Every float dataset holding a physical quantity stores its value in SI base units and has two
attributes: ``unit`` (Brian2's name of the SI unit, e.g. ``"volt"``, ``"second"``, ``"1"`` for
dimensionless) and ``dimensions`` (int array of the 7 SI exponents: metre, kilogram, second,
ampere, kelvin, mole, candela). :func:`load` rebuilds the quantities from ``dimensions``, so a
file reloads to identical values and units. Files are written atomically
(:func:`neurolearn.io.atomic_path`): a crash never leaves a half-written file.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..io import atomic_path

__all__ = [
    "SpikeTrains",
    "StateRecord",
    "RateRecord",
    "Results",
    "load",
    "FORMAT",
    "FORMAT_VERSION",
    "quantity_to_str",
]

FORMAT = "neurolearn.results"
FORMAT_VERSION = 1
_DIM_ORDER = ("m", "kg", "s", "A", "K", "mol", "cd")


def quantity_to_str(value) -> Any:
    """A Quantity (scalar or array) as JSON-ready data: ``"0.02 * second"`` style strings
    (:func:`neurolearn.spec.parse_quantity` reads them back) or lists of them; other values
    are returned as JSON-ready numbers/lists."""
    import brian2

    if isinstance(value, brian2.Quantity):
        from brian2.units.fundamentalunits import get_unit

        unit = "" if value.dim.is_dimensionless else f" {get_unit(value.dim)!r}"
        arr = np.asarray(value)
        if arr.ndim == 0:
            return f"{float(arr)!r}{unit}"
        return [f"{float(x)!r}{unit}" for x in arr.ravel()]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


def _dims(q) -> np.ndarray:
    from brian2.units.fundamentalunits import get_dimensions

    d = get_dimensions(q)
    return np.array([d.get_dimension(name) for name in _DIM_ORDER], dtype=float)


def _write_quantity(group, name: str, value, **kwargs):
    from brian2.units.fundamentalunits import get_dimensions, get_unit

    dim = get_dimensions(value)
    ds = group.create_dataset(name, data=np.asarray(value, dtype=np.float64), **kwargs)
    ds.attrs["unit"] = "1" if dim.is_dimensionless else repr(get_unit(dim))
    ds.attrs["dimensions"] = _dims(value)
    return ds


def _read_quantity(ds):
    import brian2
    from brian2.units.fundamentalunits import get_or_create_dimension

    data = ds[()]
    dims = ds.attrs.get("dimensions")
    if dims is None:
        raise ValueError(
            f"{ds.file.filename}: dataset {ds.name} has no 'dimensions' attribute "
            f"(not a neurolearn results file?)"
        )
    dim = get_or_create_dimension([float(x) for x in dims])
    return brian2.Quantity(data, dim=dim, copy=True)


@dataclasses.dataclass
class SpikeTrains:
    """Spikes of one population.

    Attributes
    ----------
    n : int
        Population size.
    indices : ndarray of int64, shape [spikes]
        Neuron index of each spike.
    times : Quantity (second), shape [spikes]
        Spike times.
    """

    n: int
    indices: np.ndarray
    times: Any

    @property
    def count(self) -> int:
        """Total number of spikes."""
        return int(self.indices.size)

    def counts(self) -> np.ndarray:
        """Spike count of each neuron, int64 ``[n]``."""
        return np.bincount(self.indices, minlength=self.n).astype(np.int64)

    def trains(self) -> list:
        """Spike times of each neuron: a list of ``n`` Quantities (second), sorted."""
        from brian2 import second

        t = np.asarray(self.times)
        order = np.argsort(self.indices, kind="stable")
        idx = self.indices[order]
        bounds = np.searchsorted(idx, np.arange(self.n + 1))
        return [np.sort(t[order][bounds[k] : bounds[k + 1]]) * second for k in range(self.n)]

    def mean_rate(self, duration):
        """Mean firing rate per neuron, ``count / (n * duration)`` (hertz)."""
        return self.count / (self.n * duration)

    def __eq__(self, other):
        return (
            isinstance(other, SpikeTrains)
            and self.n == other.n
            and np.array_equal(self.indices, other.indices)
            and _q_equal(self.times, other.times)
        )


@dataclasses.dataclass
class StateRecord:
    """State variables recorded from chosen neurons of one population.

    Attributes
    ----------
    t : Quantity (second), shape [time]
    neurons : ndarray of int64, shape [neurons]
        Indices of the recorded neurons.
    values : dict of str -> Quantity, each shape [time, neurons]
    """

    t: Any
    neurons: np.ndarray
    values: dict

    def __getitem__(self, variable):
        return self.values[variable]

    def __eq__(self, other):
        return (
            isinstance(other, StateRecord)
            and _q_equal(self.t, other.t)
            and np.array_equal(self.neurons, other.neurons)
            and set(self.values) == set(other.values)
            and all(_q_equal(v, other.values[k]) for k, v in self.values.items())
        )


@dataclasses.dataclass
class RateRecord:
    """Population rate per time step.

    Attributes
    ----------
    t : Quantity (second), shape [time]
    rate : Quantity (hertz), shape [time]
    """

    t: Any
    rate: Any

    def __eq__(self, other):
        return (
            isinstance(other, RateRecord)
            and _q_equal(self.t, other.t)
            and _q_equal(self.rate, other.rate)
        )


def _q_equal(a, b) -> bool:
    from brian2.units.fundamentalunits import get_dimensions

    return get_dimensions(a) == get_dimensions(b) and np.array_equal(np.asarray(a), np.asarray(b))


@dataclasses.dataclass
class Results:
    """What one simulation recorded, with units and metadata.

    Attributes
    ----------
    spikes : dict of str -> SpikeTrains
    states : dict of str -> StateRecord
    rates : dict of str -> RateRecord
    duration, dt : Quantity (second)
    backend : str
    seed : int or None
    params : dict
        Parameter values of this run (JSON-ready: quantities as strings with units), by
        population / input / connection name.
    network : dict
        JSON-ready description of the network (see ``NetworkSpec.to_dict``), including the
        full model specs.
    timings : dict of str -> float
        Wall-clock seconds (``build_s``: code generation and compilation, ``run_s``: the
        simulation itself).
    """

    spikes: dict = dataclasses.field(default_factory=dict)
    states: dict = dataclasses.field(default_factory=dict)
    rates: dict = dataclasses.field(default_factory=dict)
    duration: Any = None
    dt: Any = None
    backend: str = ""
    seed: int | None = None
    params: dict = dataclasses.field(default_factory=dict)
    network: dict = dataclasses.field(default_factory=dict)
    timings: dict = dataclasses.field(default_factory=dict)

    def mean_rate(self, population: str):
        """Mean firing rate per neuron of ``population`` over the run (hertz).

        Raises
        ------
        KeyError
            If the population's spikes were not recorded (names the recorded ones).
        """
        if population not in self.spikes:
            raise KeyError(
                f"no spikes recorded for {population!r}; recorded: "
                f"{', '.join(self.spikes) or 'none'}"
            )
        return self.spikes[population].mean_rate(self.duration)

    def __eq__(self, other):
        return (
            isinstance(other, Results)
            and self.spikes == other.spikes
            and self.states == other.states
            and self.rates == other.rates
            and _q_equal(self.duration, other.duration)
            and _q_equal(self.dt, other.dt)
            and self.backend == other.backend
            and self.seed == other.seed
        )

    # ------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the results to an HDF5 file (layout in the module docstring), atomically.

        Parameters
        ----------
        path : path
            Destination ``.h5`` file; folders are created; an existing file is replaced.

        Returns
        -------
        Path
        """
        import brian2
        import h5py

        from .. import __version__

        path = Path(path)
        with atomic_path(path) as tmp:
            with h5py.File(tmp, "w") as f:
                f.attrs["format"] = FORMAT
                f.attrs["format_version"] = FORMAT_VERSION
                f.attrs["backend"] = self.backend
                f.attrs["seed"] = -1 if self.seed is None else int(self.seed)
                f.attrs["neurolearn_version"] = __version__
                f.attrs["brian2_version"] = brian2.__version__
                f.attrs["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
                f.attrs["network"] = json.dumps(self.network)
                f.attrs["params"] = json.dumps(self.params)
                f.attrs["timings"] = json.dumps(self.timings)
                _write_quantity(f, "dt", self.dt)
                _write_quantity(f, "duration", self.duration)
                sp = f.create_group("spikes")
                for name, s in self.spikes.items():
                    g = sp.create_group(name)
                    g.attrs["n"] = int(s.n)
                    g.create_dataset("indices", data=np.asarray(s.indices, dtype=np.int64))
                    _write_quantity(g, "times", s.times)
                st = f.create_group("states")
                for name, r in self.states.items():
                    g = st.create_group(name)
                    _write_quantity(g, "t", r.t)
                    g.create_dataset("neurons", data=np.asarray(r.neurons, dtype=np.int64))
                    for var, value in r.values.items():
                        if var in ("t", "neurons"):
                            raise ValueError(
                                f"state variable name {var!r} clashes with the file layout"
                            )
                        _write_quantity(g, var, value)
                ra = f.create_group("rates")
                for name, r in self.rates.items():
                    g = ra.create_group(name)
                    _write_quantity(g, "t", r.t)
                    _write_quantity(g, "rate", r.rate)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Results:
        """Read a file written by :meth:`save` (see :func:`load`)."""
        return load(path)


def load(path: str | os.PathLike) -> Results:
    """Read a results file written by :meth:`Results.save`.

    Parameters
    ----------
    path : path

    Returns
    -------
    Results
        Identical values and units to the saved object.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not a neurolearn results file or has a newer format version.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"results file not found: {path}")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{path}: not an HDF5 file ({exc})") from None
    with f:
        if f.attrs.get("format") != FORMAT:
            raise ValueError(
                f"{path}: not a neurolearn results file (format attribute is "
                f"{f.attrs.get('format')!r}, expected {FORMAT!r})"
            )
        version = int(f.attrs.get("format_version", 0))
        if version > FORMAT_VERSION:
            raise ValueError(
                f"{path}: format version {version} is newer than this neurolearn "
                f"reads ({FORMAT_VERSION}); upgrade neurolearn"
            )
        seed = int(f.attrs["seed"])
        res = Results(
            duration=_read_quantity(f["duration"]),
            dt=_read_quantity(f["dt"]),
            backend=str(f.attrs["backend"]),
            seed=None if seed < 0 else seed,
            params=json.loads(f.attrs["params"]),
            network=json.loads(f.attrs["network"]),
            timings=json.loads(f.attrs["timings"]),
        )
        for name, g in f["spikes"].items():
            res.spikes[name] = SpikeTrains(
                int(g.attrs["n"]), g["indices"][()].astype(np.int64), _read_quantity(g["times"])
            )
        for name, g in f["states"].items():
            values = {
                var: _read_quantity(ds) for var, ds in g.items() if var not in ("t", "neurons")
            }
            res.states[name] = StateRecord(
                _read_quantity(g["t"]), g["neurons"][()].astype(np.int64), values
            )
        for name, g in f["rates"].items():
            res.rates[name] = RateRecord(_read_quantity(g["t"]), _read_quantity(g["rate"]))
    return res

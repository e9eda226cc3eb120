"""Networks from model specs, run on any Brian2 backend with the same user code.

:class:`NetworkSpec` describes a network in terms of the model zoo (no Brian2 object exists
until it is built): populations of neurons (a neuron model, per-neuron parameters, initial
values), inputs (Poisson sources, spike generators), connections (a synapse model, the
postsynaptic variable it drives, a connectivity rule, weights and delays) and monitors (spikes,
state variables of chosen neurons, population rates). :meth:`NetworkSpec.build` turns it into
Brian2 objects on one backend and returns a :class:`Simulation`; :meth:`Simulation.run` runs it
and returns :class:`~neurolearn.brian.results.Results` with units::

    from brian2 import ms, second, nA, Hz
    from neurolearn.brian import NetworkSpec

    net = NetworkSpec(dt=0.1 * ms)
    net.add_population("exc", "lif", 800, initial={"v": "v_rest + rand()*(v_th - v_rest)"})
    net.add_input("drive", "poisson", 800, rate=20 * Hz)
    net.connect("drive", "exc", "static_current", j="i", weight=0.6 * nA)
    net.connect("exc", "exc", "static_current", p=0.02, weight=0.1 * nA, delay=1.5 * ms)
    net.monitor_spikes("exc")
    net.monitor_state("exc", ["v"], record=[0, 1, 2])

    res = net.run(1 * second, backend="cython", seed=1)          # one call
    sim = net.build(1 * second, backend="cpp_standalone", seed=1)  # or: compile once...
    a = sim.run()
    b = sim.run(params={"exc": {"tau_m": 15 * ms}, "drive": {"rate": 30 * Hz}})  # ...run twice
    sim.close()

Runs and parameters
-------------------
A :class:`Simulation` can be run any number of times; every run starts at ``t = 0`` from the
initial state and depends only on the parameter values and the seed (the same ``params`` and
seed give the same spikes). ``params`` maps a population, input or connection name to new
values of its model parameters (scalars, or one value per neuron for ``per_neuron``
parameters), of an input's ``rate``, or of a connection's weight variable (``w``). In
standalone mode these become Brian2 ``run_args``: **the compiled program is run again without
recompiling**. Initial values and weights written as Brian2 expressions (``"v_rest"``,
``"rand()*w_max"``) are evaluated after the parameters are set, so they follow the new values.
Connectivity is fixed at build time (standalone: regenerated identically from the seed by
every run).

Same code, any backend
----------------------
``backend`` is one of :data:`~neurolearn.brian.backends.BACKENDS`. Each build happens inside
:func:`~neurolearn.brian.backends.use_backend`, so nothing leaks between simulations in one
process. Different backends use different random number generators: for spike-for-spike
comparisons draw connectivity and weights with NumPy and pass them as arrays (``i``, ``j``,
``weight``) and drive the network with a spike generator.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..spec import InputModel, ModelError, NeuronModel, SynapseModel, load_model, parse_quantity
from .backends import check_backend, use_backend
from .results import RateRecord, Results, SpikeTrains, StateRecord, quantity_to_str

__all__ = ["NetworkSpec", "Simulation", "simulate"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_RESERVED_SUFFIXES = ("_spikes", "_state", "_rate")


def _is_expression(value) -> bool:
    """A string that is not a plain quantity, i.e. a Brian2 expression to evaluate."""
    if not isinstance(value, str):
        return False
    try:
        parse_quantity(value)
        return False
    except ModelError:
        return True


def _to_value(value, what: str):
    """Strings that are quantities become Quantities; expressions stay strings."""
    if isinstance(value, str) and not _is_expression(value):
        return parse_quantity(value, what)
    return value


@dataclasses.dataclass
class _Population:
    name: str
    spec: NeuronModel
    n: int
    params: dict
    initial: dict
    method: str | None


@dataclasses.dataclass
class _Input:
    name: str
    spec: InputModel
    n: int
    params: dict
    indices: Any = None
    times: Any = None


@dataclasses.dataclass
class _Connection:
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
class _StateMon:
    population: str
    variables: list
    record: Any
    dt: Any


def _load(model, kind: str, what: str):
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


class NetworkSpec:
    """Description of a spiking network built from model specs (backend-independent).

    Parameters
    ----------
    dt : Quantity, optional
        Integration time step (default 0.1 ms).
    name : str
        Name of the network (metadata only).

    Notes
    -----
    Within a time step Brian2's schedule applies: state update, threshold, synaptic
    propagation, reset (Stimberg, Brette & Goodman 2019, eLife 8:e47314).
    """

    def __init__(self, dt=None, name: str = "network"):
        from brian2 import ms

        self.dt = 0.1 * ms if dt is None else parse_quantity(dt, "dt")
        self._check_dt(self.dt)
        self.name = name
        self.populations: dict[str, _Population] = {}
        self.inputs: dict[str, _Input] = {}
        self.connections: dict[str, _Connection] = {}
        self.spike_monitors: list[str] = []
        self.state_monitors: dict[str, _StateMon] = {}
        self.rate_monitors: list[str] = []

    @staticmethod
    def _check_dt(dt):
        from brian2 import second
        from brian2.units.fundamentalunits import have_same_dimensions

        if not have_same_dimensions(dt, second) or float(dt) <= 0:
            raise ModelError(f"dt must be a positive time, got {dt!r}", parameter="dt")

    # --- description --------------------------------------------------------------------
    def _new_name(self, name: str, what: str) -> str:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ModelError(
                f"{what} name {name!r} must start with a letter and contain only "
                f"letters, digits and '_'",
                parameter="name",
            )
        if name.endswith(_RESERVED_SUFFIXES):
            raise ModelError(
                f"{what} name {name!r} must not end with "
                f"{', '.join(_RESERVED_SUFFIXES)} (used by monitors)",
                parameter="name",
            )
        if name in self.populations or name in self.inputs or name in self.connections:
            raise ModelError(f"the network already has an element named {name!r}", parameter="name")
        return name

    def add_population(
        self,
        name: str,
        model,
        n: int,
        params: Mapping | None = None,
        initial: Mapping | None = None,
        method: str | None = None,
        preset: str | None = None,
    ) -> NetworkSpec:
        """Add ``n`` neurons of a neuron model.

        Parameters
        ----------
        name : str
            Population name (an identifier; used for results and ``params``).
        model : str, Path or NeuronModel
            Zoo name (``"lif"``), path to a model file, or a spec.
        n : int
            Number of neurons (> 0).
        params : mapping, optional
            Parameter values overriding the model's defaults: Quantity, string with unit
            (``"15 ms"``), or an array of ``n`` values for ``per_neuron`` parameters.
        initial : mapping, optional
            Initial values overriding the model's ``[initial]`` table: Quantity, array of
            ``n`` values, or Brian2 expression (``"v_rest + rand()*(v_th - v_rest)"``).
        method : str, optional
            Brian2 state updater (default: the model's).
        preset : str, optional
            Named parameter set of the model file (e.g. Izhikevich ``"fs"``).

        Returns
        -------
        NetworkSpec
            ``self``, for chaining.

        Raises
        ------
        ModelError
            Unknown model, bad name, ``n``, preset, parameter (name, unit, range, array
            length) or initial-value variable.
        """
        name = self._new_name(name, "population")
        spec = _load(model, "neuron", f"population '{name}'")
        if preset is not None:
            spec = spec.with_preset(preset)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
            raise ModelError(
                f"population '{name}': number of neurons must be a positive integer, got {n!r}",
                parameter="n",
            )
        params = dict(params or {})
        spec.resolve_parameters(params, n=int(n))  # fail early, with the parameter's name
        eq_names = spec.brian2_equations().names
        initial = dict(initial or {})
        for var, value in initial.items():
            if var not in eq_names:
                raise ModelError(
                    f"population '{name}': initial value for unknown variable "
                    f"'{var}' of model '{spec.name}' (its variables: "
                    f"{', '.join(sorted(eq_names))})",
                    spec.path,
                    parameter=var,
                )
            if np.ndim(value) > 0 and np.size(value) != n:
                raise ModelError(
                    f"population '{name}': initial value of '{var}' needs {n} "
                    f"values, got {np.size(value)}",
                    parameter=var,
                )
        self.populations[name] = _Population(name, spec, int(n), params, initial, method)
        return self

    def add_input(
        self,
        name: str,
        model="poisson",
        n: int | None = None,
        rate=None,
        params: Mapping | None = None,
        indices=None,
        times=None,
    ) -> NetworkSpec:
        """Add an input population: Poisson sources or a spike generator.

        Parameters
        ----------
        name : str
        model : str, Path or InputModel
            ``"poisson"`` or ``"spike_generator"`` (zoo) or a spec.
        n : int
            Number of sources.
        rate : Quantity or array, optional
            Poisson rate (hertz), scalar or one per source (shortcut for ``params={"rate":
            ...}``).
        indices, times : array-like, optional
            Spike generator: source index (int, ``[spikes]``) and time (Quantity or seconds,
            ``[spikes]``) of each spike.

        Raises
        ------
        ModelError
            Bad name, model, ``n``, rate (unit, range) or spike list.
        """
        name = self._new_name(name, "input")
        spec = _load(model, "input", f"input '{name}'")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
            raise ModelError(
                f"input '{name}': number of sources must be a positive integer, got {n!r}",
                parameter="n",
            )
        params = dict(params or {})
        if rate is not None:
            params["rate"] = rate
        if spec.generator == "poisson":
            spec.resolve_parameters(params, n=int(n))
        else:
            if indices is None or times is None:
                raise ModelError(
                    f"input '{name}': a spike generator needs 'indices' and 'times'",
                    parameter="times",
                )
            indices = np.asarray(indices, dtype=np.int64)
            if indices.size and (indices.min() < 0 or indices.max() >= n):
                raise ModelError(
                    f"input '{name}': spike generator indices must lie in [0, {int(n) - 1}]",
                    parameter="indices",
                )
            if np.size(times) != indices.size:
                raise ModelError(
                    f"input '{name}': {indices.size} indices but {np.size(times)} times",
                    parameter="times",
                )
        self.inputs[name] = _Input(name, spec, int(n), params, indices, times)
        return self

    def connect(
        self,
        source: str,
        target: str,
        synapse="static_current",
        name: str | None = None,
        target_var: str | None = None,
        p: float | None = None,
        condition: str | None = None,
        i=None,
        j=None,
        weight=None,
        delay=None,
        params: Mapping | None = None,
    ) -> NetworkSpec:
        """Connect two populations (or an input to a population) with a synapse model.

        Parameters
        ----------
        source : str
            Presynaptic population or input.
        target : str
            Postsynaptic population.
        synapse : str, Path or SynapseModel
            Synapse model (default ``"static_current"``).
        name : str, optional
            Connection name (default ``"<source>_to_<target>"``).
        target_var : str, optional
            Postsynaptic variable the synapse drives (default: the model's ``target``, e.g.
            ``I_syn``; ``"g_i"`` for an inhibitory conductance).
        p : float, optional
            Connection probability in [0, 1] (Brian2 ``connect(p=...)``).
        condition : str, optional
            Brian2 condition on ``i``, ``j`` (e.g. ``"i != j"``, ``"i < 3200"``).
        i, j : array-like of int, optional
            Explicit synapses (``i[k] -> j[k]``). ``j`` may also be a Brian2 generator
            expression (``"i"`` for one-to-one).
        weight : Quantity, array or str, optional
            Value of the synapse model's weight variable ``w``: scalar, one per synapse (needs
            explicit ``i``/``j``), or a Brian2 expression (``"rand()*0.5*nA"``).
        delay : Quantity, array or str, optional
            Transmission delay: scalar (homogeneous), one per synapse, or an expression.
        params : mapping, optional
            Values of the synapse model's parameters.

        Raises
        ------
        ModelError
            Unknown source/target, bad synapse model, target variable, probability, weight or
            delay (unit, length).
        """
        if source not in self.populations and source not in self.inputs:
            raise ModelError(
                f"connection source '{source}' is neither a population nor an "
                f"input of the network (it has: "
                f"{', '.join([*self.populations, *self.inputs]) or 'nothing'})",
                parameter="source",
            )
        if target not in self.populations:
            raise ModelError(
                f"connection target '{target}' is not a population of the network "
                f"(populations: {', '.join(self.populations) or 'none'})",
                parameter="target",
            )
        base = name or f"{source}_to_{target}"
        if name is None:
            k = 1
            while base in self.connections:
                k += 1
                base = f"{source}_to_{target}_{k}"
        name = self._new_name(base, "connection")
        spec = _load(synapse, "synapse", f"connection '{name}'")
        tv = target_var or spec.target
        post = self.populations[target].spec
        post_names = set(post.brian2_equations().names)
        if spec.post_equations:
            post_names |= {tv, f"x_{tv}"}
        if not tv or tv not in post_names:
            raise ModelError(
                f"connection '{name}': synapse model '{spec.name}' drives "
                f"'{tv}', which neuron model '{post.name}' does not have (its "
                f"variables: {', '.join(sorted(post_names))})",
                spec.path,
                parameter="target_var",
            )
        if p is not None:
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
                raise ModelError(
                    f"connection '{name}': probability p must be a number in [0, 1], got {p!r}",
                    parameter="p",
                )
        explicit = i is not None and not isinstance(j, str)
        if explicit:
            if j is None:
                raise ModelError(f"connection '{name}': give both 'i' and 'j'", parameter="j")
            i = np.asarray(i, dtype=np.int64)
            j = np.asarray(j, dtype=np.int64)
            if i.shape != j.shape or i.ndim != 1:
                raise ModelError(
                    f"connection '{name}': 'i' and 'j' must be 1-D arrays of the "
                    f"same length, got {i.shape} and {j.shape}",
                    parameter="i",
                )
            n_pre = self._size(source)
            n_post = self.populations[target].n
            if i.size and (i.min() < 0 or i.max() >= n_pre):
                raise ModelError(
                    f"connection '{name}': 'i' must lie in [0, {n_pre - 1}]", parameter="i"
                )
            if j.size and (j.min() < 0 or j.max() >= n_post):
                raise ModelError(
                    f"connection '{name}': 'j' must lie in [0, {n_post - 1}]", parameter="j"
                )
            if p is not None or condition is not None:
                raise ModelError(
                    f"connection '{name}': give either explicit 'i'/'j' or a "
                    f"rule ('p', 'condition'), not both",
                    parameter="i",
                )
        elif i is not None:
            raise ModelError(f"connection '{name}': 'i' needs an array 'j'", parameter="i")
        syn_names = set(spec.brian2_equations().names) | set(spec.parameters)
        weight_var = "w" if "w" in syn_names else None
        weight = _to_value(weight, "weight")
        if weight is not None:
            if weight_var is None:
                raise ModelError(
                    f"connection '{name}': synapse model '{spec.name}' has no "
                    f"weight variable 'w'; set its parameters with 'params'",
                    spec.path,
                    parameter="weight",
                )
            self._check_syn_value(name, spec, "w", weight, i if explicit else None)
        delay = _to_value(delay, "delay")
        if delay is not None:
            from brian2 import second

            self._check_syn_value(
                name, spec, "delay", delay, i if explicit else None, dim_of=1 * second
            )
            if not isinstance(delay, str) and np.any(np.asarray(delay) < 0):
                raise ModelError(f"connection '{name}': delays must be >= 0", parameter="delay")
        params = dict(params or {})
        spec.resolve_parameters(params, n=None if not explicit else int(i.size))
        self.connections[name] = _Connection(
            name, source, target, spec, tv, p, condition, i, j, weight, weight_var, delay, params
        )
        return self

    def _size(self, name: str) -> int:
        if name in self.populations:
            return self.populations[name].n
        return self.inputs[name].n

    @staticmethod
    def _check_syn_value(name, spec, var, value, explicit_i, dim_of=None):
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

    def _check_population(self, population: str, what: str, inputs_ok: bool = False):
        if population in self.populations or (inputs_ok and population in self.inputs):
            return
        have = [*self.populations, *(self.inputs if inputs_ok else [])]
        raise ModelError(
            f"{what}: '{population}' is not a population of the network (it has: "
            f"{', '.join(have) or 'none'})",
            parameter="population",
        )

    def monitor_spikes(self, population: str) -> NetworkSpec:
        """Record the spikes of a population or input (``Results.spikes[population]``)."""
        self._check_population(population, "monitor_spikes", inputs_ok=True)
        if population not in self.spike_monitors:
            self.spike_monitors.append(population)
        return self

    def monitor_state(
        self, population: str, variables: Sequence[str] | str, record=True, dt=None
    ) -> NetworkSpec:
        """Record state variables of chosen neurons (``Results.states[population]``,
        arrays ``[time, neurons]``).

        Parameters
        ----------
        population : str
        variables : str or sequence of str
            Variables of the neuron model (``"v"``, ``"I_syn"``...).
        record : True, int or sequence of int
            Neurons to record (True: all).
        dt : Quantity, optional
            Sampling interval (default: the simulation's ``dt``).

        Raises
        ------
        ModelError
            Unknown population or variable, neuron index out of range, or the population is
            already monitored.
        """
        self._check_population(population, "monitor_state")
        pop = self.populations[population]
        variables = [variables] if isinstance(variables, str) else list(variables)
        names = set(pop.spec.brian2_equations().names) | set(pop.spec.parameters)
        for c in self.connections.values():
            if c.target == population and c.spec.post_equations:
                names |= {c.target_var, f"x_{c.target_var}"}
        for var in variables:
            if var not in names:
                raise ModelError(
                    f"monitor_state: population '{population}' (model "
                    f"'{pop.spec.name}') has no variable '{var}' (it has: "
                    f"{', '.join(sorted(names))})",
                    parameter=var,
                )
        if not variables:
            raise ModelError("monitor_state: no variables given", parameter="variables")
        if record is not True:
            rec = np.atleast_1d(np.asarray(record, dtype=np.int64))
            if rec.size == 0 or rec.min() < 0 or rec.max() >= pop.n:
                raise ModelError(
                    f"monitor_state: neuron indices must lie in [0, {pop.n - 1}], got {record!r}",
                    parameter="record",
                )
            record = rec
        if population in self.state_monitors:
            raise ModelError(
                f"monitor_state: '{population}' is already monitored; list all "
                f"its variables in one call",
                parameter="population",
            )
        if dt is not None:
            dt = parse_quantity(dt, "dt")
            self._check_dt(dt)
        self.state_monitors[population] = _StateMon(population, variables, record, dt)
        return self

    def monitor_rate(self, population: str) -> NetworkSpec:
        """Record the population rate of a population or input (``Results.rates``)."""
        self._check_population(population, "monitor_rate", inputs_ok=True)
        if population not in self.rate_monitors:
            self.rate_monitors.append(population)
        return self

    def to_dict(self) -> dict:
        """JSON-ready description: elements, their parameter values (quantities as strings
        with units) and the full model specs (``ModelSpec.to_dict``)."""

        def q(d):
            return {k: quantity_to_str(v) for k, v in d.items()}

        models = {}
        for el in [*self.populations.values(), *self.inputs.values(), *self.connections.values()]:
            models.setdefault(el.spec.name, el.spec.to_dict())
        return {
            "name": self.name,
            "dt": quantity_to_str(self.dt),
            "populations": {
                p.name: {
                    "model": p.spec.name,
                    "n": p.n,
                    "params": q(p.params),
                    "initial": q(p.initial),
                    "method": p.method,
                }
                for p in self.populations.values()
            },
            "inputs": {
                s.name: {
                    "model": s.spec.name,
                    "n": s.n,
                    "params": q(s.params),
                    "n_spikes": None if s.indices is None else int(s.indices.size),
                }
                for s in self.inputs.values()
            },
            "connections": {
                c.name: {
                    "source": c.source,
                    "target": c.target,
                    "synapse": c.spec.name,
                    "target_var": c.target_var,
                    "p": c.p,
                    "condition": c.condition,
                    "explicit": c.i is not None and not isinstance(c.j, str),
                    "j": c.j if isinstance(c.j, str) else None,
                    "n_synapses": None if c.i is None else int(np.size(c.i)),
                    "weight": _summary(c.weight),
                    "delay": _summary(c.delay),
                    "params": q(c.params),
                }
                for c in self.connections.values()
            },
            "monitors": {
                "spikes": list(self.spike_monitors),
                "states": {
                    k: {
                        "variables": m.variables,
                        "record": True if m.record is True else m.record.tolist(),
                    }
                    for k, m in self.state_monitors.items()
                },
                "rates": list(self.rate_monitors),
            },
            "models": models,
        }

    # --- building and running ------------------------------------------------------------
    def build(
        self,
        duration,
        backend: str = "numpy",
        seed: int | None = None,
        dt=None,
        directory=None,
        compile: bool = True,
        prefs: Mapping | None = None,
    ) -> Simulation:
        """Create the Brian2 objects on ``backend`` (standalone: generate and compile).

        Parameters
        ----------
        duration : Quantity
            Simulated time of every run (> 0).
        backend : str
            One of :data:`~neurolearn.brian.backends.BACKENDS`.
        seed : int, optional
            Random seed (connectivity, random initial values, Poisson inputs).
        dt : Quantity, optional
            Overrides the network's ``dt``.
        directory : path, optional
            Standalone project folder (default: a temporary folder).
        compile : bool
            Standalone: compile the project (False: only generate the code, e.g. a CUDA
            project for another machine).
        prefs : mapping, optional
            Extra Brian2 preferences for this simulation.

        Returns
        -------
        Simulation

        Raises
        ------
        ModelError
            Unknown backend, bad duration, or an inconsistent network.
        BackendUnavailableError
            ``cuda_standalone`` without brian2cuda, or compilation asked for without nvcc.
        """
        check_backend(backend)
        duration = parse_quantity(duration, "duration")
        self._check_dt(duration)
        if not self.populations and not self.inputs:
            raise ModelError(
                "the network is empty: add a population first", parameter="populations"
            )
        dt = self.dt if dt is None else parse_quantity(dt, "dt")
        self._check_dt(dt)
        if float(duration) < float(dt):
            raise ModelError(
                f"duration {duration!r} is shorter than dt {dt!r}", parameter="duration"
            )
        return Simulation._build(self, duration, backend, seed, dt, directory, compile, prefs)

    def run(
        self,
        duration,
        backend: str = "numpy",
        seed: int | None = None,
        params: Mapping | None = None,
        **build_options,
    ) -> Results:
        """Build, run once and close: ``net.run(1*second, backend="cython", seed=1)``.

        Parameters are those of :meth:`build` and :meth:`Simulation.run`.
        """
        sim = self.build(duration, backend=backend, seed=seed, **build_options)
        try:
            return sim.run(params=params)
        finally:
            sim.close()


def _summary(value):
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


class Simulation:
    """A network built on one backend; :meth:`run` runs it (again) with new parameters.

    Do not construct directly: use :meth:`NetworkSpec.build`.

    Attributes
    ----------
    spec : NetworkSpec
    backend : Backend
        The backend handle (``backend.name``, ``backend.directory`` for standalone).
    duration, dt : Quantity
    groups : dict of str -> Brian2 group
        The Brian2 objects (populations, inputs, connections, monitors), by name, for users
        who need to reach into Brian2.
    n_runs : int
        Number of completed runs.
    timings : dict of str -> float
        ``build_s`` (object creation; standalone: + code generation and compilation).
    """

    def __init__(self):  # pragma: no cover - use NetworkSpec.build
        raise TypeError("use NetworkSpec.build(...) to make a Simulation")

    @classmethod
    def _build(
        cls, spec: NetworkSpec, duration, backend_name, seed, dt, directory, compile, prefs
    ) -> Simulation:
        import brian2

        from .build import make_input_group, make_neuron_group, make_synapses

        self = object.__new__(cls)
        self.spec = spec
        self.duration = duration
        self.dt = dt
        self.seed = seed
        self.n_runs = 0
        self.groups = {}
        self._expressions = []  # (object, variable, expression) evaluated after the params
        self._monitors = {"spikes": {}, "states": {}, "rates": {}}
        self._closed = False
        t0 = time.perf_counter()
        with use_backend(
            backend_name, directory=directory, seed=seed, dt=dt, prefs=prefs
        ) as backend:
            self.backend = backend
            for pop in spec.populations.values():
                incoming = [
                    (c.spec, c.target_var)
                    for c in spec.connections.values()
                    if c.target == pop.name and c.spec.post_equations
                ]
                model = dataclasses.replace(pop.spec, initial={})
                initial = dict(pop.spec.initial)
                initial.update(pop.initial)
                group = make_neuron_group(
                    model,
                    pop.n,
                    params=pop.params,
                    name=pop.name,
                    method=pop.method,
                    synapse_models=incoming,
                )
                for var, value in initial.items():
                    value = _to_value(value, var)
                    if isinstance(value, str):
                        self._expressions.append((group, var, value))
                    else:
                        _assign(group, var, value, f"population '{pop.name}'")
                self.groups[pop.name] = group
            for inp in spec.inputs.values():
                self.groups[inp.name] = make_input_group(
                    inp.spec,
                    inp.n,
                    params=inp.params,
                    indices=inp.indices,
                    times=inp.times,
                    name=inp.name,
                )
            for c in spec.connections.values():
                src, tgt = self.groups[c.source], self.groups[c.target]
                hom_delay = (
                    c.delay
                    if (
                        c.delay is not None
                        and not isinstance(c.delay, str)
                        and np.ndim(c.delay) == 0
                    )
                    else None
                )
                explicit = c.i is not None and not isinstance(c.j, str)
                if explicit:
                    connect = {"i": c.i, "j": c.j}
                else:
                    connect = {}
                    if c.condition is not None:
                        connect["condition"] = c.condition
                    if isinstance(c.j, str):
                        connect["j"] = c.j
                    if c.p is not None:
                        connect["p"] = c.p
                try:
                    # connected before any parameter is set: Brian2 refuses writes before
                    syn = make_synapses(
                        c.spec,
                        src,
                        tgt,
                        target_var=c.target_var,
                        params={
                            k: v for k, v in c.params.items() if not c.spec.parameters[k].per_neuron
                        },
                        name=c.name,
                        delay=hom_delay,
                        connect=connect,
                    )
                except ModelError:
                    raise
                except Exception as exc:
                    raise ModelError(
                        f"connection '{c.name}': Brian2 cannot connect with "
                        f"{ {k: v for k, v in connect.items() if not isinstance(v, np.ndarray)} }: "
                        f"{exc}",
                        parameter="condition",
                    ) from None
                for pname, value in c.params.items():
                    if c.spec.parameters[pname].per_neuron:
                        _assign(syn, pname, value, f"connection '{c.name}'")
                if c.weight is not None:
                    if isinstance(c.weight, str):
                        self._expressions.append((syn, c.weight_var, c.weight))
                    else:
                        _assign(syn, c.weight_var, c.weight, f"connection '{c.name}'")
                if c.delay is not None and hom_delay is None:
                    if isinstance(c.delay, str):
                        self._expressions.append((syn, "delay", c.delay))
                    else:
                        _assign(syn, "delay", c.delay, f"connection '{c.name}'")
                self.groups[c.name] = syn
            for name in spec.spike_monitors:
                self._monitors["spikes"][name] = brian2.SpikeMonitor(
                    self.groups[name], name=f"{name}_spikes"
                )
            for name, m in spec.state_monitors.items():
                kwargs = {"dt": m.dt} if m.dt is not None else {}
                self._monitors["states"][name] = brian2.StateMonitor(
                    self.groups[name], m.variables, record=m.record, name=f"{name}_state", **kwargs
                )
            for name in spec.rate_monitors:
                self._monitors["rates"][name] = brian2.PopulationRateMonitor(
                    self.groups[name], name=f"{name}_rate"
                )
            for kind in self._monitors.values():
                for mon in kind.values():
                    self.groups[mon.name] = mon
            self.network = brian2.Network(
                *self.groups.values(),
                name=f"{spec.name}_net" if _NAME.match(spec.name) else "network",
            )
            if backend.is_standalone:
                # run_args are applied here: expressions below see the new parameter values.
                backend.device.apply_run_args()
                self._evaluate_expressions()
                self.timings = {}
                try:  # record the run and build the project; every Simulation.run runs it
                    backend.run(
                        self.network, duration, namespace={}, compile=compile, execute=False
                    )
                finally:
                    self.timings.update(backend.timings)
            else:
                self._evaluate_expressions()
                self.network.store("neurolearn_initial")
                self.timings = {}
        self.timings["build_s"] = time.perf_counter() - t0
        return self

    def _evaluate_expressions(self):
        for obj, var, expr in self._expressions:
            try:
                setattr(obj, var, expr)
            except Exception as exc:
                raise ModelError(
                    f"'{obj.name}': cannot evaluate {var} = {expr!r}: {exc}", parameter=var
                ) from None

    # --- running -------------------------------------------------------------------------
    def _run_values(self, params: Mapping | None) -> list:
        """[(group, brian2 variable, value)] for a run's ``params``, checked."""
        out = []
        spec = self.spec
        for name, values in (params or {}).items():
            if not isinstance(values, Mapping):
                raise ModelError(
                    f"params['{name}'] must be a mapping of parameter names to "
                    f"values, got {values!r}",
                    parameter=name,
                )
            if name in spec.populations:
                pop = spec.populations[name]
                resolved = pop.spec.resolve_parameters(values, n=pop.n)
                out += [(self.groups[name], k, resolved[k]) for k in values]
            elif name in spec.inputs:
                inp = spec.inputs[name]
                if inp.spec.generator != "poisson":
                    raise ModelError(
                        f"params['{name}']: the spike times of a spike generator "
                        f"are fixed at build time",
                        parameter=name,
                    )
                resolved = inp.spec.resolve_parameters(values, n=inp.n)
                out += [(self.groups[name], "rates", resolved["rate"])]
            elif name in spec.connections:
                c = spec.connections[name]
                explicit = c.i is not None and not isinstance(c.j, str)
                for k, v in values.items():
                    v = _to_value(v, k)
                    if k == "w":
                        if c.weight_var is None:
                            raise ModelError(
                                f"params['{name}']: synapse model "
                                f"'{c.spec.name}' has no weight 'w'",
                                parameter=k,
                            )
                        if isinstance(c.weight, str):
                            raise ModelError(
                                f"params['{name}']: the weights of this "
                                f"connection are the expression {c.weight!r}; "
                                f"change the parameters it uses instead",
                                parameter=k,
                            )
                        if isinstance(v, str):
                            raise ModelError(
                                f"params['{name}']: give weights as numbers with "
                                f"units, not expressions, between runs",
                                parameter=k,
                            )
                        NetworkSpec._check_syn_value(
                            name, c.spec, "w", v, c.i if explicit else None
                        )
                        if c.weight_var in c.spec.parameters:
                            c.spec.resolve_parameters({c.weight_var: v})
                        out.append((self.groups[name], c.weight_var, v))
                    elif k in c.spec.parameters:
                        resolved = c.spec.resolve_parameters(
                            {k: v}, n=int(np.size(c.i)) if explicit else None
                        )
                        out.append((self.groups[name], k, resolved[k]))
                    else:
                        raise ModelError(
                            f"params['{name}']: unknown parameter '{k}' of "
                            f"connection '{name}' (it has: "
                            f"{', '.join(sorted(set(c.spec.parameters) | ({c.weight_var} - {None})))})",
                            parameter=k,
                        )
            else:
                raise ModelError(
                    f"params: '{name}' is not a population, input or connection "
                    f"of the network (it has: "
                    f"{', '.join([*spec.populations, *spec.inputs, *spec.connections])})",
                    parameter=name,
                )
        return out

    def run(self, params: Mapping | None = None) -> Results:
        """Run the simulation from ``t = 0`` and return what the monitors recorded.

        Parameters
        ----------
        params : mapping, optional
            ``{element name: {parameter: value}}``: new values of population parameters,
            input rates (``"rate"``) or connection weights (``"w"``) and synapse parameters,
            for this run only (later runs start again from the build-time values). In
            standalone mode they are passed as ``run_args``: no recompilation.

        Returns
        -------
        Results
            Spikes, states and rates with units, plus metadata (backend, seed, dt, params).

        Raises
        ------
        ModelError
            Unknown element or parameter, bad unit, value out of range, wrong array length.
        BackendUnavailableError
            ``cuda_standalone`` on a machine without a GPU (or a project not compiled).
        RuntimeError
            If the simulation was closed, or Brian2 fails.
        """
        if self._closed:
            raise RuntimeError("this simulation was closed; build it again")
        values = self._run_values(params)
        t0 = time.perf_counter()
        b = self.backend
        run_args = None
        with b.active():
            if b.is_standalone:  # the compiled program applies the values (no recompilation)
                run_args = {getattr(group, var): value for group, var, value in values}
            else:  # runtime: start again from the stored initial state, then set the values
                import brian2

                self.network.restore("neurolearn_initial")
                if self.seed is not None:
                    brian2.seed(self.seed)
                for group, var, value in values:
                    _assign(group, var, value, f"'{group.name}'")
                self._evaluate_expressions()
            b.run(self.network, self.duration, run_args=run_args, namespace={})
            results = self._collect(params)
        results.timings = {
            "build_s": self.timings.get("build_s"),
            "run_s": time.perf_counter() - t0,
        }
        if b.is_standalone and "run_s" in b.timings:
            results.timings["binary_s"] = b.timings["run_s"]
        self.n_runs += 1
        return results

    def _collect(self, params) -> Results:
        from brian2 import Quantity, second

        res = Results(
            duration=Quantity(self.duration),
            dt=Quantity(self.dt),
            backend=self.backend.name,
            seed=self.seed,
            network=self.spec.to_dict(),
            params={
                k: {p: quantity_to_str(v) for p, v in d.items()} for k, d in (params or {}).items()
            },
        )
        for name, mon in self._monitors["spikes"].items():
            res.spikes[name] = SpikeTrains(
                int(len(self.groups[name])),
                np.array(mon.i[:], dtype=np.int64),
                Quantity(np.array(mon.t[:], dtype=float), dim=second.dim),
            )
        for name, mon in self._monitors["states"].items():
            m = self.spec.state_monitors[name]
            neurons = (
                np.arange(len(self.groups[name]), dtype=np.int64)
                if m.record is True
                else np.asarray(m.record, dtype=np.int64)
            )
            vals = {}
            for var in m.variables:
                v = getattr(mon, var)[:]
                vals[var] = Quantity(
                    np.array(np.asarray(v).T, dtype=float), dim=getattr(v, "dim", Quantity(1).dim)
                )
            res.states[name] = StateRecord(
                Quantity(np.array(mon.t[:], dtype=float), dim=second.dim), neurons, vals
            )
        for name, mon in self._monitors["rates"].items():
            res.rates[name] = RateRecord(
                Quantity(np.array(mon.t[:], dtype=float), dim=second.dim),
                Quantity(np.array(mon.rate[:], dtype=float), dim=(1 / second).dim),
            )
        return res

    def close(self, delete_directory: bool = False) -> None:
        """Free the backend (standalone: its private device); optionally delete the project
        folder. The simulation cannot run afterwards."""
        if not self._closed:
            self._closed = True
            # built but never run: tell Brian2 the objects were used (else it warns on deletion)
            for obj in self.groups.values():
                if getattr(obj, "_network", None) is None:
                    obj._network = self.network.id
            self.backend.close(delete_directory=delete_directory)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return (
            f"Simulation(backend={self.backend.name!r}, duration={self.duration!r}, "
            f"runs={self.n_runs})"
        )


def _assign(group, var, value, where: str):
    from brian2.units.fundamentalunits import DimensionMismatchError

    try:
        setattr(group, var, value)
    except DimensionMismatchError as exc:
        raise ModelError(f"{where}: wrong unit for '{var}': {exc}", parameter=var) from None
    except (ValueError, IndexError) as exc:
        raise ModelError(f"{where}: cannot set '{var}': {exc}", parameter=var) from None


def simulate(
    spec: NetworkSpec,
    duration,
    backend: str = "numpy",
    seed: int | None = None,
    params: Mapping | None = None,
    **build_options,
) -> Results:
    """Build ``spec`` on ``backend``, run it once and return the results
    (same as :meth:`NetworkSpec.run`)."""
    return spec.run(duration, backend=backend, seed=seed, params=params, **build_options)

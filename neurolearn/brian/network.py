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

from collections.abc import Mapping, Sequence

import numpy as np

from ..spec import ModelError, parse_quantity
from .backends import check_backend, check_can_run
from .elements import (
    NAME,
    RESERVED_SUFFIXES,
    Connection,
    Input,
    Population,
    StateMon,
    check_syn_value,
    load_spec,
    summary,
    to_value,
)
from .results import Results, quantity_to_str
from .simulation import Simulation

__all__ = ["NetworkSpec", "Simulation", "simulate"]


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
        self.populations: dict[str, Population] = {}
        self.inputs: dict[str, Input] = {}
        self.connections: dict[str, Connection] = {}
        self.spike_monitors: list[str] = []
        self.state_monitors: dict[str, StateMon] = {}
        self.rate_monitors: list[str] = []
        self.rewards: dict = {}  # name -> (RewardSchedule, [population names])

    @staticmethod
    def _check_dt(dt):
        from brian2 import second
        from brian2.units.fundamentalunits import have_same_dimensions

        if not have_same_dimensions(dt, second) or float(dt) <= 0:
            raise ModelError(f"dt must be a positive time, got {dt!r}", parameter="dt")

    # --- description --------------------------------------------------------------------
    def _new_name(self, name: str, what: str) -> str:
        if not isinstance(name, str) or not NAME.match(name):
            raise ModelError(
                f"{what} name {name!r} must start with a letter and contain only "
                f"letters, digits and '_'",
                parameter="name",
            )
        if name.endswith(RESERVED_SUFFIXES):
            raise ModelError(
                f"{what} name {name!r} must not end with "
                f"{', '.join(RESERVED_SUFFIXES)} (used by monitors)",
                parameter="name",
            )
        if (
            name in self.populations
            or name in self.inputs
            or name in self.connections
            or (name in getattr(self, "rewards", {}))
        ):
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
        spec = load_spec(model, "neuron", f"population '{name}'")
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
        self.populations[name] = Population(name, spec, int(n), params, initial, method)
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
        spec = load_spec(model, "input", f"input '{name}'")
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
        self.inputs[name] = Input(name, spec, int(n), params, indices, times)
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
        name = self._connection_name(source, target, name)
        spec = load_spec(synapse, "synapse", f"connection '{name}'")
        tv = target_var or spec.target
        self._check_target_var(name, spec, tv, self.populations[target].spec)
        explicit, i, j = self._synapse_indices(name, source, target, p, condition, i, j)
        weight, weight_var, delay = _weight_and_delay(
            name, spec, weight, delay, i if explicit else None
        )
        params = dict(params or {})
        spec.resolve_parameters(params, n=None if not explicit else int(i.size))
        self.connections[name] = Connection(
            name, source, target, spec, tv, p, condition, i, j, weight, weight_var, delay, params
        )
        return self

    def _connection_name(self, source: str, target: str, name: str | None) -> str:
        """The name of a new connection (default ``<source>_to_<target>[_k]``), after checking
        its source and target."""
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
        return self._new_name(base, "connection")

    @staticmethod
    def _check_target_var(name: str, spec, tv: str, post) -> None:
        post_names = set(post.brian2_equations().names)
        for var, eq in spec.brian2_equations().items():  # summed variables: X_post of post
            if "summed" in eq.flags and var.endswith("_post") and var[:-5] not in post_names:
                raise ModelError(
                    f"connection '{name}': synapse model '{spec.name}' sums into '{var}', but "
                    f"neuron model '{post.name}' has no variable '{var[:-5]}' (its variables: "
                    f"{', '.join(sorted(post_names))})",
                    spec.path,
                    parameter=var,
                )
        code = spec.on_pre + spec.on_post + spec.post_equations
        if not tv and "{target}" not in code:
            return  # drives no variable through spikes (a gap junction)
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

    def _synapse_indices(self, name, source, target, p, condition, i, j):
        """(explicit, i, j): whether the synapses are given as index arrays, the arrays
        checked against the group sizes, and the connection probability checked."""
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
        return explicit, i, j

    def _size(self, name: str) -> int:
        if name in self.populations:
            return self.populations[name].n
        return self.inputs[name].n

    def _check_population(self, population: str, what: str, inputs_ok: bool = False):
        if population in self.populations or (inputs_ok and population in self.inputs):
            return
        have = [*self.populations, *(self.inputs if inputs_ok else [])]
        raise ModelError(
            f"{what}: '{population}' is not a population of the network (it has: "
            f"{', '.join(have) or 'none'})",
            parameter="population",
        )

    def _variables(self, population: str) -> set:
        """Variables of a population: its model's, and those the ``post_equations`` of its
        incoming connections add (``rstdp``'s ``dopamine``)."""
        from brian2 import Equations

        pop = self.populations[population]
        names = set(pop.spec.brian2_equations().names) | set(pop.spec.parameters)
        for c in self.connections.values():
            if c.target == population and c.spec.post_equations:
                names |= {c.target_var, f"x_{c.target_var}"}
                text = c.spec.post_equations.replace("{target}", c.target_var or "target")
                names |= set(Equations(text).names)
        return names

    def deliver_rewards(self, schedule, populations, name: str = "reward") -> NetworkSpec:
        """Add ``dopamine`` to populations at the times of a reward schedule, as
        :func:`neurolearn.brian.reward.deliver_rewards` does for the plasticity API (every
        backend; rewards outside the run are refused when it is built).

        Parameters
        ----------
        schedule : RewardSchedule
            Reward times and dopamine amounts.
        populations : str or sequence of str
            Populations carrying ``dopamine``: targets of an ``rstdp`` connection, connected
            before this call.
        name : str
            Name of the reward source (prefix of its Brian2 objects).

        Raises
        ------
        ModelError
            Unknown population, a population without ``dopamine``, a bad name.
        """
        from .reward import RewardSchedule

        if not isinstance(schedule, RewardSchedule):
            raise ModelError(
                f"deliver_rewards: expected a RewardSchedule, got {type(schedule).__name__}",
                parameter="schedule",
            )
        self._new_name(name, "reward")
        populations = [populations] if isinstance(populations, str) else list(populations)
        for pop in populations:
            self._check_population(pop, "deliver_rewards")
            if "dopamine" not in self._variables(pop):
                raise ModelError(
                    f"deliver_rewards: population '{pop}' has no 'dopamine'; connect an "
                    f"'rstdp' synapse onto it first",
                    parameter="populations",
                )
        self.rewards[name] = (schedule, populations)
        return self

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
        names = self._variables(population)
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
        self.state_monitors[population] = StateMon(population, variables, record, dt)
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
                    "weight": summary(c.weight),
                    "delay": summary(c.delay),
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

        Raises
        ------
        BackendUnavailableError
            The program cannot run here (``cuda_standalone`` without a GPU): raised before
            any code is generated.
        """
        check_can_run(backend)
        sim = self.build(duration, backend=backend, seed=seed, **build_options)
        try:
            return sim.run(params=params)
        finally:
            sim.close()


def _weight_and_delay(name, spec, weight, delay, explicit_i):
    """A connection's weight (the synapse model's ``w``) and delay, parsed and checked:
    (weight, weight variable or None, delay)."""
    syn_names = set(spec.brian2_equations().names) | set(spec.parameters)
    weight_var = "w" if "w" in syn_names else None
    weight = to_value(weight, "weight")
    if weight is not None:
        if weight_var is None:
            raise ModelError(
                f"connection '{name}': synapse model '{spec.name}' has no "
                f"weight variable 'w'; set its parameters with 'params'",
                spec.path,
                parameter="weight",
            )
        check_syn_value(name, spec, "w", weight, explicit_i)
    delay = to_value(delay, "delay")
    if delay is not None:
        from brian2 import second

        check_syn_value(name, spec, "delay", delay, explicit_i, dim_of=1 * second)
        if not isinstance(delay, str) and np.any(np.asarray(delay) < 0):
            raise ModelError(f"connection '{name}': delays must be >= 0", parameter="delay")
    return weight, weight_var, delay


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

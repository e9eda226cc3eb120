"""A network built on one backend (:class:`Simulation`): the Brian2 objects of a
:class:`~neurolearn.brian.network.NetworkSpec`, run any number of times with new parameters.

Building happens inside :func:`~neurolearn.brian.backends.use_backend`; every run ends with
:meth:`~neurolearn.brian.backends.Backend.run` (runtime: ``Network.run`` from the stored
initial state; standalone: the compiled program, the new parameter values as ``run_args``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from ..spec import ModelError
from .backends import use_backend
from .build import make_input_group, make_neuron_group, make_synapses
from .elements import NAME, check_syn_value, to_value
from .errors import reraise_brian_errors
from .plasticity import post_group_values
from .results import RateRecord, Results, SpikeTrains, StateRecord, quantity_to_str
from .reward import deliver_rewards

if TYPE_CHECKING:
    from .network import NetworkSpec

__all__ = ["Simulation"]


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
    @classmethod
    def _build(
        cls,
        spec: NetworkSpec,
        duration,
        backend_name,
        seed,
        dt,
        directory,
        compile,
        prefs,
        segments=None,
    ) -> Simulation:
        """Build ``spec`` on a backend (:meth:`NetworkSpec.build`). ``segments`` (standalone
        only): a list of runs' ``params``, recorded one after the other into the program and
        run at once (:meth:`run` with ``continued=True`` on a standalone backend)."""
        import brian2

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
        self._segments = []  # standalone: params of the runs a continued run replays
        self._prefs = prefs
        t0 = time.perf_counter()
        with use_backend(
            backend_name, directory=directory, seed=seed, dt=dt, prefs=prefs
        ) as backend:
            self.backend = backend
            self._build_populations()
            self._build_inputs()
            self._build_connections()
            self._build_rewards()
            self._build_monitors()
            self.network = brian2.Network(
                *self.groups.values(),
                name=f"{spec.name}_net" if NAME.match(spec.name) else "network",
            )
            if backend.is_standalone:
                # run_args are applied here: expressions below see the new parameter values.
                backend.device.apply_run_args()
                self.timings = {}
                try:  # record the run(s) and build the project; every Simulation.run runs it
                    if segments is None:
                        self._evaluate_expressions()
                        backend.run(
                            self.network, duration, namespace={}, compile=compile, execute=False
                        )
                    else:
                        self._record_segments(segments)
                finally:
                    self.timings.update(backend.timings)
            else:
                self._evaluate_expressions()
                self.network.store("neurolearn_initial")
                self.timings = {}
        self.timings["build_s"] = time.perf_counter() - t0
        return self

    def _build_populations(self) -> None:
        spec = self.spec
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
                value = to_value(value, var)
                if isinstance(value, str):
                    self._expressions.append((group, var, value))
                else:
                    _assign(group, var, value, f"population '{pop.name}'")
            self.groups[pop.name] = group

    def _build_inputs(self) -> None:
        for inp in self.spec.inputs.values():
            self.groups[inp.name] = make_input_group(
                inp.spec,
                inp.n,
                params=inp.params,
                indices=inp.indices,
                times=inp.times,
                name=inp.name,
            )

    def _build_connections(self) -> None:
        for c in self.spec.connections.values():
            src, tgt = self.groups[c.source], self.groups[c.target]
            hom_delay = (
                c.delay
                if (c.delay is not None and not isinstance(c.delay, str) and np.ndim(c.delay) == 0)
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
            self._set_synapse_values(c, syn, hom_delay)
            self.groups[c.name] = syn
            # multi-group rules: the postsynaptic group's share of the parameters (rstdp)
            for var, value in post_group_values(
                c.spec, c.spec.resolve_parameters(c.params)
            ).items():
                _assign(tgt, var, value, f"connection '{c.name}'")

    def _build_rewards(self) -> None:
        for name, (schedule, populations) in self.spec.rewards.items():
            objects = deliver_rewards(
                schedule,
                [self.groups[p] for p in populations],
                self.duration,
                dt=self.dt,
                name=name,
            )
            for obj in objects:
                self.groups[obj.name] = obj

    def _set_synapse_values(self, c, syn, hom_delay) -> None:
        """Per-synapse parameters, weights and heterogeneous delays of connection ``c``
        (expressions are evaluated after the run's parameters are set)."""
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

    def _build_monitors(self) -> None:
        import brian2

        spec = self.spec
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

    def _evaluate_expressions(self):
        for obj, var, expr in self._expressions:
            try:
                setattr(obj, var, expr)
            except Exception as exc:
                raise ModelError(
                    f"'{obj.name}': cannot evaluate {var} = {expr!r}: {exc}", parameter=var
                ) from None

    def _record_segments(self, segments: list) -> None:
        """Standalone: record one ``Network.run`` per entry of ``segments`` (a run's
        ``params``), each run's values assigned before it (the first run's before the
        connection expressions are evaluated, as ``run_args`` are), then generate, compile and
        run the program."""
        b = self.backend
        for k, params in enumerate(segments):
            for group, var, value in self._run_values(params):
                _assign(group, var, value, f"'{group.name}'")
            if k == 0:
                self._evaluate_expressions()
            if k < len(segments) - 1:
                with b.active(), reraise_brian_errors(f"running network '{self.network.name}'"):
                    self.network.run(self.duration, namespace={})
        b.run(self.network, self.duration, namespace={}, execute=True)

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
                    v = to_value(v, k)
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
                        check_syn_value(name, c.spec, "w", v, c.i if explicit else None)
                        if c.weight_var in c.spec.parameters:
                            c.spec.resolve_parameters({c.weight_var: v})
                        out.append((self.groups[name], c.weight_var, v))
                    elif k == "delay":
                        out.append((self.groups[name], "delay", _delay(name, c, v, explicit)))
                        if not self.backend.is_standalone:
                            self._changed_delays = {*getattr(self, "_changed_delays", ()), name}
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
                own = {k: v for k, v in {**c.params, **values}.items() if k in c.spec.parameters}
                post = post_group_values(c.spec, c.spec.resolve_parameters(own))
                out += [(self.groups[c.target], k, v) for k, v in post.items() if k != "dopamine"]
            else:
                raise ModelError(
                    f"params: '{name}' is not a population, input or connection "
                    f"of the network (it has: "
                    f"{', '.join([*spec.populations, *spec.inputs, *spec.connections])})",
                    parameter=name,
                )
        return out

    def run(self, params: Mapping | None = None, continued: bool = False) -> Results:
        """Run the simulation from ``t = 0`` (or on from where the last run stopped) and
        return what the monitors recorded.

        Parameters
        ----------
        params : mapping, optional
            ``{element name: {parameter: value}}``: new values of population parameters,
            input rates (``"rate"``) or connection weights (``"w"``), transmission delays
            (``"delay"``: one time, or one per synapse) and synapse parameters, for this run
            only (later runs start again from the build-time values). In standalone mode
            they are passed as ``run_args``: no recompilation.
        continued : bool
            Continue from where the last run stopped, for another ``duration``: time, state
            variables, spikes in flight in the delay queues and the monitors' records carry
            over (the results hold everything since ``t = 0``); ``params`` change values from
            now on (a new delay applies to spikes sent from now on). Runtime backends (numpy,
            cython) go on from the network's state. A standalone program cannot be resumed:
            there a continued run replays every run since the last run that was not
            continued, one after the other with their ``params``, in one new program (code
            generation and compilation again, in a temporary folder removed afterwards), with
            the same seed, so the numbers are those of the runs continued.

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
        if continued and self.n_runs == 0:
            raise ModelError(
                "continued=True: there is no earlier run to continue", parameter="continued"
            )
        if b.is_standalone:  # the runs a continued run replays (standalone)
            self._segments = [*self._segments, params] if continued else [params]
            if continued:
                return self._replay(t0)
        run_args = None
        with b.active():
            if b.is_standalone:  # the compiled program applies the values (no recompilation)
                run_args = {_run_arg_key(group, var): value for group, var, value in values}
            elif continued:  # runtime, continued: the state as the last run left it
                for group, var, value in values:
                    _assign(group, var, value, f"'{group.name}'")
            else:  # runtime: start again from the stored initial state, then set the values
                import brian2

                self.network.restore("neurolearn_initial")
                self._restore_delays()
                if self.seed is not None:
                    brian2.seed(self.seed)
                for group, var, value in values:
                    _assign(group, var, value, f"'{group.name}'")
                self._evaluate_expressions()
            b.run(self.network, self.duration, run_args=run_args, namespace={})
            results = self._collect(params)
            if continued:  # the results cover every run since t = 0
                from brian2 import Quantity

                results.duration = Quantity(self.network.t)
        results.timings = {
            "build_s": self.timings.get("build_s"),
            "run_s": time.perf_counter() - t0,
        }
        if b.is_standalone and "run_s" in b.timings:
            results.timings["binary_s"] = b.timings["run_s"]
        self.n_runs += 1
        return results

    def _replay(self, t0: float) -> Results:
        """A continued run on a standalone backend: every run since the last run that was
        not continued, recorded one after the other into a new program (in a temporary
        project folder, removed afterwards) and run from ``t = 0``; the results hold all of
        them, as a runtime's continued runs do."""
        from brian2 import Quantity

        b = self.backend
        replay = Simulation._build(
            self.spec,
            self.duration,
            b.name,
            self.seed,
            self.dt,
            None,
            True,
            self._prefs,
            segments=self._segments,
        )
        try:
            with replay.backend.active():
                results = replay._collect(self._segments[-1])
                results.duration = Quantity(len(self._segments) * self.duration)
        finally:
            replay.close(delete_directory=True)
        results.timings = {
            "build_s": self.timings.get("build_s"),
            "run_s": time.perf_counter() - t0,
        }
        results.timings["replay_build_s"] = replay.timings.get("build_s")
        self.n_runs += 1
        return results

    def _restore_delays(self) -> None:
        """Build-time delays of the connections whose delay a run changed (Brian2's
        ``restore`` keeps a homogeneous delay as it was last set)."""
        from brian2 import second

        for name in sorted(getattr(self, "_changed_delays", ())):
            c = self.spec.connections[name]
            if not isinstance(c.delay, str):  # expressions are evaluated again anyway
                value = 0 * second if c.delay is None else c.delay
                _assign(self.groups[name], "delay", value, f"connection '{name}'")
        self._changed_delays = set()

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


def _delay(name: str, c, value, explicit: bool):
    """A run's transmission delay of connection ``c``: a time >= 0, or (explicit synapses)
    one per synapse."""
    from brian2 import second
    from brian2.units.fundamentalunits import have_same_dimensions

    if isinstance(value, str) or not have_same_dimensions(value, second):
        raise ModelError(
            f"params['{name}']: delay must be a time (e.g. 2*ms), got {value!r}",
            parameter="delay",
        )
    if np.any(np.asarray(value) < 0):
        raise ModelError(f"params['{name}']: delays must be >= 0", parameter="delay")
    if np.ndim(value) > 0 and (not explicit or np.size(value) != np.size(c.i)):
        raise ModelError(
            f"params['{name}']: one delay, or one per synapse of explicit i/j, got "
            f"{np.size(value)} values",
            parameter="delay",
        )
    return value


def _assign(group, var, value, where: str):
    from brian2.units.fundamentalunits import DimensionMismatchError

    try:
        setattr(group, var, value)
    except DimensionMismatchError as exc:
        raise ModelError(f"{where}: wrong unit for '{var}': {exc}", parameter=var) from None
    except (ValueError, IndexError) as exc:
        raise ModelError(f"{where}: cannot set '{var}': {exc}", parameter=var) from None


def _run_arg_key(group, var: str):
    """The ``run_args`` key of ``group.var`` for a standalone program: Brian2's view, except
    for a connection's ``delay``, whose view belongs to the synaptic pathway (``syn_pre``)
    while the program knows the variable as ``syn.delay``."""
    view = getattr(group, var)
    if var == "delay" and getattr(view, "group_name", group.name) != group.name:
        from brian2.core.variables import VariableView

        view = VariableView(var, view.variable, group, dimensions=view.dim)
    return view

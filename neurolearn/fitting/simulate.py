"""Many parameter sets x many stimulus sweeps as ONE Brian2 ``NeuronGroup``.

The approach of brian2modelfitting (Teska, Stimberg et al. 2020): a candidate parameter set
is a neuron, so an optimizer's whole population (and every sweep of the protocol) is simulated
by one group, on any Brian2 backend (numpy, cython, cpp_standalone, cuda_standalone through
:func:`neurolearn.brian.backends.use_backend`). Neuron ``k = set * n_sweeps + sweep`` gets the
parameters of ``set`` and the injected current of ``sweep``.

On the standalone backends every call generates and compiles a C++ (or CUDA) project, which
costs far more than the simulation. An optimizer calls :func:`simulate_batch` once per
generation with new parameter values only, so it passes a :class:`StandaloneCache`: the first
call compiles, later calls with the same structure run the compiled program again with the new
values as Brian2 ``run_args`` (Brian2 >= 2.6; Stimberg et al. 2019, eLife 8:e47314).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..brian.backends import backend_info, use_backend
from ..brian.build import make_neuron_group
from ..spec import ModelError, NeuronModel

__all__ = ["BatchResult", "StandaloneCache", "simulate_batch", "default_method"]


@dataclasses.dataclass
class BatchResult:
    """Output of :func:`simulate_batch`.

    Attributes
    ----------
    counts : int array [n_sets, n_sweeps]
        Spikes per neuron over the whole run.
    spike_times : list (n_sets) of list (n_sweeps) of float arrays, or None
        Spike times in s.
    v : float array [n_sets, n_recorded_sweeps, n_samples] or None
        Membrane potential in volt, sampled every ``record_dt`` (state after the step).
    v_sweeps : int array
        The sweeps ``v`` holds, in order.
    t : float array [n_samples]
        Sample times of ``v`` in s.
    dt : float
        Simulation time step in s.
    """

    counts: np.ndarray
    spike_times: list | None
    v: np.ndarray | None
    v_sweeps: np.ndarray
    t: np.ndarray
    dt: float


class StandaloneCache:
    """One compiled standalone project of :func:`simulate_batch`, reused by later calls that
    differ only in parameter values (and per-set stimulus gain/offset).

    Use as a context manager (or call :meth:`close`) so that the project is removed::

        with StandaloneCache() as cache:
            for params in generations:
                simulate_batch(spec, params, stimuli, dt, backend="cpp_standalone", cache=cache)

    Attributes
    ----------
    builds : int
        Projects generated and compiled so far.
    reruns : int
        Calls answered by running the compiled program again (no compilation).
    """

    def __init__(self):
        self.builds = 0
        self.reruns = 0
        self._key = None
        self._state = None

    def _keep(self, key, backend, network, group, spikes, mon) -> None:
        """Keep a newly built project and its objects for calls with the same ``key``."""
        self.builds += 1
        self._key = key
        self._state = {
            "backend": backend,
            "network": network,
            "group": group,
            "spikes": spikes,
            "mon": mon,
            "gain": group.namespace.get("fit_gain"),
            "offset": group.namespace.get("fit_offset"),
        }

    def _rerun(self, per_neuron: dict, drive, duration) -> None:
        """Run the kept program again with new parameter values (and per-set stimulus gain
        and offset, ``drive``, in amp) as ``run_args``."""
        import brian2 as b2

        st = self._state
        run_args = {getattr(st["group"], k): v for k, v in per_neuron.items()}
        if drive is not None:
            run_args[st["gain"]] = drive[0][None, :] * b2.amp
            run_args[st["offset"]] = drive[1][None, :] * b2.amp
        st["backend"].run(st["network"], duration, run_args=run_args)
        self.reruns += 1

    def close(self) -> None:
        """Delete the cached project (a no-op when there is none)."""
        if self._state is not None:
            self._state["backend"].close(delete_directory=True)
        self._key = self._state = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _structure_key(spec, per_neuron, stim, cols, settings: tuple) -> tuple:
    """What must be equal for a compiled project to serve another call: everything except the
    values of the parameters (and of the per-set stimulus gain/offset). ``settings`` is
    (n_sets, n_sweeps, rec, record_v, record_dt, spike_times, method, backend, seed, dt,
    current, drive, initial)."""
    import hashlib

    h = hashlib.sha256(np.ascontiguousarray(stim).tobytes())
    if cols is not None:
        h.update(np.ascontiguousarray(cols).tobytes())
    n_sets, n_sweeps, rec, record_v, record_dt, spike_times = settings[:6]
    method, backend, seed, dt, current, drive, initial = settings[6:]
    return (
        id(spec),
        spec.name,
        str(getattr(spec, "path", "")),
        h.hexdigest(),
        stim.shape,
        n_sets,
        n_sweeps,
        tuple(rec.tolist()),
        bool(record_v),
        repr(record_dt),
        bool(spike_times),
        repr(method),
        backend,
        seed,
        repr(dt),
        current,
        bool(drive),
        repr(sorted((initial or {}).items())),
        tuple(sorted((k, np.ndim(v) > 0) for k, v in per_neuron.items())),
    )


def default_method(spec: NeuronModel):
    """State updater used for fitting a model: the model file's ``method`` (for the GLIF zoo
    models ``"allen_glif"``, allensdk's scheme, :func:`neurolearn.brian.glif.allen_glif_method`,
    which the file names instead of being chosen here by the model's name)."""
    return spec.method


def simulate_batch(
    spec: NeuronModel,
    params: Mapping[str, Any],
    stimuli,
    dt,
    n_sets: int | None = None,
    initial: Mapping[str, Any] | None = None,
    record_v: bool = False,
    record_sweeps: Sequence[int] | None = None,
    record_dt=None,
    spike_times: bool = True,
    method=None,
    backend: str = "numpy",
    seed: int | None = None,
    current: str = "I_ext",
    stimulus_gain=None,
    stimulus_offset=None,
    stimulus_columns=None,
    cache: StandaloneCache | None = None,
) -> BatchResult:
    """Simulate ``n_sets`` parameter sets on every sweep of a stimulus protocol at once.

    Parameters
    ----------
    spec : NeuronModel
        Must have a current variable ``current`` (default ``I_ext``, in amp).
    params : mapping of str -> Quantity (scalar or array [n_sets])
        Parameter values; arrays give one value per set (the parameter must be
        ``per_neuron``). Parameters not given keep the model's defaults.
    stimuli : Quantity or float array [time, n_sweeps] (A)
        Injected current; entry ``k`` drives the step from ``k*dt`` to ``(k+1)*dt``.
    dt : Quantity
        Time step.
    n_sets : int, optional
        Number of sets (default: length of the array parameters, else 1).
    initial : mapping, optional
        Initial values overriding the model's.
    record_v : bool
        Record the membrane potential ``v``.
    record_sweeps : sequence of int, optional
        Sweeps whose ``v`` is recorded (default all).
    record_dt : Quantity, optional
        Sampling interval of ``v`` (default ``dt``).
    spike_times : bool
        Keep spike times (else only counts).
    method : str or StateUpdateMethod, optional
        Default :func:`default_method`.
    backend : str
        ``"numpy"``, ``"cython"``, ``"cpp_standalone"`` or ``"cuda_standalone"``.
    seed : int, optional
        Seed of Brian2's generator (noisy models).
    current : str
        Name of the injected-current variable.
    stimulus_gain, stimulus_offset : Quantity array [n_sets] (A), optional
        With either given, ``stimuli`` is a dimensionless drive ``x(t)`` and neuron ``k`` of
        set ``s`` receives ``gain[s]*x(t) + offset[s]`` (e.g. a sound envelope driving a
        receptor neuron).
    stimulus_columns : int array [n_sets, n_sweeps], optional
        Column of ``stimuli`` driving each (set, sweep) neuron, for sets that follow different
        protocols (population fits: one protocol per cell). Default: column ``sweep``; the
        result then has ``n_sweeps = stimulus_columns.shape[1]`` sweeps per set.
    cache : StandaloneCache, optional
        Standalone backends only (ignored otherwise): reuse the project compiled by an earlier
        call with the same structure, passing the parameter values as ``run_args``; the new
        project is kept in the cache otherwise (the caller closes the cache).

    Returns
    -------
    BatchResult

    Raises
    ------
    ModelError
        If the model has no ``current`` variable, a shared parameter is given per set, or a
        value is out of the model's range (names the parameter).
    ValueError
        For NaN in the stimulus or inconsistent array lengths.
    """
    import brian2 as b2

    drive = stimulus_gain is not None or stimulus_offset is not None
    stim, cols, n_steps, n_sweeps = _stimulus(stimuli, stimulus_columns, drive)
    n_sets, per_neuron = _per_neuron_values(spec, params, n_sets, n_sweeps)
    n = n_sets * n_sweeps
    rec = np.arange(n_sweeps) if record_sweeps is None else np.asarray(record_sweeps, int)
    method = method if method is not None else default_method(spec)
    if not backend_info(backend).is_standalone:
        cache = None  # runtime backends: nothing compiled to keep
    layout = (n_sets, n_sweeps, rec, record_v, record_dt, spike_times)
    settings = layout + (method, backend, seed, dt, current, drive, initial)
    key = None if cache is None else _structure_key(spec, per_neuron, stim, cols, settings)
    gain = _per_set_values(stimulus_gain, n_sets, n_sweeps)
    offset = _per_set_values(stimulus_offset, n_sets, n_sweeps)
    if cache is not None and cache._key == key:
        cache._rerun(per_neuron, (gain, offset) if drive else None, n_steps * dt)
        with cache._state["backend"].active():
            st = cache._state
            return _collect(st["spikes"], st["mon"], n_sets, n_sweeps, rec, spike_times, dt)
    if cache is not None:
        cache.close()
    with use_backend(backend, seed=seed, dt=dt) as be:
        group = make_neuron_group(spec, n, params=per_neuron, initial=initial, dt=dt, method=method)
        stimulus = (stim, cols, dt, (gain, offset) if drive else None)
        recording = (spike_times, record_v, rec, record_dt)
        spikes, mon = _drive_and_monitors(group, spec, current, stimulus, layout[:2], recording)
        objs = [group, spikes] + ([mon] if mon is not None else [])
        net = b2.Network(*objs)
        be.run(net, n_steps * dt, namespace={})
        result = _collect(spikes, mon, n_sets, n_sweeps, rec, spike_times, dt)
        if cache is None:
            be.close()
        else:
            cache._keep(key, be, net, group, spikes, mon)
    return result


def _drive_and_monitors(group, spec, current, stimulus, shape, recording):
    """Stimulus (``current`` set at the start of each step) and monitors of a batch group:
    (SpikeMonitor, StateMonitor of v or None). ``stimulus`` is (stim, cols, dt, per-neuron
    (gain, offset) in amp or None), ``shape`` (n_sets, n_sweeps), ``recording`` (spike_times,
    record_v, recorded sweeps, record_dt)."""
    import brian2 as b2

    stim, cols, dt, drive = stimulus
    n_sets, n_sweeps = shape
    spike_times, record_v, rec, record_dt = recording
    if current not in group.variables:
        raise ModelError(
            f"model '{spec.name}' has no injected-current variable "
            f"'{current}' to apply the stimulus to",
            spec.path,
            parameter=current,
        )
    group.namespace["n_sweeps"] = n_sweeps
    code = _stimulus_code(group, current, stim, cols, n_sets, dt, drive)
    group.run_regularly(code, when="start")
    spikes = b2.SpikeMonitor(group, record=spike_times)
    mon = None
    if record_v:
        idx = (np.arange(n_sets)[:, None] * n_sweeps + rec[None, :]).ravel()
        mon = b2.StateMonitor(
            group, "v", record=idx, when="end", dt=record_dt if record_dt is not None else dt
        )
    return spikes, mon


def _stimulus(stimuli, stimulus_columns, drive: bool):
    """(stimulus [time, columns] in A or dimensionless, columns [n_sets, n_sweeps] or None,
    n_steps, n_sweeps), checked."""
    import brian2 as b2

    if drive and hasattr(stimuli, "dim"):
        raise ValueError("with stimulus_gain/stimulus_offset the stimulus must be dimensionless")
    stim = np.asarray(stimuli / b2.amp if hasattr(stimuli, "dim") else stimuli, dtype=float)
    if stim.ndim == 1:
        stim = stim[:, None]
    if not np.all(np.isfinite(stim)):
        raise ValueError("stimulus contains NaN or infinite values")
    n_steps, n_sweeps = stim.shape
    cols = None
    if stimulus_columns is not None:
        cols = np.asarray(stimulus_columns, dtype=int)
        if cols.ndim != 2 or cols.min() < 0 or cols.max() >= n_sweeps:
            raise ValueError(
                f"stimulus_columns must be an int array [n_sets, n_sweeps] with "
                f"values in [0, {n_sweeps - 1}]"
            )
        n_sweeps = cols.shape[1]
    return stim, cols, n_steps, n_sweeps


def _per_neuron_values(spec, params, n_sets, n_sweeps) -> tuple[int, dict]:
    """(number of sets, parameter values per neuron ``[n_sets * n_sweeps]`` or scalars)."""
    sizes = {k: np.size(v) for k, v in params.items() if np.ndim(v) > 0}
    if n_sets is None:
        n_sets = max(sizes.values()) if sizes else 1
    for k, size in sizes.items():
        if size != n_sets:
            raise ValueError(f"parameter '{k}' has {size} values, expected {n_sets} (one per set)")
        if k in spec.parameters and not spec.parameters[k].per_neuron:
            raise ModelError(
                f"parameter '{k}' of model '{spec.name}' is shared by all neurons, "
                f"so it cannot differ between candidate parameter sets; fix it or "
                f"declare it per_neuron in the model file",
                spec.path,
                parameter=k,
            )
    per_neuron = {}
    for k, v in params.items():
        if np.ndim(v) > 0:
            per_neuron[k] = (
                np.repeat(v, n_sweeps)
                if hasattr(v, "dim")
                else np.repeat(np.asarray(v, float), n_sweeps)
            )
        else:
            per_neuron[k] = v
    return n_sets, per_neuron


def _per_set_values(x, n_sets: int, n_sweeps: int) -> np.ndarray:
    """Stimulus gain/offset per neuron: ``[n]`` floats in amp (zeros for None)."""
    import brian2 as b2

    x = np.zeros(n_sets) if x is None else np.asarray(x / b2.amp, float)
    return np.repeat(np.broadcast_to(x.reshape(-1) if x.size > 1 else x, (n_sets,)), n_sweeps)


def _stimulus_code(group, current, stim, cols, n_sets, dt, drive) -> str:
    """Puts the stimulus TimedArrays into the group's namespace and returns the statement that
    sets ``current`` at the start of each step; ``drive`` is (gain, offset) per neuron in amp
    for a dimensionless stimulus, or None."""
    import brian2 as b2

    n_steps = stim.shape[0]
    if drive is not None:
        gain, offset = drive
        # one row: a TimedArray keeps its last row after the end
        group.namespace["fit_stimulus"] = b2.TimedArray(stim, dt=dt, name="fit_stimulus")
        group.namespace["fit_gain"] = b2.TimedArray(
            gain[None, :] * b2.amp, dt=n_steps * dt, name="fit_gain"
        )
        group.namespace["fit_offset"] = b2.TimedArray(
            offset[None, :] * b2.amp, dt=n_steps * dt, name="fit_offset"
        )
        return f"{current} = fit_gain(t, i)*fit_stimulus(t, i % n_sweeps) + fit_offset(t, i)"
    if cols is not None:
        if cols.shape[0] != n_sets:
            raise ValueError(f"stimulus_columns has {cols.shape[0]} rows for {n_sets} sets")
        group.namespace["fit_stimulus"] = b2.TimedArray(stim * b2.amp, dt=dt, name="fit_stimulus")
        group.namespace["fit_column"] = b2.TimedArray(
            cols.reshape(1, -1).astype(float), dt=n_steps * dt, name="fit_column"
        )
        return f"{current} = fit_stimulus(t, int(fit_column(t, i) + 0.5))"
    group.namespace["fit_stimulus"] = b2.TimedArray(stim * b2.amp, dt=dt, name="fit_stimulus")
    return f"{current} = fit_stimulus(t, i % n_sweeps)"


def _collect(spikes, mon, n_sets, n_sweeps, rec, spike_times, dt) -> BatchResult:
    """Read the monitors of a finished run into a :class:`BatchResult`."""
    import brian2 as b2

    counts = np.asarray(spikes.count[:], dtype=int).reshape(n_sets, n_sweeps)
    times = None
    if spike_times:
        trains = spikes.spike_trains()
        times = [
            [np.asarray(trains[s * n_sweeps + w] / b2.second) for w in range(n_sweeps)]
            for s in range(n_sets)
        ]
    v = t = None
    if mon is not None:
        v = np.asarray(mon.v / b2.volt).reshape(n_sets, len(rec), -1)
        t = np.asarray(mon.t / b2.second)
    return BatchResult(counts, times, v, rec, t if t is not None else np.zeros(0), float(dt))

"""Parameter sweeps of one neuron model: one simulation per value of a parameter, spread over
the workers of :class:`neurolearn.executor.Executor` (``neurolearn sweep``).

On the runtime backends (``numpy``, ``cython``) every value is a task that builds and runs its
own network. On ``cpp_standalone`` the network is generated and compiled **once**, here; its
program (the ``main`` binary and its ``static_arrays``) is shipped to every worker once (no
shared filesystem assumed) and run there once per value with the value given as a Brian2
``run_args`` command-line argument (Brian2 >= 2.6; Stimberg, Brette & Goodman 2019, eLife
8:e47314), each run writing its results into a folder of its own; the spike counts come back.
This is the pattern Brian2's documentation shows with ``multiprocessing`` around standalone runs
("Running multiple standalone simulations"), with the Dask scheduler in place of the pool.

Every run starts from the same initial state and (for noisy models) the same seed, so a value's
spike counts do not depend on which worker ran it or on the other values.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..executor import (
    Executor,
    pack_folder,
    per_worker,
    unpack_folder,
    worker_scratch,
)
from ..spec import ModelError, ModelSpec, NeuronModel, load_model, parse_quantity
from .backends import backend_info, use_backend
from .build import make_neuron_group

__all__ = ["SweepResult", "sweep", "parse_values"]


@dataclasses.dataclass
class SweepResult:
    """Output of :func:`sweep`.

    Attributes
    ----------
    parameter : str
        The swept variable of the neuron group.
    values : list of Quantity
        Its values, in the order given.
    counts : int array [n_values, n_neurons]
        Spikes per neuron over the whole run, for each value.
    duration : float
        Simulated time in s.
    backend : str
        Brian2 backend.
    builds : int
        Standalone projects generated and compiled (1 on a standalone backend, 0 at runtime).
    """

    parameter: str
    values: list
    counts: np.ndarray
    duration: float
    backend: str
    builds: int

    @property
    def rates_hz(self) -> np.ndarray:
        """Mean firing rate per value ``[n_values]`` in Hz (spikes per neuron per second)."""
        return self.counts.mean(axis=1) / self.duration

    def to_dict(self) -> dict:
        """JSON-ready: values as strings with units, counts as lists, rates in Hz."""
        return {
            "parameter": self.parameter,
            "values": [str(v) for v in self.values],
            "counts": self.counts.tolist(),
            "rates_hz": self.rates_hz.tolist(),
            "duration_s": self.duration,
            "backend": self.backend,
            "builds": self.builds,
        }


def parse_values(text: str, name: str = "value") -> list:
    """``"10 ms,20 ms,30ms"`` (or a sequence of strings/Quantities) as a list of Quantities.

    Raises
    ------
    ModelError
        For an empty list or a value that is not a number with a unit (names ``name``).
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    items = [item.strip() if isinstance(item, str) else item for item in items]
    if not items or any(isinstance(item, str) and not item for item in items):
        raise ModelError(f"{name}: give one or more comma-separated values", parameter=name)
    return [parse_quantity(item, name) if isinstance(item, str) else item for item in items]


def _network(spec: NeuronModel, n: int, params, initial, dt):
    """(group, SpikeMonitor, Network) of the sweep; the group is named ``neurons``."""
    import brian2 as b2

    group = make_neuron_group(spec, n, params=params, initial=initial, dt=dt, name="neurons")
    spikes = b2.SpikeMonitor(group, record=False)
    return group, spikes, b2.Network(group, spikes)


def _check_variable(spec: NeuronModel, group, parameter: str, values: Sequence) -> None:
    """Each value has the unit of the group's variable ``parameter`` (and is in the model's
    range for a model parameter)."""
    from brian2.units.fundamentalunits import DimensionMismatchError, fail_for_dimension_mismatch

    if parameter not in group.variables or parameter in ("t", "dt", "i", "N"):
        raise ModelError(
            f"model '{spec.name}' has no variable '{parameter}' to sweep; parameters: "
            f"{', '.join(spec.parameters)}",
            spec.path,
            parameter=parameter,
        )
    var = group.variables[parameter]
    if getattr(var, "read_only", False):
        raise ModelError(
            f"'{parameter}' of model '{spec.name}' cannot be set per run; declare it "
            "per_neuron in the model file",
            spec.path,
            parameter=parameter,
        )
    for value in values:
        try:
            fail_for_dimension_mismatch(var.dim, value)
        except DimensionMismatchError as exc:
            raise ModelError(
                f"{parameter} = {value!r}: wrong unit for model '{spec.name}' ({exc})",
                spec.path,
                parameter=parameter,
            ) from None
        if parameter in spec.parameters:
            spec.resolve_parameters({parameter: value}, n=len(group))


def _run_runtime(task: dict) -> np.ndarray:
    """One value on a runtime backend: build, run, spike counts ``[n]``."""
    with use_backend(task["backend"], seed=task["seed"], dt=task["dt"]) as be:
        params = dict(task["params"] or {}, **{task["parameter"]: task["value"]})
        initial = dict(task["initial"] or {})
        if task["parameter"] in task["spec"].parameters:
            group, spikes, net = _network(task["spec"], task["n"], params, initial, task["dt"])
        else:
            params.pop(task["parameter"])
            initial[task["parameter"]] = task["value"]
            group, spikes, net = _network(task["spec"], task["n"], params, initial, task["dt"])
        be.run(net, task["duration"], namespace={})
        return np.asarray(spikes.count[:], dtype=int)


def _project_dir(project: dict) -> Path:
    """The shipped program unpacked once per worker (a folder of the worker's disk)."""

    def unpack() -> Path:
        folder = Path(tempfile.mkdtemp(prefix="sweep-", dir=worker_scratch()))
        unpack_folder(project["files"], folder)
        os.chmod(folder / "main", 0o755)
        return folder

    return per_worker(
        ("sweep-project", project["hash"]),
        unpack,
        release=lambda folder: shutil.rmtree(folder, ignore_errors=True),
    )


def _run_program(task: dict) -> np.ndarray:
    """One value on a standalone backend: the compiled program run with ``run_args``."""
    project = _project_dir(task["project"])
    results = Path(tempfile.mkdtemp(prefix="results-", dir=project))
    try:
        cmd = ["./main", "--results_dir", f"{results}{os.sep}", task["arg"]]
        done = subprocess.run(cmd, cwd=project, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(
                f"the compiled sweep program failed for {task['arg']} "
                f"(exit status {done.returncode}): {done.stdout[-500:]}{done.stderr[-500:]}"
            )
        count_file, dtype = task["project"]["count_file"], task["project"]["count_dtype"]
        return np.fromfile(results / count_file, dtype=dtype).astype(int)
    finally:
        shutil.rmtree(results, ignore_errors=True)


def _compile(spec, n, params, initial, dt, duration, backend, seed, parameter, values):
    """Generate, compile and run the standalone project once (first value); returns (the
    program as ``{"files", "hash", "count_file", "count_dtype"}``, the command-line argument
    of each value, the first value's counts)."""
    from brian2.units.fundamentalunits import Quantity

    with tempfile.TemporaryDirectory(prefix="neurolearn-sweep-") as tmp:
        with use_backend(backend, seed=seed, dt=dt, directory=Path(tmp) / "project") as be:
            group, spikes, net = _network(spec, n, params, initial, dt)
            _check_variable(spec, group, parameter, values)
            view = getattr(group, parameter)
            be.run(net, duration, run_args={view: values[0]}, namespace={})
            with be.active():
                first = np.asarray(spikes.count[:], dtype=int)
                var = spikes.variables["count"]
                count_file = be.device.get_array_filename(var)
                count_dtype = np.dtype(var.dtype).str
                dtype = group.variables[parameter].dtype
            args = [
                f"{group.name}.{parameter}={np.asarray(Quantity(v), dtype=dtype).item()!r}"
                for v in values
            ]
            files = {
                name: data
                for name, data in pack_folder(be.directory).items()
                if name == "main" or name.startswith("static_arrays/")
            }
            be.close()
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + files[name])
    project = {
        "files": files,
        "hash": digest.hexdigest(),
        "count_file": count_file,
        "count_dtype": count_dtype,
    }
    return project, args, first


def sweep(
    model: str | os.PathLike | NeuronModel,
    parameter: str,
    values: str | Sequence,
    n: int = 1,
    duration: Any = "1 s",
    current: Any = None,
    params: Mapping[str, Any] | None = None,
    preset: str | None = None,
    backend: str = "numpy",
    seed: int | None = None,
    dt: Any = "0.1 ms",
    scheduler: str | None = None,
    workers: int | None = 1,
    progress: bool = False,
) -> SweepResult:
    """Simulate ``n`` neurons of a model once per value of one parameter.

    Parameters
    ----------
    model : str, path or NeuronModel
        Zoo name, model file or spec.
    parameter : str
        Variable of the neuron group to sweep: a model parameter (``tau_m``, per_neuron in the
        model file) or an input variable such as ``I_ext``.
    values : str or sequence
        ``"10 ms,20 ms,40 ms"`` or Quantities / strings with units.
    n : int
        Neurons per run (identical, unless ``params`` or the model's initial values differ).
    duration : Quantity or str
        Simulated time per value.
    current : Quantity or str, optional
        Constant ``I_ext`` of every run (in the model's unit of ``I_ext``).
    params : mapping, optional
        Other parameter values (``{"v_th": "-50 mV"}``).
    preset : str, optional
        Named parameter set of the model file.
    backend : str
        ``"numpy"``, ``"cython"`` (a network per value) or ``"cpp_standalone"`` (compiled
        once, run with ``run_args`` per value).
    seed : int, optional
        Seed of Brian2's generator, the same for every value.
    dt : Quantity or str
        Time step.
    scheduler : str, optional
        Address of a Dask scheduler (:func:`neurolearn.executor.resolve_scheduler`).
    workers : int, optional
        Local worker processes (1: this process; None: the CPU count). Ignored with a
        scheduler.
    progress : bool
        Progress bar.

    Returns
    -------
    SweepResult

    Raises
    ------
    ModelError
        Unknown model, parameter or backend, a value in the wrong unit or out of the model's
        range, a parameter that cannot change per run.
    neurolearn.executor.TaskFailed
        A run failed on a Dask worker (its value and error).
    """
    from brian2 import second

    from .single import _check_time, _constant_current

    spec = load_model(model) if not isinstance(model, ModelSpec) else model
    if not isinstance(spec, NeuronModel):
        raise ModelError(f"'{spec.name}' is a {spec.kind} model; sweep needs a neuron model")
    if preset is not None:
        spec = spec.with_preset(preset)
    values = parse_values(values, parameter)
    duration = _check_time(duration, "duration")
    dt = _check_time(dt, "dt")
    initial = {} if current is None else {"I_ext": _constant_current(spec, current)}
    info = backend_info(backend)
    keys = [f"{parameter}={v}" for v in values]
    builds = 0
    with Executor(scheduler=scheduler, workers=workers, progress=progress) as executor:
        if info.is_standalone:
            project, args, _ = _compile(
                spec, n, params, initial, dt, duration, backend, seed, parameter, values
            )
            builds = 1
            shared = executor.share(project)  # shipped once per worker, not per task
            tasks = [{"project": shared, "arg": arg} for arg in args]
            counts = executor.map(_run_program, tasks, keys=keys, desc=f"sweep {parameter}")
        else:
            with use_backend(backend, dt=dt):
                group, _, _ = _network(spec, n, params, initial, dt)
                _check_variable(spec, group, parameter, values)
            common = dict(spec=spec, n=n, params=params, initial=initial, dt=dt, duration=duration)
            tasks = [
                dict(common, backend=backend, seed=seed, parameter=parameter, value=v)
                for v in values
            ]
            counts = executor.map(_run_runtime, tasks, keys=keys, desc=f"sweep {parameter}")
    return SweepResult(
        parameter, values, np.stack(counts), float(duration / second), backend, builds
    )

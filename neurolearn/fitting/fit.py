"""``fit``: one entry point for fitting a neuron model to a target with an optimizer.

>>> from neurolearn.fitting import fit, FICurveTarget
>>> target = FICurveTarget.from_osb_json(".../313862167_analysis.json")
>>> result = fit("lif", target, bounds={"tau_m": ("5 ms", "60 ms"), "R_m": ("50 Mohm", "1 Gohm"),
...                                       "v_th": ("-60 mV", "-30 mV")},
...              start={"tau_m": "20 ms", "R_m": "300 Mohm", "v_th": "-45 mV"},
...              fixed={"v_rest": "-80 mV", "v_reset": "-80 mV"})
>>> result.params["tau_m"], result.loss_history[-1]
>>> result.save("out/")            # fit.json + fit_traces.npz, written atomically

Parameters are model parameters (per-neuron ones, since every candidate is a neuron of one
group) or the stimulus parameters ``stimulus_gain`` / ``stimulus_offset`` (amp) of targets with
a dimensionless drive. Bounds are inclusive; the start point must lie inside them.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..brian.backends import STANDALONE_BACKENDS
from ..executor import Executor, per_worker
from ..io import atomic_path, atomic_write_json
from ..spec import ModelError, NeuronModel, load_model, parse_quantity
from .optimizers import Adam, get_optimizer
from .simulate import StandaloneCache, simulate_batch

__all__ = ["FitResult", "FitError", "fit", "parse_bounds", "STIMULUS_PARAMETERS"]

#: Parameters of the stimulus rather than the model (targets with ``stimulus_units="1"``).
STIMULUS_PARAMETERS = ("stimulus_gain", "stimulus_offset")


class FitError(RuntimeError):
    """A fit stopped (interrupted or failed); ``partial`` holds the best result so far (also
    saved to ``out`` when one was given)."""

    def __init__(self, message: str, partial: FitResult | None = None):
        super().__init__(message)
        self.partial = partial


def _qstr(q) -> str:
    if hasattr(q, "dim"):
        from brian2.units.fundamentalunits import get_unit

        if q.dim.is_dimensionless:
            return repr(float(q))
        return f"{float(q)!r} {get_unit(q.dim)!r}"
    return repr(float(q))


@dataclasses.dataclass
class FitResult:
    """Outcome of :func:`fit`.

    Attributes
    ----------
    model : str
    params : dict of str -> Quantity
        Fitted values (with units).
    fixed : dict of str -> Quantity
        Values held fixed.
    loss : float
    loss_history : list of float
        Best loss after each generation (DE) or step (Adam).
    n_evaluations : int
        Parameter sets simulated.
    converged : bool
    status : str
        ``"converged"``, ``"not_converged"``, ``"interrupted"`` or ``"failed"``.
    message : str
    optimizer : str
    optimizer_options : dict
    bounds : dict of str -> (Quantity, Quantity)
    target : dict
        The target's description.
    predictions, measured : dict of str -> array
        What the loss compared, for the fitted parameters and the data (f-I curve, features,
        Gamma...).
    traces : dict or None
        ``t_s`` [time], ``v_mV`` [n_sweeps, time] of the fitted model, ``stimulus`` [time,
        n_sweeps].
    wall_s : float
    """

    model: str
    params: dict
    fixed: dict
    loss: float
    loss_history: list
    n_evaluations: int
    converged: bool
    status: str
    message: str
    optimizer: str
    optimizer_options: dict
    bounds: dict
    target: dict
    predictions: dict = dataclasses.field(default_factory=dict)
    measured: dict = dataclasses.field(default_factory=dict)
    traces: dict | None = None
    wall_s: float = 0.0

    def to_dict(self) -> dict:
        """JSON-ready dict; every quantity as ``"<value> <SI unit>"`` plus ``*_si`` floats."""

        def arr(x):
            return np.asarray(x, float).tolist()

        return {
            "model": self.model,
            "status": self.status,
            "converged": self.converged,
            "message": self.message,
            "loss": self.loss,
            "params": {k: _qstr(v) for k, v in self.params.items()},
            "params_si": {k: float(v) for k, v in self.params.items()},
            "fixed": {k: _qstr(v) for k, v in self.fixed.items()},
            "bounds": {k: [_qstr(lo), _qstr(hi)] for k, (lo, hi) in self.bounds.items()},
            "loss_history": [float(x) for x in self.loss_history],
            "n_evaluations": self.n_evaluations,
            "optimizer": self.optimizer,
            "optimizer_options": self.optimizer_options,
            "target": self.target,
            "predictions": {k: arr(v) for k, v in self.predictions.items()},
            "measured": {k: arr(v) for k, v in self.measured.items()},
            "wall_s": self.wall_s,
        }

    def save(self, directory: str | Path) -> dict:
        """Write ``fit.json`` and (with traces) ``fit_traces.npz`` atomically.

        Returns
        -------
        dict of str -> Path
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = {"json": atomic_write_json(directory / "fit.json", self.to_dict())}
        if self.traces is not None:
            p = directory / "fit_traces.npz"
            with atomic_path(p) as tmp:
                with open(tmp, "wb") as fh:
                    np.savez_compressed(fh, **{k: np.asarray(v) for k, v in self.traces.items()})
            paths["traces"] = p
        return paths


def parse_bounds(spec: NeuronModel, bounds: Mapping[str, Any]) -> dict:
    """Check and convert bounds to Quantities.

    Parameters
    ----------
    spec : NeuronModel
    bounds : mapping of str -> (low, high)
        Strings (``"5 ms"``) or Quantities; names are per-neuron model parameters or
        :data:`STIMULUS_PARAMETERS`.

    Returns
    -------
    dict of str -> (Quantity, Quantity)

    Raises
    ------
    ValueError
        Empty bounds, an unknown or shared parameter, a wrong unit, ``low >= high``, NaN, or
        bounds outside the parameter's valid range in the model file (each message names the
        parameter).
    """
    from brian2 import amp
    from brian2.units.fundamentalunits import DimensionMismatchError, fail_for_dimension_mismatch

    if not bounds:
        raise ValueError("no parameter to fit: 'bounds' is empty")
    out = {}
    for name, pair in bounds.items():
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(f"bounds of '{name}' must be a pair (low, high), got {pair!r}")
        lo, hi = (parse_quantity(x, name) for x in pair)
        if name in STIMULUS_PARAMETERS:
            ref = 1 * amp
        elif name in spec.parameters:
            p = spec.parameters[name]
            if not p.per_neuron:
                raise ValueError(
                    f"parameter '{name}' of model '{spec.name}' is shared by all "
                    f"neurons and cannot be fitted with one group of candidates; "
                    f"declare it per_neuron in the model file or fix it"
                )
            ref = p.value
        else:
            raise ValueError(
                f"cannot fit '{name}': not a parameter of model '{spec.name}' "
                f"(its parameters: {', '.join(sorted(spec.parameters))}) nor one "
                f"of {', '.join(STIMULUS_PARAMETERS)}"
            )
        for x in (lo, hi):
            try:
                fail_for_dimension_mismatch(x, ref)
            except DimensionMismatchError:
                raise ValueError(
                    f"bounds of '{name}': {x} does not have the units of {ref}"
                ) from None
        flo, fhi = float(lo), float(hi)
        if not (np.isfinite(flo) and np.isfinite(fhi)):
            raise ValueError(f"bounds of '{name}' must be finite, got [{lo}, {hi}]")
        if flo >= fhi:
            raise ValueError(f"bounds of '{name}': low {lo} must be below high {hi}")
        if name in spec.parameters:
            p = spec.parameters[name]
            if (p.low is not None and flo < float(p.low)) or (
                p.high is not None and fhi > float(p.high)
            ):
                raise ValueError(
                    f"bounds of '{name}' [{lo}, {hi}] leave the parameter's valid "
                    f"range [{p.low}, {p.high}] declared in {spec.path}"
                )
        out[name] = (lo, hi)
    return out


def _start_point(spec, bounds, start) -> np.ndarray:
    start = dict(start or {})
    unknown = set(start) - set(bounds)
    if unknown:
        raise ValueError(
            f"start value(s) given for {', '.join(sorted(unknown))}, which are "
            f"not being fitted (bounds: {', '.join(bounds)})"
        )
    u = []
    for name, (lo, hi) in bounds.items():
        if name in start:
            x = parse_quantity(start[name], name)
            source = "start value"
        elif name in spec.parameters:
            x = spec.parameters[name].value
            source = "model default"
        else:
            x = (lo + hi) / 2
            source = "midpoint"
        fx, flo, fhi = float(x), float(lo), float(hi)
        if not flo <= fx <= fhi:
            raise ValueError(
                f"the {source} of '{name}' ({x}) lies outside its bounds "
                f"[{lo}, {hi}]; widen the bounds or give a start value inside "
                f"them"
            )
        u.append((fx - flo) / (fhi - flo))
    return np.array(u)


def _to_params(U: np.ndarray, bounds: dict) -> dict:
    from brian2 import Quantity

    out = {}
    for k, (name, (lo, hi)) in enumerate(bounds.items()):
        vals = float(lo) + U[:, k] * (float(hi) - float(lo))
        out[name] = Quantity(vals, dim=lo.dim) if hasattr(lo, "dim") else vals
    return out


def _split(params: dict):
    stim = {k: params.pop(k) for k in STIMULUS_PARAMETERS if k in params}
    return params, stim


def fit(
    model,
    target,
    bounds: Mapping[str, Any],
    optimizer="differential_evolution",
    start: Mapping[str, Any] | None = None,
    fixed: Mapping[str, Any] | None = None,
    backend: str = "numpy",
    out: str | Path | None = None,
    progress: bool = True,
    method=None,
    optimizer_options: Mapping | None = None,
    scheduler: str | None = None,
    workers: int | None = 1,
) -> FitResult:
    """Fit a neuron model's parameters to a target.

    Parameters
    ----------
    model : str, Path or NeuronModel
        Zoo name, model file, or spec. Needs an ``I_ext`` current variable.
    target : Target
        :class:`~neurolearn.fitting.targets.EphysFeatureTarget`, ``FICurveTarget``,
        ``TraceTarget`` or ``SpikeTrainTarget``.
    bounds : mapping of str -> (low, high)
        Parameters to fit and their inclusive bounds (see :func:`parse_bounds`).
    optimizer : str or optimizer object
        ``"differential_evolution"`` (default; gradient-free, one Brian2 group per generation)
        or ``"adam"`` (gradient-based through the torch bridge; ``TraceTarget`` only).
    start : mapping, optional
        Start point (default: the model's defaults; the midpoint for stimulus parameters).
    fixed : mapping, optional
        Parameter values held fixed (overriding the model's defaults).
    backend : str
        Brian2 backend of the simulations (``numpy``, ``cython``, ``cpp_standalone``,
        ``cuda_standalone``).
    out : path, optional
        Folder for ``fit.json`` / ``fit_traces.npz``; progress is checkpointed there
        (``fit_progress.json``) after each generation, and a partial result is saved if the
        fit is interrupted or fails.
    progress : bool
        Show a tqdm progress bar.
    method : str or StateUpdateMethod, optional
        State updater (default: the model's; allensdk's scheme for GLIF models).
    optimizer_options : mapping, optional
        Options of the optimizer (``popsize``, ``maxiter``, ``lr``, ``steps``...).
    scheduler : str, optional
        Address of a Dask scheduler (:func:`neurolearn.executor.resolve_scheduler`).
    workers : int, optional
        Local worker processes (1: this process; None: the CPU count). On several workers
        (or a scheduler) the population of each generation is split into one batch per
        worker, each simulated as one Brian2 group (standalone: compiled once per worker);
        the losses, hence the fit, are those of one group (the candidates are independent
        neurons). Gradient-free optimizers only.

    Returns
    -------
    FitResult
        ``status`` tells whether it converged; a fit that did not converge still returns
        the best parameters found (and warns).

    Raises
    ------
    ValueError
        Bad bounds, start outside the bounds, unknown parameters, a target/optimizer mismatch.
    ModelError
        Unknown model or bad fixed values.
    FitError
        The optimization was interrupted or crashed; ``.partial`` holds the best result so far.
    MissingExtraError
        ``optimizer="adam"`` where torch is not installed (before anything runs).
    """
    from tqdm.auto import tqdm

    spec = model if isinstance(model, NeuronModel) else load_model(model)
    if not isinstance(spec, NeuronModel):
        raise ModelError(f"'{spec.name}' is not a neuron model", spec.path, parameter="model")
    bounds = parse_bounds(spec, bounds)
    fixed_q = _check_fixed(spec, bounds, fixed)
    u0 = _start_point(spec, bounds, start)
    drive = _check_stimulus_parameters(target, bounds, fixed_q)
    opt = get_optimizer(optimizer, **dict(optimizer_options or {}))
    executor = Executor(scheduler=scheduler, workers=workers, progress=False)
    run = _FitRun(spec, target, bounds, fixed_q, drive, backend, method, opt, out, u0, executor)
    total = opt.maxiter + 1 if hasattr(opt, "maxiter") else opt.steps
    bar = tqdm(total=total, desc=f"fit {spec.name} ({opt.name})", disable=not progress, leave=False)
    try:
        outcome = _optimize(opt, run, (spec, target, bounds, fixed_q, method), u0, bar)
    except (KeyboardInterrupt, Exception) as exc:
        bar.close()
        run.close()
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        if isinstance(exc, (ValueError, ModelError)) and not run.state["history"]:
            raise
        partial = run.partial_result(status, exc)
        if run.out_dir is not None:
            partial.save(run.out_dir)
        raise FitError(partial.message, partial) from exc
    bar.close()
    run.close()
    status = "converged" if outcome.converged else "not_converged"
    result = run.result_from(
        outcome.u,
        outcome.loss,
        outcome.history,
        outcome.n_evaluations,
        outcome.converged,
        status,
        outcome.message,
    )
    if not outcome.converged:
        warnings.warn(f"fit of {spec.name}: {outcome.message}", RuntimeWarning, stacklevel=2)
    if run.out_dir is not None:
        result.save(run.out_dir)
    return result


def _optimize(opt, run, problem: tuple, u0, bar):
    """Run the optimizer from ``u0``: Adam on the differentiable loss of ``problem`` (spec,
    target, bounds, fixed values, method), any other on the run's Brian2 objective."""
    if isinstance(opt, Adam):
        from .gradient import differentiable_loss

        spec, target, bounds, fixed_q, method = problem
        loss_fn = differentiable_loss(spec, target, bounds, fixed_q, method=method)
        outcome = opt.run(loss_fn, u0, progress=bar)
        outcome.n_evaluations = len(outcome.history)
        return outcome
    return opt.run(run.objective, u0, progress=bar)


def _check_fixed(spec, bounds: dict, fixed: Mapping | None) -> dict:
    """Fixed values parsed and checked: none also fitted, the model's within range."""
    fixed_q = {k: parse_quantity(v, k) for k, v in (fixed or {}).items()}
    overlap = set(fixed_q) & set(bounds)
    if overlap:
        raise ValueError(f"parameter(s) {', '.join(sorted(overlap))} are both fixed and fitted")
    spec.resolve_parameters(
        {k: v for k, v in fixed_q.items() if k in spec.parameters or k not in STIMULUS_PARAMETERS}
    )
    return fixed_q


def _check_stimulus_parameters(target, bounds: dict, fixed_q: dict) -> bool:
    """Whether the target's stimulus is dimensionless (a drive scaled by ``stimulus_gain``);
    the stimulus parameters must be fitted or fixed exactly then."""
    drive = getattr(target, "stimulus_units", "amp") == "1"
    if drive and "stimulus_gain" not in bounds and "stimulus_gain" not in fixed_q:
        raise ValueError(
            "this target's stimulus is dimensionless: fit or fix 'stimulus_gain' "
            "(amp per unit of stimulus)"
        )
    if not drive and set(STIMULUS_PARAMETERS) & (set(bounds) | set(fixed_q)):
        raise ValueError(
            "stimulus_gain/stimulus_offset only apply to targets with a "
            "dimensionless stimulus (stimulus_units='1')"
        )
    return drive


def _simulate(setup: dict, U, cache, record_all=False):
    """Simulate the candidates ``U`` ``[S, d]`` (unit cube) of a fit as one Brian2 group;
    ``setup`` holds the fit's spec, target, bounds, fixed values, drive flag, backend and
    method."""
    target = setup["target"]
    params, stim_p = _split(_to_params(U, setup["bounds"]))
    fixed_model, fixed_stim = _split(dict(setup["fixed_q"]))
    params.update(fixed_model)
    for k, v in fixed_stim.items():
        stim_p.setdefault(k, v)
    kwargs = {}
    if setup["drive"]:
        kwargs = {
            "stimulus_gain": stim_p.get("stimulus_gain"),
            "stimulus_offset": stim_p.get("stimulus_offset"),
        }
    return simulate_batch(
        setup["spec"],
        params,
        target.stimuli,
        target.dt,
        n_sets=len(U),
        record_v=target.record_v or record_all,
        record_sweeps=None if record_all else target.record_sweeps,
        record_dt=target.record_dt if not record_all else (target.record_dt or target.dt),
        spike_times=target.spike_times_needed or record_all,
        method=setup["method"],
        backend=setup["backend"],
        cache=cache,
        **kwargs,
    )


def _batch_losses(task: dict) -> np.ndarray:
    """The losses of one batch of candidates on a worker (an executor task), simulated as one
    Brian2 group; on a standalone backend the project is compiled once per worker and run
    again with ``run_args`` for every later batch of the fit."""
    setup = task["setup"]
    cache = None
    if setup["backend"] in STANDALONE_BACKENDS:
        cache = per_worker(
            ("fit-standalone", setup["key"]), StandaloneCache, release=StandaloneCache.close
        )
    return np.asarray(setup["target"].loss(_simulate(setup, task["U"], cache)), float)


class _FitRun:
    """One fit in progress: simulates parameter sets (one Brian2 group per population),
    evaluates the target's loss, keeps the best point and the history (checkpointed as
    ``fit_progress.json`` in ``out``), and makes the :class:`FitResult`."""

    def __init__(
        self, spec, target, bounds, fixed_q, drive, backend, method, opt, out, u0, executor=None
    ):
        self.spec, self.target, self.bounds, self.fixed_q = spec, target, bounds, fixed_q
        self.drive, self.backend, self.method, self.opt = drive, backend, method, opt
        self.out_dir = Path(out) if out is not None else None
        self.t_start = time.time()
        self.state = {"best_u": u0.copy(), "best_loss": np.inf, "history": [], "n": 0}
        # standalone: compile once, run every later generation with new values (run_args)
        self.cache = StandaloneCache() if backend in STANDALONE_BACKENDS else None
        self.setup = dict(
            spec=spec,
            target=target,
            bounds=bounds,
            fixed_q=fixed_q,
            drive=drive,
            backend=backend,
            method=method,
        )
        self.executor, self.shared = executor, None

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
        if self.executor is not None:
            self.executor.close()

    def simulate(self, U, record_all=False):
        return _simulate(self.setup, U, None if record_all else self.cache, record_all)

    def losses(self, U) -> np.ndarray:
        """The target's loss of every candidate ``[S]``: one Brian2 group here, or (on
        several workers) the population split into equal batches, each evaluated by a worker
        as one group (:func:`_batch_losses`)."""
        ex = self.executor
        if ex is None or not ex.distributed:
            return np.asarray(self.target.loss(self.simulate(U)), float)
        if self.shared is None:
            self.shared = ex.share(dict(self.setup, key=uuid.uuid4().hex))
        n_workers = ex.n_workers()
        size = -(-len(U) // n_workers)  # the same batch size every generation (one build)
        batches = []
        for start in range(0, len(U), size):
            batch = U[start : start + size]
            pad = size - len(batch)
            batches.append(np.concatenate([batch, np.repeat(batch[-1:], pad, 0)]) if pad else batch)
        gen = len(self.state["history"])
        keys = [f"generation{gen}/batch{b}" for b in range(len(batches))]
        tasks = [{"setup": self.shared, "U": b} for b in batches]
        out = ex.map(_batch_losses, tasks, keys=keys, desc="candidates")
        return np.concatenate(out)[: len(U)]

    def objective(self, U):
        state = self.state
        L = self.losses(U)
        state["n"] += len(L)
        k = int(np.argmin(L))
        if L[k] < state["best_loss"]:
            state["best_loss"], state["best_u"] = float(L[k]), U[k].copy()
        state["history"].append(state["best_loss"])
        if self.out_dir is not None:
            best = _to_params(state["best_u"][None], self.bounds)
            atomic_write_json(
                self.out_dir / "fit_progress.json",
                {
                    "generation": len(state["history"]),
                    "best_loss": state["best_loss"],
                    "best_params": {n: _qstr(v[0]) for n, v in best.items()},
                    "loss_history": state["history"],
                    "n_evaluations": state["n"],
                },
            )
        return L

    def partial_result(self, status: str, exc: BaseException) -> FitResult:
        """The best result so far of a fit that was interrupted or failed."""
        state = self.state
        return self.result_from(
            state["best_u"],
            state["best_loss"],
            state["history"],
            state["n"],
            False,
            status,
            f"{status} after {len(state['history'])} generations: "
            f"{type(exc).__name__}: {exc}; best parameters so far kept",
        )

    def result_from(self, u, loss, history, n_eval, converged, status, message) -> FitResult:
        target = self.target
        best = _to_params(np.asarray(u)[None], self.bounds)
        params = {k: v[0] for k, v in best.items()}
        preds, traces = {}, None
        try:
            res = self.simulate(np.asarray(u)[None], record_all=True)
            preds = {k: np.asarray(v)[0] for k, v in target.predictions(res).items()}
            traces = {
                "t_s": res.t,
                "v_mV": res.v[0] * 1e3 if res.v is not None else np.zeros((0, 0)),
                "stimulus": target.stimuli,
            }
        except Exception as exc:  # keep the parameters even if the replay fails
            message += f" (replaying the fitted model failed: {exc})"
        return FitResult(
            self.spec.name,
            params,
            self.fixed_q,
            float(loss),
            list(history),
            int(n_eval),
            bool(converged),
            status,
            message,
            self.opt.name,
            self.opt.options(),
            self.bounds,
            target.describe(),
            preds,
            target.measured(),
            traces,
            time.time() - self.t_start,
        )

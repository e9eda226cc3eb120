"""Population fits: a model fitted to every Allen cell's electrophysiology features at once.

Every cell gets its own scipy differential-evolution run (in a thread) and its own protocol
(:class:`~neurolearn.fitting.targets.EphysFeatureTarget`), but all cells' candidate parameter
sets of a generation are simulated together as ONE Brian2 ``NeuronGroup`` (a coordinator
collects the populations of all running optimizers, simulates them, and hands each its
losses). Cells are processed in chunks, each chunk a task of
:class:`neurolearn.executor.Executor` (in this process, on local worker processes, or on a Dask
cluster with ``scheduler``); the table is rewritten atomically after each chunk, so an
interrupted run resumes where it stopped.

Models: ``"lif"`` (fits ``tau_m``, ``R_m``, ``v_rest``, ``v_th``, ``v_reset``; ``t_ref`` 2 ms)
and ``"glif1"`` (``C_m``, ``R_m``, ``E_L``, ``th_inf``, ``t_cut``). Output columns carry their
units: ``R_mohm``, ``C_pf``, ``tau_ms``, ``threshold_mv``, ...; plus the model's features and
the loss.

:func:`compare_with_glif1` sets the fitted R, C and threshold against Allen's own GLIF1
parameters (Teeter et al. 2018) and :func:`population_parameters` turns a fitted table into
per-neuron parameter arrays for a network (a biologically heterogeneous population).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..executor import Executor
from ..io import atomic_path
from .optimizers import DifferentialEvolution
from .simulate import BatchResult, simulate_batch
from .targets import FEATURE_COLUMNS, EphysFeatureTarget

__all__ = [
    "POPULATION_MODELS",
    "complete_feature_cells",
    "fit_population",
    "compare_with_glif1",
    "load_glif1_parameters",
    "population_parameters",
]

#: Per model: fitted parameters and their bounds relative to a cell's features.
POPULATION_MODELS = ("lif", "glif1")


def complete_feature_cells(table) -> Any:
    """Rows of an Allen feature table with every feature :class:`EphysFeatureTarget` needs,
    finite, with positive tau, ri, rheobase and f-I slope.

    Raises
    ------
    ValueError
        If a needed column is missing (named).
    """
    missing = [c for c in list(FEATURE_COLUMNS) + ["specimen_id"] if c not in table.columns]
    if missing:
        raise ValueError(f"feature table lacks column(s) {', '.join(missing)}")
    t = table.dropna(subset=list(FEATURE_COLUMNS))
    t = t[
        (t["tau"] > 0)
        & (t["ri"] > 0)
        & (t["threshold_i_long_square"] > 0)
        & (t["f_i_curve_slope"] > 0)
    ]
    return t.reset_index(drop=True)


def _bounds_and_start(model: str, f: Mapping[str, float]):
    """Per-cell bounds (SI floats) and start point for the population models."""
    tau, ri, vr = f["tau_ms"] * 1e-3, f["ri_mohm"] * 1e6, f["vrest_mv"] * 1e-3
    vth0 = vr + ri * f["rheobase_pa"] * 1e-12
    # bounds: the features pin every parameter to first order (LIF: tau_m = tau, R_m = ri,
    # v_rest = vrest, v_th = vrest + ri*rheobase); the search is a neighbourhood of that point
    vth_lo, vth_hi = max(vr + 0.002, vth0 - 0.01), max(vr + 0.012, vth0 + 0.01)
    if model == "lif":
        names = ["tau_m", "R_m", "v_rest", "v_th", "v_reset"]
        lo = [0.6 * tau, 0.6 * ri, vr - 0.005, vth_lo, vr - 0.015]
        hi = [1.6 * tau, 1.6 * ri, vr + 0.005, vth_hi, vr + 0.01]
        start = [tau, ri, vr, min(max(vth0, lo[3]), hi[3]), vr]
        units = ["second", "ohm", "volt", "volt", "volt"]
    elif model == "glif1":
        names = ["C_m", "R_m", "E_L", "th_inf", "t_cut"]
        lo = [0.6 * tau / ri, 0.6 * ri, vr - 0.005, vth_lo, 0.0005]
        hi = [1.6 * tau / ri, 1.6 * ri, vr + 0.005, vth_hi, 0.02]
        start = [tau / ri, ri, vr, min(max(vth0, lo[3]), hi[3]), 0.003]
        units = ["farad", "ohm", "volt", "volt", "second"]
    else:
        raise ValueError(f"population fits support {', '.join(POPULATION_MODELS)}, got {model!r}")
    lo, hi, start = np.array(lo), np.array(hi), np.array(start)
    return names, units, lo, hi, (start - lo) / (hi - lo)


class _Coordinator:
    """Collects the populations of running DE threads and evaluates them in one simulation."""

    def __init__(self, n: int):
        self.cv = threading.Condition()
        self.pending: dict = {}
        self.results: dict = {}
        self.active = n
        self.errors: list = []

    def evaluate(self, key, U):
        with self.cv:
            self.pending[key] = U
            self.cv.notify_all()
            self.cv.wait_for(lambda: key in self.results or self.errors)
            if self.errors:
                raise RuntimeError("population simulation failed") from self.errors[0]
            return self.results.pop(key)

    def finished(self):
        with self.cv:
            self.active -= 1
            self.cv.notify_all()

    def next_batch(self):
        with self.cv:
            self.cv.wait_for(
                lambda: self.active == 0 or (self.active > 0 and len(self.pending) >= self.active)
            )
            if self.active == 0 and not self.pending:
                return None
            batch, self.pending = self.pending, {}
            return batch

    def deliver(self, results: dict):
        with self.cv:
            self.results.update(results)
            self.cv.notify_all()

    def fail(self, exc):
        with self.cv:
            self.errors.append(exc)
            self.cv.notify_all()


def _slice(res: BatchResult, rows: slice) -> BatchResult:
    return BatchResult(
        res.counts[rows],
        None,
        res.v[rows] if res.v is not None else None,
        res.v_sweeps,
        res.t,
        res.dt,
    )


def _fit_chunk(spec, model, cells: list, targets: list, backend, popsize, maxiter, seed, progress):
    import brian2 as b2

    n_sw = targets[0].stimuli.shape[1]
    stim = np.concatenate([t.stimuli for t in targets], axis=1)
    meta = [_bounds_and_start(model, t.features) for t in targets]
    names, units = meta[0][0], meta[0][1]
    coord = _Coordinator(len(cells))
    outcomes: dict = {}

    def worker(c):
        _, _, lo, hi, u0 = meta[c]
        opt = DifferentialEvolution(popsize=popsize, maxiter=maxiter, tol=1e-2, seed=seed)
        try:
            outcomes[c] = opt.run(lambda U: coord.evaluate(c, U), u0)
        except Exception as exc:  # recorded per cell, the others go on
            outcomes[c] = exc
        finally:
            coord.finished()

    threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in range(len(cells))]
    for th in threads:
        th.start()
    try:
        while True:
            batch = coord.next_batch()
            if batch is None:
                break
            keys = sorted(batch)
            sizes = [len(batch[k]) for k in keys]
            phys = []
            for k in keys:
                _, _, lo, hi, _ = meta[k]
                phys.append(lo + batch[k] * (hi - lo))
            X = np.concatenate(phys)
            params = {
                n: b2.Quantity(X[:, j], dim=getattr(b2, u).dim)
                for j, (n, u) in enumerate(zip(names, units))
            }
            cols = np.concatenate(
                [np.tile(k * n_sw + np.arange(n_sw), (s, 1)) for k, s in zip(keys, sizes)]
            )
            try:
                res = simulate_batch(
                    spec,
                    params,
                    stim,
                    targets[0].dt,
                    n_sets=len(X),
                    record_v=True,
                    record_sweeps=[0],
                    record_dt=targets[0].record_dt,
                    spike_times=False,
                    backend=backend,
                    stimulus_columns=cols,
                )
            except Exception as exc:
                coord.fail(exc)
                raise
            out, start = {}, 0
            for k, s in zip(keys, sizes):
                out[k] = targets[k].loss(_slice(res, slice(start, start + s)))
                start += s
            coord.deliver(out)
            if progress is not None:
                progress.set_postfix(cells_running=coord.active)
                progress.update(0)
    finally:
        for th in threads:
            th.join(timeout=1.0)
    rows = []
    for c, cell in enumerate(cells):
        o = outcomes.get(c)
        _, _, lo, hi, _ = meta[c]
        row = {"specimen_id": int(cell)}
        if isinstance(o, Exception) or o is None:
            row.update(status="failed", message=str(o))
            rows.append(row)
            continue
        x = lo + o.u * (hi - lo)
        vals = dict(zip(names, x))
        row.update(
            status="converged" if o.converged else "not_converged",
            loss=o.loss,
            n_evaluations=o.n_evaluations,
        )
        rows.append((row, vals))
    return rows, names


def _finish_rows(model, rows, spec, targets, backend):
    """Turn optimizer outcomes into table rows, with the fitted model's features."""
    import brian2 as b2

    good = [(i, r) for i, r in enumerate(rows) if isinstance(r, tuple)]
    out = [r if not isinstance(r, tuple) else None for r in rows]
    if not good:
        return out
    n_sw = targets[0].stimuli.shape[1]
    names = list(good[0][1][1])
    units = {
        "tau_m": "second",
        "R_m": "ohm",
        "v_rest": "volt",
        "v_th": "volt",
        "v_reset": "volt",
        "C_m": "farad",
        "E_L": "volt",
        "th_inf": "volt",
        "t_cut": "second",
    }
    X = np.array([[r[1][n] for n in names] for _, r in good])
    params = {n: b2.Quantity(X[:, j], dim=getattr(b2, units[n]).dim) for j, n in enumerate(names)}
    stim = np.concatenate([targets[i].stimuli for i, _ in good], axis=1)
    cols = np.array([k * n_sw + np.arange(n_sw) for k in range(len(good))])
    res = simulate_batch(
        spec,
        params,
        stim,
        targets[0].dt,
        n_sets=len(X),
        record_v=True,
        record_sweeps=[0],
        record_dt=targets[0].record_dt,
        spike_times=False,
        backend=backend,
        stimulus_columns=cols,
    )
    for j, (i, (row, vals)) in enumerate(good):
        feats = targets[i].model_features(_slice(res, slice(j, j + 1)))
        if model == "lif":
            R, C = vals["R_m"], vals["tau_m"] / vals["R_m"]
            row.update(
                tau_ms=vals["tau_m"] * 1e3,
                R_mohm=R / 1e6,
                C_pf=C * 1e12,
                v_rest_mv=vals["v_rest"] * 1e3,
                threshold_mv=vals["v_th"] * 1e3,
                v_reset_mv=vals["v_reset"] * 1e3,
            )
        else:
            R, C = vals["R_m"], vals["C_m"]
            row.update(
                tau_ms=R * C * 1e3,
                R_mohm=R / 1e6,
                C_pf=C * 1e12,
                v_rest_mv=vals["E_L"] * 1e3,
                threshold_mv=vals["th_inf"] * 1e3,
                t_cut_ms=vals["t_cut"] * 1e3,
            )
        for k, v in feats.items():
            row[f"model_{k}"] = float(v[0])
        for k, v in targets[i].features.items():
            row[f"data_{k}"] = float(v)
        out[i] = row
    return out


def fit_population(
    features,
    model: str = "lif",
    out: str | Path | None = None,
    specimen_ids: Sequence[int] | None = None,
    chunk_size: int = 300,
    popsize: int = 4,
    maxiter: int = 15,
    backend: str = "numpy",
    dt=None,
    step_duration: float = 0.5,
    seed: int = 0,
    progress: bool = True,
    scheduler: str | None = None,
    workers: int | None = 1,
):
    """Fit ``model`` to the features of every Allen cell with complete features.

    Parameters
    ----------
    features : pandas.DataFrame or path
        Allen ``ephys_features.csv`` (columns ``specimen_id``, ``tau`` ms, ``ri`` MOhm,
        ``vrest`` mV, ``threshold_i_long_square`` pA, ``f_i_curve_slope`` Hz/pA).
    model : {"lif", "glif1"}
    out : path, optional
        CSV table, rewritten atomically after each chunk; cells already in it are skipped
        (resume).
    specimen_ids : sequence of int, optional
        Restrict to these cells.
    chunk_size : int
        Cells simulated together (memory: about ``chunk_size * popsize * 5 * 8`` neurons).
    popsize, maxiter : int
        Differential-evolution settings per cell (population ``popsize * 5``).
    backend : str
        Brian2 backend (``"cython"`` is much faster than ``"numpy"`` for large chunks).
    dt : Quantity, optional
        Default 0.2 ms (exact integration for LIF; GLIF1 uses allensdk's Euler scheme).
    step_duration : float (s)
        Long-square length (Allen: 1 s; 0.5 s by default to halve the cost; the rheobase
        and f-I slope of LIF-type models hardly change between the two).
    seed : int
        Seed of every cell's differential evolution (a cell's fit does not depend on the
        chunk it is in, nor on the worker: its neurons are simulated independently).
    progress : bool
        Progress bar over the chunks.
    scheduler : str, optional
        Address of a Dask scheduler (:func:`neurolearn.executor.resolve_scheduler`): each
        chunk is a task.
    workers : int, optional
        Local worker processes, one chunk each at a time (1: this process; None: the CPU
        count). Ignored with a scheduler.

    Returns
    -------
    pandas.DataFrame
        One row per cell: ``specimen_id``, ``status``, ``loss``, fitted ``tau_ms``,
        ``R_mohm``, ``C_pf``, ``v_rest_mv``, ``threshold_mv`` (+ ``v_reset_mv`` or
        ``t_cut_ms``), ``model_*`` and ``data_*`` features.

    Raises
    ------
    ValueError
        Unknown model, a feature table without the needed columns, no complete cell.
    neurolearn.executor.TaskFailed
        A chunk failed on a Dask worker (its index and error).
    """
    import pandas as pd
    from brian2 import ms

    if model not in POPULATION_MODELS:
        raise ValueError(f"population fits support {', '.join(POPULATION_MODELS)}, got {model!r}")
    table = features if isinstance(features, pd.DataFrame) else pd.read_csv(features)
    cells = complete_feature_cells(table)
    if specimen_ids is not None:
        cells = cells[cells["specimen_id"].isin(list(specimen_ids))]
    if cells.empty:
        raise ValueError("no cell with complete features to fit")
    done = pd.DataFrame()
    if out is not None and Path(out).is_file():
        done = pd.read_csv(out)
        cells = cells[~cells["specimen_id"].isin(done["specimen_id"])]
    dt = dt if dt is not None else 0.2 * ms
    table_rows = done.to_dict("records") if not done.empty else []
    ids = cells["specimen_id"].astype(int).tolist()
    settings = dict(
        model=model, dt=dt, step_duration=step_duration, backend=backend, popsize=popsize
    )
    settings.update(maxiter=maxiter, seed=seed)
    tasks = [
        dict(
            settings,
            cells=cells.iloc[start : start + chunk_size][["specimen_id", *FEATURE_COLUMNS]],
        )
        for start in range(0, len(ids), chunk_size)
    ]
    finished: dict[int, list] = {}

    def write(key: str, rows: list) -> None:
        # the table after each chunk: earlier rows, then the finished chunks in their order
        finished[int(key)] = rows
        if out is not None:
            df = pd.DataFrame(table_rows + [r for k in sorted(finished) for r in finished[k]])
            with atomic_path(out) as tmp:
                df.to_csv(tmp, index=False)

    with Executor(scheduler=scheduler, workers=workers, progress=progress) as executor:
        executor.map(
            _fit_chunk_task,
            tasks,
            keys=[str(k) for k in range(len(tasks))],
            desc=f"population fit ({model}, chunks of {chunk_size} cells)",
            on_result=write,
        )
    table_rows.extend(r for k in sorted(finished) for r in finished[k])
    return pd.DataFrame(table_rows)


def _fit_chunk_task(task: dict) -> list[dict]:
    """Fit one chunk of cells (an executor task): the cells' differential-evolution runs with
    all candidates of a generation in one Brian2 group, then the fitted rows."""
    from ..spec import load_model

    chunk = task["cells"]
    spec = load_model(task["model"])
    targets = [
        EphysFeatureTarget(
            {FEATURE_COLUMNS[c]: r[c] for c in FEATURE_COLUMNS},
            dt=task["dt"],
            onset=0.05,
            duration=task["step_duration"],
            n_grid=7,
        )
        for _, r in chunk.iterrows()
    ]
    chunk_ids = chunk["specimen_id"].astype(int).tolist()
    raw, _ = _fit_chunk(
        spec,
        task["model"],
        chunk_ids,
        targets,
        task["backend"],
        task["popsize"],
        task["maxiter"],
        task["seed"],
        None,
    )
    rows = _finish_rows(task["model"], raw, spec, targets, task["backend"])
    return [r for r in rows if r is not None]


def load_glif1_parameters(glif_root: str | Path) -> Any:
    """Allen's GLIF1 parameters of every mouse and human cell (Teeter et al. 2018).

    Parameters
    ----------
    glif_root : path
        ``$NEUROLEARN_DATA_DIR/allen/glif_teeter2018``.

    Returns
    -------
    pandas.DataFrame
        ``specimen_id``, ``R_mohm``, ``C_pf``, ``tau_ms``, ``v_rest_mv`` (El_reference),
        ``threshold_mv`` (El_reference + th_inf * coeff), ``species``.
    """
    import pandas as pd

    from ..sources.glif import find_glif_configs, load_glif_config

    rows = []
    for species in ("mouse", "human"):
        try:
            paths = find_glif_configs(glif_root, 1, species)
        except FileNotFoundError:
            continue
        for p in paths:
            cfg = load_glif_config(p)
            R, C = float(cfg.params["R_m"]), float(cfg.params["C_m"])
            rows.append(
                {
                    "specimen_id": cfg.specimen_id,
                    "species": species,
                    "R_mohm": R / 1e6,
                    "C_pf": C * 1e12,
                    "tau_ms": R * C * 1e3,
                    "v_rest_mv": float(cfg.params["E_L"]) * 1e3,
                    "threshold_mv": float(cfg.params["th_inf"]) * 1e3,
                }
            )
    if not rows:
        raise FileNotFoundError(f"no GLIF1 config under {glif_root}")
    return pd.DataFrame(rows)


def compare_with_glif1(fitted, glif1) -> dict:
    """Fitted R, C, tau and threshold against Allen's GLIF1 values, cell by cell.

    Parameters
    ----------
    fitted : pandas.DataFrame
        From :func:`fit_population` (columns ``specimen_id``, ``R_mohm``, ``C_pf``,
        ``tau_ms``, ``threshold_mv``).
    glif1 : pandas.DataFrame
        From :func:`load_glif1_parameters`.

    Returns
    -------
    dict
        ``n_cells`` (cells in both) and, per quantity, ``pearson_r``, ``spearman_rho``,
        ``median_relative_error`` (``|fit - allen| / |allen|``; for the threshold relative to
        the distance from rest, ``|dth| / |th_allen - E_L|``).

    Raises
    ------
    ValueError
        If the tables share no cell.
    """
    from scipy import stats

    ok = fitted[fitted.get("status", "converged") != "failed"] if "status" in fitted else fitted
    m = ok.merge(glif1, on="specimen_id", suffixes=("_fit", "_allen"))
    if m.empty:
        raise ValueError("the fitted table and Allen's GLIF1 table share no cell")
    out = {"n_cells": int(len(m))}
    for q in ("R_mohm", "C_pf", "tau_ms", "threshold_mv"):
        a, b = m[f"{q}_fit"].to_numpy(float), m[f"{q}_allen"].to_numpy(float)
        if q == "threshold_mv":
            ref = np.abs(b - m["v_rest_mv_allen"].to_numpy(float))
        else:
            ref = np.abs(b)
        out[q] = {
            "pearson_r": float(stats.pearsonr(a, b)[0]),
            "spearman_rho": float(stats.spearmanr(a, b)[0]),
            "median_relative_error": float(np.median(np.abs(a - b) / ref)),
        }
    return out


def population_parameters(
    table, model: str = "lif", n: int | None = None, rng: int | np.random.Generator | None = None
) -> dict:
    """Per-neuron parameter arrays (with units) for a network, drawn from a fitted population.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`fit_population` (rows with ``status`` "failed" are skipped).
    model : {"lif", "glif1"}
        Parameter names to produce (``tau_m, R_m, v_rest, v_th, v_reset`` or
        ``C_m, R_m, E_L, th_inf, t_cut``).
    n : int, optional
        Number of neurons; cells are drawn with replacement (default: every fitted cell once,
        in table order).
    rng : int or Generator, optional

    Returns
    -------
    dict of str -> Quantity array [n]
        Ready for ``make_neuron_group(spec, n, params=...)``.

    Raises
    ------
    ValueError
        Unknown model, missing columns, or no usable row.
    """
    import brian2 as b2

    t = table[table["status"] != "failed"] if "status" in table else table
    cols = {
        "lif": ["tau_ms", "R_mohm", "v_rest_mv", "threshold_mv", "v_reset_mv"],
        "glif1": ["C_pf", "R_mohm", "v_rest_mv", "threshold_mv", "t_cut_ms"],
    }
    if model not in cols:
        raise ValueError(f"model must be one of {', '.join(cols)}, got {model!r}")
    missing = [c for c in cols[model] if c not in t.columns]
    if missing:
        raise ValueError(f"table lacks column(s) {', '.join(missing)} for model {model}")
    t = t.dropna(subset=cols[model])
    if t.empty:
        raise ValueError("no fitted cell to draw from")
    if n is None:
        idx = np.arange(len(t))
    else:
        g = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        idx = g.integers(0, len(t), int(n))
    r = t.iloc[idx]
    if model == "lif":
        return {
            "tau_m": r["tau_ms"].to_numpy(float) * b2.ms,
            "R_m": r["R_mohm"].to_numpy(float) * b2.Mohm,
            "v_rest": r["v_rest_mv"].to_numpy(float) * b2.mV,
            "v_th": r["threshold_mv"].to_numpy(float) * b2.mV,
            "v_reset": r["v_reset_mv"].to_numpy(float) * b2.mV,
        }
    return {
        "C_m": r["C_pf"].to_numpy(float) * b2.pF,
        "R_m": r["R_mohm"].to_numpy(float) * b2.Mohm,
        "E_L": r["v_rest_mv"].to_numpy(float) * b2.mV,
        "th_inf": r["threshold_mv"].to_numpy(float) * b2.mV,
        "t_cut": r["t_cut_ms"].to_numpy(float) * b2.ms,
    }

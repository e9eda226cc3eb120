"""Benchmark: how neurolearn's independent-task jobs scale over Dask workers, and a projection
of their wall time on a cluster of k workers.

Measured on this machine, with 1 and 2 local workers (``neurolearn.executor.Executor``; one
worker runs the tasks in this process, two start an embedded ``LocalCluster``):

* the **scheduler overhead**: start-up of the embedded cluster (``start_s``) and the time per
  task of ``--overhead-tasks`` empty tasks (submission, scheduling, result transfer;
  ``overhead_per_task_s``);
* the **Allen population fit** (``neurolearn.fitting.population.fit_population``) of
  ``--cells`` cells in chunks of ``--chunk`` cells (one task per chunk): wall time and each
  task's time where it ran;
* the **heterogeneity experiment's runs** (``neurolearn run heterogeneity --quick`` on the
  Braille data with tiny overrides, the four configurations): wall time and each run's time.

Projection (printed and stored): for ``n`` tasks of mean duration ``t_task`` (measured on one
worker) on ``k`` workers,

    T(k) = start_s + serial_s + warmup_s + ceil(n / k) * (t_task + overhead_per_task_s)

with ``serial_s`` the part of the job that runs once (loading, aggregation, figures) and
``warmup_s`` a worker's first-task excess (imports, data, compiled code), both measured on one
worker; which assumes independent tasks of similar length on workers as fast as one core here; the
2-worker measurement is printed next to T(2) as a check of the model on this machine (on a
machine shared with other jobs, the 2-worker time is also slowed by the load: ``loadavg`` is
stored).

Usage: ``python benchmarks/scaling.py [--out benchmarks/results/scaling_DATE.json] [--cells 8] [--chunk 2]``
(needs ``NEUROLEARN_DATA_DIR`` with the Allen features and the Braille data).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path


def _versions() -> dict:
    import importlib.metadata as md

    out = {"python": sys.version.split()[0]}
    for name in ("neurolearn", "brian2", "torch", "numpy", "dask", "distributed"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def _machine() -> dict:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count()
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus_usable": cpus,
        "cpu_count": os.cpu_count(),
        "loadavg_start": list(os.getloadavg()),
    }


def measure_overhead(workers: int, n_tasks: int) -> dict:
    """Cluster start-up and per-task overhead of empty tasks (``abs``) on ``workers``."""
    from neurolearn.executor import Executor

    t0 = time.perf_counter()
    ex = Executor(workers=workers, progress=False)
    if ex.distributed:
        ex.client()
    start = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        ex.map(abs, list(range(n_tasks)))
        wall = time.perf_counter() - t0
    finally:
        ex.close()
    # with k workers the empty tasks overlap: the cost per task seen by one worker is k * wall / n
    return {
        "workers": workers,
        "start_s": start,
        "n_tasks": n_tasks,
        "wall_s": wall,
        "overhead_per_task_s": wall * workers / n_tasks,
    }


def measure_population_fit(workers: int, cells: int, chunk: int) -> dict:
    """The population fit of ``cells`` Allen cells (LIF, numpy) in chunks of ``chunk``."""
    import pandas as pd

    from neurolearn.executor import Executor
    from neurolearn.fitting import population
    from neurolearn.paths import data_path

    feats = pd.read_csv(data_path("allen", "cell_types", "ephys_features.csv"))
    ids = population.complete_feature_cells(feats)["specimen_id"].astype(int).tolist()[:cells]
    times: list[float] = []
    original_map = Executor.map

    def timed_map(self, *args, **kwargs):
        out = original_map(self, *args, **kwargs)
        times.extend(self.task_times)
        return out

    Executor.map = timed_map
    try:
        t0 = time.perf_counter()
        population.fit_population(
            feats,
            "lif",
            specimen_ids=ids,
            chunk_size=chunk,
            popsize=2,
            maxiter=2,
            step_duration=0.2,
            progress=False,
            workers=workers,
        )
        wall = time.perf_counter() - t0
    finally:
        Executor.map = original_map
    return {"workers": workers, "n_tasks": len(times), "wall_s": wall, "task_s": times}


TINY = {
    "data": {
        "dt_ms": 20.0,
        "duration_ms": 1000.0,
        "max_train_samples": 27,
        "max_test_samples": 18,
        "validation_fraction": 0.2,
    },
    "network": {"hidden": [8]},
    "training": {"epochs": 1, "batch_size": 27},
}


def measure_heterogeneity(workers: int) -> dict:
    """The quick heterogeneity experiment (four runs) on the Braille data, tiny overrides."""
    from neurolearn.reproductions.heterogeneity import run_heterogeneity

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = run_heterogeneity(
            "braille",
            quick=True,
            out=Path(tmp) / "het",
            jobs=workers,
            progress=False,
            overrides=TINY,
        )
        wall = time.perf_counter() - t0
    return {
        "workers": workers,
        "n_tasks": len(res["run_wall_s"]),
        "wall_s": wall,
        "task_s": list(res["run_wall_s"].values()),
    }


def project(one: dict, overhead: dict, ks=(1, 2, 8, 32, 128, 512), n_tasks=None) -> dict:
    """``T(k)`` of the module docstring for the tasks measured in ``one`` (1 worker), with two
    costs measured on one worker that do not shrink with k: the serial part of the job
    (``wall - sum(tasks)``: loading, aggregation, figures) and each worker's warm-up (its
    first task's excess over the others: imports, data, compiled code)."""
    tasks = list(one["task_s"])
    rest = tasks[1:] or tasks
    t_task = sum(rest) / len(rest)
    warmup = max(0.0, tasks[0] - t_task)
    serial = max(0.0, one["wall_s"] - sum(tasks))
    n = n_tasks or one["n_tasks"]
    return {
        "n_tasks": n,
        "t_task_s": t_task,
        "warmup_s": warmup,
        "serial_s": serial,
        "wall_s": {
            str(k): overhead["start_s"]
            + serial
            + warmup
            + math.ceil(n / k) * (t_task + overhead["overhead_per_task_s"])
            for k in ks
        },
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", default=f"benchmarks/results/scaling_{time.strftime('%Y-%m-%d')}.json"
    )
    parser.add_argument("--cells", type=int, default=8)
    parser.add_argument("--chunk", type=int, default=2)
    parser.add_argument("--overhead-tasks", type=int, default=200)
    parser.add_argument("--skip-heterogeneity", action="store_true")
    args = parser.parse_args(argv)

    from neurolearn.provenance import provenance

    record = {"benchmark": "scaling", "provenance": provenance(), "args": vars(args)}
    report: dict = {"versions": _versions(), "machine": _machine(), "time": time.time()}
    report["overhead"] = {w: measure_overhead(w, args.overhead_tasks) for w in (1, 2)}
    print("scheduler overhead:", json.dumps(report["overhead"], indent=1))
    report["population_fit"] = {
        w: measure_population_fit(w, args.cells, args.chunk) for w in (1, 2)
    }
    ov2 = report["overhead"][2]
    report["population_fit"]["projection"] = project(
        report["population_fit"][1], ov2, n_tasks=math.ceil(2300 / args.chunk)
    )
    if not args.skip_heterogeneity:
        report["heterogeneity"] = {w: measure_heterogeneity(w) for w in (1, 2)}
        report["heterogeneity"]["projection"] = project(report["heterogeneity"][1], ov2)
    report["machine"]["loadavg_end"] = list(os.getloadavg())
    report["speedup_2_workers"] = {}
    for job in ("population_fit", "heterogeneity"):
        if job not in report:
            continue
        r = report[job]
        check = project(r[1], ov2)["wall_s"]["2"]
        # the ratio against the named baseline (1 worker: this process, tasks in order)
        report["speedup_2_workers"][job] = {
            "wall_1_worker_s": r[1]["wall_s"],
            "wall_2_workers_s": r[2]["wall_s"],
            "ratio": r[1]["wall_s"] / r[2]["wall_s"],
            "model_wall_2_workers_s": check,
        }
        print(
            f"{job}: 1 worker {r[1]['wall_s']:.1f} s, 2 workers {r[2]['wall_s']:.1f} s "
            f"(speed-up {r[1]['wall_s'] / r[2]['wall_s']:.2f}x; model T(2) = {check:.1f} s); "
            "projected: "
            + ", ".join(f"k={k}: {v:.0f} s" for k, v in r["projection"]["wall_s"].items())
            + f" for {r['projection']['n_tasks']} tasks"
        )
    from neurolearn.io import atomic_write_json

    atomic_write_json(Path(args.out), dict(record, results=_str_keys(report)))
    print(f"written {args.out}")
    return 0


def _str_keys(value):
    """JSON objects need string keys (the worker counts are ints)."""
    if isinstance(value, dict):
        return {str(k): _str_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_str_keys(v) for v in value]
    return value


if __name__ == "__main__":
    sys.exit(main())

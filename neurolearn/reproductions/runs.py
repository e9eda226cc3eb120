"""Repeated training runs of a reproduction (configurations x seeds) as tasks of
:class:`neurolearn.executor.Executor`: in this process, on local worker processes or on a Dask
cluster, with the same files and numbers wherever they ran.

A run is a dict (a *job*)::

    {"configuration": str, "seed": int, "config": TrainingConfig.to_dict(),
     "run_dir": str, "backend": Brian2 target of the evaluation (None: no Brian2
     evaluation), "progress": bool, "time_scales": list of float (optional: the robustness
     test)}

and its folder holds what ``neurolearn train`` writes plus ``evaluation_<backend>.json``
(:func:`neurolearn.training.evaluation.evaluate_run`), and with ``time_scales``
``robustness.json`` (:func:`neurolearn.training.evaluation.evaluate_time_scales`). A run whose ``summary.json`` and
evaluation exist is complete (:func:`run_complete`) and skipped; an interrupted run resumes
from its checkpoint. On Dask workers no shared filesystem is assumed: the run folder's files
travel to the worker (a checkpoint to resume from) and back (the finished run), and are written
here atomically, ``summary.json`` and the evaluation last, once per run even when a worker dies
mid-run and the run starts again elsewhere.
"""

from __future__ import annotations

import json
import re
import resource
import shutil
import time
from pathlib import Path

from ..executor import Executor, pack_folder, unpack_folder, worker_scratch
from ..io import make_temp_dir

__all__ = ["run_training", "run_complete", "run_trainings"]


def run_training(job: dict) -> dict:
    """Train (or resume) and evaluate one run, with one torch thread (a run's numbers do not
    depend on how many run at once).

    Parameters
    ----------
    job : dict
        See the module docstring.

    Returns
    -------
    dict
        ``{"configuration", "seed", "summary", "evaluation", "wall_s", "cpu_s"}``: the run's
        ``summary.json`` and evaluation (None without a backend), and the wall and CPU time in
        s of this call (CPU time of the process: one torch thread).
    """
    import torch

    torch.set_num_threads(1)
    from ..training import config_from_dict, train_from_config
    from ..training.evaluation import evaluate_run, evaluate_time_scales

    run_dir = Path(job["run_dir"])
    config = config_from_dict(job["config"])
    summary_path = run_dir / "summary.json"
    t0 = time.time()
    cpu0 = _cpu_seconds()
    if summary_path.exists():
        summary = json.loads(summary_path.read_text())
    else:
        summary = train_from_config(config, run_dir, resume=True, progress=job["progress"])
    eval_path = run_dir / f"evaluation_{job['backend']}.json"
    if job["backend"] is None:
        evaluation = None
    elif eval_path.exists():
        evaluation = json.loads(eval_path.read_text())
    else:
        evaluation = evaluate_run(run_dir, backend=job["backend"], progress=False)
    if job.get("time_scales") and not (run_dir / "robustness.json").exists():
        evaluate_time_scales(run_dir, job["time_scales"])
    return {
        "configuration": job["configuration"],
        "seed": job["seed"],
        "summary": summary,
        "evaluation": evaluation,
        "wall_s": time.time() - t0,
        "cpu_s": _cpu_seconds() - cpu0,
    }


def _cpu_seconds() -> float:
    """CPU seconds (user + system) this process has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_complete(job: dict) -> bool:
    """True when the run's ``summary.json``, ``evaluation_<backend>.json`` and (with
    ``time_scales``) ``robustness.json`` exist (nothing left to do).

    Parameters
    ----------
    job : dict
        See the module docstring.

    Returns
    -------
    bool
    """
    run_dir = Path(job["run_dir"])
    names = ["summary.json"]
    if job["backend"] is not None:
        names.append(f"evaluation_{job['backend']}.json")
    if job.get("time_scales"):
        names.append("robustness.json")
    return all((run_dir / name).exists() for name in names)


def _run_shipped(job: dict) -> dict:
    """:func:`run_training` on a Dask worker without a shared filesystem: the run folder's
    existing files (a checkpoint to resume from) arrive in ``job["files"]``, the run happens in
    the worker's scratch folder, and every file of the finished run goes back in
    ``result["files"]`` (``{relative path: bytes}``)."""
    name = re.sub(r"[^\w.+-]", "_", f"{job['configuration']}-seed{job['seed']}-")
    scratch = make_temp_dir(worker_scratch(), name)
    try:
        unpack_folder(job.pop("files"), scratch)
        result = run_training(dict(job, run_dir=str(scratch)))
        return dict(result, files=pack_folder(scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_trainings(
    jobs_list: list[dict],
    n_workers: int,
    progress: bool,
    desc: str,
    scheduler: str | None = None,
    on_result=None,
) -> list[dict]:
    """Run every job (module docstring) with :func:`run_training` through a
    :class:`neurolearn.executor.Executor`: in this process for one worker and no scheduler (with the trainings' own progress bars),
    else on Dask workers (an embedded cluster of ``n_workers`` processes, or ``scheduler``),
    each run in a worker's scratch folder and its files written into its run folder here,
    atomically, ``summary.json`` and the evaluation last. One progress bar over the runs.
    Returns the jobs' results (:func:`run_training`) in the order of ``jobs_list``.

    Parameters
    ----------
    jobs_list : list of dict
        The runs.
    n_workers : int
        Worker processes of the embedded cluster (1: this process).
    progress : bool
        Progress bar (and, in this process, the trainings' own bars).
    desc : str
        Label of the progress bar.
    scheduler : str, optional
        Address of a running Dask scheduler (:func:`neurolearn.executor.resolve_scheduler`).
    on_result : callable, optional
        ``on_result(index, result)``, called here as each run finishes (its files written),
        with the run's index in ``jobs_list`` (e.g. to update a results table).

    Raises
    ------
    neurolearn.executor.TaskFailed
        A run failed on a worker (its configuration, seed and error).
    """
    keys = [f"{job['configuration']}/seed{job['seed']}" for job in jobs_list]
    with Executor(scheduler=scheduler, workers=n_workers, progress=progress) as executor:
        if not executor.distributed:
            for job in jobs_list:
                job["progress"] = progress

            def done(key: str, result: dict) -> None:
                if on_result is not None:
                    on_result(keys.index(key), result)

            return executor.map(run_training, jobs_list, keys=keys, desc=desc, on_result=done)
        run_dirs = {key: Path(job["run_dir"]) for key, job in zip(keys, jobs_list)}
        for job in jobs_list:
            job["files"] = pack_folder(job["run_dir"])  # a checkpoint to resume from

        def write(key: str, result: dict) -> None:
            backend = jobs_list[keys.index(key)]["backend"]
            markers = ("summary.json", f"evaluation_{backend}.json", "robustness.json")
            unpack_folder(result.pop("files"), run_dirs[key], last=markers)
            if on_result is not None:
                on_result(keys.index(key), result)

        return executor.map(_run_shipped, jobs_list, keys=keys, desc=desc, on_result=write)

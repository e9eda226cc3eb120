"""Independent tasks on this machine or on a Dask cluster: one executor for every job of
neurolearn made of independent pieces (the heterogeneity experiment's runs, the Allen
population fits, the candidates of a gradient-free fit, parameter sweeps).

The engine is ``dask.distributed`` (Rocklin 2015, Proc. SciPy, "Dask: parallel computation
with blocked algorithms and task scheduling"), installed with the ``dask`` extra
(``pip install neurolearn[dask]``):

* by default an embedded ``LocalCluster`` (worker processes with one thread each, as many as
  this process may use CPUs, :func:`available_workers`) is started for the job and closed
  after it; with one worker the tasks run in this process and Dask is not needed;
* ``scheduler="tcp://host:8786"`` (``--scheduler ADDRESS`` on the command line), else the
  environment variable :data:`SCHEDULER_ENV` (``NEUROLEARN_SCHEDULER``), else the Dask
  configuration key :data:`CONFIG_KEY` (``neurolearn.scheduler`` in
  ``~/.config/dask/*.yaml``) attaches to a running cluster (``dask scheduler`` /
  ``dask worker``, or SLURM/PBS/SGE jobs through ``dask-jobqueue``: docs/guide/cluster.md).

What the executor guarantees (:meth:`Executor.map`):

* **results do not depend on the workers**: results come back in the order of the tasks,
  whatever the order they finished in; seeds belong to the tasks (:func:`task_seed`), never
  to the scheduling order;
* **faults**: Dask runs a task again on another worker when its worker dies (SIGKILL, lost
  node), up to ``distributed.scheduler.allowed-failures`` times (3); results are handed to
  ``on_result`` in this process, once per task, which writes them atomically, so a killed
  task leaves nothing half-written and nothing is written twice;
* **errors**: a task that raises fails the job with :class:`TaskFailed`, whose message is the
  task's key and its own error (type and message), not a Dask traceback; the other tasks are
  cancelled;
* **progress**: one tqdm bar per job;
* **per-worker state**: :func:`per_worker` builds a value (a dataset, a compiled Brian2
  project) once per worker process and reuses it for every task that worker runs.

Nothing here assumes a shared filesystem: tasks receive their inputs and return their
outputs (files as bytes, :func:`pack_folder` / :func:`unpack_folder`) through the scheduler.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import time
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .io import atomic_path

__all__ = [
    "SCHEDULER_ENV",
    "CONFIG_KEY",
    "Executor",
    "TaskFailed",
    "available_workers",
    "resolve_scheduler",
    "add_scheduler_argument",
    "task_seed",
    "per_worker",
    "release_worker_values",
    "MAX_WORKER_VALUES",
    "worker_scratch",
    "pack_folder",
    "unpack_folder",
]

log = logging.getLogger(__name__)

#: Environment variable naming the scheduler to attach to (``tcp://host:8786``).
SCHEDULER_ENV = "NEUROLEARN_SCHEDULER"
#: Dask configuration key naming the scheduler (``neurolearn: {scheduler: tcp://...}``).
CONFIG_KEY = "neurolearn.scheduler"


class TaskFailed(RuntimeError):
    """A task of an :class:`Executor` job failed for a reason of its own.

    Attributes
    ----------
    key : str
        The task's key (e.g. ``"het_init_het_train/seed0"``).
    error_type : str
        Name of the exception the task raised (``"KilledWorker"`` when every worker that
        tried it died).
    error : str
        Its message.
    remote_traceback : str
        The traceback on the worker (for debugging; not part of the message).
    """

    def __init__(self, key: str, error_type: str, error: str, remote_traceback: str = ""):
        self.key = key
        self.error_type = error_type
        self.error = error
        self.remote_traceback = remote_traceback
        super().__init__(f"task {key} failed: {error_type}: {error}")


def available_workers() -> int:
    """CPUs this process may use (``os.sched_getaffinity``, else ``os.cpu_count()``), >= 1:
    the worker count of the embedded cluster."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def resolve_scheduler(scheduler: str | None = None) -> str | None:
    """The scheduler address to attach to, or None for an embedded cluster.

    Parameters
    ----------
    scheduler : str, optional
        Given explicitly (``--scheduler``); wins over the environment and the configuration.

    Returns
    -------
    str or None
        ``scheduler``, else ``$NEUROLEARN_SCHEDULER``, else Dask's configuration key
        ``neurolearn.scheduler`` (when Dask is installed), else None.
    """
    if scheduler:
        return str(scheduler)
    env = os.environ.get(SCHEDULER_ENV, "").strip()
    if env:
        return env
    try:
        import dask
    except ImportError:
        return None
    value = dask.config.get(CONFIG_KEY, default=None)
    return str(value) if value else None


def add_scheduler_argument(parser, note: str = "") -> None:
    """Add the ``--scheduler ADDRESS`` option (resolved by :func:`resolve_scheduler`) to a
    command-line parser, so that every command that runs tasks names it the same way.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    note : str
        Appended to the help text (e.g. what the workers need).
    """
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on a running Dask cluster, e.g. tcp://host:8786 (default: "
        f"${SCHEDULER_ENV}, else local processes; docs/guide/cluster.md){note}",
    )


def task_seed(base_seed: int, *key: Hashable) -> int:
    """A seed derived from a job's seed and a task's identity, never from scheduling order.

    NumPy's ``SeedSequence`` (O'Neill 2014, PCG; ``numpy.random`` documentation, "parallel
    random number generation") with ``spawn_key`` from a SHA-256 digest of ``repr(key)``:
    independent streams for different keys, the same seed for the same key on any worker.

    Parameters
    ----------
    base_seed : int
        Seed of the job (>= 0).
    *key : hashable
        The task's identity (e.g. a cell id, a generation and a batch index).

    Returns
    -------
    int
        In ``[0, 2**32)``.
    """
    import numpy as np

    digest = hashlib.sha256(repr(key).encode()).digest()
    words = tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))
    return int(np.random.SeedSequence(int(base_seed), spawn_key=words).generate_state(1)[0])


#: Values of :func:`per_worker` kept per process (least recently used first evicted).
MAX_WORKER_VALUES = 8
_WORKER_STATE: OrderedDict[Hashable, tuple[Any, Callable[[Any], None] | None]] = OrderedDict()


def per_worker(
    key: Hashable, factory: Callable[[], Any], release: Callable[[Any], None] | None = None
) -> Any:
    """The value of ``factory()`` built once per worker process and kept for later tasks.

    Every Dask worker is a process of its own, so a module-level cache is per worker; in the
    in-process mode it is per Python process. Use for datasets loaded into memory and
    compiled Brian2 projects. At most :data:`MAX_WORKER_VALUES` values are kept: a new one
    evicts the least recently used, and ``release`` frees what an evicted value holds (a
    project folder, a compiled program); what is still kept is released when the process
    exits, so that a long-lived worker neither grows nor leaves folders behind.

    Parameters
    ----------
    key : hashable
        Identity of the value (e.g. a hash of a compiled project).
    factory : callable
        Builds the value on the first call with ``key`` in this process.
    release : callable, optional
        ``release(value)`` when the value is evicted or the process exits; its errors are
        logged, not raised.

    Returns
    -------
    object
    """
    if key in _WORKER_STATE:
        _WORKER_STATE.move_to_end(key)
        return _WORKER_STATE[key][0]
    value = factory()
    _WORKER_STATE[key] = (value, release)
    _release_at_exit()
    while len(_WORKER_STATE) > MAX_WORKER_VALUES:
        _release(*_WORKER_STATE.popitem(last=False))
    return value


def _release(key: Hashable, entry: tuple) -> None:
    value, release = entry
    if release is None:
        return
    try:
        release(value)
    except Exception as exc:  # a failed clean-up must not fail the task that evicted it
        log.warning("releasing the per-worker value %r failed: %s", key, exc)


def release_worker_values() -> None:
    """Release every value :func:`per_worker` keeps in this process (registered to run at
    exit; call it to free them earlier)."""
    while _WORKER_STATE:
        _release(*_WORKER_STATE.popitem(last=False))


_AT_EXIT: list[bool] = []


def _release_at_exit() -> None:
    """Register :func:`release_worker_values` once: with ``atexit`` (this process) and with
    ``multiprocessing``'s finaliser (worker processes leave through ``os._exit``, which skips
    ``atexit``)."""
    if _AT_EXIT:
        return
    import atexit
    import multiprocessing.util

    atexit.register(release_worker_values)
    multiprocessing.util.Finalize(None, release_worker_values, exitpriority=10)
    _AT_EXIT.append(True)


def worker_scratch() -> Path:
    """A folder on this worker's local disk for the tasks' temporary files (the Dask worker's
    ``local_directory`` inside a worker, else the system's temporary folder)."""
    try:
        from distributed import get_worker

        base = Path(get_worker().local_directory)
    except (ImportError, ValueError):
        base = Path(tempfile.gettempdir())
    path = base / "neurolearn-scratch"
    path.mkdir(parents=True, exist_ok=True)
    return path


def pack_folder(folder: str | os.PathLike) -> dict[str, bytes]:
    """Every file under ``folder`` as ``{relative POSIX path: content}`` (to ship a task's
    inputs or outputs through the scheduler instead of a shared filesystem)."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def unpack_folder(
    files: Mapping[str, bytes], folder: str | os.PathLike, last: Sequence[str] = ()
) -> Path:
    """Write the files of :func:`pack_folder` under ``folder``, each atomically, the files
    named in ``last`` (completion markers such as ``summary.json``) after all others.

    Raises
    ------
    ValueError
        For a path leaving ``folder`` (absolute or with ``..``).
    """
    folder = Path(folder)
    order = sorted(files, key=lambda name: (name in last, last.index(name) if name in last else 0))
    for name in order:
        rel = Path(name)
        if rel.is_absolute() or ".." in rel.parts:
            raise ValueError(f"packed file {name!r} leaves its folder {folder}")
        with atomic_path(folder / rel) as tmp:
            tmp.write_bytes(files[name])
    return folder


def _guarded(fn: Callable, task: Any) -> tuple:
    """Run ``fn(task)`` on a worker: ``("ok", result, seconds)``; an exception becomes a value
    (its type, message and traceback) so that the client reports the task's own error."""
    t0 = time.perf_counter()
    try:
        return ("ok", fn(task), time.perf_counter() - t0)
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc), traceback.format_exc())


class _SharedRef:
    """Stands for a value of :meth:`Executor.share` in a task (replaced on the worker)."""

    def __init__(self, token: str):
        self.token = token


def _remote(fn: Callable, payload: bytes, shared: Mapping[str, bytes]) -> tuple:
    """:func:`_guarded` on a Dask worker. Tasks and results travel pickled (cloudpickle) so
    that Dask's own serialisers do not touch them (they turn Brian2 Quantities, NumPy array
    subclasses, into plain arrays); the shared values a task refers to are unpickled once per
    worker."""
    import cloudpickle

    task = cloudpickle.loads(payload)
    if isinstance(task, dict):
        task = {
            k: per_worker(("shared", v.token), lambda v=v: cloudpickle.loads(shared[v.token]))
            if isinstance(v, _SharedRef)
            else v
            for k, v in task.items()
        }
    outcome = _guarded(fn, task)
    if outcome[0] == "ok":
        return ("ok", cloudpickle.dumps(outcome[1]), outcome[2])
    return outcome


class Executor:
    """Runs independent tasks in this process, on an embedded ``LocalCluster`` or on a
    running Dask cluster (see the module docstring).

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler; default :func:`resolve_scheduler` (environment,
        configuration key), else an embedded cluster.
    workers : int, optional
        Worker processes of the embedded cluster (default :func:`available_workers`); with
        1 (and no scheduler) tasks run in this process, in order. Ignored with a scheduler.
    progress : bool
        A tqdm progress bar per :meth:`map`.
    connect_timeout : float
        Seconds to wait for the scheduler.

    Attributes
    ----------
    task_times : list of float
        Wall time in s of each task of the last :meth:`map`, measured where it ran (in the
        order of the tasks; a task run again after a worker died counts its last run).

    Examples
    --------
    >>> with Executor(workers=2) as ex:                      # doctest: +SKIP
    ...     squares = ex.map(pow2, [1, 2, 3], keys=["a", "b", "c"])
    """

    def __init__(
        self,
        scheduler: str | None = None,
        workers: int | None = None,
        progress: bool = True,
        connect_timeout: float = 30.0,
    ):
        self.address = resolve_scheduler(scheduler)
        if workers is not None and int(workers) < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = int(workers) if workers is not None else available_workers()
        self.progress = progress
        self.connect_timeout = float(connect_timeout)
        self._client = None
        self._cluster = None
        self.task_times: list[float] = []
        self._shared: dict = {}

    @property
    def distributed(self) -> bool:
        """True when tasks go to Dask workers (a scheduler, or more than one local worker)."""
        return self.address is not None or self.workers > 1

    def __repr__(self) -> str:
        where = self.address or (f"LocalCluster({self.workers})" if self.workers > 1 else "local")
        return f"Executor({where})"

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def client(self):
        """The ``distributed.Client`` (started on first use; attaches to the scheduler or
        starts the embedded cluster).

        Raises
        ------
        ImportError
            Without ``dask.distributed`` (``pip install neurolearn[dask]``).
        OSError
            When the scheduler cannot be reached (names the address).
        """
        if self._client is not None:
            return self._client
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise ImportError(
                "running on several workers needs dask.distributed: "
                "pip install 'neurolearn[dask]' (or run with one worker)"
            ) from exc
        if self.address is not None:
            try:
                self._client = Client(self.address, timeout=f"{self.connect_timeout}s")
            except OSError as exc:
                raise OSError(f"cannot reach the Dask scheduler at {self.address}: {exc}") from exc
        else:
            self._cluster = LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            self._client = Client(self._cluster)
        return self._client

    def close(self) -> None:
        """Close the client and the embedded cluster (a no-op when none was started)."""
        self._shared = {}
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._client = self._cluster = None

    def n_workers(self) -> int:
        """Workers tasks can run on at once: 1 in this process, the embedded cluster's
        ``workers``, or the workers the scheduler knows now (at least 1)."""
        if not self.distributed:
            return 1
        if self.address is None:
            return self.workers
        return max(1, len(self.client().scheduler_info().get("workers", {})))

    def share(self, value: Any) -> Any:
        """``value`` sent once to every worker, for tasks to refer to (e.g. a compiled
        program in every task of a sweep): on Dask workers it is scattered to every worker
        (``Client.scatter(..., broadcast=True)``) and a task that holds the returned handle as
        one of its dict values receives the value there (unpickled once per worker); in this
        process ``value`` itself.

        Parameters
        ----------
        value : object
            Picklable.

        Returns
        -------
        object
            What to put into the tasks in place of ``value``.
        """
        import cloudpickle

        if not self.distributed:
            return value
        token = uuid.uuid4().hex
        data = cloudpickle.dumps(value)
        self._shared[token] = self.client().scatter(data, broadcast=True, hash=False)
        return _SharedRef(token)

    def map(
        self,
        fn: Callable[[Any], Any],
        tasks: Iterable[Any],
        keys: Sequence[str] | None = None,
        desc: str = "tasks",
        on_result: Callable[[str, Any], None] | None = None,
    ) -> list:
        """Run ``fn(task)`` for every task; results in the order of ``tasks``.

        Parameters
        ----------
        fn : callable
            A module-level function (pickled by reference to the workers).
        tasks : iterable
            Its arguments, one per task (picklable).
        keys : sequence of str, optional
            A name per task for messages and progress (default the task's index).
        desc : str
            Label of the progress bar.
        on_result : callable, optional
            ``on_result(key, result)``, called in this process as each task finishes (e.g.
            to write its files atomically): once per task, whatever the worker faults.

        Returns
        -------
        list
            ``fn(task)`` for each task, in the order of ``tasks``.

        Raises
        ------
        TaskFailed
            A task raised (its key, error type and message), or its workers died
            ``allowed-failures`` times. In-process (one worker), the task's own exception
            propagates unchanged.
        """
        from tqdm.auto import tqdm

        tasks = list(tasks)
        keys = [str(i) for i in range(len(tasks))] if keys is None else [str(k) for k in keys]
        if len(keys) != len(tasks):
            raise ValueError(f"{len(keys)} keys for {len(tasks)} tasks")
        results: list = [None] * len(tasks)
        self.task_times = [float("nan")] * len(tasks)
        bar = tqdm(total=len(tasks), desc=desc, unit="task", disable=not self.progress)
        try:
            if not self.distributed:
                for i, task in enumerate(tasks):
                    t0 = time.perf_counter()
                    results[i] = fn(task)
                    self.task_times[i] = time.perf_counter() - t0
                    if on_result is not None:
                        on_result(keys[i], results[i])
                    bar.update(1)
                return results
            self._map_distributed(fn, tasks, keys, results, bar, on_result)
            return results
        finally:
            bar.close()

    def _map_distributed(self, fn, tasks, keys, results, bar, on_result) -> None:
        """:meth:`map` on Dask workers."""
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        client = self.client()
        job = uuid.uuid4().hex[:8]
        dask_keys = [f"neurolearn-{job}-{i}-{k}" for i, k in enumerate(keys)]
        import cloudpickle

        payloads = [cloudpickle.dumps(task) for task in tasks]
        futures = client.map(
            _remote,
            [fn] * len(tasks),
            payloads,
            key=dask_keys,
            pure=False,
            shared=dict(self._shared),
        )
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for future in as_completed(futures):
                i = index[future.key]
                try:
                    outcome = future.result()
                except KilledWorker as exc:
                    raise TaskFailed(
                        keys[i],
                        "KilledWorker",
                        f"every worker that ran it died ({exc}); see the workers' logs",
                    ) from None
                if outcome[0] == "error":
                    _, error_type, message, remote_tb = outcome
                    log.debug("task %s failed on its worker:\n%s", keys[i], remote_tb)
                    raise TaskFailed(keys[i], error_type, message, remote_tb)
                results[i], self.task_times[i] = cloudpickle.loads(outcome[1]), outcome[2]
                if on_result is not None:
                    on_result(keys[i], results[i])
                bar.update(1)
                bar.set_postfix_str(keys[i], refresh=False)
        finally:
            with contextlib.suppress(Exception):
                client.cancel([f for f in futures if not f.done()])

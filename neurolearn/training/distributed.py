"""Training one network over N processes with PyTorch's ``DistributedDataParallel`` (DDP; Li
et al. 2020, Proc. VLDB 13:3005, "PyTorch Distributed"): ``neurolearn train CONFIG --nproc N``
or ``torchrun --nproc-per-node N -m neurolearn.cli train CONFIG``.

Data parallelism with the effective batch of one process: every process walks through the same
sequence of global batches (``training.batch_size`` samples, shuffled by the run's seed, batch
transforms drawn from the same generator), takes its own contiguous share of each batch
(:func:`shard`), and weights its loss by its share of the batch, so that the gradient DDP
averages over the processes is the gradient of the batch mean loss of one process (up to the
order of floating-point sums: the all-reduce sums per-process gradients, one process sums over
the whole batch at once). Validation and test sets are evaluated whole on every process, so
learning-rate schedules and stopping see the same numbers everywhere.

Only process 0 (rank 0) writes: ``config.toml``, ``checkpoint.pt``, ``metrics.csv``, figures
and ``summary.json``; every process resumes from ``DIR/checkpoint.pt`` (the processes of one
training share ``DIR``: one machine, or a shared filesystem across nodes). Backends: ``gloo``
on the CPU, ``nccl`` when ``training.device`` is CUDA (process ``k`` uses ``cuda:k`` of its
node, torchrun's ``LOCAL_RANK``).

Per-batch penalties computed from a process's own samples (a firing-rate regulariser over the
batch) are averaged over the processes; where such a penalty is not linear in the samples the
N-process loss differs from the one-process loss by that non-linearity (none in the shipped
recipes' cross-entropy; the rate penalty is a mean over samples, which is linear).
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "world",
    "is_main_process",
    "shard",
    "all_reduce_sum",
    "barrier",
    "train_distributed",
    "init_from_environment",
]


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process: ``(0, 1)`` without an initialised process
    group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    """True on rank 0 (and without a process group): the process that writes files."""
    return world()[0] == 0


def barrier() -> None:
    """``dist.barrier()`` with a process group; nothing otherwise."""
    if world()[1] > 1:
        dist.barrier()


def shard(n: int) -> slice:
    """This process's contiguous share of a batch of ``n`` samples (``torch.tensor_split``
    sizes: the first ``n % world_size`` processes get one more). May be empty.

    Parameters
    ----------
    n : int
        Samples in the global batch.

    Returns
    -------
    slice
        Of the batch dimension.
    """
    rank, size = world()
    base, extra = divmod(int(n), size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (1 if rank < extra else 0))


def all_reduce_sum(values: list[float], device=None) -> list[float]:
    """Sum of ``values`` over the processes (the values themselves with one process).

    Parameters
    ----------
    values : list of float
    device : torch.device, optional
        Where the reduction tensor lives (``nccl`` needs the GPU).

    Returns
    -------
    list of float
    """
    if world()[1] == 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _backend_for(device: str) -> str:
    return "nccl" if str(device).startswith("cuda") else "gloo"


def init_from_environment(device: str = "cpu") -> bool:
    """Join the process group torchrun describes (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``, ``MASTER_PORT``) when ``WORLD_SIZE`` > 1 and no group exists yet.

    Parameters
    ----------
    device : str
        ``training.device``: ``gloo`` for the CPU, ``nccl`` for CUDA.

    Returns
    -------
    bool
        True when this call initialised a process group.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return False
    dist.init_process_group(_backend_for(device), init_method="env://")
    return True


def _worker(rank: int, nproc: int, port: int, args: dict) -> None:
    """One process of :func:`train_distributed` (``torch.multiprocessing.spawn``)."""
    from .run import train_from_config

    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(nproc),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    if args["threads"]:
        torch.set_num_threads(args["threads"])
    init_from_environment(args["device"])
    try:
        train_from_config(
            args["config"], args["out_dir"], resume=args["resume"], progress=args["progress"]
        )
    finally:
        dist.destroy_process_group()


def train_distributed(
    config, out_dir: str | os.PathLike, nproc: int, *, resume: bool = False, progress: bool = True
) -> dict[str, Any]:
    """Train one network over ``nproc`` local processes with DDP (module docstring).

    Parameters
    ----------
    config : TrainingConfig or path of a TOML file
    out_dir : path
        As in :func:`neurolearn.training.train_from_config` (written by process 0).
    nproc : int
        Processes (>= 1; 1 trains in this process). With CUDA at most the number of GPUs.
    resume : bool
        Continue from ``out_dir/checkpoint.pt``.
    progress : bool
        Progress bars of process 0.

    Returns
    -------
    dict
        ``summary.json`` of the run.

    Raises
    ------
    ValueError
        ``nproc`` < 1, or more CUDA processes than GPUs.
    ConfigError, FileExistsError
        As :func:`~neurolearn.training.train_from_config` (checked here first).
    """
    import json

    import torch.multiprocessing as mp

    from ..io import check_output_dir
    from .config import TrainingConfig, load_config, resolve_device
    from .run import inspect_run_folder, train_from_config

    if int(nproc) < 1:
        raise ValueError(f"--nproc must be >= 1, got {nproc}")
    if not isinstance(config, TrainingConfig):
        config = load_config(config)
    if int(nproc) == 1:
        return train_from_config(config, out_dir, resume=resume, progress=progress)
    device = str(resolve_device(config))
    if device.startswith("cuda") and nproc > torch.cuda.device_count():
        raise ValueError(
            f"--nproc {nproc} CUDA processes, but torch sees {torch.cuda.device_count()} GPU(s)"
        )
    out_dir = check_output_dir(out_dir)
    state, finished = inspect_run_folder(config, out_dir, resume)  # errors here, not in N
    if state == "finished":  # processes
        return finished
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        cpus = os.cpu_count() or 1
    args = {
        "config": config,
        "out_dir": str(out_dir),
        "resume": True,  # the folder is checked: continue a checkpoint if there is one
        "progress": progress,
        "device": device,
        "threads": config["training"]["threads"] or max(1, cpus // int(nproc)),
    }
    mp.spawn(_worker, args=(int(nproc), _free_port(), args), nprocs=int(nproc), join=True)
    return json.loads((Path(out_dir) / "summary.json").read_text())

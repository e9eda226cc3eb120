"""A training run from a configuration: the output folder, data, network, loop and outputs
(see :mod:`neurolearn.training` for what the folder receives)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch

from ..io import atomic_write_json, atomic_write_text
from .callbacks import TauStatistics
from .config import ConfigError, TrainingConfig, load_config, resolve_device
from .data import in_memory, load_data
from .distributed import barrier, world
from .outputs import write_run_outputs
from .recipe import build_network, prediction_fn, readout_loss_fn, training_options
from .rng import seed_everything
from .trainer import evaluate_model, train_network

__all__ = ["train_from_config"]


def _claim_folder(config: TrainingConfig, out_dir: Path, resume: bool) -> dict | None:
    """Create ``out_dir`` and write ``config.toml`` into it; with ``resume``, return the
    summary of a run of the same configuration that has finished there (None otherwise)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    config_path = out_dir / "config.toml"
    if config_path.exists():
        previous = load_config(config_path)
        if previous.sections != config.sections:
            if not resume:
                raise FileExistsError(
                    f"{out_dir} already holds a training run; pass --resume "
                    "(resume=True in Python) to continue it or choose "
                    "another folder"
                )
            raise ConfigError(
                f"{out_dir} holds a run of another configuration "
                f"({config_path}); use a new output folder",
                config.path,
            )
        summary_path = out_dir / "summary.json"
        if resume and summary_path.exists():
            return json.loads(summary_path.read_text())
        if not resume:
            raise FileExistsError(
                f"{out_dir} already holds a training run; pass --resume "
                "(resume=True in Python) to continue it or choose another "
                "folder"
            )
    atomic_write_text(config_path, config.to_toml())
    return None


def train_from_config(
    config: TrainingConfig | str | Path,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
) -> dict:
    """Run the training described by a configuration; see :mod:`neurolearn.training` for what
    ``out_dir`` receives.

    Parameters
    ----------
    config : TrainingConfig or path of a TOML file
    out_dir : str or Path
    resume : bool
        Continue an interrupted run in ``out_dir`` (a finished run is left as it is and its
        summary returned).
    progress : bool

    Notes
    -----
    Inside a ``torch.distributed`` process group (``neurolearn train --nproc N``, torchrun)
    every process runs this function: the network is trained with DDP
    (:mod:`neurolearn.training.distributed`), process 0 claims the folder, evaluates the test
    set and writes every file; the others return the summary process 0 wrote.

    Returns
    -------
    dict
        The content of ``summary.json``: ``test_accuracy``, ``test_loss``,
        ``val_accuracy``, ``train_accuracy``, ``epochs``, ``train_time_s``, ``n_train``,
        ``n_val``, ``n_test``, ``n_inputs``, ``n_classes``, ``resumed_from_epoch``.

    Raises
    ------
    ConfigError
        For an invalid configuration, or ``out_dir`` holding a run of another configuration.
    FileExistsError
        If ``out_dir`` holds another run and ``resume`` is False.
    """
    if not isinstance(config, TrainingConfig):
        config = load_config(config)
    device = resolve_device(config)  # before anything is written
    rank, size = world()
    if size > 1 and device.type == "cuda":  # DDP: one GPU per process of the node
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
    out_dir = Path(out_dir)
    finished = _claim_folder(config, out_dir, resume) if rank == 0 else None
    barrier()  # DDP: the folder is claimed (or found finished) by process 0 first
    if rank > 0 and resume and (out_dir / "summary.json").exists():
        finished = json.loads((out_dir / "summary.json").read_text())
    if finished is not None:
        return finished

    t0 = time.time()
    tr = config["training"]
    if tr["threads"]:
        torch.set_num_threads(tr["threads"])
    seed_everything(tr["seed"])
    train, valid, test = load_data(config)
    n_in, n_classes = train.n_channels, train.n_classes
    seed_everything(tr["seed"])
    net = build_network(config, n_in, n_classes)
    train_d, valid_d, test_d = in_memory(train), valid and in_memory(valid), in_memory(test)
    result = train_network(
        net,
        train_d,
        valid_d,
        out_dir,
        **training_options(config, net),
        callbacks=[TauStatistics()],
        resume=resume,
        progress=progress,
        device=device,
    )
    if rank > 0:  # DDP: process 0 evaluates and writes the outputs
        barrier()
        return json.loads((out_dir / "summary.json").read_text())
    test_eval = evaluate_model(
        result.model,
        test_d,
        batch_size=max(tr["batch_size"], 128),
        loss_fn=readout_loss_fn(config),
        predict=prediction_fn(config),
    )
    title = f"{config['data']['dataset']}, {config['heterogeneity']['configuration']}"
    write_run_outputs(out_dir, result.model, result.metrics, title=title)
    last = result.metrics[-1]
    summary = {
        "test_accuracy": test_eval["accuracy"],
        "test_loss": test_eval["loss"],
        "val_accuracy": last["val_accuracy"],
        "train_accuracy": last["train_accuracy"],
        "epochs": len(result.metrics),
        "train_time_s": time.time() - t0,
        "n_train": len(train),
        "n_val": len(valid) if valid is not None else 0,
        "n_test": len(test),
        "n_inputs": n_in,
        "n_classes": n_classes,
        "resumed_from_epoch": result.resumed_from,
    }
    atomic_write_json(out_dir / "summary.json", summary)
    barrier()
    return summary

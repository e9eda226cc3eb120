"""A training run from a configuration: the output folder, data, network, loop and outputs
(see :mod:`neurolearn.training` for what the folder receives)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

import torch

from ..io import OutputFolder, atomic_write_json, atomic_write_text, check_output_dir
from ..spec import ModelError, load_model
from .callbacks import TauStatistics
from .config import ConfigError, TrainingConfig, load_config, resolve_device
from .data import in_memory, load_data, training_set
from .distributed import barrier, world
from .outputs import write_run_outputs
from .recipe import build_network, prediction_fn, readout_loss_fn, training_options
from .rng import seed_everything
from .trainer import evaluate_model, extension_refusal, read_checkpoint, train_network

__all__ = [
    "train_from_config",
    "inspect_run_folder",
    "config_differences",
    "write_run_record",
    "NEUTRAL_KEYS",
    "EXTENDABLE_KEYS",
    "RUN_RECORD",
]


#: Keys that may differ between a run folder's configuration and the one resuming it
#: without changing the numbers of the finished epochs.
NEUTRAL_KEYS = (("training", "threads"), ("training", "device"))
#: Keys that may grow to extend a run (checked against the learning-rate schedule by
#: :func:`~neurolearn.training.trainer.extension_refusal`).
EXTENDABLE_KEYS = (("training", "epochs"),)
#: Files of a run folder that make it self-contained (besides the results).
RUN_RECORD = ("config.toml", "model.toml", "versions.json")


def _model_text(model: str) -> str | None:
    try:
        return load_model(model).source_text
    except (ModelError, FileNotFoundError):
        return None


def config_differences(run: TrainingConfig, now: TrainingConfig) -> list:
    """Keys whose values differ between a run folder's configuration and another one.

    The model is compared by the content of its file (a run folder holds its own copy,
    ``model.toml``), everything else by value.

    Parameters
    ----------
    run, now : TrainingConfig

    Returns
    -------
    list of (section, key, run value, new value)
    """
    out = []
    for section, values in now.sections.items():
        for key, value in values.items():
            old = run.sections.get(section, {}).get(key)
            if (section, key) == ("network", "model"):
                if old != value and _model_text(old) != _model_text(value):
                    out.append((section, key, old, value))
            elif old != value:
                out.append((section, key, old, value))
    return out


def _read_summary(out_dir: Path, epochs: int) -> dict | None:
    path = out_dir / "summary.json"
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # unreadable: the run is resumed and the summary written again
    return summary if isinstance(summary, dict) and summary.get("epochs") == epochs else None


def inspect_run_folder(config: TrainingConfig, out_dir: Path, resume: bool) -> tuple:
    """What ``out_dir`` holds, without writing anything: ``("fresh", None)`` (no run),
    ``("resume", None)`` (a run of this configuration, or one it extends, to continue) or
    ``("finished", summary)``.

    Raises
    ------
    FileExistsError
        If it holds a run and ``resume`` is False.
    ConfigError
        If it holds a run of another configuration (the message lists the keys that differ)
        or one this configuration cannot extend (the message says why).
    """
    config_path = out_dir / "config.toml"
    if not config_path.exists():
        return "fresh", None
    if not resume:
        raise FileExistsError(
            f"{out_dir} already holds a training run; pass --resume (resume=True in Python) "
            "to continue or extend it, or choose another folder"
        )
    previous = load_config(config_path, check_model=False)
    diffs = config_differences(previous, config)
    neutral = set(NEUTRAL_KEYS) | set(EXTENDABLE_KEYS)
    other = [d for d in diffs if (d[0], d[1]) not in neutral]
    if other:
        listed = "; ".join(f"[{s}] {k}: {a!r} -> {b!r}" for s, k, a, b in other)
        raise ConfigError(
            f"{out_dir} holds a run of another configuration ({config_path}); keys that differ "
            f"(run -> now): {listed}. Only [training] epochs may change to extend a run "
            "(and threads or device); use a new output folder",
            config.path,
        )
    if not diffs:
        summary = _read_summary(out_dir, config["training"]["epochs"])
        if summary is not None:
            return "finished", summary
    if any((s, k) in EXTENDABLE_KEYS for s, k, _, _ in diffs):
        old, new = previous["optimizer"]["schedule"], config["optimizer"]["schedule"]
        refusal = extension_refusal(
            {"epochs": previous["training"]["epochs"], "schedule": old},
            {"epochs": config["training"]["epochs"], "schedule": new},
            _epochs_done(out_dir),
        )
        if refusal:
            raise ConfigError(
                f"{out_dir} cannot be extended: {refusal}", config.path, "training", "epochs"
            )
    return "resume", None


def _epochs_done(out_dir: Path) -> int:
    """Epochs in the run folder's checkpoint (0 if there is none)."""
    path = out_dir / "checkpoint.pt"
    return int(read_checkpoint(path)["epoch"]) if path.exists() else 0


def _versions() -> dict:
    """Versions of Python and of the packages that decide a run's numbers."""
    import platform
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("neurolearn", "brian2", "torch", "numpy", "scipy", "h5py"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def write_run_record(config: TrainingConfig, out_dir: Path) -> TrainingConfig:
    """Make ``out_dir`` self-contained: ``model.toml`` (a copy of the model file the run is
    trained with), ``config.toml`` (the configuration, every default filled in, its model
    ``"model.toml"``: relative paths in it resolve against the run folder) and
    ``versions.json`` (Python and package versions). Each is written atomically.

    Returns
    -------
    TrainingConfig
        The configuration as written (model ``out_dir/model.toml``).
    """
    spec = load_model(config["network"]["model"])
    atomic_write_text(out_dir / "model.toml", spec.source_text or "")
    sections = config.to_dict()
    sections["network"]["model"] = "model.toml"
    written = TrainingConfig(sections, out_dir / "config.toml")
    atomic_write_text(out_dir / "config.toml", written.to_toml())
    atomic_write_json(out_dir / "versions.json", _versions())
    sections = written.to_dict()
    sections["network"]["model"] = str(out_dir / "model.toml")
    return TrainingConfig(sections, config.path)


def _start_writing(config: TrainingConfig, out_dir: Path, state: str) -> None:
    """Write the run record into ``out_dir``; on a resumed run first remove a stale summary
    (which would make a killed extension look finished)."""
    if state == "resume":
        with contextlib.suppress(FileNotFoundError):
            (out_dir / "summary.json").unlink()
    write_run_record(config, out_dir)


def _summary(result, test_eval: dict, train_time_s: float, sets: tuple) -> dict:
    """``summary.json`` of a finished run: test and last-epoch accuracies, sizes, timing."""
    train, valid, test = sets
    last = result.metrics[-1]
    return {
        "test_accuracy": test_eval["accuracy"],
        "test_loss": test_eval["loss"],
        "val_accuracy": last["val_accuracy"],
        "train_accuracy": last["train_accuracy"],
        "epochs": len(result.metrics),
        "train_time_s": train_time_s,
        "n_train": len(train),
        "n_val": len(valid) if valid is not None else 0,
        "n_test": len(test),
        "n_inputs": train.n_channels,
        "n_classes": train.n_classes,
        "resumed_from_epoch": result.resumed_from,
    }


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
        summary returned), or extend a finished one: a configuration that differs only in
        ``[training] epochs`` (more of them) continues from the last checkpoint, and the
        result equals a run trained for that many epochs from the start with the same seed
        (where the learning-rate schedule allows it: ``constant``; see
        :func:`~neurolearn.training.trainer.extension_refusal`). ``[training] threads`` and
        ``device`` may change too.
    progress : bool

    Notes
    -----
    Nothing is written into ``out_dir`` before the data is loaded and the network built,
    and a failure before the first checkpoint removes what was written (and the folder if
    this call created it), so that a retry with a fixed configuration starts afresh. The
    folder is self-contained (:func:`write_run_record`): it holds the model file, the
    configuration (data settings included) and the package versions, so that
    ``neurolearn evaluate``, ``allen compare`` and ``--resume`` work after it is moved.

    Inside a ``torch.distributed`` process group (``neurolearn train --nproc N``, torchrun)
    every process runs this function: the network is trained with DDP
    (:mod:`neurolearn.training.distributed`), process 0 writes the run record, evaluates the
    test set and writes every file; the others return the summary process 0 wrote.

    Returns
    -------
    dict
        The content of ``summary.json``: ``test_accuracy``, ``test_loss``,
        ``val_accuracy``, ``train_accuracy``, ``epochs``, ``train_time_s``, ``n_train``,
        ``n_val``, ``n_test``, ``n_inputs``, ``n_classes``, ``resumed_from_epoch``.

    Raises
    ------
    ConfigError
        For an invalid configuration (also settings the dataset refuses), or ``out_dir``
        holding a run of another configuration (the message lists the keys that differ).
    FileExistsError
        If ``out_dir`` holds another run and ``resume`` is False.
    neurolearn.io.OutputFolderError
        If ``out_dir`` is not a folder or cannot be created or written (checked first).
    """
    if not isinstance(config, TrainingConfig):
        config = load_config(config)
    device = resolve_device(config)  # before anything is written
    rank, size = world()
    if size > 1 and device.type == "cuda":  # DDP: one GPU per process of the node
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
    # DDP: process 0 alone probes the folder; two probes race (one removes the folder it
    # created for its check while the other writes its probe file into it)
    out_dir = check_output_dir(out_dir) if rank == 0 else Path(out_dir)
    state, summary = inspect_run_folder(config, out_dir, resume)
    barrier()  # DDP: every process has seen the folder before process 0 writes into it
    if state == "finished":
        return summary

    t0 = time.time()
    tr = config["training"]
    if tr["threads"]:
        torch.set_num_threads(tr["threads"])
    seed_everything(tr["seed"])
    train, valid, test = load_data(config)
    n_in, n_classes = train.n_channels, train.n_classes
    seed_everything(tr["seed"])
    net = build_network(config, n_in, n_classes)
    train_d, valid_d, test_d = (
        training_set(config, train),
        valid and in_memory(valid),
        in_memory(test),
    )
    # nothing is written before this point; a failure before the first checkpoint removes
    # what this call wrote (and the folder, if it created it); under DDP process 0 writes
    folder = OutputFolder(out_dir, first_result="checkpoint.pt") if rank == 0 else None
    with folder or contextlib.nullcontext():
        if rank == 0:
            _start_writing(config, out_dir, state)
        barrier()
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
    summary = _summary(result, test_eval, time.time() - t0, (train, valid, test))
    atomic_write_json(out_dir / "summary.json", summary)
    barrier()
    return summary

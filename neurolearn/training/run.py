"""A training run from a configuration: the output folder, data, network, loop and outputs
(see :mod:`neurolearn.training` for what the folder receives)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from .. import bridge
from ..io import atomic_write_json, atomic_write_text
from .callbacks import TauStatistics
from .config import ConfigError, TrainingConfig, load_config, resolve_device
from .data import in_memory, load_data
from .outputs import plot_learning_curves, write_parameters_csv
from .recipe import (
    _penalty_fn,
    build_augmentation,
    build_network,
    network_parameters,
    prediction_fn,
    readout_loss_fn,
)
from .rng import seed_everything
from .trainer import evaluate_model, train_network

__all__ = ["train_from_config"]


def train_from_config(
    config: TrainingConfig | str | Path,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
) -> dict:
    """Run the training described by a configuration; see the module docstring for what
    ``out_dir`` receives.

    Parameters
    ----------
    config : TrainingConfig or path of a TOML file
    out_dir : str or Path
    resume : bool
        Continue an interrupted run in ``out_dir`` (a finished run is left as it is and its
        summary returned).
    progress : bool

    Returns
    -------
    dict
        The content of ``summary.json``: ``test_accuracy``, ``val_accuracy``, ``epochs``,
        ``train_time_s``, ``n_train``, ``n_val``, ``n_test``.

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
    out_dir = Path(out_dir)
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
        in_memory(train),
        valid and in_memory(valid),
        in_memory(test),
    )
    opt = config["optimizer"]
    result = train_network(
        net,
        train_d,
        valid_d,
        out_dir,
        epochs=tr["epochs"],
        batch_size=tr["batch_size"],
        seed=tr["seed"],
        lr_weights=opt["lr_weights"],
        lr_tau=opt["lr_tau"],
        tau_parameters=net.time_constant_parameters(),
        optimizer=opt["name"],
        weight_decay=opt["weight_decay"],
        schedule=opt["schedule"],
        grad_clip=opt["grad_clip"],
        loss_fn=readout_loss_fn(config),
        predict=prediction_fn(config),
        callbacks=[TauStatistics()],
        penalty=_penalty_fn(config),
        resume=resume,
        progress=progress,
        device=device,
        transform=build_augmentation(config),
    )
    test_eval = evaluate_model(
        result.model,
        test_d,
        batch_size=max(tr["batch_size"], 128),
        loss_fn=readout_loss_fn(config),
        predict=prediction_fn(config),
    )
    result.model.to("cpu")  # the outputs are device-independent
    bridge.save_network(result.model, out_dir / "network.h5")
    write_parameters_csv(out_dir / "parameters.csv", network_parameters(result.model))
    plot_learning_curves(
        result.metrics,
        out_dir / "learning_curves",
        title=f"{config['data']['dataset']}, {config['heterogeneity']['configuration']}",
    )
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
    return summary

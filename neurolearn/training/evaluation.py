"""Evaluation of a trained network in Brian2: the test set run through the Brian2 export of
the network, compared with torch sample by sample.

:func:`evaluate_run` reads a ``neurolearn train`` output folder, reloads the trained network
(``network.h5``, :func:`neurolearn.bridge.load_network`), and simulates the test set in Brian2 with
:func:`neurolearn.bridge.to_brian2`: a whole chunk of samples at once, each sample an
independent copy of the network inside *one* Brian2 network (neuron groups of
``chunk x n`` neurons, block-diagonal synapses), so that a chunk costs one Brian2 run instead
of one run per sample. Predictions use the same rule as training (the readout reduction of
the configuration's loss, arg-max over classes).

The torch side is evaluated in float64, like Brian2, so that both engines integrate the same
numbers; the bridge reproduces the torch forward pass spike for spike with Brian2's
``numpy`` target in float64, and compiled targets (``cython``, ``cpp_standalone``,
``cuda_standalone``) compile with fast-math, which can move a spike by a time step.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import bridge
from ..brian import projects
from ..brian.backends import BACKENDS, STANDALONE_BACKENDS, backend_info, check_can_run
from ..datasets import SpikeDataset
from ..io import atomic_write_json
from .config import load_config
from .data import load_test_set
from .recipe import prediction_fn
from .trainer import evaluate_model

__all__ = [
    "evaluate_run",
    "evaluate_time_scales",
    "compare_predictions",
    "default_chunk_size",
    "network_size",
]


def compare_predictions(torch_pred, brian2_pred, labels) -> dict:
    """Accuracies of both engines and their agreement.

    Parameters
    ----------
    torch_pred, brian2_pred, labels : int arrays, shape ``[n_samples]``

    Returns
    -------
    dict with ``torch_accuracy``, ``brian2_accuracy``, ``agreement`` (fractions in [0, 1])
    and ``n_samples``.

    Raises
    ------
    ValueError
        If the arrays differ in length or are empty.
    """
    t, b, y = (np.asarray(a).reshape(-1) for a in (torch_pred, brian2_pred, labels))
    if not (len(t) == len(b) == len(y)) or len(y) == 0:
        raise ValueError(
            f"need three equally long, non-empty arrays; got {len(t)}, {len(b)}, {len(y)}"
        )
    return {
        "torch_accuracy": float(np.mean(t == y)),
        "brian2_accuracy": float(np.mean(b == y)),
        "agreement": float(np.mean(t == b)),
        "n_samples": int(len(y)),
    }


def default_chunk_size(n_neurons: int, n_synapses: int, budget_bytes: float = 1.0e9) -> int:
    """Samples per Brian2 network such that the copies stay within ``budget_bytes``.

    Measured with Brian2's ``numpy`` target (synapse indices, weights, delays, the
    synapse-to-neuron maps and the temporaries of ``connect``): about 200 bytes per synapse
    and a few hundred per neuron, per copy (a 64 -> 128 recurrent -> 10 LIF network: 5 MB
    per copy).
    """
    per_copy = 200.0 * max(n_synapses, 1) + 400.0 * max(n_neurons, 1)
    return int(max(1, min(512, budget_bytes // per_copy)))


def network_size(net) -> tuple[int, int]:
    """``(neurons, synapses)`` of one copy of a :class:`neurolearn.torch.SpikingNetwork`
    (readout included)."""
    layers = list(net.layers) + ([net.readout] if net.readout is not None else [])
    neurons = sum(layer.n for layer in layers)
    synapses = sum(
        layer.n_in * layer.n
        + (layer.n * layer.n if getattr(layer, "W_rec", None) is not None else 0)
        for layer in layers
    )
    return neurons, synapses


def evaluate_run(
    run_dir: str | os.PathLike,
    backend: str = "numpy",
    max_samples: int | None = None,
    chunk_size: int | None = None,
    progress: bool = True,
    write: bool = True,
    build_dir: str | os.PathLike | None = None,
    stage: str = "run",
) -> dict:
    """Simulate the test set of a trained run in Brian2 and compare with torch.

    Parameters
    ----------
    run_dir : path
        Output folder of ``neurolearn train`` (holds ``config.toml`` and ``network.h5``).
    backend : {"numpy", "cython", "cpp_standalone", "cuda_standalone"}
        Brian2 code-generation target.
    max_samples : int, optional
        Evaluate only the first ``max_samples`` test samples.
    chunk_size : int, optional
        Samples simulated together in one Brian2 network (default
        :func:`default_chunk_size`).
    progress : bool
        tqdm progress bar over chunks.
    write : bool
        Write ``run_dir/evaluation_<backend>.json`` (atomically).
    build_dir : path, optional
        Standalone backends: the project folder, kept (each chunk rebuilt in it, recompiling
        only what changed). Default: a folder of the project cache
        (:func:`neurolearn.brian.projects.cached_project`, keyed by the network file and the
        chunk size), or a temporary folder removed at the end.
    stage : {"run", "generate", "load"}
        ``"generate"``: only generate (and where possible compile) one project per chunk,
        ``build_dir/chunk_000``..., with ``build_dir/neurolearn_build.json`` recording the
        network, backend, chunk size and samples, to be run elsewhere (``./main`` in each
        chunk folder). ``"load"``: read the results of those programs back from
        ``build_dir`` (backend, chunk size and samples from ``neurolearn_build.json``) and
        evaluate as usual.

    Returns
    -------
    dict
        ``torch_accuracy``, ``brian2_accuracy``, ``agreement`` (fractions), ``n_samples``,
        ``backend``, ``chunk_size``, ``brian2_time_s``, ``torch_dtype``. ``"generate"``:
        ``build_dir``, ``chunks`` (the project folders), ``backend``, ``chunk_size``,
        ``n_samples``.

    Raises
    ------
    FileNotFoundError
        If ``run_dir`` holds no trained network, or ``build_dir`` no generated projects.
    ValueError
        For an unknown backend; ``stage`` "generate"/"load" without ``build_dir`` or with a
        runtime backend; a ``build_dir`` generated for another network (the message names
        the folder).
    BackendUnavailableError
        ``stage="run"`` where the program cannot run (``cuda_standalone`` without a GPU),
        before the data is read or any code generated.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "network.h5").exists() or not (run_dir / "config.toml").exists():
        raise FileNotFoundError(
            f"{run_dir} holds no trained network (network.h5 and config.toml "
            "are written by `neurolearn train` when training finishes)"
        )
    network_sha = _file_sha256(run_dir / "network.h5")
    if stage == "load":
        backend, chunk_size, max_samples = _read_build_record(build_dir, network_sha)
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    standalone = backend_info(backend).is_standalone
    if stage != "run" and (build_dir is None or not standalone):
        raise ValueError(
            f"stage {stage!r} needs --build-dir DIR and a standalone backend "
            f"({', '.join(STANDALONE_BACKENDS)}), got backend {backend!r}"
        )
    if stage == "run" and standalone:
        check_can_run(backend)  # no GPU: say so now, not after minutes of compilation
    config = load_config(run_dir / "config.toml")
    test = load_test_set(config)
    indices = np.arange(len(test) if max_samples is None else min(max_samples, len(test)))
    x_all, labels = test.dense(indices)  # [time, n, channels], [n]
    labels = np.asarray(labels)
    net = bridge.load_network(run_dir / "network.h5").double()
    if chunk_size is None:
        chunk_size = default_chunk_size(*network_size(net))
    starts = range(0, len(indices), chunk_size)
    if stage == "generate":
        return _generate(net, x_all, starts, chunk_size, backend, Path(build_dir), network_sha)
    predict = prediction_fn(config)
    with torch.no_grad():
        torch_pred = np.concatenate(
            [
                predict(net(x_all[:, i : i + 256].double())).numpy()
                for i in range(0, len(indices), 256)
            ]
        )
    t0 = time.time()
    brian_pred = []
    with _project_folder(standalone, build_dir, network_sha, chunk_size, backend) as folder:
        for k, start in enumerate(
            tqdm(starts, desc=f"Brian2 ({backend})", unit="chunk", disable=not progress)
        ):
            x = x_all[:, start : start + chunk_size]
            directory = folder / f"chunk_{k:03d}" if stage == "load" else folder
            export = bridge.to_brian2(net, x, backend=backend, directory=directory, stage=stage)
            brian_pred.append(predict(torch.as_tensor(np.asarray(export.readout))).numpy())
            del export
    brian_pred = np.concatenate(brian_pred)
    result = compare_predictions(torch_pred, brian_pred, labels)
    result.update(
        backend=backend,
        chunk_size=int(chunk_size),
        brian2_time_s=time.time() - t0,
        torch_dtype="float64",
    )
    if write:
        atomic_write_json(run_dir / f"evaluation_{backend}.json", result)
    return result


#: Record of a project generated for another machine (``evaluate_run(stage="generate")``).
BUILD_RECORD = "neurolearn_build.json"


def _file_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextlib.contextmanager
def _project_folder(standalone, build_dir, network_sha, chunk_size, backend):
    """The project folder of the chunks: ``build_dir`` (kept), a cached one, or None."""
    if not standalone:
        yield None
    elif build_dir is not None:
        yield Path(build_dir)
    else:
        key = f"evaluate {network_sha} chunk {chunk_size}"
        with projects.cached_project(key, backend) as folder:
            yield folder


def _generate(net, x_all, starts, chunk_size, backend, build_dir, network_sha) -> dict:
    """One project per chunk in ``build_dir/chunk_<k>``, and the record of what they hold."""
    chunks = []
    for k, start in enumerate(starts):
        directory = build_dir / f"chunk_{k:03d}"
        x = x_all[:, start : start + chunk_size]
        bridge.to_brian2(net, x, backend=backend, directory=directory, stage="generate")
        chunks.append(directory)
    record = {
        "network_sha256": network_sha,
        "backend": backend,
        "chunk_size": int(chunk_size),
        "n_samples": int(x_all.shape[1]),
        "chunks": [p.name for p in chunks],
    }
    atomic_write_json(build_dir / BUILD_RECORD, record)
    return {"build_dir": build_dir, "chunks": chunks, **{k: record[k] for k in record}}


def _read_build_record(build_dir, network_sha) -> tuple:
    """``(backend, chunk_size, n_samples)`` of the projects in ``build_dir``, checked to be
    generated for the network file of hash ``network_sha``."""
    if build_dir is None:
        raise ValueError("reading results back (stage 'load', --from-build) needs the folder")
    path = Path(build_dir) / BUILD_RECORD
    if not path.is_file():
        raise FileNotFoundError(
            f"{build_dir}: no {BUILD_RECORD}; this folder was not made by `neurolearn evaluate "
            "RUN --build-dir DIR --generate-only`"
        )
    try:
        record = json.loads(path.read_text())
        backend, chunk, n = record["backend"], int(record["chunk_size"]), int(record["n_samples"])
        sha = record["network_sha256"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a readable build record ({exc})") from None
    if sha != network_sha:
        raise ValueError(
            f"{build_dir}: the projects were generated for another network.h5 (sha256 "
            f"{sha[:12]}..., this run's is {network_sha[:12]}...)"
        )
    return backend, chunk, n


def evaluate_time_scales(
    run_dir: str | os.PathLike,
    time_scales,
    batch_size: int = 128,
    write: bool = True,
) -> dict:
    """Test accuracy of a trained run with every test sample's spike times scaled by ``s``.

    The robustness test of Perez-Nieves et al. (2021, Fig. 5; npvoid/neural_heterogeneity,
    SuGD_code/results_timescale.py and data_gen.py ``sparse_data_generator_scale``): every
    input spike time is multiplied by ``s`` (> 1 stretches the sample, < 1 compresses it) and
    binned with the run's ``dt_ms`` into the run's ``duration_ms`` (spikes stretched past the
    window are dropped); the trained torch network (as trained, float32) classifies them.

    Parameters
    ----------
    run_dir : path
        Output folder of ``neurolearn train``.
    time_scales : sequence of float
        Factors ``s`` (> 0), e.g. ``[0.25, 0.5, 1, 1.5, 2]``.
    batch_size : int
        Samples per forward pass.
    write : bool
        Write ``run_dir/robustness.json``.

    Returns
    -------
    dict
        ``{"time_scales": [...], "accuracies": [...]}`` (fractions in [0, 1], one per scale).

    Raises
    ------
    FileNotFoundError
        If ``run_dir`` holds no trained network.
    ValueError
        A time scale <= 0.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "network.h5").exists() or not (run_dir / "config.toml").exists():
        raise FileNotFoundError(f"{run_dir} holds no trained network (network.h5, config.toml)")
    config = load_config(run_dir / "config.toml")
    test = load_test_set(config)
    net = bridge.load_network(run_dir / "network.h5")
    predict = prediction_fn(config)
    scales = [float(s) for s in time_scales]
    accuracies = []
    for s in scales:
        ds = SpikeDataset(test.events, test.dt_ms, test.duration_ms, test.binary, time_scale=s)
        result = evaluate_model(net, ds, batch_size=batch_size, predict=predict)
        accuracies.append(float(result["accuracy"]))
    out = {"time_scales": scales, "accuracies": accuracies}
    if write:
        atomic_write_json(run_dir / "robustness.json", out)
    return out

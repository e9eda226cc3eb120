"""The main job: does heterogeneity of membrane time constants help a spiking network learn?

Perez-Nieves, Leung, Dragotti & Goodman (2021, Nat. Commun. 12:5791, "Neural heterogeneity
promotes robust learning") trained recurrent spiking networks in four configurations:

=========================  =====================  ===========================================
configuration              initial tau            trained
=========================  =====================  ===========================================
``hom_init_std_train``     all equal              weights only ("standard training")
``het_init_std_train``     gamma, shape k = 3     weights only
``hom_init_het_train``     all equal              weights and per-neuron tau
``het_init_het_train``     gamma, shape k = 3     weights and per-neuron tau
=========================  =====================  ===========================================

and found heterogeneous training to help most on temporally rich tasks (SHD, SSC), little on
N-MNIST, and learned tau distributions resembling those measured in cortex (Allen Cell Types
Database). :func:`run_heterogeneity` reproduces the experiment with one call (``neurolearn run
heterogeneity``):

1. the dataset is loaded once (Spiking FSDD by default: the Free Spoken Digit Dataset turned
   into spikes by a cochlear model, :mod:`neurolearn.datasets`);
2. every configuration is trained for every seed with :func:`neurolearn.training.train_from_config`
   (each configuration x seed a task of :class:`neurolearn.executor.Executor`: local worker
   processes with one CPU thread each, or a Dask cluster with ``--scheduler``; a run's
   numbers do not depend on how many run in parallel nor where);
3. every trained network is exported to Brian2 and its test set simulated there
   (:func:`neurolearn.training.evaluation.evaluate_run`), giving the fraction of test samples on which
   Brian2 and torch predict the same class;
4. the learned ``tau_m`` of the hidden neurons are compared with the Allen Cell Types Database
   (mouse cells; :func:`neurolearn.analysis.allen.compare_learned`); without the Allen data the job
   says so and continues;
5. ``results.json``, ``results.md`` and figures are written into ``out``.

Output folder::

    out/experiment.json          what was run (dataset, seeds, quick, settings)
    out/runs/<configuration>/seed<k>/   one `neurolearn train` folder per run, plus
                                        evaluation_<backend>.json
    out/results.json             per configuration: accuracy mean and SD, Brian2 agreement,
                                 learned tau summary, Allen comparison; the wall time of
                                 each run done by this call (run_wall_s)
    out/results.md               the same as a Markdown table
    out/accuracy_per_configuration.{pdf,svg,png}
    out/tau_histograms.{pdf,svg,png}   learned tau_m against the Allen distribution
    out/allen/<configuration>/   the Allen comparison's own tables and figures

Resumable: a run whose ``summary.json`` and evaluation exist is skipped; an interrupted run
continues from its last checkpoint.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..brian.backends import BACKENDS
from ..executor import available_workers
from ..io import atomic_write_json, atomic_write_text
from .defaults import merge_sections, packaged_config
from .registry import Reproduction, register
from .runs import run_complete, run_trainings

__all__ = [
    "CONFIGURATIONS",
    "CONFIGURATION_LABELS",
    "DATASET_DEFAULTS",
    "QUICK_OVERRIDES",
    "ALLEN_SELECTION",
    "experiment_sections",
    "experiment_config",
    "run_heterogeneity",
    "summarize_runs",
    "results_table",
    "DESCRIPTION",
    "add_arguments",
    "run",
    "REPRODUCTION",
]

log = logging.getLogger(__name__)

#: The four configurations of Perez-Nieves et al. (2021), in the paper's order.
CONFIGURATIONS = (
    "hom_init_std_train",
    "het_init_std_train",
    "hom_init_het_train",
    "het_init_het_train",
)

#: Human-readable names used in tables and figures.
CONFIGURATION_LABELS = {
    "hom_init_std_train": "homogeneous init, weights trained",
    "het_init_std_train": "heterogeneous init, weights trained",
    "hom_init_het_train": "homogeneous init, weights + tau trained",
    "het_init_het_train": "heterogeneous init, weights + tau trained",
}


def _load_defaults() -> tuple[dict, dict, dict]:
    """(per-dataset defaults, --quick changes, Allen selection) from
    ``neurolearn/configs/heterogeneity.toml``: each dataset's ``data`` table as given, then
    ``common`` with the dataset's other tables applied (:func:`merge_sections`)."""
    cfg = packaged_config("heterogeneity")
    per_dataset = {}
    for name, own in cfg["datasets"].items():
        rest = {section: values for section, values in own.items() if section != "data"}
        per_dataset[name] = {
            "data": own["data"],
            **merge_sections(copy.deepcopy(cfg["common"]), rest),
        }
    return per_dataset, cfg["quick"], cfg["allen_selection"]


#: Training configuration (sections of :data:`neurolearn.training.CONFIG_SCHEMA`) per dataset
#: (``neurolearn/configs/heterogeneity.toml``, where the reasons for each choice are given);
#: ``heterogeneity.configuration`` and ``training.seed`` are set per run.
DATASET_DEFAULTS: dict[str, dict]
#: Changes for ``--quick`` (a smoke run of about two minutes on two cores).
QUICK_OVERRIDES: dict
#: Allen cells the learned tau_m are compared with (filters of
#: :func:`neurolearn.sources.allen.select`).
ALLEN_SELECTION: dict
DATASET_DEFAULTS, QUICK_OVERRIDES, ALLEN_SELECTION = _load_defaults()


def experiment_sections(
    dataset: str = "fsdd",
    configuration: str = "het_init_het_train",
    seed: int = 0,
    quick: bool = False,
    overrides: Mapping | None = None,
) -> dict:
    """The sections of one run's training configuration as given to
    :func:`neurolearn.training.config_from_dict` (before validation and schema defaults).

    The dataset's defaults (:data:`DATASET_DEFAULTS`), then the configuration and the seed,
    then :data:`QUICK_OVERRIDES` with ``quick``, then ``overrides``: each change replaces keys
    within a section (a nested table such as ``data.options`` as a whole).

    Parameters
    ----------
    dataset : {"fsdd", "shd", "ssc", "nmnist", "braille"}
        A key of :data:`DATASET_DEFAULTS`.
    configuration : str
        One of :data:`CONFIGURATIONS`.
    seed : int
        ``training.seed`` of the run.
    quick : bool
        Apply :data:`QUICK_OVERRIDES`.
    overrides : mapping of section -> mapping, optional
        Further changes (e.g. ``{"training": {"epochs": 5}}``).

    Returns
    -------
    dict
        ``{section: {key: value}}``.

    Raises
    ------
    ValueError
        For an unknown dataset or configuration.
    """
    if dataset not in DATASET_DEFAULTS:
        raise ValueError(
            f"unknown dataset {dataset!r}; choose one of {', '.join(DATASET_DEFAULTS)}"
        )
    if configuration not in CONFIGURATIONS:
        raise ValueError(
            f"unknown configuration {configuration!r}; choose one of {', '.join(CONFIGURATIONS)}"
        )
    data = merge_sections(
        DATASET_DEFAULTS[dataset],
        {"heterogeneity": {"configuration": configuration}, "training": {"seed": int(seed)}},
    )
    if quick:
        data = merge_sections(data, QUICK_OVERRIDES)
    if overrides:
        data = merge_sections(data, overrides)
    return data


def experiment_config(
    dataset: str = "fsdd",
    configuration: str = "het_init_het_train",
    seed: int = 0,
    quick: bool = False,
    overrides: Mapping | None = None,
):
    """The training configuration of one run of the experiment.

    Parameters
    ----------
    dataset : {"fsdd", "shd", "ssc", "nmnist", "braille"}
    configuration : one of :data:`CONFIGURATIONS`
    seed : int
    quick : bool
        Apply :data:`QUICK_OVERRIDES`.
    overrides : mapping of section -> mapping, optional
        Further changes (e.g. ``{"training": {"epochs": 5}}``).

    Returns
    -------
    neurolearn.training.TrainingConfig
        :func:`experiment_sections` validated, with the schema's defaults filled in.

    Raises
    ------
    ValueError
        For an unknown dataset or configuration (or an invalid override).
    """
    from ..training import config_from_dict

    return config_from_dict(experiment_sections(dataset, configuration, seed, quick, overrides))


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------
def _claim_folder(out: Path, description: dict, seeds: int) -> None:
    """Write ``out/experiment.json`` (what is run there), refusing a folder that holds an
    experiment with other settings (the number of seeds may differ).

    Raises
    ------
    ValueError
        If ``out/experiment.json`` describes other settings.
    """
    marker = out / "experiment.json"
    if marker.exists():
        previous = json.loads(marker.read_text())
        if {k: v for k, v in previous.items() if k != "seeds"} != description:
            raise ValueError(
                f"{out} holds an experiment run with other settings "
                f"({marker}); choose another --out"
            )
    atomic_write_json(marker, dict(description, seeds=seeds))


def run_heterogeneity(
    dataset: str = "fsdd",
    seeds: int = 3,
    quick: bool = False,
    out: str | os.PathLike = "results/heterogeneity",
    jobs: int | None = None,
    backend: str = "numpy",
    progress: bool = True,
    overrides: Mapping | None = None,
    scheduler: str | None = None,
) -> dict:
    """Train, check in Brian2 and summarise the four Perez-Nieves configurations.

    Parameters
    ----------
    dataset : {"fsdd", "shd", "ssc", "nmnist", "braille"}
        Default Spiking FSDD.
    seeds : int
        Seeds per configuration (>= 1); ``quick`` uses 1.
    quick : bool
        Smoke run: :data:`QUICK_OVERRIDES` (a few hundred samples, 2 epochs).
    out : path
        Output folder (see the module docstring). Rerunning with the same arguments skips
        completed runs; other settings in an existing folder are refused.
    jobs : int, optional
        Trainings in parallel: worker processes (one torch thread each) of the embedded Dask
        cluster; 1 runs them in this process; default: the CPUs this process may use. Ignored
        with a scheduler.
    backend : {"numpy", "cython", "cpp_standalone", "cuda_standalone"}
        Brian2 target of the agreement check.
    progress : bool
        Progress bars.
    overrides : mapping, optional
        Changes to every run's training configuration (tests use it to shrink runs).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); default
        :func:`neurolearn.executor.resolve_scheduler` (``$NEUROLEARN_SCHEDULER``, the Dask
        configuration key ``neurolearn.scheduler``), else local. Each configuration x seed is
        a task; a run's numbers do not depend on where it ran (its seed is its own).

    Returns
    -------
    dict
        The content of ``results.json`` plus ``"table_markdown"`` and ``"out"``.

    Raises
    ------
    ValueError
        Bad arguments, or ``out`` holding an experiment run with other settings.
    neurolearn.executor.TaskFailed
        A run failed on a Dask worker (names the configuration and seed, and the error).
    """
    from ..datasets import load_dataset

    if seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    if quick:
        seeds = 1
    out = Path(out)
    t_start = time.time()
    configs = {
        (c, s): experiment_config(dataset, c, s, quick, overrides)
        for c in CONFIGURATIONS
        for s in range(seeds)
    }
    any_config = next(iter(configs.values())).to_dict()
    any_config["heterogeneity"].pop("configuration")
    any_config["training"].pop("seed")
    description = {
        "experiment": "heterogeneity",
        "dataset": dataset,
        "quick": bool(quick),
        "backend": backend,
        "settings": any_config,
    }
    _claim_folder(out, description, seeds)

    # load the data once here (converts and caches Spiking FSDD on first use), so that the
    # workers only read the cache
    d = any_config["data"]
    opts = dict(d.get("options") or {})
    test = load_dataset(dataset, "test", dt_ms=d["dt_ms"], duration_ms=d["duration_ms"], **opts)
    log.info("%s test set: %d samples, %d channels", dataset, len(test), test.n_channels)

    # seed-major order: an interrupted experiment has every configuration for the first seeds
    jobs_list = [
        {
            "configuration": c,
            "seed": s,
            "config": configs[c, s].to_dict(),
            "run_dir": str(out / "runs" / c / f"seed{s}"),
            "backend": backend,
            "progress": False,
        }
        for s in range(seeds)
        for c in CONFIGURATIONS
    ]
    # completed runs are skipped (also checked in the run, for a folder completed meanwhile)
    jobs_list = [job for job in jobs_list if not run_complete(job)]
    if jobs is not None and jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {jobs}")
    n_workers = max(1, min(jobs or available_workers(), len(jobs_list)))
    done = []
    if jobs_list:
        done = run_trainings(jobs_list, n_workers, progress, f"heterogeneity {dataset}", scheduler)
    results = summarize_runs(
        out, dataset=dataset, backend=backend, progress=progress, detailed=not quick
    )
    results["wall_time_s"] = time.time() - t_start
    # wall time of each run trained (or completed) by this call, where it ran
    results["run_wall_s"] = {f"{r['configuration']}/seed{r['seed']}": r["wall_s"] for r in done}
    results["seeds"] = seeds
    results["quick"] = bool(quick)
    atomic_write_json(out / "results.json", results)
    table = results_table(results)
    atomic_write_text(out / "results.md", table)
    return dict(results, table_markdown=table, out=str(out))


# ---------------------------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------------------------
def _describe(x: np.ndarray) -> dict:
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return {"n": 0}
    q25, median, q75 = np.percentile(x, [25, 50, 75])
    return {
        "n": int(x.size),
        "mean": float(x.mean()),
        "sd": float(x.std(ddof=1)) if x.size > 1 else 0.0,
        "median": float(median),
        "q25": float(q25),
        "q75": float(q75),
        "min": float(x.min()),
        "max": float(x.max()),
        "cv": float(x.std(ddof=1) / x.mean()) if x.size > 1 and x.mean() else 0.0,
    }


def _hidden_tau(run_dir: Path, name: str = "tau_m_ms") -> np.ndarray:
    import pandas as pd

    table = pd.read_csv(run_dir / "parameters.csv")
    if name not in table.columns:
        return np.zeros(0)
    hidden = table[table["layer"].astype(str).str.startswith("hidden")]
    return hidden[name].to_numpy(dtype=float)


def _allen_tau(progress: bool):
    """Allen tau_m (ms) of :data:`ALLEN_SELECTION`, the loaded table, or an explanation."""
    try:
        from ..sources import allen

        table = allen.load_cells()
        sel = allen.select(table, **ALLEN_SELECTION)
        tau = sel["tau_ms"].to_numpy(dtype=float)
        tau = tau[np.isfinite(tau) & (tau > 0)]
        return tau, table, None
    except Exception as exc:  # missing data, no allensdk, no network
        return None, None, f"{type(exc).__name__}: {exc}"


def summarize_runs(
    out: str | os.PathLike,
    dataset: str = "fsdd",
    backend: str = "numpy",
    progress: bool = False,
    detailed: bool = True,
) -> dict:
    """Collect the finished runs under ``out/runs`` into the experiment's results and figures.

    Parameters
    ----------
    out : path
        Experiment folder.
    dataset : str
    backend : str
        Which ``evaluation_<backend>.json`` to read.
    detailed : bool
        Write the Allen comparison's own tables and figures per configuration
        (``out/allen/<configuration>``, bootstrap confidence intervals with 200 resamples);
        without it only the two-sample statistics are computed (``--quick``).

    Returns
    -------
    dict
        ``{"dataset", "backend", "allen", "configurations": {name: {"label", "n_runs",
        "accuracy_mean", "accuracy_sd", "accuracies", "brian2_accuracy_mean",
        "brian2_agreement", "brian2_agreement_min", "tau_m_ms", "tau_syn_ms", "allen_comparison"}}}``;
        accuracies are fractions in [0, 1], times in ms.
    """
    out = Path(out)
    allen_tau, allen_table, allen_error = _allen_tau(progress)
    if allen_error:
        print(
            f"Allen Cell Types data not available ({allen_error}); the learned tau are "
            "summarised without the comparison."
        )
    results: dict[str, Any] = {
        "dataset": dataset,
        "backend": backend,
        "allen": {
            "available": allen_tau is not None,
            "selection": dict(ALLEN_SELECTION),
            "n_cells": None if allen_tau is None else int(allen_tau.size),
            "tau_m_ms": None if allen_tau is None else _describe(allen_tau),
            "error": allen_error,
        },
        "configurations": {},
    }
    learned_by_config = {}
    for configuration in CONFIGURATIONS:
        accs, b2accs, agreements, taus, tausyn, seeds = [], [], [], [], [], []
        root = out / "runs" / configuration
        for run_dir in sorted(root.glob("seed*")) if root.is_dir() else []:
            summary_path = run_dir / "summary.json"
            eval_path = run_dir / f"evaluation_{backend}.json"
            if not summary_path.exists():
                continue
            summary = json.loads(summary_path.read_text())
            seeds.append(int(run_dir.name[4:]))
            accs.append(summary["test_accuracy"])
            if eval_path.exists():
                ev = json.loads(eval_path.read_text())
                b2accs.append(ev["brian2_accuracy"])
                agreements.append(ev["agreement"])
            taus.append(_hidden_tau(run_dir))
            tausyn.append(_hidden_tau(run_dir, "tau_syn_ms"))
        if not accs:
            continue
        tau_all = np.concatenate(taus) if taus else np.zeros(0)
        learned_by_config[configuration] = tau_all
        entry = {
            "label": CONFIGURATION_LABELS[configuration],
            "n_runs": len(accs),
            "seeds": seeds,
            "accuracy_mean": float(np.mean(accs)),
            "accuracy_sd": float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0,
            "accuracies": [float(a) for a in accs],
            "brian2_accuracy_mean": float(np.mean(b2accs)) if b2accs else None,
            "brian2_agreement": float(np.mean(agreements)) if agreements else None,
            "brian2_agreement_min": float(np.min(agreements)) if agreements else None,
            "tau_m_ms": _describe(tau_all),
            "tau_syn_ms": _describe(np.concatenate(tausyn) if tausyn else np.zeros(0)),
            "allen_comparison": None,
        }
        if allen_table is not None and tau_all.size >= 2 and np.ptp(tau_all) > 0:
            try:
                from ..analysis import allen as allen_stats

                frame = allen_stats.compare_learned(
                    tau_all,
                    out=(out / "allen" / configuration if detailed else None),
                    table=allen_table,
                    n_boot=200 if detailed else 0,
                    n_perm=200 if detailed else 100,
                    learned_label=CONFIGURATION_LABELS[configuration],
                    **ALLEN_SELECTION,
                )
                entry["allen_comparison"] = json.loads(frame.to_json(orient="records"))
            except Exception as exc:
                entry["allen_comparison"] = {"error": f"{type(exc).__name__}: {exc}"}
        results["configurations"][configuration] = entry
    if results["configurations"]:
        _plot_accuracy(results, out / "accuracy_per_configuration")
        _plot_tau(learned_by_config, allen_tau, out / "tau_histograms")
    return results


def _fmt_pct(mean, sd=None):
    if mean is None:
        return "n/a"
    return f"{100 * mean:.1f}" + (f" ± {100 * sd:.1f}" if sd is not None else "")


def results_table(results: Mapping) -> str:
    """The results as a Markdown table (accuracies in %, tau in ms)."""
    lines = [
        f"Dataset: {results['dataset']}; Brian2 target: {results['backend']}",
        "",
        "| configuration | test accuracy (%) mean ± SD | runs | Brian2 accuracy (%) | "
        "Brian2 agreement (%) mean / min | learned tau_m (ms) median [IQR] | "
        "tau_m CV |",
        "|---|---|---|---|---|---|---|",
    ]
    for _name, e in results["configurations"].items():
        t = e["tau_m_ms"]
        tau = f"{t['median']:.1f} [{t['q25']:.1f}, {t['q75']:.1f}]" if t.get("n") else "n/a"
        agree = (
            "n/a"
            if e["brian2_agreement"] is None
            else f"{100 * e['brian2_agreement']:.2f} / {100 * e['brian2_agreement_min']:.2f}"
        )
        lines.append(
            f"| {e['label']} | {_fmt_pct(e['accuracy_mean'], e['accuracy_sd'])} | "
            f"{e['n_runs']} | {_fmt_pct(e['brian2_accuracy_mean'])} | {agree} | {tau} | "
            f"{t.get('cv', float('nan')):.2f} |"
        )
    a = results["allen"]
    lines.append("")
    if a["available"]:
        t = a["tau_m_ms"]
        lines.append(
            f"Allen Cell Types Database ({', '.join(f'{k}={v}' for k, v in a['selection'].items())}, "
            f"n = {a['n_cells']} cells): tau_m median {t['median']:.1f} ms "
            f"[{t['q25']:.1f}, {t['q75']:.1f}], CV {t['cv']:.2f}."
        )
    else:
        lines.append(f"Allen Cell Types data not available: {a['error']}")
    if results.get("wall_time_s") is not None:
        lines.append(f"Wall time: {results['wall_time_s'] / 60:.1f} min.")
    return "\n".join(lines) + "\n"


def _plot_accuracy(results: Mapping, stem: Path) -> None:
    from ..figures import new_figure, save_figure

    names = list(results["configurations"])
    fig, ax = new_figure(width=3.35, height=2.6)
    for i, name in enumerate(names):
        e = results["configurations"][name]
        accs = 100 * np.asarray(e["accuracies"])
        ax.bar(i, accs.mean(), color="0.8" if name.startswith("hom") else "C0", width=0.6)
        ax.errorbar(
            i, accs.mean(), yerr=accs.std(ddof=1) if accs.size > 1 else 0, color="k", capsize=3
        )
        ax.plot(
            np.full(accs.size, i) + np.linspace(-0.12, 0.12, accs.size), accs, "k.", markersize=3
        )
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(
        [results["configurations"][n]["label"].replace(", ", ",\n") for n in names], fontsize=5
    )
    lo = min(min(results["configurations"][n]["accuracies"]) for n in names) * 100
    ax.set_ylim(max(0, lo - 10), 100)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{results['dataset']}: mean ± SD over seeds")
    save_figure(fig, stem)


def _plot_tau(learned: Mapping[str, np.ndarray], allen_tau, stem: Path) -> None:
    from ..figures import new_figure, save_figure

    names = list(learned)
    fig, axes = new_figure(2, 2, width=6.0, height=4.0)
    axes = np.asarray(axes).ravel()
    values = [v for v in learned.values() if v.size] + (
        [allen_tau] if allen_tau is not None else []
    )
    lo = max(0.5, min(float(np.min(v)) for v in values) * 0.8) if values else 1
    hi = max(float(np.max(v)) for v in values) * 1.2 if values else 100
    bins = np.geomspace(lo, hi, 40)
    for ax, name in zip(axes, names):
        tau = learned[name]
        if allen_tau is not None:
            ax.hist(allen_tau, bins=bins, density=True, color="0.75", label="Allen (mouse)")
        if tau.size:
            ax.hist(
                tau, bins=bins, density=True, histtype="step", color="C0", lw=1.2, label="learned"
            )
        ax.set_xscale("log")
        ax.set_title(CONFIGURATION_LABELS[name], fontsize=7)
        ax.set_xlabel("membrane time constant tau_m (ms)")
        ax.set_ylabel("density (1/ms)")
        ax.legend()
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    save_figure(fig, stem)


# ---------------------------------------------------------------------------------------------
# Command line (``neurolearn run heterogeneity``, ``neurolearn reproduce heterogeneity``)
# ---------------------------------------------------------------------------------------------
#: What ``neurolearn run heterogeneity --help`` says the experiment does.
DESCRIPTION = (
    "Train the four Perez-Nieves et al. (2021) configurations (homogeneous or "
    "heterogeneous initial tau x weights-only or weights-and-tau training) for "
    "N seeds, check every trained network in Brian2, compare the learned tau "
    "with the Allen Cell Types Database, and write results.json, results.md "
    "and figures. Completed runs are skipped when run again."
)


def add_arguments(parser) -> None:
    """Options of the experiment: ``--dataset`` (a key of :data:`DATASET_DEFAULTS`),
    ``--seeds``, ``--quick``, ``--out``, ``--jobs``, ``--backend`` (one of
    :data:`neurolearn.brian.backends.BACKENDS`), ``--scheduler`` and ``--no-progress``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        Receives the options.
    """
    parser.add_argument(
        "--dataset",
        default="fsdd",
        choices=tuple(DATASET_DEFAULTS),
        help="dataset (default: fsdd, the Spiking Free Spoken Digit Dataset)",
    )
    parser.add_argument(
        "--seeds", type=int, default=3, metavar="N", help="seeds per configuration (default 3)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run (~2 minutes): "
        f"{QUICK_OVERRIDES['data']['max_train_samples']} samples, "
        f"{QUICK_OVERRIDES['network']['hidden'][0]} neurons, "
        f"{QUICK_OVERRIDES['training']['epochs']} epochs, 1 seed",
    )
    parser.add_argument(
        "--out",
        default="results/heterogeneity",
        metavar="DIR",
        help="output folder (default results/heterogeneity)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="trainings run in parallel (local worker processes, one CPU thread each; "
        "default: CPU count)",
    )
    parser.add_argument(
        "--backend",
        default="numpy",
        choices=BACKENDS,
        help="Brian2 target of the agreement check (default numpy)",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run the trainings on a running Dask cluster, e.g. tcp://host:8786 (default: "
        "$NEUROLEARN_SCHEDULER, else local processes; docs/guide/cluster.md)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args) -> dict:
    """Run the experiment with parsed options (:func:`run_heterogeneity`); prints the results
    table and returns what ``results.json`` holds plus ``table_markdown`` and ``out``.

    Parameters
    ----------
    args : argparse.Namespace
        The options of :func:`add_arguments`.

    Returns
    -------
    dict
        What was written as JSON (see above).
    """
    results = run_heterogeneity(
        dataset=args.dataset,
        seeds=args.seeds,
        quick=args.quick,
        out=args.out,
        jobs=args.jobs,
        backend=args.backend,
        progress=not args.no_progress,
        scheduler=args.scheduler,
    )
    print(results["table_markdown"])
    print(f"results in {results['out']}")
    return results


REPRODUCTION = register(
    Reproduction(
        name="heterogeneity",
        description="Does heterogeneity of trained membrane time constants help a spiking "
        "network learn? Four configurations, checked in Brian2, compared with Allen cells",
        reference="Perez-Nieves, Leung, Dragotti & Goodman (2021) Nat. Commun. 12:5791",
        add_arguments=add_arguments,
        run=run,
    )
)


if __name__ == "__main__":
    sys.exit(REPRODUCTION.main())

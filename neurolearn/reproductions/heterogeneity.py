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
``allen_init_het_train``   measured Allen cells   weights and per-neuron tau (not in the paper)
=========================  =====================  ===========================================

and found heterogeneous training to help most on temporally rich tasks (SHD, SSC), networks
with heterogeneous tau to be more robust when the input's time scale changes, and learned tau
distributions resembling those measured in cortex (Allen Cell Types Database).
:func:`run_heterogeneity` (``neurolearn run heterogeneity``):

1. loads the task once (default :data:`DEFAULT_TASK`: Spiking FSDD with disjoint training,
   validation and test speakers, trained with time-scale augmentation);
2. trains every configuration for every seed (the same seeds for all: a paired design) with
   :func:`neurolearn.training.train_from_config`, each configuration x seed a task of
   :class:`neurolearn.executor.Executor` (local worker processes with one CPU thread each, or
   a Dask cluster with ``--scheduler``; a run's numbers do not depend on how many run in
   parallel nor where);
3. exports every trained network to Brian2 and simulates its test set there
   (:func:`neurolearn.training.evaluation.evaluate_run`: the agreement of the predictions);
4. tests it on test inputs stretched or compressed in time
   (:func:`neurolearn.training.evaluation.evaluate_time_scales`, :data:`ROBUSTNESS_SCALES`);
5. summarises (:mod:`.heterogeneity_results`): mean accuracy with a 95 % bootstrap interval,
   paired differences with a paired permutation test, robustness curves, gamma and log-normal
   fits of the learned tau_m and tau_syn, two-sample tests between the homogeneous and
   heterogeneous starts and against Allen selections; ``results.json``, ``results.md`` and
   figures (:mod:`.heterogeneity_figures`) go into ``out``.

Output folder::

    out/experiment.json          what was run (dataset, seeds, quick, settings)
    out/runs/<configuration>/seed<k>/   one `neurolearn train` folder per run, plus
                                        evaluation_<backend>.json and robustness.json
    out/results.json             schema in neurolearn.reproductions.heterogeneity_results
    out/results.md               the same as Markdown tables
    out/accuracy_per_configuration.{pdf,svg,png}   seeds, mean and 95 % interval
    out/robustness.{pdf,svg,png}                   accuracy against the input's time scale
    out/tau_histograms.{pdf,svg,png}   learned tau_m, tau_syn with fits, Allen cells
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

from ..brian.backends import BACKENDS
from ..executor import add_scheduler_argument, available_workers
from ..io import atomic_write_json, atomic_write_text
from .defaults import merge_sections, packaged_config
from .heterogeneity_results import (
    ALL_CONFIGURATIONS,
    ALLEN_CONFIGURATION,
    CONFIGURATION_LABELS,
    CONFIGURATIONS,
    results_table,
    summarize_runs,
)
from .registry import Reproduction, register
from .runs import run_complete, run_trainings

__all__ = [
    "CONFIGURATIONS",
    "ALLEN_CONFIGURATION",
    "ALL_CONFIGURATIONS",
    "CONFIGURATION_LABELS",
    "DATASET_DEFAULTS",
    "TASK_DEFAULTS",
    "DEFAULT_TASK",
    "ROBUSTNESS_SCALES",
    "DEFAULT_SEEDS",
    "QUICK_OVERRIDES",
    "ALLEN_SELECTION",
    "FACTORS",
    "conditions",
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

#: The task of ``neurolearn run heterogeneity`` without ``--dataset``.
DEFAULT_TASK = "fsdd_speakers"
#: Seeds per configuration by default: with 6 pairs the exact paired test can reach p = 0.031
#: (with 5, never below 0.0625; :mod:`neurolearn.analysis.paired`).
DEFAULT_SEEDS = 6


def _load_defaults() -> tuple[dict, dict, dict, dict, list, dict]:
    """(per-dataset defaults, --quick changes, Allen selection, tasks, robustness time
    scales, extra factors) from ``neurolearn/configs/heterogeneity.toml``: each dataset's ``data`` table as
    given, then ``common`` with the dataset's other tables applied (:func:`merge_sections`); a
    task is its ``base`` dataset's defaults with the task's tables applied."""
    cfg = packaged_config("heterogeneity")
    per_dataset = {}
    for name, own in cfg["datasets"].items():
        rest = {section: values for section, values in own.items() if section != "data"}
        per_dataset[name] = {
            "data": own["data"],
            **merge_sections(copy.deepcopy(cfg["common"]), rest),
        }
    tasks = {
        name: merge_sections(
            copy.deepcopy(per_dataset[own["base"]]),
            {k: v for k, v in own.items() if k != "base"},
        )
        for name, own in cfg["tasks"].items()
    }
    return (
        per_dataset,
        cfg["quick"],
        cfg["allen_selection"],
        tasks,
        list(cfg["robustness"]["time_scales"]),
        cfg.get("factors", {}),
    )


#: Training configuration (sections of :data:`neurolearn.training.CONFIG_SCHEMA`) per dataset
#: (``neurolearn/configs/heterogeneity.toml``, where the reasons for each choice are given);
#: ``heterogeneity.configuration`` and ``training.seed`` are set per run.
DATASET_DEFAULTS: dict[str, dict]
#: Changes for ``--quick`` (a smoke run of about two minutes on two cores).
QUICK_OVERRIDES: dict
#: Allen cells the learned tau_m are compared with (filters of
#: :func:`neurolearn.sources.allen.select`).
ALLEN_SELECTION: dict
#: Tasks built on a dataset's defaults (``[tasks.NAME]`` of the file): ``fsdd_speakers``,
#: Spiking FSDD with a speaker-independent split and time-scale augmentation.
TASK_DEFAULTS: dict[str, dict]
#: Time scales of the test input in the robustness test (``[robustness] time_scales``).
ROBUSTNESS_SCALES: list
#: Allen cells whose measured tau_m start :data:`ALLEN_CONFIGURATION` (mouse VISp layer 4
#: spiny cells, one of the paper's selections: 290 cells, median tau_m 20.9 ms, close to the
#: homogeneous 20 ms).
ALLEN_INIT_SELECTION = {"species": "mouse", "area": "VISp", "layer": "4", "dendrite_type": "spiny"}
#: Extra factors of the experiment (``--factor``): name -> level -> changes to every run's
#: training configuration (``delays``: learnable synaptic delays or none).
FACTORS: dict
(
    DATASET_DEFAULTS,
    QUICK_OVERRIDES,
    ALLEN_SELECTION,
    TASK_DEFAULTS,
    ROBUSTNESS_SCALES,
    FACTORS,
) = _load_defaults()


def conditions(factor: str | None = None, configurations=CONFIGURATIONS) -> dict:
    """``{name: (configuration, level, changes)}``: the ``configurations``, or with a
    ``factor`` (key of :data:`FACTORS`; else ValueError) each at each level, named
    ``<configuration>+<level>``."""
    if factor is None:
        return {c: (c, None, {}) for c in configurations}
    if factor not in FACTORS:
        raise ValueError(f"unknown factor {factor!r}; factors: {', '.join(FACTORS)}")
    levels = FACTORS[factor]
    return {f"{c}+{lv}": (c, lv, levels[lv]) for c in configurations for lv in levels}


def experiment_sections(
    dataset: str = "fsdd",
    configuration: str = "het_init_het_train",
    seed: int = 0,
    quick: bool = False,
    overrides: Mapping | None = None,
    preset: str | None = None,
) -> dict:
    """The sections of one run's training configuration as given to
    :func:`neurolearn.training.config_from_dict` (before validation and schema defaults).

    The dataset's defaults (:data:`DATASET_DEFAULTS` or :data:`TASK_DEFAULTS`), then the
    ``preset``'s keys, then the configuration and the seed, then :data:`QUICK_OVERRIDES` with
    ``quick``, then ``overrides``: each change replaces keys within a section (a nested table
    such as ``data.options`` as a whole).

    Parameters
    ----------
    dataset : str
        A key of :data:`DATASET_DEFAULTS` ("fsdd", "shd", "ssc", "nmnist", "braille") or of
        :data:`TASK_DEFAULTS` ("fsdd_speakers").
    configuration : str
        One of :data:`ALL_CONFIGURATIONS` (:data:`ALLEN_CONFIGURATION`:
        ``het_init_het_train`` with the initial tau_m drawn from the measured Allen cells of
        :data:`ALLEN_INIT_SELECTION`).
    seed : int
        ``training.seed`` of the run.
    quick : bool
        Apply :data:`QUICK_OVERRIDES`.
    overrides : mapping of section -> mapping, optional
        Further changes (e.g. ``{"training": {"epochs": 5}}``).
    preset : str, optional
        A preset of :data:`neurolearn.training.presets.PRESETS` (``"perez-nieves"``).

    Returns
    -------
    dict
        ``{section: {key: value}}``.

    Raises
    ------
    ValueError
        For an unknown dataset or configuration.
    """
    defaults = {**DATASET_DEFAULTS, **TASK_DEFAULTS}
    if dataset not in defaults:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(defaults)}")
    if configuration not in ALL_CONFIGURATIONS:
        raise ValueError(
            f"unknown configuration {configuration!r}; choose one of "
            f"{', '.join(ALL_CONFIGURATIONS)}"
        )
    data = defaults[dataset]
    if preset is not None:
        from ..training.presets import apply_preset

        data = apply_preset(data, preset, over=True)
    het = {"configuration": configuration}
    if configuration == ALLEN_CONFIGURATION:
        # heterogeneous and trained as het_init_het_train, the initial tau_m drawn (with
        # replacement, not rescaled) from the measured tau_m of the Allen selection
        het = {"configuration": "het_init_het_train", "distribution": "allen"}
        het["allen"] = dict(ALLEN_INIT_SELECTION)
    data = merge_sections(data, {"heterogeneity": het, "training": {"seed": int(seed)}})
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
    preset: str | None = None,
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
    preset : str, optional
        See :func:`experiment_sections`.

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

    return config_from_dict(
        experiment_sections(dataset, configuration, seed, quick, overrides, preset)
    )


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


def _check_choices(configurations, time_scales) -> list:
    """The time scales of the robustness test; refuses unknown configurations."""
    unknown = [c for c in configurations if c not in ALL_CONFIGURATIONS]
    if unknown or not configurations:
        raise ValueError(
            f"configurations must be some of {', '.join(ALL_CONFIGURATIONS)}, got {unknown}"
        )
    return ROBUSTNESS_SCALES if time_scales is None else [float(t) for t in time_scales]


def _load_once(d: Mapping) -> None:
    """Load the test set once here (converts and caches Spiking FSDD on first use), so that
    the workers only read the cache."""
    from ..datasets import load_dataset

    opts = dict(d.get("options") or {})
    test = load_dataset(
        d["dataset"], "test", dt_ms=d["dt_ms"], duration_ms=d["duration_ms"], **opts
    )
    log.info("%s test set: %d samples, %d channels", d["dataset"], len(test), test.n_channels)


def _description(configs, dataset, quick, backend, preset, scales, factor) -> dict:
    """What ``out/experiment.json`` records: the settings common to every run."""
    any_config = next(iter(configs.values())).to_dict()
    any_config["heterogeneity"].pop("configuration")
    any_config["training"].pop("seed")
    description = {
        "experiment": "heterogeneity",
        "dataset": dataset,
        "quick": bool(quick),
        "backend": backend,
        "settings": any_config,
        "preset": preset,
        "time_scales": scales,
    }
    if factor is not None:
        description["factor"] = {factor: FACTORS[factor]}
    return description


def _jobs(configs, seeds: int, runs, out: Path, backend: str, scales) -> list[dict]:
    """The runs (:mod:`.runs`) in seed-major order: an interrupted experiment has every
    configuration for the first seeds."""
    return [
        {
            "configuration": c,
            "seed": s,
            "config": configs[c, s].to_dict(),
            "run_dir": str(out / "runs" / c / f"seed{s}"),
            "backend": backend,
            "progress": False,
            "time_scales": scales,
        }
        for s in range(seeds)
        for c in runs
    ]


def run_heterogeneity(
    dataset: str = DEFAULT_TASK,
    seeds: int = DEFAULT_SEEDS,
    quick: bool = False,
    out: str | os.PathLike = "results/heterogeneity",
    jobs: int | None = None,
    backend: str = "numpy",
    progress: bool = True,
    overrides: Mapping | None = None,
    configurations=ALL_CONFIGURATIONS,
    time_scales=None,
    preset: str | None = None,
    factor: str | None = None,
    scheduler: str | None = None,
) -> dict:
    """Train, check in Brian2, test for robustness and summarise the configurations (at
    every level of an extra ``factor``).

    Parameters
    ----------
    dataset : str
        A dataset or task of :func:`experiment_sections`; default :data:`DEFAULT_TASK`
        (Spiking FSDD, speaker-independent split).
    seeds : int
        Seeds per configuration (>= 1; seeds 0..N-1, the same for every configuration: a
        paired design); ``quick`` uses 1.
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
    configurations : sequence of str
        Of :data:`ALL_CONFIGURATIONS` (default all five).
    time_scales : sequence of float, optional
        Time scales of the robustness test (default :data:`ROBUSTNESS_SCALES`; empty: none).
    preset : str, optional
        A training preset applied over the defaults (``"perez-nieves"``).
    factor : str, optional
        A key of :data:`FACTORS` (``"delays"``): every configuration at every level, runs
        in ``out/runs/<configuration>+<level>`` (:func:`conditions`).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); default
        :func:`neurolearn.executor.resolve_scheduler` (``$NEUROLEARN_SCHEDULER``, the Dask
        configuration key ``neurolearn.scheduler``), else local. Each configuration x seed is
        a task; a run's numbers do not depend on where it ran (its seed is its own).

    Returns
    -------
    dict
        The content of ``results.json`` (:mod:`.heterogeneity_results`) plus
        ``"table_markdown"`` and ``"out"``.

    Raises
    ------
    ValueError
        Bad arguments, or ``out`` holding an experiment run with other settings.
    neurolearn.executor.TaskFailed
        A run failed on a Dask worker (names the configuration and seed, and the error).
    """
    if seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    if quick:
        seeds = 1
    out = Path(out)
    t_start = time.time()
    scales = _check_choices(configurations, time_scales)
    runs = conditions(factor, configurations)
    configs = {
        (name, s): experiment_config(
            dataset,
            c,
            s,
            quick,
            merge_sections(copy.deepcopy(dict(overrides or {})), level),
            preset,
        )
        for name, (c, _lv, level) in runs.items()
        for s in range(seeds)
    }
    description = _description(configs, dataset, quick, backend, preset, scales, factor)
    _claim_folder(out, description, seeds)
    _load_once(description["settings"]["data"])
    jobs_list = _jobs(configs, seeds, runs, out, backend, scales)
    # completed runs are skipped (also checked in the run, for a folder completed meanwhile)
    jobs_list = [job for job in jobs_list if not run_complete(job)]
    if jobs is not None and jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {jobs}")
    n_workers = max(1, min(jobs or available_workers(), len(jobs_list)))
    done = []
    if jobs_list:
        done = run_trainings(jobs_list, n_workers, progress, f"heterogeneity {dataset}", scheduler)
    results = summarize_runs(
        out,
        dataset=dataset,
        backend=backend,
        progress=progress,
        detailed=not quick,
        allen_selection=ALLEN_SELECTION,
        names=list(runs),
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
# Command line (``neurolearn run heterogeneity``, ``neurolearn reproduce heterogeneity``)
# ---------------------------------------------------------------------------------------------
#: What ``neurolearn run heterogeneity --help`` says the experiment does.
DESCRIPTION = (
    "Train the four Perez-Nieves et al. (2021) configurations (homogeneous or "
    "heterogeneous initial tau x weights-only or weights-and-tau training) and a fifth "
    "started from measured Allen cells, for N seeds (the same for every configuration), "
    "check every trained network in Brian2, test it on inputs stretched or compressed in "
    "time, compare configurations with paired tests, fit and compare the learned tau "
    "with Allen selections, and write results.json, results.md and figures. Completed runs "
    "are skipped when run again."
)


def add_arguments(parser) -> None:
    """Options of the experiment: ``--dataset`` (a key of :data:`DATASET_DEFAULTS` or
    :data:`TASK_DEFAULTS`), ``--seeds``, ``--quick``, ``--out``, ``--jobs``, ``--backend``
    (one of :data:`neurolearn.brian.backends.BACKENDS`), ``--configurations``, ``--preset``,
    ``--factor``, ``--scheduler`` and ``--no-progress``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        Receives the options.
    """
    parser.add_argument(
        "--dataset",
        default=DEFAULT_TASK,
        choices=tuple(DATASET_DEFAULTS) + tuple(TASK_DEFAULTS),
        help=f"dataset or task (default: {DEFAULT_TASK}, Spiking FSDD with train, validation "
        "and test speakers disjoint; fsdd: the official split)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=DEFAULT_SEEDS,
        metavar="N",
        help=f"seeds per configuration, the same for all (default {DEFAULT_SEEDS})",
    )
    parser.add_argument(
        "--configurations",
        nargs="+",
        default=list(ALL_CONFIGURATIONS),
        choices=ALL_CONFIGURATIONS,
        metavar="NAME",
        help=f"configurations to run (default all: {', '.join(ALL_CONFIGURATIONS)})",
    )
    parser.add_argument(
        "--factor",
        default=None,
        choices=tuple(FACTORS),
        help="extra factor: every configuration at each of its levels (delays: with and "
        "without learnable synaptic delays)",
    )
    parser.add_argument(
        "--preset",
        default=None,
        metavar="NAME",
        help="training preset applied over the defaults (perez-nieves)",
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
    add_scheduler_argument(parser)
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
        configurations=tuple(getattr(args, "configurations", ALL_CONFIGURATIONS)),
        preset=getattr(args, "preset", None),
        factor=getattr(args, "factor", None),
        scheduler=args.scheduler,
    )
    print(results["table_markdown"])
    print(f"results in {results['out']}")
    return results


REPRODUCTION = register(
    Reproduction(
        name="heterogeneity",
        description="Does heterogeneity of trained membrane time constants help a spiking "
        "network learn? Five configurations, paired statistics, robustness to time scale, "
        "checked in Brian2, learned tau against Allen cells",
        reference="Perez-Nieves, Leung, Dragotti & Goodman (2021) Nat. Commun. 12:5791",
        add_arguments=add_arguments,
        run=run,
    )
)


if __name__ == "__main__":
    sys.exit(REPRODUCTION.main())

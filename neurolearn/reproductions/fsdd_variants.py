"""The Spiking FSDD variants behind the main job's defaults, and a non-spiking reference.

The README's tables "Regularisation, augmentation and adaptive neurons" and "The cochlear
front end" list training variants of one Perez-Nieves configuration (``hom_init_het_train``
unless stated) on Spiking FSDD (the Free Spoken Digit Dataset through the cochlear model,
10-ms bins, 700 ms; :mod:`neurolearn.datasets.fsdd`). This script reruns them (the older
table "How the first of these defaults were chosen" was measured with earlier code and is
not rerun): every variant (``neurolearn/configs/fsdd_variants.toml``) is a set of overrides of
``neurolearn.reproductions.heterogeneity.DATASET_DEFAULTS["fsdd"]`` (the main job's defaults)
that names every setting it depends on, so a variant means the same network when the
defaults move. Each run is an ordinary ``neurolearn train`` folder; finished runs are
skipped and an interrupted one resumes from its last checkpoint, so the script can be
stopped and started again.

The reference (``--gru``) is a gated recurrent unit network (128 units, Cho et al. 2014, as
``torch.nn.GRU``) with a linear readout, trained on the same binary input with
cross-entropy on the maximum over time (Adam, learning rate 3e-3, batch 32): what a
non-spiking recurrent network of the same size reaches on this input representation.

Run::

    python -m neurolearn.reproductions.fsdd_variants --out results/fsdd_variants [--only NAME ...]
                                     [--seeds 0 1 2] [--gru] [--list]
                                     [--workers N | --scheduler ADDRESS]

The runs are tasks of :class:`neurolearn.executor.Executor` (through
:func:`neurolearn.reproductions.runs.run_trainings`): in this process, on ``--workers`` local
processes, or on a Dask cluster (``--scheduler``), with the same numbers and files.

writes ``variants.json`` (every run: validation, test and training accuracy, CPU seconds;
per variant the mean and SD of the test accuracy over its seeds), ``variants.md`` (the
table) and, with ``--gru``, ``gru_reference.json`` (test accuracy after every epoch, on the
first front end and on the defaults' one). One
spiking run costs about 90-130 s of CPU (one thread); the full list about an hour.
"""

from __future__ import annotations

import copy
import json
import math
import statistics
import sys
import time
from pathlib import Path

# the rule experiment_config applies to overrides: per section, keys replaced (a nested
# dict such as data.options as a whole)
from neurolearn.executor import add_scheduler_argument
from neurolearn.reproductions.defaults import merge_sections, packaged_config
from neurolearn.reproductions.registry import Reproduction, UsageError, register

__all__ = [
    "FRONT_END_V1",
    "BASE_LIF",
    "BASE_ALIF",
    "VARIANTS",
    "variant_sections",
    "variant_config",
    "run_variant",
    "variant_jobs",
    "gru_reference",
    "add_arguments",
    "run",
    "REPRODUCTION",
    "main",
]


def _load_variants() -> tuple[dict, dict, dict, dict]:
    """(front end v1, LIF base, ALIF base, variants) from ``neurolearn/configs/fsdd_variants.toml``:
    a variant's overrides are its base (the first front end with ``bases.<base>``) with its
    ``changes`` applied (:func:`merge_sections`)."""
    cfg = packaged_config("fsdd_variants")
    front_end = cfg["front_end_v1"]
    bases = {name: {**front_end, **base} for name, base in cfg["bases"].items()}
    variants = {
        name: (
            v["description"],
            merge_sections(bases[v["base"]], v.get("changes", {})),
            tuple(v["seeds"]),
            v["configuration"],
        )
        for name, v in cfg["variants"].items()
    }
    return front_end, bases["lif"], bases["alif"], variants


#: The first cochlear front end: 64 channels, one LIF unit per channel, the cochlear model's
#: default gain (:class:`neurolearn.datasets.cochlea.CochleaParams`).
FRONT_END_V1: dict
#: The LIF network of the earlier defaults: no adaptation, no input deletion.
BASE_LIF: dict
#: Adaptive LIF (``models/alif.toml``, Bellec et al. 2018) with 20 % input deletion.
BASE_ALIF: dict
#: name -> (description, overrides of the main job's defaults, seeds, configuration), from
#: ``neurolearn/configs/fsdd_variants.toml``.
VARIANTS: dict[str, tuple[str, dict, tuple, str]]
FRONT_END_V1, BASE_LIF, BASE_ALIF, VARIANTS = _load_variants()


def variant_sections(name: str, seed: int, configuration: str | None = None) -> dict:
    """The sections of one run's training configuration as given to
    :func:`neurolearn.training.config_from_dict` (before validation and schema defaults):
    the main job's Spiking FSDD defaults with the variant's overrides
    (:func:`neurolearn.reproductions.heterogeneity.experiment_sections`).

    Parameters
    ----------
    name : str
        A key of :data:`VARIANTS`.
    seed : int
        ``training.seed`` of the run.
    configuration : str, optional
        One of ``neurolearn.reproductions.heterogeneity.CONFIGURATIONS``; default the
        variant's own.

    Returns
    -------
    dict
        ``{section: {key: value}}``.

    Raises
    ------
    KeyError
        For an unknown variant (the message lists the known ones).
    """
    from neurolearn.reproductions.heterogeneity import experiment_sections

    if name not in VARIANTS:
        raise KeyError(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
    _, overrides, _, own = VARIANTS[name]
    return experiment_sections(
        "fsdd", configuration or own, seed, overrides=copy.deepcopy(overrides)
    )


def variant_config(name: str, seed: int, configuration: str | None = None):
    """The training configuration of one run of a variant.

    Parameters
    ----------
    name : str
        A key of :data:`VARIANTS`.
    seed : int
    configuration : str, optional
        One of ``neurolearn.reproductions.heterogeneity.CONFIGURATIONS``; default the
        variant's own.

    Returns
    -------
    neurolearn.training.TrainingConfig
        :func:`variant_sections` validated, with the schema's defaults filled in.

    Raises
    ------
    KeyError
        For an unknown variant (the message lists the known ones).
    """
    from neurolearn.reproductions.heterogeneity import experiment_config

    if name not in VARIANTS:
        raise KeyError(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
    _, overrides, _, own = VARIANTS[name]
    return experiment_config("fsdd", configuration or own, seed, overrides=copy.deepcopy(overrides))


def run_variant(
    name: str, seed: int, out: Path, configuration: str | None = None, progress: bool = False
) -> dict:
    """Train (or resume, or read back) one run of a variant in
    ``out/runs/<name>/<configuration>/seed<seed>``.

    Returns
    -------
    dict
        ``variant``, ``configuration``, ``seed``, ``val_accuracy``, ``test_accuracy``,
        ``train_accuracy`` (fractions) and ``cpu_s`` (CPU seconds of this call; 0 for a run
        that was already finished).
    """
    from neurolearn.reproductions.runs import run_training

    (job,) = variant_jobs([name], [seed], out, configuration)
    return _row(job, run_training(dict(job, progress=progress)))


def variant_jobs(
    names, seeds: list | None, out: Path, configuration: str | None = None
) -> list[dict]:
    """The runs of variants ``names`` as jobs of
    :func:`~neurolearn.reproductions.runs.run_trainings` (training only: no Brian2
    evaluation), in ``out/runs/<name>/<configuration>/seed<seed>``.

    Parameters
    ----------
    names : sequence of str
        Keys of :data:`VARIANTS`.
    seeds : list of int or None
        Seeds of every variant (None: each variant's own).
    out : Path
        Output folder.
    configuration : str, optional
        Perez-Nieves configuration of every run (default: each variant's).

    Returns
    -------
    list of dict
    """
    jobs = []
    for name in names:
        conf = configuration or VARIANTS[name][3]
        for seed in seeds if seeds is not None else VARIANTS[name][2]:
            jobs.append(
                {
                    "variant": name,
                    "configuration": f"{name}/{conf}",
                    "seed": int(seed),
                    "config": variant_config(name, seed, configuration).to_dict(),
                    "run_dir": str(out / "runs" / name / conf / f"seed{seed}"),
                    "backend": None,
                    "progress": False,
                }
            )
    return jobs


def _row(job: dict, done: dict) -> dict:
    """A row of ``variants.json`` from a job and its
    :func:`~neurolearn.reproductions.runs.run_training` result (CPU seconds of the call: 0
    for a run that was already finished)."""
    summary = done["summary"]
    return {
        "variant": job["variant"],
        "configuration": job["configuration"].split("/", 1)[1],
        "seed": job["seed"],
        "val_accuracy": summary.get("val_accuracy"),
        "test_accuracy": summary.get("test_accuracy"),
        "train_accuracy": summary.get("train_accuracy"),
        "cpu_s": round(done["cpu_s"], 1),
    }


def gru_reference(
    epochs: int = 12,
    hidden: int = 128,
    seed: int = 0,
    lr: float = 3e-3,
    batch_size: int = 32,
    options: dict | None = None,
    dt_ms: float = 10.0,
    duration_ms: float = 700.0,
) -> dict:
    """Test accuracy of a GRU network on the binary Spiking FSDD input, after every epoch.

    Input ``[time, batch, inputs]`` = ``[duration_ms / dt_ms, batch, inputs]`` (0/1; the
    cochlear ``options`` of :data:`FRONT_END_V1` unless given),
    ``torch.nn.GRU`` (Cho et al. 2014) with ``hidden`` units, a linear readout, cross-entropy
    on the maximum over time of its output; the official split (utterances 0-4 of every
    speaker and digit for testing), no validation split, one CPU thread.

    Returns
    -------
    dict
        ``test_accuracy_per_epoch`` (fractions), ``cpu_s``, and the settings.
    """
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    from neurolearn.datasets import load_dataset

    opts = dict(FRONT_END_V1["data"]["options"] if options is None else options)
    torch.set_num_threads(1)
    torch.manual_seed(seed)

    def tensors(split):
        ds = load_dataset("fsdd", split, dt_ms=dt_ms, duration_ms=duration_ms, binary=True, **opts)
        x, y = ds.dense()
        return torch.as_tensor(np.asarray(x)), torch.as_tensor(np.asarray(y))

    x_train, y_train = tensors("train")
    x_test, y_test = tensors("test")
    gru = torch.nn.GRU(x_train.shape[2], hidden)
    readout = torch.nn.Linear(hidden, int(y_train.max()) + 1)
    params = list(gru.parameters()) + list(readout.parameters())
    opt = torch.optim.Adam(params, lr)

    def logits(x):
        return readout(gru(x)[0]).amax(0)

    t0 = time.process_time()
    accs = []
    for _ in tqdm(range(epochs), desc="GRU reference", unit="epoch"):
        order = torch.randperm(len(y_train))
        for i in range(0, len(order), batch_size):
            b = order[i : i + batch_size]
            loss = torch.nn.functional.cross_entropy(logits(x_train[:, b]), y_train[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            accs.append(float((logits(x_test).argmax(1) == y_test).float().mean()))
    return {
        "model": f"GRU ({hidden} units) + linear readout, max over time",
        "epochs": epochs,
        "seed": seed,
        "lr": lr,
        "batch_size": batch_size,
        "options": opts,
        "dt_ms": dt_ms,
        "duration_ms": duration_ms,
        "test_accuracy_per_epoch": accs,
        "cpu_s": round(time.process_time() - t0, 1),
    }


def _summary(rows: list[dict]) -> dict:
    out: dict = {}
    for r in rows:
        key = f"{r['variant']}/{r['configuration']}"
        out.setdefault(key, []).append(r)
    table = {}
    for key, rs in out.items():
        tests = [100 * r["test_accuracy"] for r in rs]
        table[key] = {
            "description": VARIANTS[rs[0]["variant"]][0],
            "seeds": [r["seed"] for r in rs],
            "test_accuracy_mean": statistics.fmean(tests),
            "test_accuracy_sd": statistics.stdev(tests) if len(tests) > 1 else math.nan,
        }
    return table


def _markdown(rows: list[dict]) -> str:
    lines = [
        "| variant | configuration | seed | val (%) | test (%) | train (%) | CPU (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:

        def pct(v):
            return f"{100 * v:.1f}" if isinstance(v, (int, float)) else "-"

        lines.append(
            f"| {VARIANTS[r['variant']][0]} | {r['configuration']} | {r['seed']} | "
            f"{pct(r['val_accuracy'])} | {pct(r['test_accuracy'])} | "
            f"{pct(r['train_accuracy'])} | {r['cpu_s']} |"
        )
    lines += ["", "| variant | configuration | seeds | test (%) mean +- SD |", "|---|---|---|---|"]
    for key, s in _summary(rows).items():
        sd = "" if math.isnan(s["test_accuracy_sd"]) else f" +- {s['test_accuracy_sd']:.1f}"
        lines.append(
            f"| {s['description']} | {key.split('/')[1]} | "
            f"{', '.join(map(str, s['seeds']))} | {s['test_accuracy_mean']:.1f}{sd} |"
        )
    return "\n".join(lines) + "\n"


def add_arguments(parser) -> None:
    """Options of ``neurolearn reproduce fsdd_variants`` (see the module docstring).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        Receives the options.
    """
    parser.add_argument("--out", type=Path, help="output folder (required unless --list)")
    parser.add_argument(
        "--only",
        nargs="*",
        default=None,
        metavar="NAME",
        help="run only these variants (default: all; --list shows them)",
    )
    parser.add_argument(
        "--seeds",
        nargs="*",
        type=int,
        default=None,
        help="seeds of every variant (default: each variant's own)",
    )
    parser.add_argument(
        "--configuration",
        default=None,
        help="Perez-Nieves configuration of every run (default: each variant's)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="local worker processes, one run each (default 1: this process); the numbers "
        "do not depend on it",
    )
    add_scheduler_argument(parser, "; the workers need no shared filesystem")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--gru", action="store_true", help="also train the GRU reference")
    parser.add_argument("--list", action="store_true", help="list the variants and exit")


def run(args) -> dict:
    """Run the selected variants (and the GRU reference); writes ``variants.json`` and
    ``variants.md`` after every run (and ``gru_reference.json``) into ``args.out`` and returns
    what ``variants.json`` holds (with ``gru_reference`` when run). With ``--list`` prints the
    variants and returns them, writing nothing.

    Parameters
    ----------
    args : argparse.Namespace
        The options of :func:`add_arguments`.

    Returns
    -------
    dict
        What was written as JSON (see above).

    Raises
    ------
    UsageError
        Without ``--out`` (unless ``--list``), or for an unknown variant in ``--only``.
    """
    from neurolearn.io import atomic_write_json, atomic_write_text, finite_or_none

    if args.list:
        for name, (desc, _over, seeds, conf) in VARIANTS.items():
            print(f"{name:22s} {desc} [{conf}, seeds {', '.join(map(str, seeds))}]")
        return {
            "variants": {
                name: {"description": desc, "seeds": list(seeds), "configuration": conf}
                for name, (desc, _over, seeds, conf) in VARIANTS.items()
            }
        }
    if args.out is None:
        raise UsageError("--out is required")
    names = list(VARIANTS) if args.only is None else args.only
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise UsageError(
            f"--only: unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = variant_jobs(names, args.seeds, args.out, args.configuration)
    rows: list = [None] * len(jobs)
    result = {"runs": [], "summary": {}}

    def write(index: int, done: dict) -> None:
        # after every run, so that an interrupted job leaves a consistent table
        nonlocal result
        rows[index] = row = _row(jobs[index], done)
        print(json.dumps(row), flush=True)
        finished = [r for r in rows if r is not None]
        result = finite_or_none({"runs": finished, "summary": _summary(finished)})
        atomic_write_json(args.out / "variants.json", result)
        atomic_write_text(args.out / "variants.md", _markdown(finished))

    from neurolearn.reproductions.runs import run_trainings

    workers = 1 if args.workers is None else args.workers
    run_trainings(jobs, workers, not args.no_progress, "variants", args.scheduler, write)
    if args.gru:
        from neurolearn.reproductions.heterogeneity import DATASET_DEFAULTS

        refs = {}
        for front_end, options in (
            ("first", FRONT_END_V1["data"]["options"]),
            ("defaults", DATASET_DEFAULTS["fsdd"]["data"]["options"]),
        ):
            refs[front_end] = ref = gru_reference(options=options)
            print(
                f"GRU reference ({front_end} front end {options}): test accuracy per epoch "
                f"{', '.join(f'{100 * a:.1f}' for a in ref['test_accuracy_per_epoch'])} %"
            )
        atomic_write_json(args.out / "gru_reference.json", refs)
        result = dict(result, gru_reference=refs)
    return result


REPRODUCTION = register(
    Reproduction(
        name="fsdd_variants",
        description="The Spiking FSDD training variants behind the heterogeneity "
        "experiment's defaults, and a non-spiking GRU reference",
        reference="Perez-Nieves, Leung, Dragotti & Goodman (2021) Nat. Commun. 12:5791 "
        "(configurations); Bellec et al. (2018) NeurIPS 31 (adaptive LIF); Cho et al. (2014) "
        "EMNLP (GRU)",
        add_arguments=add_arguments,
        run=run,
    )
)


def main(argv=None) -> int:
    """Command line (see the module docstring); returns the exit code (argparse exits with 2
    for bad options, naming them, e.g. an unknown variant in ``--only``)."""
    return REPRODUCTION.main(argv)


if __name__ == "__main__":
    sys.exit(main())

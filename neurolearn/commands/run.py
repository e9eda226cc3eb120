"""``neurolearn run EXPERIMENT ...``: the packaged experiments (see
:mod:`neurolearn.reproductions`). ``neurolearn run heterogeneity`` is the main job."""

from __future__ import annotations

__all__ = ["register"]


def _heterogeneity(args) -> int:
    from ..reproductions.heterogeneity import run_heterogeneity

    results = run_heterogeneity(
        dataset=args.dataset,
        seeds=args.seeds,
        quick=args.quick,
        out=args.out,
        jobs=args.jobs,
        backend=args.backend,
        progress=not args.no_progress,
    )
    print(results["table_markdown"])
    print(f"results in {results['out']}")
    return 0


def register(subparsers) -> None:
    """Add the ``run`` command and its experiments."""
    from ..brian.backends import BACKENDS  # the backend table's names

    p = subparsers.add_parser(
        "run",
        help="run a packaged experiment (heterogeneity)",
        description="Run a packaged experiment end to end.",
    )
    sub = p.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")
    h = sub.add_parser(
        "heterogeneity",
        help="Perez-Nieves et al. 2021: does heterogeneity of trained time constants help?",
        description="Train the four Perez-Nieves et al. (2021) configurations (homogeneous or "
        "heterogeneous initial tau x weights-only or weights-and-tau training) for "
        "N seeds, check every trained network in Brian2, compare the learned tau "
        "with the Allen Cell Types Database, and write results.json, results.md "
        "and figures. Completed runs are skipped when run again.",
    )
    h.add_argument(
        "--dataset",
        default="fsdd",
        choices=("fsdd", "shd", "ssc", "nmnist", "braille"),
        help="dataset (default: fsdd, the Spiking Free Spoken Digit Dataset)",
    )
    h.add_argument(
        "--seeds", type=int, default=3, metavar="N", help="seeds per configuration (default 3)"
    )
    h.add_argument(
        "--quick",
        action="store_true",
        help="smoke run (~2 minutes): 500 samples, 64 neurons, 3 epochs, 1 seed",
    )
    h.add_argument(
        "--out",
        default="results/heterogeneity",
        metavar="DIR",
        help="output folder (default results/heterogeneity)",
    )
    h.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="trainings run in parallel, one CPU thread each (default: CPU count)",
    )
    h.add_argument(
        "--backend",
        default="numpy",
        choices=BACKENDS,
        help="Brian2 target of the agreement check (default numpy)",
    )
    h.add_argument("--no-progress", action="store_true", help="no progress bars")
    h.set_defaults(func=_heterogeneity)

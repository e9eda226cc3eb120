"""``neurolearn run EXPERIMENT ...``: the packaged experiments (see
:mod:`neurolearn.reproductions`). ``neurolearn run heterogeneity`` is the main job; it is the
reproduction ``heterogeneity`` (``neurolearn reproduce heterogeneity`` runs the same), whose
options and run function this command uses."""

from __future__ import annotations

import sys

from ..extras import require

__all__ = ["register"]


def _heterogeneity(args) -> int:
    require("torch", "neurolearn run heterogeneity")
    from ..reproductions.registry import get_reproduction

    get_reproduction("heterogeneity").run_recorded(args, command=["neurolearn", *sys.argv[1:]])
    return 0


def register(subparsers) -> None:
    """Add the ``run`` command and its experiments."""
    from ..reproductions import heterogeneity

    p = subparsers.add_parser(
        "run",
        help="run a packaged experiment (heterogeneity)",
        description="Run a packaged experiment end to end.",
    )
    sub = p.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")
    h = sub.add_parser(
        "heterogeneity",
        help="Perez-Nieves et al. 2021: does heterogeneity of trained time constants help?",
        description=heterogeneity.DESCRIPTION,
    )
    heterogeneity.add_arguments(h)
    h.set_defaults(func=_heterogeneity)

"""The command line shared by the reproduction modules of :mod:`neurolearn.reproductions` that
simulate one network (Song et al. 2000, Izhikevich 2007, ...): the common options, the checks
of their values, and the generate-only / summarise / plot / write-JSON ending.

A module's ``add_arguments`` calls :func:`add_common_arguments` and adds its own options; its
``run`` hands its ``build_and_run``, ``summarize`` and ``plot`` to :func:`run_reproduction`
(see :mod:`neurolearn.reproductions.registry` for the protocol).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..brian.backends import BACKENDS
from ..io import atomic_write_json, finite_or_none
from .registry import UsageError

__all__ = ["add_common_arguments", "check_generate_only", "run_reproduction"]


def add_common_arguments(
    parser: argparse.ArgumentParser, duration_s: float, backend: str = "cpp_standalone"
) -> argparse.ArgumentParser:
    """Add the options every simulating reproduction has: ``--out`` (required), ``--backend``,
    ``--duration-s`` (simulated time, s), ``--seed``, ``--generate-only`` and
    ``--project-dir`` (standalone backends).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The reproduction's parser.
    duration_s : float
        Default simulated time in s (the paper's).
    backend : str
        Default Brian2 backend (one of :data:`neurolearn.brian.backends.BACKENDS`).

    Returns
    -------
    argparse.ArgumentParser
        ``parser``.
    """
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument(
        "--backend",
        default=backend,
        help=f"{' | '.join(BACKENDS)} (default {backend})",
    )
    parser.add_argument(
        "--duration-s",
        type=float,
        default=duration_s,
        help=f"simulated time in s (default {duration_s:g})",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--generate-only",
        action="store_true",
        help="standalone: write the project, do not compile or run it",
    )
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=None,
        help="folder of the standalone project, kept (default: a temporary one, removed "
        "when the run ends; with --generate-only: OUT/<name>_<backend>_project)",
    )
    return parser


def run_reproduction(
    args: argparse.Namespace,
    stem: str,
    build_and_run: Callable[..., dict],
    summarize: Callable[[dict], dict],
    plot: Callable[[dict, dict, Path], Any],
    printed: Callable | None = None,
    **kwargs,
) -> dict:
    """Check the common options, run, and write the results into ``args.out``.

    ``build_and_run(backend, duration_s=..., seed=..., directory=..., generate_only=...,
    **kwargs)`` returns the raw results (with ``generate_only``: what was generated, written
    to ``<stem>_<backend>_project.json``); otherwise ``summarize(raw)`` gives the summary,
    written atomically to ``<stem>.json`` (strict JSON: NaN and infinities become ``null``),
    and ``plot(summary, raw, out/"<stem>_weights")`` draws the figures.

    Parameters
    ----------
    args : argparse.Namespace
        Options added by :func:`add_common_arguments`.
    stem : str
        File name stem of the outputs.
    build_and_run, summarize, plot : callables
        The module's own functions.
    printed : callable, optional
        Selects what of the summary is printed (default all).
    **kwargs
        Module-specific arguments of ``build_and_run``.

    Returns
    -------
    dict
        What was written as JSON (the summary, or the generated project's description).

    Raises
    ------
    UsageError
        For ``--duration-s`` <= 0 (before anything is built or written).
    """
    if args.duration_s <= 0:
        raise UsageError(f"--duration-s must be > 0, got {args.duration_s:g}")
    args.out.mkdir(parents=True, exist_ok=True)
    project_dir = args.project_dir
    if args.generate_only and project_dir is None:  # a temporary project would be removed
        project_dir = args.out / f"{stem}_{args.backend}_project"
    raw = build_and_run(
        args.backend,
        duration_s=args.duration_s,
        seed=args.seed,
        directory=project_dir,
        generate_only=args.generate_only,
        **kwargs,
    )
    if args.generate_only:
        atomic_write_json(args.out / f"{stem}_{args.backend}_project.json", raw)
        print(json.dumps(raw))
        return raw
    summary = summarize(raw)
    plot(summary, raw, args.out / f"{stem}_weights")
    summary = finite_or_none(summary)
    atomic_write_json(args.out / f"{stem}.json", summary)
    print(json.dumps(printed(summary) if printed else summary, indent=1))
    return summary


def check_generate_only(generate_only: bool, directory) -> None:
    """Refuse ``generate_only`` without a project folder: a temporary project is removed
    once the backend is released, so the returned path would soon point nowhere.

    Raises
    ------
    ValueError
        If ``generate_only`` is true and ``directory`` is None.
    """
    if generate_only and directory is None:
        raise ValueError(
            "generate_only=True needs directory=: a temporary project folder is removed when "
            "the backend is released, so give the folder the project should be written to"
        )

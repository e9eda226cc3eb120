"""``neurolearn evaluate DIR [--backend ...] [--json]``: run a trained network's test set
through its Brian2 export and compare with torch (see :mod:`neurolearn.training.evaluation`).

Standalone projects go to ``--build-dir DIR`` (kept) or to the project cache
(:mod:`neurolearn.brian.projects`). To run on another machine (``cuda_standalone`` on a GPU
machine): ``--build-dir DIR --generate-only`` here, ``./main`` in each ``DIR/chunk_*`` there,
then ``--from-build DIR`` here."""

from __future__ import annotations

import json
from pathlib import Path

from ..extras import require

__all__ = ["register"]


def _run(args) -> int:
    require("torch", "neurolearn evaluate")
    from ..training.evaluation import evaluate_run

    if args.generate_only and args.from_build is not None:
        raise ValueError("--generate-only and --from-build exclude each other")
    if args.generate_only and args.build_dir is None:
        raise ValueError("--generate-only needs --build-dir DIR (the folder to copy elsewhere)")
    stage = "generate" if args.generate_only else "load" if args.from_build else "run"
    result = evaluate_run(
        args.run,
        backend=args.backend,
        max_samples=args.max_samples,
        chunk_size=args.chunk_size,
        progress=not (args.json or args.quiet),
        build_dir=args.from_build if args.from_build is not None else args.build_dir,
        stage=stage,
    )
    if stage == "generate":
        folders = " ".join(str(p) for p in result["chunks"])
        print(
            f"generated {len(result['chunks'])} {result['backend']} project(s) for "
            f"{result['n_samples']} test samples in {result['build_dir']}. Copy that folder "
            f"to the machine that runs them, run ./main in each of {folders} there (for d in "
            f"chunk_*; do (cd $d && ./main); done; compile first with make where it was not "
            f"compiled here), copy it back and run: neurolearn evaluate {args.run} "
            f"--from-build {result['build_dir']}"
        )
        return 0
    if args.json:
        print(
            json.dumps(
                {
                    "torch_accuracy": result["torch_accuracy"],
                    "brian2_accuracy": result["brian2_accuracy"],
                    "agreement": result["agreement"],
                }
            )
        )
    else:
        print(f"test samples     {result['n_samples']}")
        print(f"torch accuracy   {100 * result['torch_accuracy']:.2f} %")
        print(f"Brian2 accuracy  {100 * result['brian2_accuracy']:.2f} % ({result['backend']})")
        print(f"same prediction  {100 * result['agreement']:.2f} % of samples")
    return 0


def register(subparsers) -> None:
    """Add the ``evaluate`` command."""
    from ..brian.backends import BACKENDS

    p = subparsers.add_parser(
        "evaluate",
        help="test a trained network in Brian2 and compare with torch",
        description="Run the test set through the Brian2 export of a trained network (many "
        "samples at once, as independent copies in one Brian2 network) and report "
        "accuracy next to torch's and the fraction of samples with the same "
        "prediction. Writes DIR/evaluation_<backend>.json.",
    )
    p.add_argument("run", metavar="DIR", help="output folder of `neurolearn train`")
    p.add_argument(
        "--backend",
        default="numpy",
        choices=BACKENDS,
        help="Brian2 code-generation target (default: numpy)",
    )
    p.add_argument(
        "--max-samples",
        type=int,
        default=None,
        metavar="N",
        help="evaluate only the first N test samples",
    )
    p.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        metavar="N",
        help="samples per Brian2 network (default: chosen from the network size)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='print {"torch_accuracy", "brian2_accuracy", "agreement"} as JSON',
    )
    p.add_argument(
        "--build-dir",
        type=Path,
        metavar="DIR",
        help="standalone backends: project folder, kept (default: a cached folder under "
        "NEUROLEARN_CACHE_DIR/brian_projects, reused by later evaluations of this run)",
    )
    p.add_argument(
        "--generate-only",
        action="store_true",
        help="only generate the projects into --build-dir, to run elsewhere (e.g. "
        "cuda_standalone on a GPU machine); read their results back with --from-build",
    )
    p.add_argument(
        "--from-build",
        type=Path,
        metavar="DIR",
        help="read the results of projects made with --generate-only and run elsewhere",
    )
    p.add_argument(
        "--quiet",
        "--no-progress",
        dest="quiet",
        action="store_true",
        help="no progress bars, compilation status or simulation reports",
    )
    p.set_defaults(func=_run)

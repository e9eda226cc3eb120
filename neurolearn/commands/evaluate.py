"""``neurolearn evaluate DIR [--backend ...] [--json]``: run a trained network's test set
through its Brian2 export and compare with torch (see :mod:`neurolearn.training.evaluation`)."""

from __future__ import annotations

import json

from ..extras import require

__all__ = ["register"]


def _run(args) -> int:
    require("torch", "neurolearn evaluate")
    from ..training.evaluation import evaluate_run

    result = evaluate_run(
        args.run,
        backend=args.backend,
        max_samples=args.max_samples,
        chunk_size=args.chunk_size,
        progress=not (args.json or args.no_progress),
    )
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
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_run)

"""``neurolearn train CONFIG.toml --out DIR [--resume]``: train a spiking network as described
by a configuration file (see :mod:`neurolearn.training` for the keys and what DIR receives)."""

from __future__ import annotations

__all__ = ["register"]


def _run(args) -> int:
    import sys

    from ..training import load_config, train_from_config

    if args.print_config:
        from .config import print_train_config

        return print_train_config()
    if args.config is None or args.out is None:
        raise ValueError("give a configuration file and --out DIR (or --print-config)")
    config = load_config(args.config)
    try:
        summary = train_from_config(
            config, args.out, resume=args.resume, progress=not args.no_progress
        )
    except FileExistsError as exc:
        print(f"neurolearn train: error: {exc}", file=sys.stderr)
        return 2
    print(
        f"test accuracy {100 * summary['test_accuracy']:.2f} % after "
        f"{summary['epochs']} epoch{'' if summary['epochs'] == 1 else 's'}; results in "
        f"{args.out}"
    )
    return 0


def register(subparsers) -> None:
    """Add the ``train`` command."""
    p = subparsers.add_parser(
        "train",
        help="train a spiking network from a TOML configuration",
        description="Train a spiking network with surrogate gradients (BPTT). DIR receives "
        "config.toml, metrics.csv, checkpoint.pt, network.h5, parameters.csv, "
        "summary.json and learning-curve figures.",
    )
    p.add_argument(
        "config",
        nargs="?",
        help="training configuration (TOML), e.g. configs/fsdd_lif.toml; "
        "neurolearn config train prints every key with its default",
    )
    p.add_argument("--out", metavar="DIR", help="output folder (required to train)")
    p.add_argument(
        "--print-config",
        action="store_true",
        help="print the complete default configuration with comments and exit",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run in DIR from its last checkpoint",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_run)

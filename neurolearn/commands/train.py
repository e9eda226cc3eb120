"""``neurolearn train CONFIG.toml --out DIR [--resume] [--nproc N]``: train a spiking network as
described by a configuration file (see :mod:`neurolearn.training` for the keys and what DIR
receives); ``--nproc N`` (or ``torchrun --nproc-per-node N -m neurolearn.cli train ...``)
trains it over N processes with DDP (:mod:`neurolearn.training.distributed`)."""

from __future__ import annotations

from ..extras import require

__all__ = ["register"]


def _run(args) -> int:
    import sys

    require("torch", "neurolearn train")
    from ..training import load_config, train_from_config
    from ..training.distributed import init_from_environment, is_main_process, train_distributed

    if args.print_config:
        from .config import print_train_config

        return print_train_config()
    if args.config is None or args.out is None:
        raise ValueError("give a configuration file and --out DIR (or --print-config)")
    config = load_config(args.config, preset=args.preset)
    try:
        if init_from_environment(config["training"]["device"]):  # started by torchrun
            summary = train_from_config(
                config, args.out, resume=args.resume, progress=not args.quiet
            )
            if not is_main_process():
                return 0
        elif args.nproc == 1:
            summary = train_from_config(
                config, args.out, resume=args.resume, progress=not args.quiet
            )
        else:
            summary = train_distributed(
                config, args.out, args.nproc, resume=args.resume, progress=not args.quiet
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
        "--preset",
        default=None,
        metavar="NAME",
        help="a published setting under the file's keys (neurolearn.training.presets; "
        "perez-nieves: Perez-Nieves et al. 2021); the file's own keys replace the preset's",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run in DIR from its last checkpoint, or extend a "
        "finished one to more [training] epochs (constant learning-rate schedule)",
    )
    p.add_argument(
        "--quiet",
        "--no-progress",
        dest="quiet",
        action="store_true",
        help="no progress bars",
    )
    p.add_argument(
        "--nproc",
        type=int,
        default=1,
        metavar="N",
        help="train over N processes with torch DistributedDataParallel (gloo on the CPU, "
        "nccl on GPUs; the same effective batch as one process); or start under torchrun",
    )
    p.set_defaults(func=_run)

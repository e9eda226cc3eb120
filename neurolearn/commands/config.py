"""``neurolearn config train [--dataset NAME]``: print the complete default training
configuration, every key preceded by a comment with its meaning, type, allowed values and
default (from :data:`neurolearn.training.CONFIG_SCHEMA`). Save it, change what you need, and
train with ``neurolearn train FILE --out DIR``."""

from __future__ import annotations

__all__ = ["register", "print_train_config"]


def print_train_config(dataset: str = "fsdd") -> int:
    """Print the commented default training configuration for ``dataset``.

    Parameters
    ----------
    dataset : str
        The ``[data] dataset`` written into it.

    Returns
    -------
    int
        Exit status 0.

    Raises
    ------
    neurolearn.training.ConfigError
        For an unknown dataset.
    """
    from ..training import default_config

    print(default_config(dataset).to_toml(comments=True), end="")
    return 0


def register(subparsers) -> None:
    """Add the ``config`` command."""
    from ..datasets import dataset_names

    p = subparsers.add_parser(
        "config",
        help="print a complete default configuration with comments (config train)",
        description="Print a complete default configuration, every key with a comment giving "
        "its meaning, type, allowed values and default.",
    )
    sub = p.add_subparsers(dest="config_kind", required=True, metavar="KIND")
    t = sub.add_parser(
        "train",
        help="the training configuration of neurolearn train",
        description="The complete default training configuration (TOML, commented). Save it "
        "to a file, change what you need and run: neurolearn train FILE --out DIR.",
    )
    t.add_argument(
        "--dataset",
        default="fsdd",
        choices=dataset_names(),
        help="[data] dataset of the printed configuration (default fsdd)",
    )
    t.set_defaults(func=lambda args: print_train_config(args.dataset))

"""Command line: ``neurolearn <command> ...``. Thin: it parses arguments and calls the library.

Each command (or group of commands) is a module of :mod:`neurolearn.commands` exposing
``register(subparsers)``, which adds its parser and sets ``func`` to a function of ``args``
returning the exit status. Errors the
library raises for bad input (ModelError, ValueError, FileNotFoundError...) end the program
with exit status 2 and the message on stderr; nothing partial is left behind because every
writer in the library writes atomically.
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["main", "build_parser"]


def _cmd_models(args) -> int:
    from .spec import list_models

    specs = list_models(args.kind)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": s.name,
                        "kind": s.kind,
                        "title": s.title,
                        "reference": s.reference,
                        "path": str(s.path),
                    }
                    for s in specs
                ]
            )
        )
        return 0
    width = max(len(s.name) for s in specs)
    for s in specs:
        print(f"{s.name:<{width}}  {s.kind:<7}  {s.title}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="neurolearn",
        description="Spiking models as equations: simulate (Brian2), train (PyTorch), analyse.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list the model zoo, one line each")
    p.add_argument("--kind", choices=["neuron", "synapse", "input"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_models)

    import importlib
    import pkgutil

    from . import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``neurolearn`` console script. Returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (
        ValueError,
        FileNotFoundError,
        FileExistsError,
        KeyError,
        RuntimeError,
        FloatingPointError,
    ) as exc:
        # (FloatingPointError: NaN/inf in a forward pass, naming layer, variable and step)
        print(f"neurolearn {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

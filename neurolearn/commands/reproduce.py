"""``neurolearn reproduce``: the paper reproductions of :mod:`neurolearn.reproductions`.

* ``neurolearn reproduce --list [--json]``: every registered reproduction, one line each
  (name, description, reference);
* ``neurolearn reproduce NAME [options]``: run one (``neurolearn reproduce NAME --help`` shows
  its options); it writes its results as JSON (and figures) into its ``--out`` folder.

The names and options come from the registry (:mod:`neurolearn.reproductions.registry`); the
modules are imported only when this command runs.
"""

from __future__ import annotations

import argparse
import json

__all__ = ["register"]


def _run(args) -> int:
    from ..reproductions.registry import get_reproduction, reproductions

    if args.list:
        if args.name is not None:
            raise ValueError(f"--list takes no reproduction name (got {args.name!r})")
        found = reproductions()
        if args.json:
            print(
                json.dumps(
                    [
                        {"name": r.name, "description": r.description, "reference": r.reference}
                        for r in found.values()
                    ]
                )
            )
            return 0
        width = max(len(name) for name in found)
        for r in found.values():
            print(f"{r.name:<{width}}  {r.description} [{r.reference}]")
        return 0
    if args.name is None:
        raise ValueError("name a reproduction (neurolearn reproduce NAME [options]) or give --list")
    reproduction = get_reproduction(args.name)
    parser = reproduction.parser(prog=f"neurolearn reproduce {reproduction.name}")
    reproduction.run_recorded(
        parser.parse_args(args.options),
        command=["neurolearn", "reproduce", reproduction.name, *args.options],
    )
    return 0


def register(subparsers) -> None:
    """Add the ``reproduce`` command."""
    p = subparsers.add_parser(
        "reproduce",
        help="list or run the paper reproductions",
        description="Run a paper reproduction (results as JSON and figures in its --out "
        "folder), or list them with --list.",
        epilog="Options after NAME belong to the reproduction: neurolearn reproduce NAME --help.",
    )
    p.add_argument("--list", action="store_true", help="list the reproductions and exit")
    p.add_argument("--json", action="store_true", help="with --list: one JSON array")
    p.add_argument("name", nargs="?", metavar="NAME", help="reproduction (see --list)")
    p.add_argument("options", nargs=argparse.REMAINDER, help="the reproduction's options")
    p.set_defaults(func=_run)

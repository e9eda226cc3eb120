"""The registry of paper reproductions: one :class:`Reproduction` per module.

Every module of :mod:`neurolearn.reproductions` that reproduces a paper registers itself when
it is imported, as Brian2's state updaters do (``StateUpdateMethod.register``)::

    REPRODUCTION = register(
        Reproduction(
            name="stdp_window",
            description="STDP window of every pair-based zoo model, simulated vs analytic",
            reference="Song, Miller & Abbott (2000) Nat. Neurosci. 3:919, eq. 1; ...",
            add_arguments=add_arguments,  # adds the options to an argparse parser
            run=run,  # run(args) -> dict, the results it wrote as JSON into --out
        )
    )
    if __name__ == "__main__":
        sys.exit(REPRODUCTION.main())

:func:`reproductions` imports every module of the package and returns the registry, so that
``neurolearn reproduce --list`` lists them and ``neurolearn reproduce NAME [options]`` runs
any of them (:mod:`neurolearn.commands.reproduce`); ``python -m neurolearn.reproductions.NAME
[options]`` runs one through :meth:`Reproduction.main`. Adding a reproduction is adding one
module.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import pkgutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..io import OutputFolder, atomic_write_json
from ..provenance import provenance

__all__ = [
    "Reproduction",
    "UsageError",
    "REPRODUCTIONS",
    "register",
    "reproductions",
    "get_reproduction",
]


class UsageError(ValueError):
    """A bad command-line value that only :meth:`Reproduction.run` can detect (e.g. a
    non-positive duration, an unknown variant). :meth:`Reproduction.main` reports it as
    argparse reports its own errors (usage and message, exit status 2); ``neurolearn
    reproduce`` as every bad input (one line, exit status 2)."""


@dataclass(frozen=True)
class Reproduction:
    """A paper reproduction: what it is, its options, and how to run it.

    Parameters
    ----------
    name : str
        Name on the command line (``neurolearn reproduce NAME``); by convention the module's.
    description : str
        One line: what is reproduced and compared.
    reference : str
        The paper(s) reproduced: authors (year) journal volume:page, figure.
    add_arguments : callable(argparse.ArgumentParser) -> None
        Adds the reproduction's options (``--out`` among them) to a parser.
    run : callable(argparse.Namespace) -> dict
        Runs it with the parsed options, writes its results as JSON (and figures) into
        ``--out``, prints a summary and returns the results (what was written). Raises
        :class:`UsageError` for option values argparse cannot check.
    """

    name: str
    description: str
    reference: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], dict]

    def parser(self, prog: str | None = None) -> argparse.ArgumentParser:
        """The reproduction's argument parser (description and reference as its help).

        Parameters
        ----------
        prog : str, optional
            Program name in usage lines (default: argparse's, from ``sys.argv``).

        Returns
        -------
        argparse.ArgumentParser
        """
        parser = argparse.ArgumentParser(
            prog=prog, description=f"{self.description}. Reproduces {self.reference}."
        )
        self.add_arguments(parser)
        return parser

    def execute(self, args: argparse.Namespace) -> dict:
        """:attr:`run` with the output folder (``args.out``, where there is one) checked
        before any work (it must be a folder, or creatable, and writable: otherwise
        :class:`neurolearn.io.OutputFolderError` naming it and the reason) and left as it
        was found if the run fails before writing anything (:class:`neurolearn.io.
        OutputFolder`).

        Parameters
        ----------
        args : argparse.Namespace
            Parsed options.

        Returns
        -------
        dict
            What :attr:`run` returns.
        """
        out = getattr(args, "out", None)
        if out is None:
            return self.run(args)
        with OutputFolder(out, what="--out"):
            return self.run(args)

    def main(self, argv: list[str] | None = None, prog: str | None = None) -> int:
        """Parse ``argv`` and run: the ``python -m neurolearn.reproductions.NAME`` entry.

        Parameters
        ----------
        argv : list of str, optional
            Options (default ``sys.argv[1:]``).
        prog : str, optional
            Program name in usage lines.

        Returns
        -------
        int
            Exit status 0.

        Raises
        ------
        SystemExit
            With status 2 for bad options (argparse's, or a :class:`UsageError` of ``run``).
        """
        parser = self.parser(prog)
        args = parser.parse_args(argv)
        try:
            self.run_recorded(args, command=["python", "-m", self.run.__module__, *(argv or [])])
        except UsageError as exc:
            parser.error(str(exc))
        return 0

    def run_recorded(self, args: argparse.Namespace, command: list[str] | None = None) -> dict:
        """Run with the parsed options (:meth:`execute`: the output folder checked first) and
        write ``provenance.json`` into ``args.out``.

        The record (:func:`neurolearn.provenance.provenance`: the command, the date, the git
        revision, the package versions and the machine, plus ``reproduction``, the name) is
        what the documentation's results pages print beside the results.

        Parameters
        ----------
        args : argparse.Namespace
            Options parsed by :meth:`parser`.
        command : list of str, optional
            The command line to record (default: this process's ``sys.argv``).

        Returns
        -------
        dict
            What :attr:`run` returned.

        Raises
        ------
        UsageError
            As :attr:`run`; nothing is recorded then.
        """
        if command is None:
            command = [Path(sys.argv[0]).name, *sys.argv[1:]]
        result = self.execute(args)
        out = getattr(args, "out", None)
        if out is not None and Path(out).is_dir():
            record = {"reproduction": self.name, **provenance(command)}
            atomic_write_json(Path(out) / "provenance.json", record)
        return result


#: name -> Reproduction, filled as the modules are imported (:func:`reproductions` imports all).
REPRODUCTIONS: dict[str, Reproduction] = {}


def register(reproduction: Reproduction) -> Reproduction:
    """Add ``reproduction`` to :data:`REPRODUCTIONS` (at the import of its module).

    Parameters
    ----------
    reproduction : Reproduction

    Returns
    -------
    Reproduction
        The same object (so that a module can keep it as ``REPRODUCTION``).

    Raises
    ------
    ValueError
        If a reproduction of the same name is registered already by another source file (the
        same file may register again: a module run as ``__main__`` and imported by name).
    """
    known = REPRODUCTIONS.get(reproduction.name)
    if known is not None and _source(known) != _source(reproduction):
        raise ValueError(
            f"reproduction {reproduction.name!r} registered twice (by {known.run.__module__} "
            f"and {reproduction.run.__module__})"
        )
    REPRODUCTIONS[reproduction.name] = reproduction
    return reproduction


def _source(reproduction: Reproduction) -> str:
    code = getattr(reproduction.run, "__code__", None)
    return code.co_filename if code is not None else repr(reproduction.run)


def reproductions() -> dict[str, Reproduction]:
    """Every reproduction of the package, by name (sorted).

    Imports each module of :mod:`neurolearn.reproductions` (modules register themselves on
    import; the ones that reproduce nothing register nothing).

    Returns
    -------
    dict of str -> Reproduction
    """
    package = importlib.import_module(__package__)
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__package__}.{info.name}")
    return dict(sorted(REPRODUCTIONS.items()))


def get_reproduction(name: str) -> Reproduction:
    """The reproduction called ``name``.

    Parameters
    ----------
    name : str
        A name of :func:`reproductions` (``neurolearn reproduce --list``).

    Returns
    -------
    Reproduction

    Raises
    ------
    ValueError
        For an unknown name; the message lists the known ones.
    """
    if name not in REPRODUCTIONS:
        # the module of that name first (the convention), every module if that is not it
        module = f"{__package__}.{name}"
        if name.isidentifier() and importlib.util.find_spec(module) is not None:
            importlib.import_module(module)
        if name not in REPRODUCTIONS:
            reproductions()
    if name not in REPRODUCTIONS:
        raise ValueError(
            f"unknown reproduction {name!r}; known: {', '.join(sorted(REPRODUCTIONS))} "
            "(neurolearn reproduce --list)"
        )
    return REPRODUCTIONS[name]

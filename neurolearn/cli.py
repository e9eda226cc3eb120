"""Command line: ``neurolearn <command> ...``. Thin: it parses arguments and calls the library.

Each command (or group of commands) is a module of :mod:`neurolearn.commands` exposing
``register(subparsers)``, which adds its parser and sets ``func`` to a function of ``args``
returning the exit status.

Exit status and errors: errors the library raises for bad input (ModelError, ValueError,
FileNotFoundError...) and Brian2's own errors (units, equations, objects Brian2 cannot
prepare from a model file) end the program with exit status 2 and one line on stderr;
argparse's usage errors with 2 as well; so does a command that needs an optional dependency
which is not installed (one line naming the extra: ``pip install 'neurolearn[torch]'``, see
:mod:`neurolearn.extras`); Ctrl-C with 130; any other exception (a bug) with its
traceback and exit status 1. No exception reaches ``sys.excepthook``, so Brian2's "unexpected
error, please report" message never appears and Brian2 deletes its debug log at exit (it keeps
it only after an uncaught exception, ``brian2.utils.logger.clean_up_logging``); the CLI also
sets Brian2's preference ``logging.display_brian_error_message`` to False. Nothing partial is
left behind because every writer in the library writes atomically.

Progress: long simulations and compilations report on stderr (Brian2's ``report``, status
lines; :mod:`neurolearn.brian.progress`) unless ``--quiet`` (or ``--json``) is given.
"""

from __future__ import annotations

import argparse
import platform
import sys
import traceback

from . import __version__
from .extras import EXTRAS, MissingExtraError, install_hint
from .io import OutputFolderError

__all__ = ["main", "build_parser", "BAD_INPUT"]


def _python() -> str:
    return platform.python_version()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="neurolearn",
        description="Spiking models as equations: simulate (Brian2), train (PyTorch), analyse.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__} (python {_python()})"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    import importlib
    import pkgutil

    from . import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    return parser


#: Errors of the library that mean bad input (a file, a value, a parameter at fault): exit 2.
#: (FloatingPointError: NaN/inf in a forward pass, naming layer, variable and step;
#: OutputFolderError: an output folder that is not a folder or cannot be written.)
BAD_INPUT = (
    ValueError,
    OutputFolderError,
    FileNotFoundError,
    FileExistsError,
    KeyError,
    RuntimeError,
    FloatingPointError,
)


def _brian2_errors() -> tuple:
    """Brian2's preference for uncaught errors set to plain output, and Brian2's own exception
    classes for bad input (dimensions, equations, an object it cannot prepare); ``()`` where
    Brian2 is not installed."""
    try:
        from brian2 import prefs
        from brian2.core.base import BrianObjectException
        from brian2.equations.equations import EquationError
        from brian2.stateupdaters.base import UnsupportedEquationsException
        from brian2.units.fundamentalunits import DimensionMismatchError
    except ImportError:  # pragma: no cover - brian2 is a dependency
        return ()
    prefs["logging.display_brian_error_message"] = False
    return (
        BrianObjectException,
        DimensionMismatchError,
        EquationError,
        UnsupportedEquationsException,
    )


def _one_line(exc: BaseException) -> str:
    """The message of an error on one line; for Brian2's ``BrianObjectException`` (a message
    over several lines with the object's creation stack) the object and the original error."""
    name = getattr(exc, "_brian_objname", None)
    if name is not None:
        cause = exc.__cause__ or exc.__context__
        text = f"Brian2 object '{name}': {getattr(exc, '_brian_message', '')}"
        if cause is not None:
            text = f"{text.rstrip('. ')}: {type(cause).__name__}: {cause}"
    else:
        text = str(exc)
    return " ".join(text.split()) if "\n" in text else text


def main(argv=None) -> int:
    """Entry point of the ``neurolearn`` console script. Returns the exit status (see the
    module docstring); argparse exits with 2 itself for bad options."""
    parser = build_parser()
    args = parser.parse_args(argv)
    bad_input = BAD_INPUT + _brian2_errors()
    from .brian.progress import show_progress

    try:
        with show_progress(not (getattr(args, "quiet", False) or getattr(args, "json", False))):
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except bad_input as exc:
        print(f"neurolearn {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except ImportError as exc:
        missing = _missing_extra(exc)
        if missing is None:
            return _internal_error(args.command)
        print(f"neurolearn {args.command}: error: {missing}", file=sys.stderr)
        return 2
    except Exception:
        return _internal_error(args.command)


def _missing_extra(exc: ImportError) -> str | None:
    """The message for an optional dependency that is not installed (naming the extra that
    installs it), or None if ``exc`` is another import error (a bug or a broken install)."""
    if isinstance(exc, MissingExtraError):
        return str(exc)
    name = (exc.name or "").partition(".")[0]
    if isinstance(exc, ModuleNotFoundError) and name in EXTRAS:
        return f"this command needs {name}, which is not installed: {install_hint(name)}"
    return None


def _internal_error(command: str) -> int:
    """Print the traceback of the exception being handled; exit status 1."""
    traceback.print_exc()
    print(
        f"neurolearn {command}: internal error (the traceback above); please report it",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

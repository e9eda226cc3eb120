"""Errors of the Brian2 side: a backend this machine cannot run, and Brian2's own errors
raised while neurolearn builds or runs a network, reported in one line."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["BackendUnavailableError", "BrianError", "brian_error", "reraise_brian_errors"]


class BackendUnavailableError(RuntimeError):
    """A backend cannot run on this machine (no compiler, no CUDA, no GPU...).

    The message says what is missing and what was done so far (e.g. where a generated CUDA
    project lies), and how to proceed.
    """


class BrianError(RuntimeError):
    """Brian2 failed while neurolearn built or ran a network.

    The message is one line naming the Brian2 object (``'neurons_stateupdater'``) and the
    cause, the error Brian2 raised first (Brian2 wraps it in a ``BrianObjectException`` whose
    own message is several lines of the object's creation stack). ``object_name`` and
    ``cause`` hold the same facts for programs; ``__cause__`` is Brian2's exception.
    """

    def __init__(self, message: str, object_name: str | None = None, cause=None):
        super().__init__(message)
        self.object_name = object_name
        self.cause = cause


def _root_cause(exc: BaseException) -> BaseException | None:
    """The error a ``BrianObjectException`` wraps (its ``__cause__``, else ``__context__``),
    through nested ones."""
    seen = set()
    cause = None
    while getattr(exc, "_brian_objname", None) is not None and id(exc) not in seen:
        seen.add(id(exc))
        nxt = exc.__cause__ or exc.__context__
        if nxt is None:
            break
        cause = exc = nxt
    return cause


def brian_error(exc: BaseException, what: str = "") -> BrianError:
    """One-line :class:`BrianError` for an error Brian2 raised.

    Parameters
    ----------
    exc : Exception
        Brian2's error; for a ``BrianObjectException`` the object's name and the chained
        cause are pulled up into the message.
    what : str, optional
        What neurolearn was doing (``"running network 'net'"``), put in front.

    Returns
    -------
    BrianError
    """
    name = getattr(exc, "_brian_objname", None)
    cause = _root_cause(exc) if name is not None else None
    if name is not None:
        text = f"Brian2 object '{name}'"
        if cause is not None:
            text += f": {type(cause).__name__}: {cause}"
        else:
            text += f": {getattr(exc, '_brian_message', '') or exc}"
    else:
        text = f"Brian2: {type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return BrianError(f"{what}: {text}" if what else text, name, cause or exc)


@contextlib.contextmanager
def reraise_brian_errors(what: str = "") -> Iterator[None]:
    """Inside the block, Brian2's errors (``BrianObjectException``, dimension, equation and
    state-updater errors) become a :class:`BrianError` (:func:`brian_error`); neurolearn's
    own errors pass unchanged."""
    from brian2.core.base import BrianObjectException
    from brian2.equations.equations import EquationError
    from brian2.stateupdaters.base import UnsupportedEquationsException
    from brian2.units.fundamentalunits import DimensionMismatchError

    try:
        yield
    except (
        BrianObjectException,
        DimensionMismatchError,
        EquationError,
        UnsupportedEquationsException,
    ) as exc:
        raise brian_error(exc, what) from exc

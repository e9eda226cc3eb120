"""Progress of long simulations and compilations: off in the library, on in the command line.

Inside :func:`show_progress` (the ``neurolearn`` command line enters it unless ``--quiet``):

* every Brian2 simulation run through :meth:`neurolearn.brian.backends.Backend.run` reports its
  progress with Brian2's own ``report="stderr"`` (Brian2, ``Network.run``: the simulated
  fraction, elapsed and estimated remaining time, every ``report_period``, default 10 s of
  wall-clock time; in standalone mode the compiled program reports the same way);
* code generation and compilation print a status line on standard error: before a standalone
  project is generated and compiled (tens of seconds to minutes) and when that is done, and
  before Cython compiles the code objects of a runtime simulation (about a minute on first
  use; cached afterwards).

Outside it nothing is printed, so that library users and tests see no output.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

__all__ = ["show_progress", "enabled", "report", "status"]

_enabled = False


@contextlib.contextmanager
def show_progress(on: bool = True) -> Iterator[None]:
    """Turn progress output on (``on=True``) or off inside the block; the previous setting
    comes back afterwards."""
    global _enabled
    saved = _enabled
    _enabled = bool(on)
    try:
        yield
    finally:
        _enabled = saved


def enabled() -> bool:
    """Whether progress output is on (inside ``show_progress()``)."""
    return _enabled


def report() -> str | None:
    """Brian2's ``report`` argument of ``Network.run``: ``"stderr"`` when progress is on,
    else None (no report)."""
    return "stderr" if _enabled else None


def status(message: str) -> None:
    """Print ``neurolearn: <message>`` on standard error when progress is on."""
    if _enabled:
        print(f"neurolearn: {message}", file=sys.stderr, flush=True)

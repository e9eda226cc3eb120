"""The error a Brian2 backend raises when this machine cannot build or run it."""

from __future__ import annotations

__all__ = ["BackendUnavailableError"]


class BackendUnavailableError(RuntimeError):
    """A backend cannot run on this machine (no compiler, no CUDA, no GPU...).

    The message says what is missing and what was done so far (e.g. where a generated CUDA
    project lies), and how to proceed.
    """

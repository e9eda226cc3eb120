"""The error every bad model file, field or parameter value raises."""

from __future__ import annotations

from pathlib import Path

__all__ = ["ModelError"]


class ModelError(ValueError):
    """A model file or specification is invalid.

    The message names the file (when there is one), the line or equation, and the parameter
    at fault. ``path``, ``line`` and ``parameter`` hold the same facts for programs.
    """

    def __init__(
        self,
        message: str,
        path: str | Path | None = None,
        line: int | None = None,
        parameter: str | None = None,
    ):
        self.path = None if path is None else str(path)
        self.line = line
        self.parameter = parameter
        where = ""
        if self.path is not None:
            where = self.path + (f":{line}" if line is not None else "") + ": "
        super().__init__(where + message)

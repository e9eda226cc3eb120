"""Model files: the zoo shipped in the package (``neurolearn/models``) and users' files, read
by name or path."""

from __future__ import annotations

import dataclasses
import importlib.resources
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from .errors import ModelError
from .model import ModelSpec, spec_from_dict

__all__ = ["zoo_dir", "list_models", "load_model"]


def zoo_dir() -> Path:
    """Folder of the model zoo, ``neurolearn/models`` inside the installed package (read
    through :mod:`importlib.resources`)."""
    return Path(str(importlib.resources.files("neurolearn") / "models"))


def list_models(kind: str | None = None) -> list[ModelSpec]:
    """All models of the zoo (optionally only one ``kind``), sorted by name.

    Raises
    ------
    ModelError
        If a zoo file is invalid (names the file).
    """
    specs = [load_model(p) for p in sorted(zoo_dir().glob("*.toml"))]
    return [s for s in specs if kind is None or s.kind == kind]


_CACHE: dict = {}


def load_model(name_or_path: str | Path) -> ModelSpec:
    """Load a model by zoo name (``"lif"``) or by path to a ``.toml`` file.

    Parameters
    ----------
    name_or_path : str or Path
        A zoo name (the file stem in ``models/``) or a path to a model file.

    Returns
    -------
    NeuronModel, SynapseModel or InputModel
        A validated spec (a fresh copy; changing it does not change the cache).

    Raises
    ------
    ModelError
        Unknown model name (the message lists the zoo), a missing file, malformed TOML (with
        the line), or any error :meth:`ModelSpec.validate` finds.
    """
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith(".toml") or path.is_file() or "/" in text or "\\" in text):
        candidate = zoo_dir() / f"{text}.toml"
        if not candidate.is_file():
            names = sorted(p.stem for p in zoo_dir().glob("*.toml"))
            raise ModelError(
                f"unknown model '{text}'; the zoo has: {', '.join(names)} "
                f"(or give the path to a .toml file)",
                parameter="model",
            )
        path = candidate
    if not path.is_file():
        raise ModelError(f"model file not found: {path}", path)
    key = (str(path.resolve()), path.stat().st_mtime_ns)
    if key not in _CACHE:
        source = path.read_text(encoding="utf-8")
        try:
            data = tomllib.loads(source)
        except tomllib.TOMLDecodeError as exc:
            line = None
            m = re.search(r"line (\d+)", str(exc))
            if m:
                line = int(m.group(1))
            raise ModelError(f"malformed TOML: {exc}", path, line) from None
        _CACHE[key] = spec_from_dict(data, path, source)
    cached = _CACHE[key]
    return dataclasses.replace(
        cached,
        parameters=dict(cached.parameters),
        initial=dict(cached.initial),
        roles=dict(cached.roles),
    )

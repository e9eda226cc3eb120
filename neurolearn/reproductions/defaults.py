"""Experiment defaults shipped with the package: the TOML files of ``neurolearn/configs``.

The reproductions keep their settings as data (``neurolearn/configs/<name>.toml``), read here
through :mod:`importlib.resources` so that they are found in a checkout and in an installed
wheel alike, and combined with :func:`merge_sections`, the one rule every experiment uses to
apply changes to a training configuration.
"""

from __future__ import annotations

import importlib.resources
import sys
from collections.abc import Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["packaged_config", "merge_sections"]


def packaged_config(name: str) -> dict:
    """Read ``neurolearn/configs/<name>.toml``.

    Parameters
    ----------
    name : str
        File name without ``.toml`` (e.g. ``"heterogeneity"``).

    Returns
    -------
    dict
        The parsed TOML (tables in the file's order).

    Raises
    ------
    FileNotFoundError
        If the package holds no such file (the message lists the files it holds).
    ValueError
        If the file is not valid TOML (the message names the file and the line).
    """
    folder = importlib.resources.files("neurolearn") / "configs"
    resource = folder / f"{name}.toml"
    if not resource.is_file():
        known = sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))
        raise FileNotFoundError(
            f"no packaged configuration {name!r} in {folder}; known: {', '.join(known)}"
        )
    try:
        return tomllib.loads(resource.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{resource}: malformed TOML: {exc}") from None


def merge_sections(base: Mapping, changes: Mapping) -> dict:
    """Apply ``changes`` to a training configuration given as sections.

    Within each section of ``changes`` its keys replace those of ``base`` (a nested table such
    as ``data.options`` is replaced as a whole, not merged); sections that ``base`` lacks are
    added. Neither argument is modified; the result's section dicts are new, their values are
    shared.

    Parameters
    ----------
    base, changes : mapping of section -> mapping of key -> value
        As the sections of a training configuration
        (:data:`neurolearn.training.CONFIG_SCHEMA`).

    Returns
    -------
    dict
        ``{section: {key: value}}``, sections in ``base``'s order, then the new ones.
    """
    out = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in base.items()}
    for section, values in changes.items():
        out.setdefault(section, {})
        for key, value in values.items():
            out[section][key] = value
    return out

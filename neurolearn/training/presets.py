"""Presets: named sets of training-configuration keys that reproduce a published setting
(``neurolearn train CONFIG --preset NAME``, ``neurolearn run heterogeneity --preset NAME``).

A preset is a packaged TOML file ``neurolearn/configs/presets/<name>.toml`` holding sections
and keys of :data:`neurolearn.training.CONFIG_SCHEMA`, each documented in the file against the
paper's code. Nothing in a preset is special: every key is an ordinary configuration key that a
configuration may set by itself.

========================  ========================================================================
``perez-nieves``          Perez-Nieves, Leung, Dragotti & Goodman (2021) Nat. Commun. 12:5791:
                          128 recurrent LIF neurons, reset by subtraction, time constants
                          trained as decay factors clipped to [2/e, 0.995], readout time
                          constants fixed, uniform initial weights, fast-sigmoid surrogate of
                          steepness 100, cross-entropy of the readout's maximum over time,
                          Adam 1e-3, dt 0.5 ms, batch 64.
========================  ========================================================================
"""

from __future__ import annotations

import importlib.resources
import sys
from collections.abc import Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["PRESETS", "preset_sections", "apply_preset"]

#: Names of the packaged presets (``neurolearn/configs/presets/<name>.toml``).
PRESETS = ("perez-nieves",)


def preset_sections(name: str) -> dict:
    """The sections of preset ``name``.

    Parameters
    ----------
    name : str
        One of :data:`PRESETS`.

    Returns
    -------
    dict
        ``{section: {key: value}}`` as in the preset's file.

    Raises
    ------
    ValueError
        An unknown preset (the message lists them).
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    resource = importlib.resources.files("neurolearn") / "configs" / "presets" / f"{name}.toml"
    return tomllib.loads(resource.read_text(encoding="utf-8"))


def apply_preset(data: Mapping, name: str | None, over: bool = False) -> dict:
    """A configuration's sections with preset ``name`` merged in.

    Parameters
    ----------
    data : mapping of section -> mapping
        The configuration's own sections.
    name : str or None
        A preset of :data:`PRESETS` (None: ``data`` unchanged, copied).
    over : bool
        False (a configuration file with ``--preset``): the keys of ``data`` replace the
        preset's. True (an experiment's defaults with ``--preset``): the preset's keys
        replace those of ``data``. A nested table (``network.parameters``) is replaced as a
        whole either way.

    Returns
    -------
    dict
        New ``{section: {key: value}}``.

    Raises
    ------
    ValueError
        An unknown preset.
    """
    base = {k: dict(v) if isinstance(v, Mapping) else v for k, v in data.items()}
    if name is None:
        return base
    preset = preset_sections(name)
    low, high = (base, preset) if over else (preset, base)
    out = {k: dict(v) for k, v in low.items()}
    for section, values in high.items():
        out.setdefault(section, {}).update(values)
    return out

"""Brian2's global preferences saved and restored around a backend block (moved unchanged
from :mod:`neurolearn.brian.backends`, which uses them)."""

from __future__ import annotations

import copy
from collections.abc import Mapping

__all__ = ["snapshot_prefs", "restore_prefs"]


def snapshot_prefs() -> dict:
    """A deep copy of every current Brian2 preference, ``{name: value}``."""
    from brian2 import prefs

    out = {}
    for key, value in prefs.prefs.items():
        try:
            out[key] = copy.deepcopy(value)
        except Exception:  # pragma: no cover - un-copyable preference values
            out[key] = value
    return out


def restore_prefs(snapshot: Mapping) -> None:
    """Set Brian2's preferences back to ``snapshot`` (:func:`snapshot_prefs`); preferences
    registered since then go back to their defaults."""
    from brian2 import prefs

    for key in list(prefs.prefs):
        if key in snapshot:
            prefs.prefs[key] = copy.deepcopy(snapshot[key])
        else:
            # registered inside the block (e.g. by importing brian2cuda): back to its default
            basename, _, name = key.rpartition(".")
            try:
                prefs.prefs[key] = copy.deepcopy(prefs.pref_register[basename][0][name].default)
            except (KeyError, IndexError, AttributeError):  # pragma: no cover
                pass

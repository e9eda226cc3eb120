"""State updaters neurolearn adds to Brian2's, by name: a model file may say
``method = "allen_glif"`` as it says ``method = "exact"``.

A state updater turns a model's equations into the abstract update code of one time step;
both engines start from that code (Brian2 generates numpy/Cython/C++/CUDA from it, the torch
engine compiles it), so a named method is part of what a model file means and its name belongs
to the model specification. :data:`STATE_UPDATERS` is the table of neurolearn's methods;
:func:`register_state_updaters` tells Brian2 about each of them
(``brian2.StateUpdateMethod.register``, as Brian2 registers its own in
``brian2/stateupdaters/__init__.py``). Spec validation accepts Brian2's names and the table's;
it registers the table before any group is built from a loaded model (and
:mod:`neurolearn.brian` registers it on import), so Brian2 resolves the name like its own.
Users who build Brian2 objects from a spec by hand call :func:`register_state_updaters` first.

Adding a method: write its ``StateUpdateMethod`` (as :mod:`.allen_glif`) and add one entry to
:data:`STATE_UPDATERS`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

__all__ = [
    "StateUpdaterInfo",
    "STATE_UPDATERS",
    "register_state_updaters",
    "state_updater_names",
    "unknown_methods",
]


@dataclasses.dataclass(frozen=True)
class StateUpdaterInfo:
    """One of neurolearn's named state updaters.

    Attributes
    ----------
    name : str
        The name a model file's ``method`` uses (lower case, as Brian2 stores names).
    make : callable () -> brian2 StateUpdateMethod
        Returns the state updater registered with Brian2 under ``name``.
    description : str
    reference : str
        Where the integration scheme comes from.
    """

    name: str
    make: Callable
    description: str
    reference: str


def _allen_glif():
    # imported on first registration: it needs Brian2, whose import takes seconds, and
    # ``import neurolearn`` does not import Brian2
    from .allen_glif import allen_glif_method

    return allen_glif_method()


#: neurolearn's state updaters, by name.
STATE_UPDATERS: dict[str, StateUpdaterInfo] = {
    "allen_glif": StateUpdaterInfo(
        "allen_glif",
        _allen_glif,
        "allensdk GlifNeuron's discrete-time scheme: forward Euler for v, exact exponentials "
        "for the after-spike currents and threshold components",
        "Teeter et al. (2018) Nat. Commun. 9:709; allensdk.model.glif.glif_neuron_methods",
    ),
}


def register_state_updaters() -> None:
    """Register every state updater of :data:`STATE_UPDATERS` with Brian2 (idempotent).

    Raises
    ------
    RuntimeError
        If Brian2 already has a different state updater under one of the names.
    """
    from brian2.stateupdaters.base import StateUpdateMethod

    for name, info in STATE_UPDATERS.items():
        method = info.make()
        have = StateUpdateMethod.stateupdaters.get(name)
        if have is None:
            StateUpdateMethod.register(name, method)
        elif have is not method:
            raise RuntimeError(
                f"Brian2 already has a state updater named {name!r} ({have!r}); neurolearn's "
                f"{name!r} ({info.description}) cannot be registered"
            )


def state_updater_names() -> tuple[str, ...]:
    """Every name a model file's ``method`` may use: Brian2's registered state updaters, then
    neurolearn's (:data:`STATE_UPDATERS`)."""
    from brian2.stateupdaters.base import StateUpdateMethod

    brian = tuple(StateUpdateMethod.stateupdaters)
    return brian + tuple(n for n in STATE_UPDATERS if n not in brian)


def unknown_methods(method: str) -> list[str]:
    """The names of a ``method`` field (one name, or several separated by commas, which Brian2
    tries in turn) that neither Brian2 nor neurolearn knows."""
    valid = set(state_updater_names())
    return [name for name in (m.strip() for m in method.split(",")) if name not in valid]

"""The Brian2 state updater reproducing the Allen Institute's GLIF simulator (allensdk
``GlifNeuron``; Teeter et al. 2018, Nat. Commun. 9:709), registered with Brian2 as
``"allen_glif"``.

The implementation lives with the model specification
(:mod:`neurolearn.spec.allen_glif`, listed in :mod:`neurolearn.spec.stateupdaters`): the GLIF
zoo files name it as their ``method``. Importing :mod:`neurolearn.brian` registers it (and
every other state updater of neurolearn's table) with Brian2.
"""

from __future__ import annotations

from ..spec.allen_glif import AllenGlifStateUpdater, allen_glif_method
from ..spec.stateupdaters import register_state_updaters

__all__ = ["AllenGlifStateUpdater", "allen_glif_method"]

register_state_updaters()

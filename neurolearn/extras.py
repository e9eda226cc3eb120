"""Optional dependencies: which extra installs each, and a clear error where one is missing.

neurolearn's core (models as equations, Brian2 simulation, plasticity, Allen analysis,
gradient-free fitting) needs none of them. The extras of ``pyproject.toml``:

===============  ===============  ==========================================================
module           extra            what needs it
===============  ===============  ==========================================================
``torch``        ``torch``        :mod:`neurolearn.torch`, :mod:`neurolearn.training`, the
                                  bridge, the datasets' torch loaders, gradient fitting
``allensdk``     ``allen``        the GLIF reference simulator ``GlifNeuron`` (Python <= 3.11;
                                  the Allen Cell Types tables are read without it)
``brian2cuda``   ``cuda``         the ``cuda_standalone`` backend
``brian2hears``  ``audio``        the cochlea front end of the audio datasets
===============  ===============  ==========================================================
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

__all__ = ["EXTRAS", "MissingExtraError", "require", "installed", "install_hint"]

#: Top-level module -> (extra that installs it, note on where it installs).
EXTRAS = {
    "torch": ("torch", ""),
    "allensdk": ("allen", "allensdk 2.16 installs only on Python <= 3.11"),
    "brian2cuda": ("cuda", ""),
    "brian2hears": ("audio", ""),
}


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra that installs it
    (``pip install 'neurolearn[torch]'``)."""


def install_hint(module: str) -> str:
    """``"pip install 'neurolearn[torch]'"`` for a module of :data:`EXTRAS` (with the note on
    where it installs, if any).

    Raises
    ------
    KeyError
        If ``module`` is not an optional dependency of neurolearn.
    """
    extra, note = EXTRAS[module]
    hint = f"pip install 'neurolearn[{extra}]'"
    return f"{hint} ({note})" if note else hint


def installed(module: str) -> bool:
    """True if the top-level ``module`` can be imported (it is not imported here; a finder
    that refuses it, or a ``None`` left in ``sys.modules`` for it, means not installed)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, what: str) -> ModuleType:
    """Import an optional dependency, or say which extra installs it.

    Parameters
    ----------
    module : str
        Top-level module name, a key of :data:`EXTRAS` (``"torch"``, ``"allensdk"``...).
    what : str
        What needs it, for the message (``"neurolearn train"``, ``"GlifNeuron reference"``).

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    MissingExtraError
        If the module is not installed: "``what`` needs ``module``, which is not installed:
        pip install 'neurolearn[extra]'". An ImportError raised inside an installed module
        (a broken installation) propagates unchanged.
    KeyError
        If ``module`` is not a key of :data:`EXTRAS`.
    """
    hint = install_hint(module)
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise MissingExtraError(
            f"{what} needs {module}, which is not installed: {hint}", name=module
        ) from None

"""neurolearn: spiking neuron and synapse models written as Brian2 equations, simulated by
Brian2 code generation (CPU and GPU), trained as differentiable PyTorch models with surrogate
gradients, and compared with biological data.

Data flow: model spec (:mod:`neurolearn.spec`) -> Brian2 (:mod:`neurolearn.brian`) or torch
(:mod:`neurolearn.torch`) -> results -> analysis (:mod:`neurolearn.analysis`) -> figures
(:mod:`neurolearn.figures`).

Errors and Brian2's error message
---------------------------------
neurolearn reports bad input (a model file, a configuration, a parameter) with an exception
naming the file, line, field or parameter at fault (:class:`ModelError`, ``ValueError``...).
Importing neurolearn changes nothing in the interpreter. Importing Brian2 (which neurolearn
does when it simulates) replaces ``sys.excepthook``: every uncaught exception, neurolearn's
included, is then announced as "Brian 2 encountered an unexpected error" with a request for a
bug report, and Brian2 keeps its debug log (``brian_debug_*.log`` in the temporary folder)
instead of deleting it at exit. A script that wants uncaught errors printed as Python prints
them sets Brian2's preference::

    from brian2 import prefs

    prefs["logging.display_brian_error_message"] = False

(Brian2 still writes the error into its debug log and keeps that file; a script that catches
its exceptions leaves no log behind.) The command line (:mod:`neurolearn.cli`) sets this
preference itself and handles every error: bad input, Brian2's errors included, ends with exit
status 2 and one line on stderr, anything else with the traceback and exit status 1; no
debug log is left behind.
"""

import warnings as _warnings

# setuptools' distutils shim warns on every Brian2 import; it is not ours to fix.
_warnings.filterwarnings("ignore", message="_get_vc_env is private")

from .spec import (  # noqa: E402 - after the warning filter
    InputModel,
    ModelError,
    ModelSpec,
    NeuronModel,
    Parameter,
    SynapseModel,
    list_models,
    load_model,
    parse_quantity,
)

__version__ = "0.1.0"


__all__ = [
    "ModelError",
    "ModelSpec",
    "NeuronModel",
    "SynapseModel",
    "InputModel",
    "Parameter",
    "load_model",
    "list_models",
    "parse_quantity",
    "__version__",
]

"""neurolearn: spiking neuron and synapse models written as Brian2 equations, simulated by
Brian2 code generation (CPU and GPU), trained as differentiable PyTorch models with surrogate
gradients, and compared with biological data.

Data flow: model spec (:mod:`neurolearn.spec`) -> Brian2 (:mod:`neurolearn.brian`) or torch
(:mod:`neurolearn.torch`) -> results -> analysis (:mod:`neurolearn.analysis`) -> figures
(:mod:`neurolearn.figures`).
"""

import warnings as _warnings

# setuptools' distutils shim warns on every Brian2 import; it is not ours to fix.
_warnings.filterwarnings("ignore", message="_get_vc_env is private")

from .spec import (InputModel, ModelError, ModelSpec, NeuronModel, Parameter, SynapseModel,
                   list_models, load_model, parse_quantity)

__version__ = "0.1.0"

__all__ = ["ModelError", "ModelSpec", "NeuronModel", "SynapseModel", "InputModel", "Parameter",
           "load_model", "list_models", "parse_quantity", "__version__"]

"""Model specifications: neuron, synapse and input models written as Brian2 equations.

A model file (TOML) holds Brian2 strings (equations, threshold, reset, refractory period,
``on_pre``/``on_post`` pathways), the parameters with physical units, default values, valid
ranges and whether each may differ per neuron, the initial values, and the paper the model
comes from. The files of the zoo live in the package's ``models/`` folder
(``neurolearn/models``); a user's own file loads by path::

    >>> from neurolearn import load_model
    >>> lif = load_model("lif")                    # from the zoo
    >>> mine = load_model("path/to/my_model.toml") # a user's file

The spec knows no backend: ``neurolearn.brian`` turns it into Brian2 objects and
``neurolearn.torch`` compiles it into a differentiable PyTorch model.

File format (``kind = "neuron"``)::

    name = "lif"
    kind = "neuron"
    title = "Current-based LIF with exponential synaptic current"
    reference = "Gerstner, Kistler, Naud & Paninski (2014), Neuronal Dynamics, ch. 1.3"
    method = "exact"                 # state updater by name (Brian2's, or "allen_glif")
    equations = '''
    dv/dt = (v_rest - v + R_m*(I_syn + I_ext))/tau_m : volt (unless refractory)
    dI_syn/dt = -I_syn/tau_syn : amp
    I_ext : amp
    '''
    threshold = "v > v_th"
    reset = "v = v_reset"
    refractory = "t_ref"

    [parameters.tau_m]
    value = "20 ms"                  # a number followed by a Brian2 unit expression
    range = ["0.1 ms", "1 s"]        # valid range, inclusive (optional)
    per_neuron = true                # may differ between neurons (and may be trained)
    description = "membrane time constant"

    [initial]
    v = "v_rest"                     # any Brian2 expression of parameters and units

    [roles]                          # the model contract (neurolearn.spec.roles)
    time_constants = ["tau_m", "tau_syn"]
    synaptic_targets = ["I_syn"]     # variables receiving synaptic input, excitatory first
    threshold_variable = "v"         # the variable the threshold compares

Synapse models (``kind = "synapse"``) have ``model`` (per-synapse equations), ``on_pre``,
``on_post`` and ``target``, the postsynaptic variable that a presynaptic spike increments.
Input models (``kind = "input"``) have ``generator = "poisson"`` or ``"spike_generator"``.
Synapse and input models declare ``[roles] time_constants`` only.

Time constants (the declared ``roles.time_constants``) must be strictly positive; every
parameter must lie inside its declared ``range``. A file without ``[roles]`` still loads: the
old naming conventions fill in the roles, with a warning naming the file and the lines to add
(:mod:`neurolearn.spec.roles`).

Modules: :mod:`.errors` (:class:`ModelError`), :mod:`.quantities` (:func:`parse_quantity`),
:mod:`.parameters` (:class:`Parameter`), :mod:`.model` (the spec classes, building one from a
dict), :mod:`.validation`, :mod:`.roles`, :mod:`.resets` (reset rules), :mod:`.stateupdaters` (neurolearn's named state
updaters, :mod:`.allen_glif`), :mod:`.loading` (zoo and files).
"""

from .errors import ModelError
from .loading import list_models, load_model, zoo_dir
from .model import InputModel, ModelSpec, NeuronModel, SynapseModel
from .parameters import Parameter
from .quantities import _unit_namespace, parse_quantity  # noqa: F401 - the torch compiler's
from .resets import RESET_RULES, with_reset_rule
from .roles import ROLE_FIELDS
from .stateupdaters import STATE_UPDATERS, register_state_updaters, state_updater_names

__all__ = [
    "ModelError",
    "Parameter",
    "ModelSpec",
    "NeuronModel",
    "SynapseModel",
    "InputModel",
    "load_model",
    "list_models",
    "zoo_dir",
    "parse_quantity",
    "ROLE_FIELDS",
    "RESET_RULES",
    "with_reset_rule",
    "STATE_UPDATERS",
    "register_state_updaters",
    "state_updater_names",
]

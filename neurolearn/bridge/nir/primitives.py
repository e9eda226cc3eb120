"""The NIR primitives neurolearn reads and writes, their neuron models and the ``nir`` package
(conventions: :mod:`neurolearn.bridge.nir`)."""

from __future__ import annotations

from pathlib import Path

from ...spec import ModelError, ModelSpec

__all__ = [
    "DISCRETISATIONS",
    "PRIMITIVES",
    "MISSING_PRIMITIVES",
    "nir_model",
    "nir_package",
    "read_nir",
]

#: Discretisations of the NIR primitives: name -> Brian2 state updater.
DISCRETISATIONS = {"exact": "exact", "euler": "euler"}

#: NIR primitive -> how neurolearn reads it (the table of the module docstring).
PRIMITIVES = {
    "Input": "network input [time, batch, n_in]",
    "Output": "the last layer's spikes or the readout",
    "Linear": "W_in or W_rec of the next neuron node",
    "Affine": "W_in or W_rec of the next neuron node (zero bias only)",
    "CubaLIF": "spiking layer of model nir_cuba_lif (exact or euler)",
    "LIF": "spiking layer of model nir_lif (euler only)",
    "CubaLI": "leaky readout (v_leak = 0)",
    "LI": "leaky readout: LI -> LI (synaptic and membrane filter), or one LI (euler only)",
    "NIRGraph": "flattened into its parent graph",
}

#: Zoo models without a NIR primitive -> what NIR lacks (for the error of :func:`to_nir`).
MISSING_PRIMITIVES = {
    "alif": "an adaptive-threshold LIF (threshold variable a with its own time constant)",
    "lif_adaptive_threshold": "an adaptive-threshold LIF",
    "adex": "an adaptive exponential integrate-and-fire neuron (AdEx)",
    "izhikevich": "the Izhikevich neuron (quadratic membrane with a recovery variable)",
    "glif1": "the Allen GLIF neurons",
    "glif2": "the Allen GLIF neurons",
    "glif3": "the Allen GLIF neurons",
    "glif4": "the Allen GLIF neurons",
    "glif5": "the Allen GLIF neurons",
    "lif_cond": "a conductance-based LIF (reversal potentials)",
    "srm0": "the spike response model SRM0",
}

_TAU_RANGE = ["1e-9 s", "1e6 s"]
_OPEN = ["-inf", "inf"]


def _param(value: str, description: str, tau: bool = False, per_neuron: bool = True) -> dict:
    return {
        "value": value,
        "range": _TAU_RANGE if tau else _OPEN,
        "per_neuron": per_neuron,
        "description": description,
    }


def nir_model(primitive: str, discretisation: str = "exact") -> ModelSpec:
    """The neuron model of a NIR primitive (dimensionless; times in seconds).

    ``CubaLIF`` (Pedersen et al. 2024, Nat. Commun. 15:8122, Table 1)::

        dv/dt = (v_leak - v + r*I)/tau_mem   (unless refractory)
        dI/dt = -I/tau_syn
        spike when v > v_threshold; then v = v_reset

    ``LIF``: the same with the input current ``I`` held for one step (``tau_in = dt`` under
    forward Euler), so that ``tau dv/dt = v_leak - v + r x`` receives each step's input ``x``
    during the following step.

    Parameters
    ----------
    primitive : {"CubaLIF", "LIF"}
    discretisation : {"exact", "euler"}
        The Brian2 state updater (:data:`DISCRETISATIONS`).

    Returns
    -------
    ModelSpec
        ``nir_cuba_lif`` or ``nir_lif``; per-neuron parameters named as in NIR, ``t_ref``
        (default 0 s) for the refractory period, synaptic target ``I``.

    Raises
    ------
    ValueError
        Unknown primitive or discretisation.
    ModelError
        ``LIF`` with ``discretisation="exact"`` (Brian2's schedule cannot hold a current over
        exactly one step with an exact integrator).
    """
    if discretisation not in DISCRETISATIONS:
        raise ValueError(
            f"unknown discretisation '{discretisation}'; expected one of "
            f"{', '.join(DISCRETISATIONS)}"
        )
    common = {
        "v_leak": _param("0", "leak (resting) potential"),
        "r": _param("1", "resistance"),
        "v_threshold": _param("1", "firing threshold"),
        "v_reset": _param("0", "reset potential"),
        "t_ref": {
            "value": "0 s",
            "range": ["0 s", "1e6 s"],
            "description": "refractory period (not a NIR parameter; 0 by default)",
        },
    }
    reference = "Pedersen et al. (2024) Nat. Commun. 15:8122 (NIR), Table 1"
    if primitive == "CubaLIF":
        equations = (
            "dv/dt = (v_leak - v + r*I)/tau_mem : 1 (unless refractory)\ndI/dt = -I/tau_syn : 1\n"
        )
        params = {
            "tau_mem": _param("20 ms", "membrane time constant", tau=True),
            "tau_syn": _param("5 ms", "synaptic time constant", tau=True),
            **common,
        }
        name, taus = "nir_cuba_lif", ["tau_mem", "tau_syn"]
    elif primitive == "LIF":
        if discretisation != "euler":
            raise ModelError(
                "NIR primitive LIF: only discretisation='euler' is supported (its input "
                "enters v directly; neurolearn holds it in a current I for one step, which "
                "only forward Euler integrates exactly as the held input)",
                parameter="discretisation",
            )
        equations = (
            "dv/dt = (v_leak - v + r*I)/tau : 1 (unless refractory)\ndI/dt = -I/tau_in : 1\n"
        )
        params = {
            "tau": _param("20 ms", "membrane time constant", tau=True),
            "tau_in": _param(
                "1 ms", "holding time of the input (the time step)", tau=True, per_neuron=False
            ),
            **common,
        }
        name, taus = "nir_lif", ["tau", "tau_in"]
    else:
        raise ValueError(f"no neurolearn model for NIR primitive '{primitive}' (CubaLIF, LIF)")
    data = {
        "name": name,
        "kind": "neuron",
        "title": f"NIR {primitive} neuron ({discretisation})",
        "reference": reference,
        "method": DISCRETISATIONS[discretisation],
        "equations": equations,
        "threshold": "v > v_threshold",
        "reset": "v = v_reset",
        "refractory": "t_ref",
        "parameters": params,
        "initial": {"v": "0", "I": "0"},
        "roles": {"time_constants": taus, "synaptic_targets": ["I"], "threshold_variable": "v"},
    }
    return ModelSpec.from_dict(data)


def nir_package():
    """The ``nir`` package (an optional dependency).

    Raises
    ------
    ImportError
        Not installed (names the extra).
    """
    try:
        import nir
    except ImportError:  # pragma: no cover - depends on the installation
        raise ImportError(
            "NIR support needs the 'nir' package: pip install 'neurolearn[nir]'"
        ) from None
    return nir


def read_nir(path):
    """Read a NIR file (``nir.read``).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    nir.NIRGraph

    Raises
    ------
    FileNotFoundError
        No such file.
    ModelError
        Not a NIR file (names the file and the reader's error).
    """
    nir = nir_package()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NIR file not found: {path}")
    try:
        graph = nir.read(str(path))
    except Exception as exc:
        raise ModelError(f"not a NIR file ({type(exc).__name__}: {exc})", path) from exc
    if not isinstance(graph, nir.NIRGraph):
        raise ModelError(f"the file holds a {type(graph).__name__}, not a NIRGraph", path)
    return graph

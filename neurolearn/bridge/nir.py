"""Networks in and out of the Neuromorphic Intermediate Representation (NIR).

NIR (Pedersen et al. 2024, Nat. Commun. 15:8122; the ``nir`` package) describes a spiking
network as a graph of continuous-time primitives (``Linear``/``Affine`` weights, ``LIF``,
``CubaLIF``, ``LI``, ``CubaLI``...) whose parameters are plain numbers. snnTorch, Norse,
Rockpool, Sinabs, Lava-DL and neuromorphic hardware read or write it. :func:`to_nir` writes a
:class:`neurolearn.torch.SpikingNetwork` as such a graph, :func:`from_nir` reads one back as a
network that runs in torch and, through :func:`neurolearn.bridge.to_brian2`, in Brian2 on every
backend.

Conventions (NIR leaves the time step and the discretisation to each tool)
--------------------------------------------------------------------------
Input between nodes
    A node's input in step ``n`` is the value ``x[n]`` of the step (``W @ spikes[n]``: a spike
    is the value 1 in its step), held over the step. A ``CubaLIF`` with
    ``tau_syn dI/dt = -I + w_in x`` therefore moves its current by ``w_in * x * dt/tau_syn``
    per step: the reading of snnTorch 1.0 (``w_in = tau_syn/dt``), Norse 1.1's importer and
    the Lava importer of the NIR paper. In neurolearn (and Brian2) that amount is the jump of
    the synaptic current ``I`` at the spike, the weight of the synapse.
Discretisation (``discretisation=``)
    ``"exact"``: the linear ODEs of each primitive integrated exactly between steps (Brian2's
    ``exact`` state updater; decay factors ``exp(-dt/tau)``), the jumps above at the steps.
    ``"euler"``: forward Euler (Brian2's ``euler``), decay factors ``1 - dt/tau`` as snnTorch
    (``beta = 1 - dt/tau``) and Norse compute them; with it, an imported snnTorch or Norse
    network gives that library's spikes.
Time step order
    Brian2's (:mod:`neurolearn.torch.step`): state update, threshold, synaptic propagation,
    reset. A spike's effect on the membrane appears in the next step, one step later than in
    snnTorch and Norse, which add a step's input before their threshold test: the spikes of
    layer ``k`` (counted from 1) are those of the library ``k`` steps later, spike for spike
    (tests/bridge/test_nir_libraries.py).
Units
    Times in seconds (as snnTorch, Norse and the Lava importer read and write them); every
    other quantity is a plain number. A neurolearn ``lif`` layer (volts, amperes, ohms) is
    written with its membrane potential measured from ``v_rest`` in units of
    ``v_th - v_rest`` (so ``v_leak = 0``, ``v_threshold = 1``, ``v_reset = (v_reset -
    v_rest)/(v_th - v_rest)``), its current in the unit that moves that potential by one per
    step of held input (``r = tau_mem/dt``, ``w_in = tau_syn/dt``): the form every importer we
    tested requires. The change of variables is exact; the SI scales are kept in the node's
    metadata.
Resets and refractoriness
    NIR resets to ``v_reset`` and has no refractory period. snnTorch 1.0's ``Leaky``,
    ``Synaptic`` and ``RSynaptic`` with ``reset_mechanism="zero"`` and the default
    ``reset_delay=True`` hold the membrane at zero for the step after a spike: import their
    graphs with ``refractory_steps=1``.

Primitives (:data:`PRIMITIVES`)
-------------------------------
==========  =====================================  ===========================================
NIR         neurolearn                             notes
==========  =====================================  ===========================================
Input       network input ``[time, batch, n_in]``  one input node
Linear      ``W_in`` / ``W_rec`` of a layer        ``weight`` is ``[out, in]``
Affine      ``W_in`` / ``W_rec`` of a layer        bias must be zero (no bias in neurolearn)
CubaLIF     :func:`nir_model` ``nir_cuba_lif``;    exact or Euler; zoo ``lif`` exports to it
            zoo ``lif`` on export
LIF         :func:`nir_model` ``nir_lif``          Euler only: the input current is held for
                                                   one step (``tau_in = dt``)
CubaLI      leaky readout (``leaky_readout``)      ``v_leak = 0``
LI -> LI    leaky readout (``leaky_readout``)      how neurolearn writes its readout (Norse
                                                   reads ``LI``, not ``CubaLI``)
LI          leaky readout with ``tau_syn = dt``    Euler only
Output      last layer or readout                  one output node
cycle       ``W_rec`` (``neuron -> Linear ->       the neuron's own spikes, all to all
            neuron``)
NIRGraph    flattened                              nested graphs (snnTorch's ``RSynaptic``)
==========  =====================================  ===========================================

Any other primitive (``IF``, ``I``, ``Conv*``, ``Delay``, ``Flatten``, ``Threshold``...),
branching graphs and models without a NIR primitive raise :class:`neurolearn.spec.ModelError`
naming the node or model and what is missing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from brian2 import second

from ..io import atomic_path
from ..spec import ModelError, ModelSpec
from ..torch import LeakyReadout, SpikingLayer, SpikingNetwork, readout_model

__all__ = [
    "DISCRETISATIONS",
    "PRIMITIVES",
    "MISSING_PRIMITIVES",
    "nir_model",
    "to_nir",
    "write_nir",
    "from_nir",
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


# ---------------------------------------------------------------------------------------------
# Reading a graph
# ---------------------------------------------------------------------------------------------
def _nir():
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
    nir = _nir()
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


def _flatten(graph, prefix: str = "") -> tuple[dict, list]:
    """Nodes and edges of ``graph`` with every nested NIRGraph inlined (its nodes named
    ``<graph>.<node>``) and the nested graphs' Input and Output nodes bypassed."""
    nir = _nir()
    nodes, edges, entry, exit_ = {}, [], {}, {}
    for name, node in graph.nodes.items():
        full = f"{prefix}{name}"
        if isinstance(node, nir.NIRGraph):
            inner_nodes, inner_edges = _flatten(node, f"{full}.")
            nodes.update(inner_nodes)
            edges += inner_edges
            ins = [f"{full}.{k}" for k, v in node.nodes.items() if isinstance(v, nir.Input)]
            outs = [f"{full}.{k}" for k, v in node.nodes.items() if isinstance(v, nir.Output)]
            entry[full], exit_[full] = ins, outs
        else:
            nodes[full] = node
    for src, dst in graph.edges:
        for s in exit_.get(f"{prefix}{src}", [f"{prefix}{src}"]):
            for d in entry.get(f"{prefix}{dst}", [f"{prefix}{dst}"]):
                edges.append((s, d))
    if prefix:  # bypass the nested graph's Input/Output nodes
        for name in [k for k, v in nodes.items() if isinstance(v, (nir.Input, nir.Output))]:
            preds = [s for s, d in edges if d == name]
            succs = [d for s, d in edges if s == name]
            edges = [e for e in edges if name not in e] + [(s, d) for s in preds for d in succs]
            del nodes[name]
    return nodes, list(dict.fromkeys(edges))


@dataclasses.dataclass
class _Stage:
    """One neuron node of the chain with the weights that feed it."""

    name: str
    node: object
    w_in: np.ndarray  # [out, in] as in NIR
    w_rec: np.ndarray | None
    chain: list  # further neuron nodes filtering this one's output (LI -> LI readout)


def _weight(nir, name: str, node) -> np.ndarray:
    if isinstance(node, nir.Affine):
        bias = np.asarray(node.bias, dtype=np.float64)
        if np.any(bias != 0):
            raise ModelError(
                f"NIR node '{name}': Affine with a non-zero bias (max |b| = "
                f"{np.abs(bias).max():g}); neurolearn layers have no bias",
                parameter=name,
            )
    w = np.asarray(node.weight, dtype=np.float64)
    if w.ndim != 2:
        raise ModelError(f"NIR node '{name}': weight of shape {w.shape} is not 2-D", parameter=name)
    return w


def _chain(graph) -> tuple[int, list]:
    """``(n_in, stages)``: the graph read as Input -> (weights -> neuron [+ recurrent
    weights])* -> Output.

    Raises
    ------
    ModelError
        A primitive neurolearn does not read, or a graph that is not such a chain (names the
        node).
    """
    nir = _nir()
    nodes, edges = _flatten(graph)
    weights = (nir.Linear, nir.Affine)
    neurons = (nir.CubaLIF, nir.LIF, nir.LI, nir.CubaLI)
    for name, node in nodes.items():
        if not isinstance(node, weights + neurons + (nir.Input, nir.Output)):
            raise ModelError(
                f"NIR node '{name}' is a {type(node).__name__}, which neurolearn does not "
                f"read (it reads {', '.join(PRIMITIVES)})",
                parameter=name,
            )
    succ = {k: [d for s, d in edges if s == k] for k in nodes}
    pred = {k: [s for s, d in edges if d == k] for k in nodes}
    inputs = [k for k, v in nodes.items() if isinstance(v, nir.Input)]
    if len(inputs) != 1:
        raise ModelError(f"the NIR graph has {len(inputs)} Input nodes; neurolearn reads one")
    n_in = int(np.prod(np.asarray(next(iter(nodes[inputs[0]].input_type.values())))))
    stages: list[_Stage] = []
    current, seen = inputs[0], {inputs[0]}

    def one(name: str, what: str) -> str:
        nxt = [d for d in succ[name] if d not in seen]
        if len(nxt) != 1:
            raise ModelError(
                f"NIR node '{name}' feeds {len(nxt)} new nodes ({', '.join(nxt) or 'none'}); "
                f"neurolearn reads a chain of layers ({what})",
                parameter=name,
            )
        return nxt[0]

    while not isinstance(nodes[current], nir.Output):
        nxt = one(current, "after this node")
        seen.add(nxt)
        node = nodes[nxt]
        if isinstance(node, neurons) and stages and current == stages[-1].name:
            stages[-1].chain.append((nxt, node))  # LI -> LI: the readout's membrane filter
            stages[-1].name = nxt
            current = nxt
            continue
        if isinstance(node, nir.Output):
            current = nxt
            break
        if not isinstance(node, weights):
            raise ModelError(
                f"NIR node '{nxt}' ({type(node).__name__}) follows '{current}' directly; "
                f"neurolearn expects Linear or Affine weights between neuron nodes",
                parameter=nxt,
            )
        w_in = _weight(nir, nxt, node)
        target = one(nxt, "weights feed one neuron node")
        seen.add(target)
        tnode = nodes[target]
        if not isinstance(tnode, neurons):
            raise ModelError(
                f"NIR node '{nxt}' feeds '{target}' ({type(tnode).__name__}); neurolearn "
                f"expects a neuron node after weights",
                parameter=target,
            )
        w_rec = None
        for p in pred[target]:
            if p == nxt:
                continue
            if isinstance(nodes[p], weights) and pred[p] == [target]:
                w_rec = _weight(nir, p, nodes[p])
                seen.add(p)
            else:
                raise ModelError(
                    f"NIR node '{target}' has a second input from '{p}'; neurolearn reads "
                    f"one feed-forward input and one recurrent connection (node -> weights "
                    f"-> node) per layer",
                    parameter=target,
                )
        stages.append(_Stage(target, tnode, w_in, w_rec, [(target, tnode)]))
        current = target
    if not stages:
        raise ModelError("the NIR graph has no neuron node between Input and Output")
    return n_in, stages


# ---------------------------------------------------------------------------------------------
# Import
# ---------------------------------------------------------------------------------------------
def _array(node, field: str, n: int, name: str) -> np.ndarray:
    value = np.asarray(getattr(node, field), dtype=np.float64).reshape(-1)
    if value.size == 1:
        value = np.full(n, float(value[0]))
    if value.size != n:
        raise ModelError(
            f"NIR node '{name}': {field} has {value.size} values for {n} neurons", parameter=field
        )
    if not np.all(np.isfinite(value)):
        raise ModelError(f"NIR node '{name}': {field} is not finite", parameter=field)
    return value


def _positive(value: np.ndarray, field: str, name: str) -> np.ndarray:
    if np.any(value <= 0):
        raise ModelError(
            f"NIR node '{name}': {field} must be > 0 (min {value.min():g})", parameter=field
        )
    return value


def _spiking_layer(stage, k, n_pre, dt, method, refractory_steps, dtype) -> SpikingLayer:
    """A spiking layer for a CubaLIF or LIF stage: parameters in NIR's numbers, the input
    scale of the primitive folded into the weights (jump of I per unit of held input)."""
    nir = _nir()
    name, node = stage.chain[0]
    n = stage.w_in.shape[0]
    p = {f: _array(node, f, n, name) for f in ("r", "v_leak", "v_threshold", "v_reset")}
    if isinstance(node, nir.CubaLIF):
        spec = nir_model("CubaLIF", method)
        p["tau_mem"] = _positive(_array(node, "tau_mem", n, name), "tau_mem", name)
        p["tau_syn"] = _positive(_array(node, "tau_syn", n, name), "tau_syn", name)
        scale = _array(node, "w_in", n, name) * dt / p["tau_syn"]
    elif isinstance(node, nir.LIF):
        spec = nir_model("LIF", method)
        p["tau"] = _positive(_array(node, "tau", n, name), "tau", name)
        p["tau_in"] = dt
        scale = np.ones(n)
    else:
        raise ModelError(
            f"NIR node '{name}' ({type(node).__name__}) is not a spiking neuron; only the last "
            f"node before the Output may be a leaky integrator (the readout)",
            parameter=name,
        )
    p["t_ref"] = (refractory_steps + 1) * dt if refractory_steps else 0.0
    layer = SpikingLayer(
        spec,
        n_pre,
        n,
        dt=dt,
        recurrent=stage.w_rec is not None,
        params={key: _quantity(key, v) for key, v in p.items()},
        weight_unit="1",
        weight_std=0.0,
        recurrent_std=0.0,
        dtype=dtype,
        name=_layer_name(name, k),
    )
    _set_weights(layer, stage.w_in * scale[:, None], stage.w_rec, scale, name)
    return layer


_TIMES = ("tau_mem", "tau_syn", "tau", "tau_in", "tau_m", "t_ref")


def _quantity(key: str, value):
    """A parameter value for :meth:`ModelSpec.resolve_parameters`: seconds as a Quantity."""
    return value * second if key in _TIMES else value


def _layer_name(node_name: str, k: int) -> str:
    base = node_name.split(".")[0] if node_name.endswith(".lif") else node_name
    clean = "".join(c if c.isalnum() or c == "_" else "_" for c in base)
    return clean if clean and not clean[0].isdigit() else f"layer{k}_{clean}"


def _set_weights(layer, w_in: np.ndarray, w_rec, scale: np.ndarray, name: str) -> None:
    """Copy NIR weights ``[out, in]`` (times the per-neuron input ``scale``) into the layer's
    ``W_in``/``W_rec`` ``[pre, post]``."""
    with torch.no_grad():
        if tuple(w_in.shape) != (layer.n, layer.n_in):
            raise ModelError(
                f"NIR weights into '{name}' have shape {w_in.shape}; expected "
                f"[{layer.n}, {layer.n_in}] (neurons, inputs)",
                parameter=name,
            )
        layer.W_in.copy_(torch.as_tensor(w_in.T, dtype=layer.W_in.dtype))
        if w_rec is not None:
            if tuple(w_rec.shape) != (layer.n, layer.n):
                raise ModelError(
                    f"NIR recurrent weights of '{name}' have shape {w_rec.shape}; expected "
                    f"[{layer.n}, {layer.n}]",
                    parameter=name,
                )
            w = w_rec * scale[:, None]
            layer.W_rec.copy_(torch.as_tensor(w.T, dtype=layer.W_rec.dtype))


def _readout(stage, k, n_pre, dt, method, dtype):
    """The leaky readout for a CubaLI, LI -> LI or LI stage (neurolearn's readout:
    ``dv/dt = (I - v)/tau_m``, ``dI/dt = -I/tau_syn``)."""
    nir = _nir()
    n = stage.w_in.shape[0]
    names = [nm for nm, _ in stage.chain]
    nodes = [nd for _, nd in stage.chain]
    where = " -> ".join(f"{nm} ({type(nd).__name__})" for nm, nd in stage.chain)
    if len(nodes) == 1 and isinstance(nodes[0], nir.CubaLI):
        node, name = nodes[0], names[0]
        tau_syn = _positive(_array(node, "tau_syn", n, name), "tau_syn", name)
        tau_m = _positive(_array(node, "tau_mem", n, name), "tau_mem", name)
        leak = _array(node, "v_leak", n, name)
        scale = _array(node, "w_in", n, name) * _array(node, "r", n, name) * dt / tau_syn
    elif len(nodes) == 2 and all(isinstance(nd, nir.LI) for nd in nodes):
        (n1, s), (n2, m) = stage.chain
        tau_syn = _positive(_array(s, "tau", n, n1), "tau", n1)
        tau_m = _positive(_array(m, "tau", n, n2), "tau", n2)
        if np.any(_array(s, "v_leak", n, n1) != 0):
            raise ModelError(f"NIR node '{n1}': the synaptic LI needs v_leak = 0", parameter=n1)
        leak = _array(m, "v_leak", n, n2)
        scale = _array(s, "r", n, n1) * _array(m, "r", n, n2) * dt / tau_syn
    elif len(nodes) == 1 and isinstance(nodes[0], nir.LI):
        node, name = nodes[0], names[0]
        if method != "euler":
            raise ModelError(
                f"NIR node '{name}': a single LI (no synaptic filter) is read only with "
                f"discretisation='euler' (its input is held for one step, tau_syn = dt)",
                parameter="discretisation",
            )
        tau_m = _positive(_array(node, "tau", n, name), "tau", name)
        tau_syn = np.full(n, dt)
        leak = _array(node, "v_leak", n, name)
        scale = _array(node, "r", n, name)
    else:
        raise ModelError(
            f"NIR nodes {where}: neurolearn reads a readout as CubaLI, LI -> LI or LI",
            parameter=names[0],
        )
    if np.any(leak != 0):
        raise ModelError(
            f"NIR readout {where}: v_leak must be 0 (neurolearn's readout has no leak potential)",
            parameter="v_leak",
        )
    params = {"tau_m": tau_m * second, "tau_syn": tau_syn * second}
    if method == "exact":
        layer = LeakyReadout(n_pre, n, dt=dt, params=params, weight_std=0.0, dtype=dtype)
    else:  # the readout model integrated by Euler: a non-spiking layer of the same model
        layer = SpikingLayer(
            readout_model(),
            n_pre,
            n,
            dt=dt,
            params=params,
            spiking=False,
            target="I_syn",
            weight_unit="1",
            weight_std=0.0,
            method="euler",
            dtype=dtype,
            name="readout",
        )
    if stage.w_rec is not None:
        raise ModelError(f"NIR readout {where} has a recurrent connection", parameter=names[0])
    _set_weights(layer, stage.w_in * scale[:, None], None, scale, names[0])
    return layer


def from_nir(
    graph,
    dt,
    *,
    discretisation: str = "exact",
    refractory_steps: int = 0,
    dtype=torch.float64,
) -> SpikingNetwork:
    """A NIR graph (or file) as a neurolearn network.

    The graph must be a chain ``Input -> (Linear|Affine -> CubaLIF|LIF [-> Linear -> itself])*
    [-> Linear|Affine -> CubaLI | LI -> LI | LI] -> Output``; nested graphs are flattened.
    Conventions (units, discretisation, order within a step): the module docstring.

    Parameters
    ----------
    graph : nir.NIRGraph, str or Path
        A graph or a NIR file (``nir.write``).
    dt : float, str or Quantity
        Time step (a float is seconds). Libraries that bake their step into the graph:
        snnTorch 1.0 writes ``tau = dt/(1 - beta)`` with ``dt = 1e-4 s``, Norse 1.1 uses
        ``dt = 1e-3 s`` by default.
    discretisation : {"exact", "euler"}
        Exact integration or forward Euler (``1 - dt/tau``, snnTorch and Norse); see
        :data:`DISCRETISATIONS`.
    refractory_steps : int
        Steps after a spike during which ``v`` stays at ``v_reset`` (0: none, NIR's own
        semantics; 1: snnTorch's delayed reset).
    dtype : torch.dtype
        float64 (default) for spike-exact agreement with Brian2.

    Returns
    -------
    SpikingNetwork
        One spiking layer per spiking node (named after it), the leaky readout if the chain
        ends in a leaky integrator (else ``readout=None``: the output is the last layer's
        spikes). Export to Brian2 with :func:`neurolearn.bridge.to_brian2`.

    Raises
    ------
    ModelError
        A primitive or topology neurolearn does not read, a bias, a non-positive time
        constant, mismatched shapes (each names the node and field).
    ValueError
        Unknown discretisation or a negative ``refractory_steps``.
    ImportError
        The ``nir`` package is missing.
    """
    from ..spec import parse_quantity

    if discretisation not in DISCRETISATIONS:
        raise ValueError(
            f"unknown discretisation '{discretisation}'; expected one of "
            f"{', '.join(DISCRETISATIONS)}"
        )
    if int(refractory_steps) != refractory_steps or refractory_steps < 0:
        raise ValueError(f"refractory_steps must be an integer >= 0, got {refractory_steps!r}")
    if isinstance(graph, (str, Path)):
        graph = read_nir(graph)
    dt_s = float(dt) if isinstance(dt, (int, float)) else float(parse_quantity(dt, "dt"))
    if not dt_s > 0:
        raise ValueError(f"dt must be > 0, got {dt!r}")
    nir = _nir()
    n_in, stages = _chain(graph)
    layers, readout, n_pre = [], None, n_in
    for k, stage in enumerate(stages):
        node = stage.chain[0][1]
        if isinstance(node, (nir.LI, nir.CubaLI)):
            if k != len(stages) - 1:
                raise ModelError(
                    f"NIR node '{stage.chain[0][0]}' ({type(node).__name__}) is not spiking; "
                    f"only the last stage may be a leaky integrator (the readout)",
                    parameter=stage.chain[0][0],
                )
            readout = _readout(stage, k, n_pre, dt_s, discretisation, dtype)
        else:
            if len(stage.chain) > 1:
                raise ModelError(
                    f"NIR node '{stage.chain[1][0]}' follows the spiking node "
                    f"'{stage.chain[0][0]}' without weights",
                    parameter=stage.chain[1][0],
                )
            layers.append(
                _spiking_layer(stage, k, n_pre, dt_s, discretisation, int(refractory_steps), dtype)
            )
        n_pre = stage.w_in.shape[0]
    if not layers:
        raise ModelError("the NIR graph has no spiking layer (CubaLIF or LIF)")
    return SpikingNetwork(layers, readout)


# ---------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------
def _per_neuron(layer, name: str) -> np.ndarray:
    value = np.asarray(layer.parameter_si(name), dtype=np.float64)
    return np.broadcast_to(value, (layer.n,)).copy()


def _weights_si(layer) -> tuple[np.ndarray, np.ndarray | None]:
    """``W_in`` and ``W_rec`` as NIR weights ``[out, in]`` in SI units of the target."""
    w_in = layer.W_in.detach().to(torch.float64).cpu().numpy().T * layer.weight_unit
    w_rec = None
    if layer.W_rec is not None:
        w_rec = layer.W_rec.detach().to(torch.float64).cpu().numpy().T * layer.weight_unit
    return w_in, w_rec


def _check_refractory(layer, p: dict, drop_refractory: bool) -> None:
    t_ref = float(np.max(p.get("t_ref", 0.0)))
    if t_ref > 0 and not drop_refractory:
        raise ModelError(
            f"layer '{layer.name}' (model '{layer.spec.name}') has a refractory period t_ref "
            f"= {t_ref * 1e3:g} ms; NIR has no refractory period: set t_ref to 0 or pass "
            f"drop_refractory=True (the value is kept in the node's metadata)",
            parameter="t_ref",
        )


def _export_layer(layer, dt: float, drop_refractory: bool):
    """``(node, w_in, w_rec, metadata)`` of one spiking layer (weights ``[out, in]`` in NIR's
    numbers)."""
    nir = _nir()
    model = layer.spec.name
    if model in MISSING_PRIMITIVES or model not in ("lif", "nir_cuba_lif", "nir_lif"):
        missing = MISSING_PRIMITIVES.get(model, "a primitive for this model")
        raise ModelError(
            f"layer '{layer.name}': model '{model}' has no NIR primitive (NIR lacks {missing}); "
            f"to_nir writes the models lif, nir_cuba_lif and nir_lif",
            getattr(layer.spec, "path", None),
            parameter="model",
        )
    p = {name: _per_neuron(layer, name) for name in layer.param_units}
    _check_refractory(layer, p, drop_refractory)
    w_in, w_rec = _weights_si(layer)
    meta = {
        "neurolearn_model": model,
        "discretisation": layer.method or layer.spec.method,
        "dt": dt,
        "t_ref": float(np.max(p.get("t_ref", 0.0))),
    }
    if model == "lif":
        span = p["v_th"] - p["v_rest"]
        if np.any(span <= 0):
            raise ModelError(
                f"layer '{layer.name}': v_th must lie above v_rest for the NIR form "
                f"(min v_th - v_rest = {span.min():g} V)",
                parameter="v_th",
            )
        # u = (v - v_rest)/(v_th - v_rest); I_nir = R_m I_syn dt/((v_th - v_rest) tau_m)
        scale = p["R_m"] * dt / (span * p["tau_m"])
        i_ext = p.get("I_ext", np.zeros(layer.n))
        node = nir.CubaLIF(
            tau_mem=p["tau_m"],
            tau_syn=p["tau_syn"],
            r=p["tau_m"] / dt,
            v_leak=p["R_m"] * i_ext / span,
            v_threshold=np.ones(layer.n),
            v_reset=(p["v_reset"] - p["v_rest"]) / span,
            w_in=p["tau_syn"] / dt,
        )
        meta.update(v_rest=p["v_rest"], v_scale=span, current_scale=1 / scale)
        w_in = w_in * scale[:, None]
        w_rec = None if w_rec is None else w_rec * scale[:, None]
    elif model == "nir_cuba_lif":
        node = nir.CubaLIF(
            tau_mem=p["tau_mem"],
            tau_syn=p["tau_syn"],
            r=p["r"],
            v_leak=p["v_leak"],
            v_threshold=p["v_threshold"],
            v_reset=p["v_reset"],
            w_in=p["tau_syn"] / dt,
        )
    else:
        if (layer.method or layer.spec.method) != "euler" or not np.allclose(p["tau_in"], dt):
            raise ModelError(
                f"layer '{layer.name}': a nir_lif layer is written as NIR LIF only with the "
                f"Euler discretisation and tau_in = dt",
                parameter="tau_in",
            )
        node = nir.LIF(
            tau=p["tau"],
            r=p["r"],
            v_leak=p["v_leak"],
            v_threshold=p["v_threshold"],
            v_reset=p["v_reset"],
        )
    node.metadata = meta
    return node, w_in, w_rec


def _export_readout(layer, dt: float) -> tuple:
    """The leaky readout as ``LI`` (synaptic filter, ``r = tau_syn/dt``) -> ``LI`` (membrane,
    ``r = 1``) and its weights ``[out, in]``."""
    nir = _nir()
    if layer.spec.name != "leaky_readout":
        raise ModelError(
            f"readout '{layer.name}': model '{layer.spec.name}' has no NIR primitive "
            f"(to_nir writes the leaky readout as LI -> LI)",
            parameter="readout",
        )
    tau_syn, tau_m = _per_neuron(layer, "tau_syn"), _per_neuron(layer, "tau_m")
    zero = np.zeros(layer.n)
    meta = {"neurolearn_model": "leaky_readout", "discretisation": layer.method or "exact"}
    syn = nir.LI(tau=tau_syn, r=tau_syn / dt, v_leak=zero, metadata=dict(meta))
    mem = nir.LI(tau=tau_m, r=np.ones(layer.n), v_leak=zero, metadata=dict(meta))
    w_in, _ = _weights_si(layer)
    return syn, mem, w_in


def to_nir(net, *, readout: bool = True, drop_refractory: bool = False):
    """A neurolearn network as a NIR graph.

    Each spiking layer becomes ``Linear`` (``W_in``) -> ``CubaLIF`` (zoo ``lif`` and
    ``nir_cuba_lif``) or ``LIF`` (``nir_lif``) with, if recurrent, a cycle
    ``neuron -> Linear (W_rec) -> neuron``; the leaky readout becomes ``Linear`` -> ``LI``
    (synaptic filter) -> ``LI`` (membrane). Every parameter is written per neuron (arrays of
    ``n`` values), times in seconds, the rest dimensionless in the form of the module
    docstring (for ``lif``: ``u = (v - v_rest)/(v_th - v_rest)``, ``r = tau_mem/dt``,
    ``w_in = tau_syn/dt``, weights ``W R_m dt/((v_th - v_rest) tau_m)``; an external
    current ``I_ext`` becomes ``v_leak = R_m I_ext/(v_th - v_rest)``). The neurolearn model,
    its discretisation, ``dt`` and the SI scales are kept in each node's ``metadata``.

    Parameters
    ----------
    net : SpikingNetwork
    readout : bool
        Write the leaky readout (default); False ends the graph at the last spiking layer
        (snnTorch 1.0 reads no ``LI``).
    drop_refractory : bool
        Write layers with a refractory period ``t_ref > 0`` without it (NIR has none); by
        default they raise.

    Returns
    -------
    nir.NIRGraph
        Nodes ``input``, ``<layer>_in``, ``<layer>``, ``<layer>_rec``, ``readout_in``,
        ``readout_syn``, ``readout``, ``output``; graph metadata ``{"source":
        "neurolearn", "dt": dt}``.

    Raises
    ------
    ModelError
        A model without a NIR primitive (names the layer, the model and what NIR lacks), a
        refractory period, conductance targets, ``v_th <= v_rest``.
    ImportError
        The ``nir`` package is missing.
    """
    nir = _nir()
    dt = float(net.dt_s)
    nodes = {"input": nir.Input(input_type=np.array([net.n_in]))}
    edges, prev, used = [], "input", set(nodes)
    for k, layer in enumerate(net.layers):
        if len(layer.targets) != 1:
            raise ModelError(
                f"layer '{layer.name}': model '{layer.spec.name}' has conductance targets "
                f"{layer.targets}; NIR has no conductance-based LIF",
                parameter="model",
            )
        node, w_in, w_rec = _export_layer(layer, dt, drop_refractory)
        name = layer.name if layer.name not in used else f"{layer.name}_{k}"
        used.update({name, f"{name}_in", f"{name}_rec"})
        nodes[f"{name}_in"] = nir.Linear(weight=w_in)
        nodes[name] = node
        edges += [(prev, f"{name}_in"), (f"{name}_in", name)]
        if w_rec is not None:
            nodes[f"{name}_rec"] = nir.Linear(weight=w_rec)
            edges += [(name, f"{name}_rec"), (f"{name}_rec", name)]
        prev = name
    n_out = net.layers[-1].n
    if readout and net.readout is not None:
        syn, mem, w = _export_readout(net.readout, dt)
        nodes.update(readout_in=nir.Linear(weight=w), readout_syn=syn, readout=mem)
        edges += [(prev, "readout_in"), ("readout_in", "readout_syn"), ("readout_syn", "readout")]
        prev, n_out = "readout", net.readout.n
    nodes["output"] = nir.Output(output_type=np.array([n_out]))
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"source": "neurolearn", "dt": dt})


def write_nir(net_or_graph, path, **kwargs) -> Path:
    """Write a network (through :func:`to_nir`) or a NIR graph to a NIR file (``nir.write``,
    HDF5), atomically.

    Parameters
    ----------
    net_or_graph : SpikingNetwork or nir.NIRGraph
    path : str or Path
    **kwargs
        Options of :func:`to_nir`.

    Returns
    -------
    Path

    Raises
    ------
    ModelError
        From :func:`to_nir`.
    """
    nir = _nir()
    graph = (
        net_or_graph if isinstance(net_or_graph, nir.NIRGraph) else to_nir(net_or_graph, **kwargs)
    )
    path = Path(path)
    with atomic_path(path) as tmp:
        nir.write(str(tmp), graph)
    return path

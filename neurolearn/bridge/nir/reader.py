"""Reading a NIR graph as a :class:`neurolearn.torch.SpikingNetwork` (conventions:
:mod:`neurolearn.bridge.nir`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from brian2 import second

from ...spec import ModelError, parse_quantity
from ...torch import LeakyReadout, SpikingLayer, SpikingNetwork, readout_model
from .primitives import DISCRETISATIONS, PRIMITIVES, nir_model, read_nir
from .primitives import nir_package as _nir

__all__ = ["from_nir", "run_nir"]


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


def run_nir(
    graph,
    inputs,
    dt,
    *,
    discretisation: str = "exact",
    refractory_steps: int = 0,
    backend: str = "numpy",
    directory=None,
) -> dict:
    """Run a NIR graph (or file) in Brian2 and in neurolearn's torch twin on the same input.

    Parameters
    ----------
    graph : nir.NIRGraph, str or Path
    inputs : Tensor or ndarray ``[time, batch, channels]``
        Input spikes (0/1 per step of ``dt``).
    dt, discretisation, refractory_steps
        As for :func:`from_nir`.
    backend : str
        Brian2 target (``numpy``, ``cython``, ``cpp_standalone``, ``cuda_standalone``).
    directory : str, optional
        Standalone project folder.

    Returns
    -------
    dict
        ``network`` (SpikingNetwork), ``brian2_spikes`` and ``torch_spikes`` (lists of
        ``[time, batch, neurons]`` uint8 arrays, one per spiking layer), ``brian2_readout``
        and ``torch_readout`` (``[time, batch, n_out]`` or None), ``agreement`` (per layer,
        :func:`neurolearn.bridge.spike_agreement` of Brian2 against torch), ``layers``
        (layer names).

    Raises
    ------
    ModelError, ValueError
        As :func:`from_nir` and :func:`neurolearn.bridge.to_brian2`.
    """
    from .. import spike_agreement, to_brian2

    net = from_nir(
        graph, dt, discretisation=discretisation, refractory_steps=refractory_steps
    ).double()
    x = torch.as_tensor(np.asarray(inputs), dtype=torch.float64)
    with torch.no_grad():
        out = net(x)
    torch_spikes = [s.numpy().astype(np.uint8) for s in net.spikes]
    export = to_brian2(net, x, backend=backend, directory=directory)
    brian_spikes = [np.asarray(s, dtype=np.uint8) for s in export.spikes]
    return {
        "network": net,
        "layers": [layer.name for layer in net.layers],
        "torch_spikes": torch_spikes,
        "brian2_spikes": brian_spikes,
        "torch_readout": out.numpy() if net.readout is not None else None,
        "brian2_readout": export.readout if net.readout is not None else None,
        "agreement": [spike_agreement(b, t) for b, t in zip(brian_spikes, torch_spikes)],
    }

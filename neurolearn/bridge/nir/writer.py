"""Writing a :class:`neurolearn.torch.SpikingNetwork` as a NIR graph (conventions:
:mod:`neurolearn.bridge.nir`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...io import atomic_path
from ...spec import ModelError
from .primitives import MISSING_PRIMITIVES
from .primitives import nir_package as _nir

__all__ = ["to_nir", "write_nir"]


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

"""Round trip between the torch bridge and Brian2, and the file format of trained networks.

:func:`to_brian2` turns a :class:`neurolearn.torch.SpikingNetwork` into a Brian2 network built
with the same model specs (:func:`neurolearn.brian.build.make_neuron_group` /
:func:`~neurolearn.brian.build.make_synapses`): one ``NeuronGroup`` per layer holding the
trained per-neuron parameters with their units, ``Synapses`` holding the trained weights
(for conductance models two pathways: positive weights onto ``g_e``, negative ones as
conductances ``-w`` onto ``g_i``), the readout as a threshold-less group, and the input spikes
as a ``SpikeGeneratorGroup``. A batch of ``B`` samples becomes ``B`` independent copies inside
the one network (copy ``b`` of neuron ``j`` is neuron ``b*N + j``; synapses connect within a
copy only), so many test samples are simulated in one run. Spikes and the readout trace come
back as numpy arrays ``[time, batch, ...]``, laid out like the torch forward pass.

Agreement: with float64 parameters and Brian2's ``numpy`` target, both engines evaluate the
same update formulas in the same order within a step, so the spike trains are identical
(the float results differ in the last bits only: sums are accumulated in a different order,
and the torch side evaluates Brian2's expressions with hoisted coefficients). Compiled targets
(``cython``, ``cpp_standalone``) use ``-ffast-math`` by default; agreement is then reported
by :func:`spike_agreement` rather than assumed.

File format (:func:`save_network`, :func:`load_network`): one HDF5 file (h5py), no pickle.

``/`` attributes
    ``format = "neurolearn.torch.SpikingNetwork"``, ``version = 1``, ``config`` (JSON: for
    every layer its kind, constructor options and the full model spec with units,
    ``ModelSpec.to_dict()``), ``dt_s``.
``/layers/<k>/parameters/<name>``
    Stored value of every parameter in its display unit (attribute ``unit``, e.g. ``"ms"``;
    attribute ``unit_si`` = the SI value of that unit); ``[neurons]`` or scalar; float64.
``/layers/<k>/W_in``, ``/layers/<k>/W_rec``
    Weights ``[pre, post]`` in the layer's ``weight_unit`` (attribute ``unit``).
``/layers/<k>/delay_in``, ``/layers/<k>/delay_rec``
    Learnable synaptic delays (:mod:`neurolearn.torch.delays`) in ms (``[pre, post]``,
    ``[pre]`` or scalar), attribute ``sigma_steps``: the width of their kernels (0: rounded);
    their mode and ``max_delay`` are in the layer's ``config``.
``/layers/<k>`` attribute ``clamp_counts``
    JSON of the clamp counters.

Layer ``k`` runs over the hidden layers in order; the readout is the last one.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..brian.backends import use_backend
from ..brian.build import make_input_group, make_neuron_group, make_synapses
from ..io import atomic_path
from ..spec import ModelError, ModelSpec, load_model

__all__ = [
    "Brian2Export",
    "to_brian2",
    "from_brian2",
    "save_network",
    "load_network",
    "spike_agreement",
    "FORMAT",
]

FORMAT = "neurolearn.torch.SpikingNetwork"


@dataclasses.dataclass
class Brian2Export:
    """A Brian2 copy of a torch network and, after running, its outputs.

    Attributes
    ----------
    network : brian2.Network
    groups : dict of str -> NeuronGroup
        By layer name (``"hidden0"``..., ``"readout"``; the names of
        :meth:`~neurolearn.torch.SpikingNetwork.named_layers`, unique).
    synapses : dict of str -> Synapses
    input_group : SpikeGeneratorGroup
    batch, steps : int
        Copies and time steps.
    dt_s : float
    spikes : list of ndarray ``[time, batch, neurons]`` (uint8)
        Per hidden layer, filled by running.
    readout : ndarray ``[time, batch, classes]`` or None
        Readout membrane trace after each step.
    backend : str
    directory : Path or None
        ``stage="generate"``: the generated project folder.
    """

    network: Any
    groups: dict
    synapses: dict
    input_group: Any
    batch: int
    steps: int
    dt_s: float
    backend: str
    monitors: dict = dataclasses.field(default_factory=dict)
    spikes: list = dataclasses.field(default_factory=list)
    readout: Any = None
    directory: Any = None


def _unit_str(unit) -> str:
    from brian2 import Equations
    from brian2.units.fundamentalunits import get_unit

    if unit is None or unit.dim.is_dimensionless:
        return "1"
    text = repr(get_unit(unit.dim))
    try:
        Equations(f"w : {text}")
    except Exception:  # a scaled unit such as 'mvolt / msecond': use SI base units
        text = repr(unit.dim)
    return text


def _weight_name(*groups) -> str:
    """``w``, or ``w_syn`` when a pre- or postsynaptic model has its own ``w`` (AdEx)."""
    return "w_syn" if any("w" in g.variables for g in groups) else "w"


def _synapse_spec(target_unit, conductance: bool, wname: str = "w"):
    base = load_model("static_conductance" if conductance else "static_current")
    on_pre = base.on_pre.replace("+= w", f"+= {wname}")
    return dataclasses.replace(base, equations=f"{wname} : {_unit_str(target_unit)}", on_pre=on_pre)


def _layer_params(layer, batch: int) -> tuple[dict, dict]:
    """Per-neuron parameter values (tiled over the batch) with units, and externals."""
    params, externals = {}, {}
    for name in layer.param_units:
        si = layer.parameter_si(name)
        unit = layer.cm.units[name]
        value = np.tile(si, batch) if si.ndim == 1 else float(si)
        if name in layer.spec.parameters:
            params[name] = value * unit if not unit.dim.is_dimensionless else value
        else:
            externals[name] = value * unit if not unit.dim.is_dimensionless else value
    return params, externals


def _connection_taps(layer, tag: str) -> list:
    """``[(W, D), ...]`` of the input (``tag = "in"``) or recurrent connection: weights
    ``[pre, post]`` (weight units) and whole-step delays ``[pre, post]`` (int, or None: no
    delay); several entries for a convolution's temporal taps
    (:meth:`~neurolearn.torch.conv.SpikingConv1d.input_taps`)."""
    if tag == "in" and layer.convolutional:
        return layer.input_taps()
    W, d = (layer.W_in, layer.delay_in) if tag == "in" else (layer.W_rec, layer.delay_rec)
    return [(W, None if d is None else d.rounded_numpy())]


def _layer_synapses(layer, k: int, tag: str, src, n_pre: int, taps, group, B: int) -> list:
    """The Brian2 synapses of one connection of layer ``k`` (``tag`` ``"in"`` or ``"rec"``;
    ``taps`` from :func:`_connection_taps`), within each of the ``B`` batch copies: one
    pathway per synaptic target (conductance models: positive weights onto the first, ``-w``
    of negative ones onto the second), holding every tap's synapses (a pair of neurons may
    have several, with different delays), with ``Synapses.delay = D * dt`` where the
    connection has delays."""
    import torch
    from brian2 import second

    mats = [(W.detach().to(torch.float64).numpy() * layer.weight_unit, D) for W, D in taps]
    out = []
    for t, tv in enumerate(layer.targets):
        pre, post, w, delay = [], [], [], []
        for W, D in mats:
            Wp = W if len(layer.targets) == 1 else np.maximum(W if t == 0 else -W, 0.0)
            i, j = np.nonzero(Wp)
            pre.append(i)
            post.append(j)
            w.append(Wp[i, j])
            delay.append(D[i, j] if D is not None else np.zeros(i.size, np.int64))
        pre, post, w = np.concatenate(pre), np.concatenate(post), np.concatenate(w)
        if pre.size == 0:
            continue
        unit = layer.cm.units[tv]
        wname = _weight_name(src, group)
        sspec = _synapse_spec(unit, len(layer.targets) == 2, wname)
        syn = make_synapses(sspec, src, group, target_var=tv, name=f"syn_{tag}_{k}_{tv}")
        offs_pre = (np.arange(B)[:, None] * n_pre).repeat(pre.size, 1).ravel()
        offs_post = (np.arange(B)[:, None] * layer.n).repeat(pre.size, 1).ravel()
        syn.connect(i=np.tile(pre, B) + offs_pre, j=np.tile(post, B) + offs_post)
        w = np.tile(w, B)
        setattr(syn, wname, w * unit if not unit.dim.is_dimensionless else w)
        if any(D is not None for _, D in mats):
            syn.delay = np.tile(np.concatenate(delay), B) * layer.dt_s * second
        out.append(syn)
    return out


def to_brian2(
    net,
    inputs,
    backend: str = "numpy",
    run: bool = True,
    directory: str | None = None,
    stage: str = "run",
) -> Brian2Export:
    """Build (and by default run) the Brian2 equivalent of a torch network on a batch.

    Parameters
    ----------
    net : SpikingNetwork
    inputs : Tensor or ndarray ``[time, batch, channels]``
        Input spikes (0/1 per step); channel ``c`` of sample ``b`` spiking at step ``n`` is a
        spike of generator neuron ``b*channels + c`` at time ``n*dt``.
    backend : str
        ``"numpy"`` (spike-exact), ``"cython"``, ``"cpp_standalone"``, ``"cuda_standalone"``
        (through :func:`neurolearn.brian.backends.use_backend`).
    run : bool
        Run for ``time*dt`` and fill ``spikes``/``readout``.
    directory : str, optional
        Standalone project folder, kept (default: a temporary folder, removed before
        returning).
    stage : {"run", "generate", "load"}
        Standalone backends, with ``run``: ``"run"`` builds and runs here; ``"generate"``
        only generates the project into ``directory`` (compiled where this machine has the
        compiler and ``nvcc``) to be run elsewhere with ``./main``; ``"load"`` reads the
        results that program wrote into ``directory/results`` (neither generates nor runs;
        the network and inputs must be those the project was generated for).

    Returns
    -------
    Brian2Export
        ``spikes``/``readout`` filled unless ``run`` is false or ``stage="generate"``.

    Raises
    ------
    ValueError
        Inputs not ``[time, batch, channels]`` or not binary; a ``stage`` other than "run"
        without ``directory`` or for a runtime backend; ``stage="load"`` on a project that has
        not been run (no ``results/last_run_info.txt``; the message names the folder).
    ModelError
        From the builders (parameter outside its range, unknown backend...).
    BackendUnavailableError
        ``stage="run"`` where the program cannot run (``cuda_standalone`` without a GPU),
        raised before any code is generated.
    """
    import brian2
    from brian2 import Network, SpikeMonitor, StateMonitor, second

    x = inputs.detach().cpu().numpy() if hasattr(inputs, "detach") else np.asarray(inputs)
    if x.ndim != 3 or x.shape[2] != net.n_in:
        raise ValueError(
            f"inputs have shape {x.shape}; expected [time, batch, channels] = [T, B, {net.n_in}]"
        )
    if not np.all((x == 0) | (x == 1)):
        raise ValueError("inputs for the Brian2 export must be spikes (0 or 1 per step)")
    for layer in list(net.layers) + ([net.readout] if net.readout is not None else []):
        for d in layer.delay_modules():
            if d.smooth:
                raise ValueError(
                    f"layer '{layer.name}' has smoothed delays (kernel width "
                    f"{float(d.sigma):g} steps); Brian2 runs whole-step delays: round them "
                    f"first (net.round_delays_()) so that both engines run the same network"
                )
    T, B, C = x.shape
    dt = net.dt_s * second
    export = None
    _check_stage(stage, backend, directory, run)
    with use_backend(backend, directory=directory, dt=dt) as be:
        gen = _input_generator(x, dt)
        objects = [gen]
        groups, synapses, monitors = {}, {}, {}
        prev_group, prev_n = gen, C
        for k, (lname, layer) in enumerate(net.named_layers()):
            params, externals = _layer_params(layer, B)
            gname = f"layer{k}_{layer.name}"
            group = make_neuron_group(
                layer.spec, B * layer.n, params=params, name=gname, method=layer.method, dt=dt
            )
            for name, value in externals.items():
                setattr(group, name, value)
            groups[lname] = group
            objects.append(group)
            sources = [("in", prev_group, prev_n)]
            if layer.W_rec is not None:
                sources.append(("rec", group, layer.n))
            for tag, src, n_pre in sources:
                taps = _connection_taps(layer, tag)
                for syn in _layer_synapses(layer, k, tag, src, n_pre, taps, group, B):
                    synapses[syn.name] = syn
                    objects.append(syn)
            if layer.spiking:
                mon = SpikeMonitor(group, name=f"spikes_{k}")
            else:
                mon = StateMonitor(group, "v", record=True, when="end", name=f"trace_{k}")
            monitors[lname] = mon
            objects.append(mon)
            prev_group, prev_n = group, layer.n
        network = Network(*objects)
        export = Brian2Export(
            network=network,
            groups=groups,
            synapses=synapses,
            input_group=gen,
            batch=B,
            steps=T,
            dt_s=net.dt_s,
            backend=backend,
            monitors=monitors,
        )
        if run:
            _run_stage(be, export, net, T * dt, stage)
    del brian2
    return export


def _input_generator(x: np.ndarray, dt):
    """The ``SpikeGeneratorGroup`` "inputs" of the spikes ``x`` ``[time, batch, channels]``:
    neuron ``b * channels + c`` fires at ``t * dt`` where ``x[t, b, c]`` is non-zero."""
    _, B, C = x.shape
    t_idx, b_idx, c_idx = np.nonzero(x)
    order = np.lexsort((b_idx * C + c_idx, t_idx))
    return make_input_group(
        load_model("spike_generator"),
        n=B * C,
        indices=(b_idx * C + c_idx)[order],
        times=t_idx[order] * dt,
        dt=dt,
        name="inputs",
    )


def _run_stage(be, export: Brian2Export, net, duration, stage: str) -> None:
    """Run the export's network (``stage="run"``), generate its project only
    (``"generate"``) or read the results a run elsewhere left in the project (``"load"``)."""
    network = export.network
    if stage == "load":
        network.run(duration, namespace={})  # recorded only: nothing generated or run
        be.built = be.compiled = True
        be.device.has_been_run = True
        be.device.results_dir = os.path.join(str(be.directory), "results", "")
        _collect(export, net)
    elif stage == "generate":
        compile = not be.info.missing(run=False)  # compiled where this machine can
        be.run(network, duration, namespace={}, compile=compile, execute=False)
        export.directory = be.directory
    else:
        be.run(network, duration, namespace={})
        _collect(export, net)
    if be.is_standalone:
        be.close()  # results are read; a temporary project folder goes


def _check_stage(stage, backend, directory, run) -> None:
    """The arguments ``stage``/``directory`` of :func:`to_brian2` checked."""
    from ..brian.backends import backend_info

    if stage not in ("run", "generate", "load"):
        raise ValueError(f"stage must be 'run', 'generate' or 'load', got {stage!r}")
    if stage == "run":
        return
    if not backend_info(backend).is_standalone or directory is None:
        raise ValueError(
            f"stage={stage!r} needs a standalone backend and a project folder (directory=), "
            f"got backend {backend!r}, directory {directory!r}"
        )
    done = Path(directory) / "results" / "last_run_info.txt"
    if stage == "load" and run and not done.is_file():
        raise ValueError(
            f"{directory}: the project has not been run (no results/last_run_info.txt): run "
            "./main in that folder (on a machine with a GPU for cuda_standalone) and copy the "
            "folder back with its results/ subfolder"
        )


def _collect(export: Brian2Export, net) -> None:
    T, B = export.steps, export.batch
    export.spikes = []
    names = net.layer_names()
    for name, layer in zip(names, net.layers, strict=False):
        mon = export.monitors[name]
        out = np.zeros((T, B, layer.n), dtype=np.uint8)
        steps = np.round(np.asarray(mon.t[:]) / export.dt_s).astype(np.int64)
        idx = np.asarray(mon.i[:], dtype=np.int64)
        out[steps, idx // layer.n, idx % layer.n] = 1
        export.spikes.append(out)
    if net.readout is not None:
        mon = export.monitors[names[-1]]
        v = np.asarray(mon.v[:])  # [neurons, time]
        export.readout = v.T.reshape(T, B, net.readout.n)


def spike_agreement(a: np.ndarray, b: np.ndarray, tolerance_steps: int = 0) -> dict:
    """Compare two spike arrays ``[time, batch, neurons]``.

    Returns
    -------
    dict
        ``identical`` (bool), ``n_a``, ``n_b`` (spike counts), ``mismatched`` (steps where
        exactly one of them spiked), ``first_mismatch_step`` (or None), and
        ``coincidence`` = matched spikes / mean count within ``tolerance_steps``.
    """
    a = np.asarray(a) > 0
    b = np.asarray(b) > 0
    diff = a != b
    first = int(np.nonzero(diff.any(axis=(1, 2)))[0][0]) if diff.any() else None
    if tolerance_steps:
        from scipy.ndimage import maximum_filter1d

        wa = maximum_filter1d(a.astype(np.uint8), 2 * tolerance_steps + 1, axis=0) > 0
        matched = int((wa & b).sum())
    else:
        matched = int((a & b).sum())
    mean = (a.sum() + b.sum()) / 2
    return {
        "identical": not diff.any(),
        "n_a": int(a.sum()),
        "n_b": int(b.sum()),
        "mismatched": int(diff.sum()),
        "first_mismatch_step": first,
        "coincidence": float(matched / mean) if mean else 1.0,
    }


def from_brian2(net, export: Brian2Export, copy: int = 0):
    """Load parameters and weights from a Brian2 network (as built by :func:`to_brian2`,
    possibly changed or trained there) into the torch network ``net``, in place.

    Parameters
    ----------
    net : SpikingNetwork
    export : Brian2Export
    copy : int
        Which batch copy to read.

    Returns
    -------
    SpikingNetwork
        ``net``.

    Raises
    ------
    ModelError
        A group or parameter missing from the Brian2 network, or a unit mismatch.
    """
    import torch

    with torch.no_grad():
        for k, (lname, layer) in enumerate(net.named_layers()):
            group = export.groups.get(lname)
            if group is None:
                raise ModelError(f"Brian2 network has no group for layer '{lname}'")
            sl = slice(copy * layer.n, (copy + 1) * layer.n)
            for name, (_dname, dval) in layer.param_units.items():
                if name not in group.variables:
                    raise ModelError(
                        f"Brian2 group '{group.name}' lacks parameter '{name}'", parameter=name
                    )
                var = group.variables[name]
                values = np.asarray(var.get_value(), dtype=np.float64)
                values = values[sl] if values.ndim and values.size > 1 else values.reshape(())
                layer.set_raw_parameter_(name, values / dval)
            for tag, W in (("in", layer.W_in), ("rec", layer.W_rec)):
                if W is None:
                    continue
                if tag == "in" and layer.convolutional:
                    raise ModelError(
                        f"layer '{layer.name}' is a convolution: its shared kernel cannot be "
                        "read back from Brian2's expanded synapses"
                    )
                total = np.zeros(tuple(W.shape))
                n_pre = W.shape[0]
                for sign, tv in zip((1.0, -1.0), layer.targets):
                    syn = export.synapses.get(f"syn_{tag}_{k}_{tv}")
                    if syn is None:
                        continue
                    i = np.asarray(syn.i[:]) - copy * n_pre
                    j = np.asarray(syn.j[:]) - copy * layer.n
                    keep = (i >= 0) & (i < n_pre) & (j >= 0) & (j < layer.n)
                    wname = "w_syn" if "w_syn" in syn.variables else "w"
                    w = np.asarray(syn.variables[wname].get_value(), dtype=np.float64)[keep]
                    total[i[keep], j[keep]] += sign * w
                W.copy_(torch.as_tensor(total / layer.weight_unit, dtype=W.dtype))
    return net


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------
def _layer_config(layer) -> dict:
    cfg = dict(layer.config)
    cfg["kind"] = "spiking" if layer.spiking else "readout"
    cfg["class"] = type(layer).__name__
    cfg["spec"] = layer.spec.to_dict()
    cfg["dtype"] = str(layer.W_in.dtype).replace("torch.", "")
    return cfg


def save_network(net, path) -> Path:
    """Write a network to an HDF5 file (format in the module docstring), atomically.

    Parameters
    ----------
    net : SpikingNetwork
    path : str or Path
        Destination (``.h5``).

    Returns
    -------
    Path
    """
    import h5py

    path = Path(path)
    layers = list(net.layers) + ([net.readout] if net.readout is not None else [])
    config = {
        "layers": [_layer_config(layer) for layer in layers],
        "has_readout": net.readout is not None,
    }
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["version"] = 1
            f.attrs["dt_s"] = net.dt_s
            f.attrs["config"] = json.dumps(config)
            for k, layer in enumerate(layers):
                g = f.create_group(f"layers/{k}")
                g.attrs["name"] = layer.name
                g.attrs["clamp_counts"] = json.dumps(layer.clamp_counts)
                pg = g.create_group("parameters")
                for name, (dname, dval) in layer.param_units.items():
                    d = pg.create_dataset(
                        name, data=layer.raw_parameter(name).detach().double().numpy()
                    )
                    d.attrs["unit"] = dname
                    d.attrs["unit_si"] = dval
                    d.attrs["trainable"] = name in layer.raw
                for wname in ("W_in", "W_rec"):
                    W = getattr(layer, wname)
                    if W is not None:
                        d = g.create_dataset(wname, data=W.detach().double().numpy())
                        d.attrs["unit"] = layer.weight_unit_name
                        d.attrs["unit_si"] = layer.weight_unit
                for dname in ("delay_in", "delay_rec"):
                    delays = getattr(layer, dname, None)
                    if delays is not None:
                        d = g.create_dataset(dname, data=delays.delay.detach().double().numpy())
                        d.attrs["unit"] = "ms"
                        d.attrs["sigma_steps"] = float(delays.sigma)
    return path


def load_network(path):
    """Read a network written by :func:`save_network`.

    Returns
    -------
    SpikingNetwork
        With the saved parameters, weights, dtype and clamp counters.

    Raises
    ------
    ModelError
        An empty, truncated or damaged file, one of another format, or an unknown format
        version; the message names the file and what is wrong.
    FileNotFoundError
        The file does not exist.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"network file not found: {path}")
    if path.stat().st_size == 0:
        raise ModelError("empty file (0 bytes), not a neurolearn network file", path)
    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        raise ModelError(
            f"not a readable HDF5 file ({' '.join(str(exc).split())}): truncated, or of "
            "another format; a network file is written by neurolearn.bridge.save_network",
            path,
        ) from None
    with fh as f:
        if f.attrs.get("format") != FORMAT:
            raise ModelError(
                f"not a neurolearn network file (format attribute {f.attrs.get('format')!r})", path
            )
        if int(f.attrs.get("version", 0)) != 1:
            raise ModelError(f"unsupported network file version {f.attrs.get('version')}", path)
        try:
            return _read_network(f)
        except (KeyError, ValueError, TypeError, OSError) as exc:
            if isinstance(exc, ModelError) and exc.path is not None:
                raise
            raise ModelError(
                f"damaged network file ({type(exc).__name__}: {' '.join(str(exc).split())})",
                path,
            ) from None


def _read_network(f):
    """The network held by an open network file ``f`` (format and version checked)."""
    import torch

    from ..torch import LeakyReadout, SpikingLayer, SpikingNetwork
    from ..torch.conv import SpikingConv1d
    from ..torch.options import DelayOptions

    config = json.loads(f.attrs["config"])
    built = []
    for k, cfg in enumerate(config["layers"]):
        spec = ModelSpec.from_dict(cfg["spec"])
        dtype = getattr(torch, cfg.get("dtype", "float32"))
        g = f[f"layers/{k}"]
        dl = cfg.get("delays")
        delays = DelayOptions()
        if dl is not None:
            delays = DelayOptions(dl["mode"], dl["recurrent"], float(dl["max_delay_s"]))
        # a non-spiking SpikingLayer (NIR's Euler readout) is saved with its class and read
        # back as one; any other readout is a LeakyReadout (of its own state updater)
        if cfg["kind"] == "readout" and cfg.get("class", "LeakyReadout") == "LeakyReadout":
            layer = LeakyReadout(
                cfg["n_in"],
                cfg["n"],
                dt=float(cfg["dt_s"]),
                trainable=cfg["trainable"],
                weight_std=1.0,
                dtype=dtype,
                name=cfg["name"],
                checkpoint_every=cfg["checkpoint_every"],
                method=cfg.get("method"),
                options=delays,
            )
        else:
            target = cfg["target"]
            if "conv" in cfg:
                c = cfg["conv"]
                cls, sizes = SpikingConv1d, (c["in_channels"], c["out_channels"])
                kw = dict(
                    kernel_size=c["kernel_size"],
                    stride=c["stride"],
                    time_kernel=c["time_kernel"],
                    time_dilation=c["time_dilation"],
                )
            else:
                cls, sizes, kw = SpikingLayer, (cfg["n_in"], cfg["n"]), {}
            layer = cls(
                spec,
                *sizes,
                **kw,
                dt=float(cfg["dt_s"]),
                recurrent=cfg["recurrent"],
                trainable=cfg["trainable"],
                surrogate=cfg["surrogate"],
                target=target[0] if len(target) == 1 else tuple(target),
                weight_unit=cfg["weight_unit"],
                weight_std=1.0,
                recurrent_std=1.0,
                detach_reset=cfg["detach_reset"],
                threshold_scale=cfg["threshold_scale"],
                checkpoint_every=cfg["checkpoint_every"],
                dtype=dtype,
                name=cfg["name"],
                method=cfg.get("method"),
                spiking=cfg["kind"] != "readout",
                options=delays,
            )
        with torch.no_grad():
            for name, d in g["parameters"].items():
                layer.set_raw_parameter_(name, d[()])
            for wname in ("W_in", "W_rec"):
                if wname in g:
                    W = getattr(layer, wname)
                    W.copy_(torch.as_tensor(g[wname][()], dtype=W.dtype))
            for dname in ("delay_in", "delay_rec"):
                if dname in g:
                    delays = getattr(layer, dname)
                    delays.delay.copy_(torch.as_tensor(g[dname][()], dtype=delays.delay.dtype))
                    delays.set_sigma(float(g[dname].attrs["sigma_steps"]))
        layer.clamp_counts = {k_: int(v) for k_, v in json.loads(g.attrs["clamp_counts"]).items()}
        built.append(layer)
    readout = built.pop() if config["has_readout"] else None
    return SpikingNetwork(built, readout)

"""A network of spiking layers followed by a leaky readout (:class:`SpikingNetwork`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import torch
from torch import nn

from ..spec import load_model
from . import loop
from .fused import _BoolToFloat
from .init import perez_nieves_config
from .layer import LeakyReadout, SpikingLayer, readout_model
from .options import KEYWORDS, DelayOptions, LayerOptions
from .sparse import _bool_to
from .step import LayerState

__all__ = ["SpikingNetwork", "NetworkState"]


class _LazySpikes:
    """Float spikes of a fused layer built on demand from its bool spikes (see
    :attr:`SpikingNetwork.spikes`)."""

    __slots__ = ("handle", "spk", "counts")

    def __init__(self, handle, spk, counts):
        self.handle, self.spk, self.counts = handle, spk, counts

    def __call__(self) -> torch.Tensor:
        if self.handle.requires_grad and torch.is_grad_enabled():
            return _BoolToFloat.apply(self.handle, self.spk)
        return _bool_to(self.spk, self.handle.dtype)


class NetworkState(NamedTuple):
    """The state of a :class:`SpikingNetwork` between two runs (:meth:`SpikingNetwork.run`).

    Attributes
    ----------
    layers : tuple of LayerState
        State of each spiking layer.
    readout : LayerState or None
        State of the readout.
    """

    layers: tuple
    readout: LayerState | None

    def detach(self) -> NetworkState:
        """The same state detached from its graph (truncated BPTT)."""
        return NetworkState(
            tuple(s.detach() for s in self.layers),
            self.readout.detach() if self.readout is not None else None,
        )


class SpikingNetwork(nn.Module):
    """Spiking layers in sequence followed by a leaky readout.

    ``forward(x)`` takes input spikes ``[time, batch, channels]`` and returns the readout
    ``[time, batch, classes]``; the spikes of every layer ``[time, batch, neurons]`` of the
    last forward pass are kept in :attr:`spikes` (with their graph, for rate regularisers).

    Parameters
    ----------
    layers : sequence of SpikingLayer
        Consecutive layers (``layers[i].n == layers[i+1].n_in``), all with the same ``dt``.
    readout : LeakyReadout, optional

    Attributes
    ----------
    dropout : float
        Probability in [0, 1) of dropping each spike a hidden layer passes on to the next
        layer or the readout, in training mode only (inverted dropout: kept spikes are
        scaled by ``1/(1 - dropout)``; Srivastava et al. 2014, J. Mach. Learn. Res.
        15:1929). The recurrent connections see every spike. 0 (default) and evaluation
        mode run the network unchanged; it is not saved with the network (not part of the
        model that is exported).

    Raises
    ------
    ValueError
        Mismatched sizes or time steps between consecutive layers.
    """

    dropout: float = 0.0

    def __init__(self, layers: Sequence[SpikingLayer], readout: LeakyReadout | None = None):
        super().__init__()
        if not layers:
            raise ValueError("a SpikingNetwork needs at least one spiking layer")
        self.layers = nn.ModuleList(layers)
        self.readout = readout
        prev = layers[0].n
        for i, layer in enumerate(list(layers[1:]) + ([readout] if readout else [])):
            if layer.n_in != prev:
                raise ValueError(
                    f"layer {i + 1} ('{layer.name}') expects {layer.n_in} inputs "
                    f"but the previous layer has {prev} neurons"
                )
            if layer.dt_s != layers[0].dt_s:
                raise ValueError(
                    f"layer '{layer.name}' has dt = {layer.dt_s} s but layer "
                    f"'{layers[0].name}' has {layers[0].dt_s} s"
                )
            prev = layer.n
        self._spikes: list = []

    @property
    def spikes(self) -> list:
        """Spikes of every spiking layer in the last forward pass, ``[time, batch, neurons]``
        float 0/1, with their graph (for loss terms such as rate regularisers). A layer run
        by the fused loop with the readout keeps its spikes as bool; the float tensor is
        built at each access (4 bytes per element while it is used; prefer
        :attr:`spike_counts` for rate regularisers)."""
        return [s() if callable(s) else s for s in self._spikes]

    @property
    def spike_counts(self) -> list:
        """Spike count of each neuron of each sample in the last forward pass, ``[batch,
        neurons]`` per spiking layer (float, differentiable with the surrogate gradient; for
        :func:`neurolearn.torch.rate_regulariser` with ``n_steps``)."""
        return [s.counts if callable(s) else s.sum(0) for s in self._spikes]

    @property
    def dt_s(self) -> float:
        """Time step in seconds."""
        return self.layers[0].dt_s

    @property
    def n_in(self) -> int:
        """Number of input channels."""
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        """Number of outputs: readout units (the last layer's neurons without readout)."""
        return self.readout.n if self.readout is not None else self.layers[-1].n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Readout ``[time, batch, classes]`` (or the last layer's spikes without readout)
        for input ``x`` ``[time, batch, channels]``, from the initial state.

        Raises
        ------
        ValueError
            Input not ``[time, batch, channels]`` with the first layer's channel count.
        NonFiniteError
            NaN/inf in a forward pass (names layer, variable, step).
        """
        return self.run(x)[0]

    def run(self, x: torch.Tensor, state: NetworkState | None = None):
        """Run the network over the next piece of a sequence, from ``state``.

        Running ``T`` steps at once equals running them in pieces with the state handed on
        (same spikes; :meth:`SpikingLayer.run`); :meth:`NetworkState.detach` between pieces
        truncates backpropagation through time. :attr:`spikes` and :attr:`spike_counts` hold
        the spikes of the last piece.

        Parameters
        ----------
        x : Tensor ``[time, batch, channels]``
            Input spikes of the next ``time`` steps.
        state : NetworkState, optional
            The state returned by the previous call; None starts every layer from its
            initial state (what :meth:`forward` does).

        Returns
        -------
        output : Tensor ``[time, batch, classes]``
            The readout (the last layer's spikes without readout).
        state : NetworkState
            The state of every layer after the last step.

        Raises
        ------
        ValueError
            Input not ``[time, batch, channels]`` with the first layer's channel count, or a
            state of another network or batch size.
        NonFiniteError
            NaN/inf in a forward pass (names layer, variable, step).
        """
        if not isinstance(x, torch.Tensor) or x.ndim != 3 or x.shape[2] != self.n_in:
            shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(
                f"network input has shape {shape}; expected [time, batch, "
                f"channels] = [T, B, {self.n_in}]"
            )
        if state is None:
            states, r_state = [None] * len(self.layers), None
        else:
            if not isinstance(state, NetworkState) or len(state.layers) != len(self.layers):
                raise ValueError(
                    f"state must be the NetworkState of a network with {len(self.layers)} "
                    f"spiking layers (from run), got {type(state).__name__}"
                )
            states, r_state = list(state.layers), state.readout
        self._spikes = []
        ends = []
        h = x
        drop = float(self.dropout) if self.training else 0.0
        for i, layer in enumerate(self.layers):
            if (
                i == len(self.layers) - 1
                and self.readout is not None
                and not drop
                and len(self.readout.targets) == 1
                and not self.readout.input_history  # (delays: the readout's own input)
            ):
                # the fused loop projects the spikes onto the readout weights directly: no
                # float spikes [T, B, n] nor their gradient are materialised
                res, plain = loop.run_projected(layer, h, self.readout, states[i])
                if res is not None:
                    drive, counts, handle, spk, end = res
                    self._spikes.append(_LazySpikes(handle, spk, counts))
                    out, r_end = loop.run_drive(self.readout, drive, r_state)
                    return out, NetworkState(tuple(ends) + (end,), r_end)
                h, end = plain
            else:
                h, end = layer.run(h, states[i])
            ends.append(end)
            self._spikes.append(h)
            if drop and (i < len(self.layers) - 1 or self.readout is not None):
                h = torch.nn.functional.dropout(h, drop, training=True)
        if self.readout is None:
            return h, NetworkState(tuple(ends), None)
        out, r_end = self.readout.run(h, r_state)
        return out, NetworkState(tuple(ends), r_end)

    def time_constant_parameters(self) -> list:
        """Trainable time constants of all layers (for their own learning rate)."""
        out = []
        for layer in self._all_layers():
            out += layer.time_constant_parameters()
        return out

    def weight_parameters(self) -> list:
        """All weights."""
        out = []
        for layer in self._all_layers():
            out += layer.weight_parameters()
        return out

    def delay_parameters(self) -> list:
        """Trainable synaptic delays of all layers, in ms (for their own learning rate)."""
        out = []
        for layer in self._all_layers():
            out += layer.delay_parameters()
        return out

    def delay_modules(self) -> list:
        """Every :class:`~neurolearn.torch.delays.SynapticDelays` of the network (input and
        recurrent connections, readout included)."""
        out = []
        for layer in self._all_layers():
            out += layer.delay_modules()
        return out

    def set_delay_sigma(self, sigma: float) -> None:
        """Width of every layer's Gaussian delay kernels, in time steps (0: rounded delays;
        :mod:`neurolearn.torch.delays`)."""
        for layer in self._all_layers():
            layer.set_delay_sigma(sigma)

    def round_delays_(self) -> None:
        """Round every delay to whole time steps and stop the smoothing: the forward pass is
        then the network :func:`neurolearn.bridge.to_brian2` exports."""
        for layer in self._all_layers():
            layer.round_delays_()

    def project_parameters_(self) -> int:
        """Clamp all trainable parameters into range (after an optimiser step); returns the
        number of elements clamped."""
        return sum(layer.project_parameters_() for layer in self._all_layers())

    @property
    def clamp_counts(self) -> dict:
        """``{layer name: {parameter: clamped elements so far}}`` (names of
        :meth:`named_layers`)."""
        return {name: dict(layer.clamp_counts) for name, layer in self.named_layers()}

    def named_layers(self) -> list[tuple[str, nn.Module]]:
        """``(name, layer)`` for each spiking layer and then the readout, with unique names:
        the layer's ``name``, or ``name_k`` (``k`` its position, counting from 0) where an
        earlier layer has that name (layers made without ``name=`` are named after their
        model, so two ``lif`` layers are ``"lif"`` and ``"lif_1"``). The names key
        :func:`neurolearn.bridge.to_brian2`'s groups and monitors and :attr:`clamp_counts`.

        Returns
        -------
        list of (str, SpikingLayer or LeakyReadout)
            ``len(layers)`` pairs, then the readout's if there is one.
        """
        named, used = [], set()
        for k, layer in enumerate(self._all_layers()):
            name = layer.name
            while name in used:  # a second pass only where a user named a layer "lif_1"
                name = f"{name}_{k}"
            used.add(name)
            named.append((name, layer))
        return named

    def layer_names(self) -> list[str]:
        """The names of :meth:`named_layers`: spiking layers, then the readout."""
        return [name for name, _ in self.named_layers()]

    def _all_layers(self):
        return list(self.layers) + ([self.readout] if self.readout is not None else [])

    @classmethod
    def build(
        cls,
        n_in: int,
        hidden: Sequence[int],
        n_out: int,
        *,
        model="lif",
        dt="1 ms",
        recurrent: bool = True,
        heterogeneity: str | None = None,
        taus: Sequence[str] | None = None,
        distribution: str = "gamma",
        k: float = 3.0,
        trainable: Sequence[str] = (),
        readout_trainable: Sequence[str] | None = None,
        params: Mapping | None = None,
        surrogate=None,
        dtype=torch.float32,
        generator: torch.Generator | None = None,
        readout_params: Mapping | None = None,
        bounds: Mapping | None = None,
        readout_delays: bool = True,
        readout_weight_std: float | None = None,
        readout_method: str | None = None,
        distributions: Mapping | None = None,
        **layer_kwargs,
    ) -> SpikingNetwork:
        """A network ``n_in -> hidden... -> n_out`` of one neuron model.

        Parameters
        ----------
        heterogeneity : str, optional
            One of :data:`PEREZ_NIEVES_CONFIGS` (``"het_init_het_train"``...); applies to
            ``taus`` (default: every per-neuron time constant of the model) of the hidden
            layers and to the readout's ``tau_m``/``tau_syn``.
        trainable : sequence of str
            Extra trainable per-neuron parameters of the hidden layers.
        readout_params : mapping, optional
            Parameters of the readout (:func:`readout_model`), e.g.
            ``{"tau_m": "50 ms", "tau_syn": "10 ms"}`` (defaults 20 ms and 5 ms); with a
            heterogeneous configuration they are the means of the initial draws.
        bounds : mapping, optional
            ``{name: (low, high)}`` in display units (None: the model file's bound), e.g.
            ``{"tau_m": (1.0, None), "tau_syn": (1.0, None)}``: the range of that parameter
            in every layer that has it, the readout included
            (:class:`~neurolearn.torch.options.ParameterInit`).
        readout_delays : bool
            With input delays in the hidden layers (``delays=...``, ``max_delay=...`` or a
            :class:`~neurolearn.torch.options.DelayOptions` in ``options``), give the
            readout's input connection delays of the same kind as well (as Hammouamri et al.
            2023 do in every layer).
        readout_weight_std : float, optional
            Standard deviation of the readout's initial weights (default ``1/sqrt(n_in)``).
        readout_method : str, optional
            State updater of the readout (default its model's, ``exact``).
        distributions : mapping, optional
            ``{name: {"distribution": ..., ...}}``: for a heterogeneous configuration, the
            initial values of these parameters of the hidden layers drawn so instead of from
            ``distribution`` (:func:`init_parameter`'s arguments), e.g. ``{"tau_m":
            {"distribution": "empirical", "samples": measured_tau_ms}}``.
        **layer_kwargs
            Passed to every :class:`SpikingLayer` (``options=`` included); the readout takes
            ``checkpoint_every``, ``fused``, ``tau_parameterization`` and
            ``weight_distribution`` from them, and the input delays with ``readout_delays``.

        Raises
        ------
        ValueError
            Unknown heterogeneity configuration, bad bounds or options.
        ModelError
            A parameter name (trainable, bounds...) that no layer has.
        """
        spec = load_model(model) if isinstance(model, str) else model
        het, het_train, r_het, r_train = _configuration(
            heterogeneity, spec, taus, distribution, k, distributions
        )
        if readout_trainable is not None:
            r_train = tuple(readout_trainable)
        h_bounds, r_bounds = _split_bounds(spec, bounds)
        given, r_delays = _given_options(layer_kwargs, readout_delays)
        layers, prev = [], n_in
        for i, h in enumerate(hidden):
            layers.append(
                SpikingLayer(
                    spec,
                    prev,
                    h,
                    dt=dt,
                    recurrent=recurrent,
                    params=params,
                    trainable=tuple(dict.fromkeys(tuple(het_train) + tuple(trainable))),
                    heterogeneity=het,
                    surrogate=surrogate,
                    dtype=dtype,
                    generator=generator,
                    name=f"hidden{i}",
                    bounds=h_bounds,
                    **layer_kwargs,
                )
            )
            prev = h
        readout = LeakyReadout(
            prev,
            n_out,
            dt=dt,
            trainable=r_train,
            heterogeneity=r_het,
            dtype=dtype,
            generator=generator,
            params=readout_params,
            bounds=r_bounds,
            checkpoint_every=given.execution.checkpoint_every,
            fused=given.execution.fused,
            options=r_delays,
            weight_std=readout_weight_std,
            method=readout_method,
            tau_parameterization=given.parameters.tau_parameterization,
            weight_distribution=given.weights.distribution,
        )
        return cls(layers, readout)


def _split_bounds(spec, bounds) -> tuple[dict, dict]:
    """``(hidden, readout)`` bounds: a name of the readout only goes to the readout; any
    other to the hidden layers (which reject names the model does not have)."""
    readout_names = readout_model().parameters
    bounds = dict(bounds or {})
    h_bounds = {k: v for k, v in bounds.items() if k in spec.parameters or k not in readout_names}
    return h_bounds, {k: v for k, v in bounds.items() if k in readout_names}


def _given_options(layer_kwargs: Mapping, readout_delays: bool) -> tuple:
    """``(options, readout delays)``: the layer options that the hidden layers' keyword
    arguments give (their execution, tau parameterisation and weight distribution apply to
    the readout too), and the readout's input delays: the hidden layers' (without recurrent
    ones) when ``readout_delays``, else none."""
    given = LayerOptions.build(
        layer_kwargs.get("options"),
        **{
            k: v
            for k, v in layer_kwargs.items()
            if k in KEYWORDS and k not in ("params", "trainable", "heterogeneity", "bounds")
        },
    )
    r_delays = DelayOptions()
    if readout_delays and given.delays.mode != "none":
        r_delays = dataclasses.replace(given.delays, recurrent="none")
    return given, r_delays


def _configuration(heterogeneity, spec, taus, distribution, k, distributions):
    """``(het, trainable, readout het, readout trainable)`` of a Perez-Nieves configuration
    (:func:`perez_nieves_config`) for the hidden layers' ``taus`` and the readout's
    ``tau_m``/``tau_syn``; ``distributions`` replace the hidden layers' draws of the
    parameters they name."""
    if heterogeneity is None:
        return {}, (), {}, ()
    if taus is None:
        taus = [n for n, p in spec.parameters.items() if p.is_time_constant and p.per_neuron]
    cfg = perez_nieves_config(heterogeneity, taus, distribution, k)
    het = cfg["heterogeneity"]
    het.update({n: dict(d) for n, d in (distributions or {}).items() if n in het})
    rcfg = perez_nieves_config(heterogeneity, ("tau_m", "tau_syn"), distribution, k)
    return het, cfg["trainable"], rcfg["heterogeneity"], rcfg["trainable"]

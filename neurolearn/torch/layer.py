"""Spiking layers and a leaky-integrator readout built from compiled neuron models (see
:mod:`neurolearn.torch.compiler`); the order within a time step is Brian2's
(:mod:`neurolearn.torch.step`).

Units and parameterisation. The computation runs in SI units. Every parameter is *stored* as
a number in a display unit (``tau_m`` in ms, voltages in mV, currents in nA, conductances in
nS: :data:`neurolearn.torch.compiler.SI_DISPLAY_UNITS`) so that an optimiser step means the
same for all of them; weights are stored in the display unit of their target variable
(``weight_unit``, nA for ``I_syn``). Time constants are trained *directly* (tau in ms), not as
``1/tau`` or the decay factor ``exp(-dt/tau)``: the trained value is the quantity Brian2
receives, independent of ``dt`` (a network trained at 1 ms exports at any ``dt``), the decay
parameterisation squeezes slow time constants (adaptation, 0.1-2 s) into ``1 - O(dt/tau)`` where
gradient steps are vanishingly small, and ``1/tau`` makes steps on long time constants huge.
The spec's ``range`` is a box constraint enforced by projection: :meth:`project_parameters_`
(call after each optimiser step) clamps the stored values into range, and a forward pass that
meets an out-of-range value clamps it too; each clamped element is counted in
``clamp_counts`` (never silent).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..spec import ModelError, NeuronModel, parse_quantity
from . import loop
from .compiler import compile_model
from .delays import build_delays
from .fused import _linear_plan
from .init import display_unit, merge_bounds, parameter_table
from .layer_setup import _neuron_spec, _synaptic_targets, _unit_draws
from .options import DelayOptions, LayerOptions, ParameterInit, WeightInit
from .step import LayerState, NonFiniteError
from .surrogate import get_surrogate

__all__ = ["NonFiniteError", "SpikingLayer", "LeakyReadout", "readout_model"]


def readout_model() -> NeuronModel:
    """The non-spiking leaky-integrator readout as a neuron model (dimensionless).

    ``dv/dt = (I_syn - v)/tau_m``, ``dI_syn/dt = -I_syn/tau_syn`` (exact integration): a
    spike of weight ``w`` adds ``w`` to ``I_syn``; ``v`` is the low-passed output used as
    logits (Zenke & Vogels 2021, Neural Comput. 33:899; Cramer et al. 2020, IEEE TNNLS).

    Returns
    -------
    NeuronModel
        ``leaky_readout``, per-neuron ``tau_m`` (default 20 ms) and ``tau_syn`` (5 ms), both
        in [0.1 ms, 10 s].
    """
    from ..spec import ModelSpec

    data = {
        "name": "leaky_readout",
        "kind": "neuron",
        "title": "Non-spiking leaky integrator readout",
        "reference": "Zenke & Vogels (2021) Neural Comput. 33:899; Cramer et al. (2020) "
        "IEEE TNNLS 33:2744",
        "method": "exact",
        "equations": "dv/dt = (I_syn - v)/tau_m : 1\ndI_syn/dt = -I_syn/tau_syn : 1\n",
        "parameters": {
            "tau_m": {
                "value": "20 ms",
                "range": ["0.1 ms", "10 s"],
                "per_neuron": True,
                "description": "membrane time constant of the readout",
            },
            "tau_syn": {
                "value": "5 ms",
                "range": ["0.1 ms", "10 s"],
                "per_neuron": True,
                "description": "synaptic time constant of the readout",
            },
        },
        "initial": {"v": "0", "I_syn": "0"},
        "roles": {"time_constants": ["tau_m", "tau_syn"], "synaptic_targets": ["I_syn"]},
    }
    return ModelSpec.from_dict(data)


# ---------------------------------------------------------------------------------------------
class _ModelLayer(nn.Module):
    """Shared machinery: compiled model, per-neuron parameters, weights, the time loop."""

    #: Whether the input connection is a convolution (:class:`~neurolearn.torch.conv.SpikingConv1d`,
    #: whose ``W_in`` is a shared kernel) rather than a dense ``[n_in, n]`` matrix.
    convolutional = False

    def __init__(
        self,
        model,
        n_in: int,
        n: int,
        *,
        dt,
        recurrent: bool = False,
        params: Mapping | None = None,
        trainable: Sequence[str] = (),
        heterogeneity: Mapping | None = None,
        bounds: Mapping | None = None,
        surrogate=None,
        target=None,
        weight_unit=None,
        weight_std: float | None = None,
        weight_gain: float = 1.0,
        recurrent_std: float | None = None,
        detach_reset: bool = False,
        threshold_scale: float | None = None,
        checkpoint_every: int | None = None,
        check_finite: bool = True,
        sparse_input: bool | None = None,
        dtype=torch.float32,
        generator: torch.Generator | None = None,
        name: str | None = None,
        spiking: bool = True,
        method: str | None = None,
        fused: bool | None = None,
        fused_recompute: bool = True,
        sparse_spikes: bool | None = None,
        delays: str = "none",
        recurrent_delays: str = "none",
        max_delay=None,
        delay_init="uniform",
        delay_sigma: float | None = None,
        tau_parameterization: str = "direct",
        weight_distribution: str = "normal",
        options=None,
    ):
        super().__init__()
        opts = LayerOptions.build(
            options,
            params=params,
            trainable=trainable,
            heterogeneity=heterogeneity,
            bounds=bounds,
            tau_parameterization=tau_parameterization,
            weight_distribution=weight_distribution,
            surrogate=surrogate,
            weight_unit=weight_unit,
            weight_std=weight_std,
            weight_gain=weight_gain,
            recurrent_std=recurrent_std,
            detach_reset=detach_reset,
            threshold_scale=threshold_scale,
            checkpoint_every=checkpoint_every,
            check_finite=check_finite,
            sparse_input=sparse_input,
            fused=fused,
            fused_recompute=fused_recompute,
            sparse_spikes=sparse_spikes,
            delays=delays,
            recurrent_delays=recurrent_delays,
            max_delay=max_delay,
            delay_init=delay_init,
            delay_sigma=delay_sigma,
        )
        self.options = opts
        spec = _neuron_spec(model)
        for what, v in (("n_in", n_in), ("n", n)):
            if int(v) != v or v <= 0:
                raise ValueError(f"{what} must be a positive integer, got {v!r}")
        self.name = name or spec.name
        self.spec = spec
        self.dt_s = float(parse_quantity(dt, "dt")) if not isinstance(dt, float) else dt
        self.cm = compile_model(spec, self.dt_s, method)
        self.method = method
        self.n_in, self.n = int(n_in), int(n)
        self.recurrent = bool(recurrent)
        self.spiking = bool(spiking)
        if spiking and self.cm.threshold_variable is None:
            raise ModelError(
                f"model '{spec.name}' has no threshold; a spiking layer needs one",
                spec.path,
                parameter="threshold",
            )
        self._init_execution(opts)
        self.targets = _synaptic_targets(self.cm, spec, target)
        unit = self.cm.units[self.targets[0]]
        w_unit = opts.weights.unit
        if w_unit is None:
            self.weight_unit_name, self.weight_unit = display_unit(unit)
        else:
            q = parse_quantity(w_unit, "weight_unit")
            self.weight_unit_name, self.weight_unit = str(w_unit), float(q)
        bounds = self._init_parameters(opts.parameters, dtype, generator)
        self._init_weights(opts.weights, dtype, generator)
        self._apply_bounds(bounds)
        self.config = dict(
            n_in=self.n_in,
            n=self.n,
            dt_s=self.dt_s,
            recurrent=self.recurrent,
            trainable=list(self.trainable),
            target=list(self.targets),
            weight_unit=self.weight_unit_name,
            detach_reset=self.detach_reset,
            threshold_scale=self.threshold_scale,
            name=self.name,
            surrogate=self.surrogate.config() if self.surrogate else None,
            checkpoint_every=self.checkpoint_every,
            spiking=self.spiking,
            method=method,
        )
        self._init_delays(opts.delays, dtype, generator)

    def _init_execution(self, opts: LayerOptions) -> None:
        """Surrogate gradient and execution attributes from the option groups."""
        grad, ex = opts.gradient, opts.execution
        self.surrogate = get_surrogate(grad.surrogate) if self.spiking else None
        self.detach_reset = bool(grad.detach_reset)
        self.threshold_scale = (
            float(grad.threshold_scale) if grad.threshold_scale else self.cm.threshold_scale
        )
        self.checkpoint_every = int(ex.checkpoint_every) if ex.checkpoint_every else None
        self.check_finite = bool(ex.check_finite)
        self.sparse_input = ex.sparse_input
        self.fused = ex.fused
        self.fused_recompute = bool(ex.fused_recompute)
        self.sparse_spikes = None if ex.sparse_spikes is None else bool(ex.sparse_spikes)
        self._fusable = None

    def _init_delays(self, opts: DelayOptions, dtype, generator) -> None:
        """``delay_in``, ``delay_rec`` (:func:`~neurolearn.torch.delays.build_delays`),
        ``input_history`` and the delays' entry of ``config``."""
        self.delay_in, self.delay_rec = build_delays(
            opts, self.n_in, self.n, self.recurrent, self.dt_s, dtype, generator
        )
        if self.delay_rec is not None and self.checkpoint_every:
            raise ValueError("recurrent delays do not work with checkpoint_every")
        #: input steps before a piece that its input current depends on (delays, kernels)
        self.input_history = self.delay_in.max_steps if self.delay_in is not None else 0
        if opts.active:
            K = next(d.max_steps for d in self.delay_modules())
            self.config["delays"] = dict(
                mode=opts.mode, recurrent=opts.recurrent, max_delay_s=K * self.dt_s
            )

    def _init_parameters(self, init: ParameterInit, dtype, generator) -> dict:
        """Per-neuron parameters (:func:`~neurolearn.torch.init.parameter_table`): trainable
        ones in :attr:`raw`, the others as buffers ``fixed_<name>``. Returns the ranges of
        ``init.bounds`` merged with the model file's (applied by :meth:`_apply_bounds`)."""
        table = parameter_table(self.spec, self.cm, self.n, init, generator)
        bounds = merge_bounds(self.spec, table, init.bounds)
        self.trainable = tuple(init.trainable)
        self.param_units, self.param_bounds = table.units, table.bounds
        self._per_neuron = table.per_neuron
        self.clamp_counts: dict = table.clamp_counts
        self.tau_parameterization = init.tau_parameterization
        # trained time constants stored as decay factors exp(-dt/tau) (ParameterInit)
        self._decay = frozenset(
            n
            for n in self.trainable
            if init.tau_parameterization == "decay"
            and n in self.spec.parameters
            and self.spec.parameters[n].is_time_constant
        )
        self.raw = nn.ParameterDict()
        for pname, raw in table.values.items():
            if pname in self._decay:
                self.raw[pname] = nn.Parameter(self._to_decay(pname, raw).to(dtype))
            elif pname in self.trainable:
                self.raw[pname] = nn.Parameter(raw.to(dtype))
            else:
                self.register_buffer(f"fixed_{pname}", raw.to(dtype))
        return bounds

    def _to_decay(self, name: str, value):
        """Decay factor ``exp(-dt/tau)`` of a time constant given in its display unit
        (``tau = 0`` gives 0, ``tau = inf`` 1)."""
        tau_s = torch.as_tensor(value) * self.param_units[name][1]
        return torch.exp(-self.dt_s / tau_s)

    def _from_decay(self, name: str, d):
        """The time constant, in its display unit, of a decay factor ``d = exp(-dt/tau)``."""
        return (-self.dt_s / self.param_units[name][1]) / torch.log(d)

    def _stored_bounds(self, name: str) -> tuple:
        """The range of ``raw[name]`` as stored: ``param_bounds`` (display unit), mapped to
        decay factors for a decay-parameterised time constant."""
        lo, hi = self.param_bounds[name]
        if name not in self._decay:
            return lo, hi
        dlo = math.exp(-self.dt_s / (lo * self.param_units[name][1])) if lo > 0 else 0.0
        dhi = math.exp(-self.dt_s / (hi * self.param_units[name][1])) if hi > 0 else 0.0
        return dlo, dhi

    @torch.no_grad()
    def _apply_bounds(self, bounds: dict) -> None:
        """Replace the ranges of the parameters in ``bounds`` and clamp their stored values
        into them (each clamped element counted in ``clamp_counts``). Applied after the
        weights are drawn, so that the automatic weight scale is measured at the values the
        model file's range allows, as when the bounds are changed after construction."""
        for pname, (lo, hi) in bounds.items():
            self.param_bounds[pname] = (lo, hi)
            raw = self.raw[pname] if pname in self._decay else self.raw_parameter(pname)
            lo, hi = self._stored_bounds(pname)
            out = int(((raw < lo) | (raw > hi)).sum())
            self.clamp_counts[pname] = self.clamp_counts.get(pname, 0) + out
            raw.clamp_(lo, hi)

    def _init_weights(self, init: WeightInit, dtype, generator) -> None:
        """``W_in`` ``[n_in, n]`` and, if recurrent, ``W_rec`` ``[n, n]``: normal, zero mean,
        in weight units (:class:`~neurolearn.torch.options.WeightInit`)."""
        weight_std = init.std
        if weight_std is None:
            weight_std = init.gain * self._auto_weight_std(self.n_in)
        w = _unit_draws((self.n_in, self.n), init.distribution, generator)
        self.W_in = nn.Parameter((w * weight_std).to(dtype))
        if self.recurrent:
            recurrent_std = init.recurrent_std
            if recurrent_std is None:
                recurrent_std = init.gain * self._auto_weight_std(self.n)
            w = _unit_draws((self.n, self.n), init.distribution, generator)
            self.W_rec = nn.Parameter((w * recurrent_std).to(dtype))
        else:
            self.W_rec = None

    # ---- parameters --------------------------------------------------------------------------
    def raw_parameter(self, name: str) -> torch.Tensor:
        """Value of a parameter in its display unit (see ``param_units``): the stored tensor,
        or for a time constant trained as a decay factor the time constant computed from it
        (differentiable)."""
        if name in self._decay:
            return self._from_decay(name, self.raw[name])
        if name in self.raw:
            return self.raw[name]
        return getattr(self, f"fixed_{name}")

    @torch.no_grad()
    def set_raw_parameter_(self, name: str, value) -> None:
        """Set a parameter from values in its display unit (scalar or ``[neurons]``), in
        place, whatever its storage (:meth:`raw_parameter` is the inverse)."""
        stored = self.raw[name] if name in self.raw else getattr(self, f"fixed_{name}")
        value = torch.as_tensor(value, dtype=torch.float64)
        if name in self._decay:
            value = self._to_decay(name, value)
        stored.copy_(torch.broadcast_to(value.to(stored.dtype), stored.shape))

    def parameter_si(self, name: str) -> np.ndarray:
        """Effective value of a parameter in SI units (numpy float64; ``[neurons]`` or 0-d)."""
        raw = self.raw_parameter(name).detach().to(torch.float64)
        lo, hi = self.param_bounds[name]
        return (raw.clamp(lo, hi) * self.param_units[name][1]).cpu().numpy()

    def time_constant_parameters(self) -> list:
        """The trainable time-constant tensors (``tau*`` parameters), e.g. for their own
        learning rate."""
        return [
            p
            for n, p in self.raw.items()
            if n in self.spec.parameters and self.spec.parameters[n].is_time_constant
        ]

    def weight_parameters(self) -> list:
        """``W_in`` (and ``W_rec``)."""
        return [self.W_in] + ([self.W_rec] if self.W_rec is not None else [])

    # ---- delays ------------------------------------------------------------------------------
    def delay_modules(self) -> list:
        """The :class:`~neurolearn.torch.delays.SynapticDelays` of the input and recurrent
        connections that have delays."""
        return [d for d in (self.delay_in, self.delay_rec) if d is not None]

    def delay_parameters(self) -> list:
        """The trainable delays (ms), e.g. for their own learning rate."""
        return [d.delay for d in self.delay_modules()]

    def set_delay_sigma(self, sigma: float) -> None:
        """Width of the Gaussian delay kernels in time steps (0: rounded delays)."""
        for d in self.delay_modules():
            d.set_sigma(sigma)

    def round_delays_(self) -> None:
        """Round every delay to whole time steps and stop the smoothing (``sigma = 0``): the
        forward pass is then the network that Brian2 runs."""
        for d in self.delay_modules():
            d.round_()

    def _delayed(self, xh: torch.Tensor, T: int):
        """The input through the input connection's delays: ``("input", x delayed)``
        ``[T, B, n_in]`` for delays per presynaptic neuron or connection, ``("drive",
        [current per target])`` ``[T, B, n]`` each (SI) for delays per synapse; ``xh``
        ``[input_history + T, B, n_in]`` holds the input steps before the piece first."""
        d = self.delay_in
        if d.mode != "per_synapse":
            return "input", d.delayed_input(xh, T)
        W = self.W_in * self.weight_unit
        if len(self.targets) == 2:
            W = torch.cat([torch.relu(W), torch.relu(-W)], dim=1)
        out = d.synaptic_drive(xh, W, T)
        return "drive", (
            [out] if len(self.targets) == 1 else [out[..., : self.n], out[..., self.n :]]
        )

    @torch.no_grad()
    def project_parameters_(self) -> int:
        """Clamp trainable parameters into their valid range in place (call after each
        optimiser step); adds the number of clamped elements to ``clamp_counts`` and
        returns it."""
        total = 0
        for name, p in self.raw.items():
            lo, hi = self._stored_bounds(name)
            out = int(((p < lo) | (p > hi)).sum())
            if out:
                p.clamp_(lo, hi)
                self.clamp_counts[name] = self.clamp_counts.get(name, 0) + out
                total += out
        for name, d in (("delay_in", self.delay_in), ("delay_rec", self.delay_rec)):
            out = d.project_() if d is not None else 0
            if out:
                self.clamp_counts[name] = self.clamp_counts.get(name, 0) + out
                total += out
        return total

    def effective_parameters(self) -> dict:
        """Parameters in SI units (tensors; ``[neurons]`` or 0-d), clamped into range (each
        clamped element counted in ``clamp_counts``)."""
        out = {}
        for name in self.param_units:
            raw = self.raw_parameter(name)
            lo, hi = self.param_bounds[name]
            if name in self.raw and (math.isfinite(lo) or math.isfinite(hi)):
                bad = int(((raw < lo) | (raw > hi)).sum())
                if bad:
                    self.clamp_counts[name] = self.clamp_counts.get(name, 0) + bad
                    raw = raw.clamp(lo, hi)
            out[name] = raw * self.param_units[name][1]
        return out

    def _auto_weight_std(self, fan_in: int) -> float:
        """Weight std (in weight units) so that ``sqrt(fan_in)`` unit-std inputs arriving
        together move the threshold variable from rest by its distance to threshold: the
        peak response to one unit weight is measured by simulating the model."""
        if not self.spiking:
            return 1.0 / math.sqrt(fan_in)
        cm = self.cm
        P = {
            n: torch.as_tensor(self.parameter_si(n), dtype=torch.float64)
            .reshape(-1)[:1]
            .reshape(())
            for n in self.param_units
        }
        C = cm.coefficients(P)
        S = cm.initial_state(P, (1, 1))
        x0 = float(cm.threshold(S, P).reshape(-1)[0])
        # relax to rest first (Izhikevich's initial u is not at the fixed point)
        for _ in range(int(min(5000, 0.2 / self.dt_s))):
            S = cm.update(S, C, 0.0)
        x_rest = float(cm.threshold(S, P).reshape(-1)[0])
        S[self.targets[0]] = S[self.targets[0]] + self.weight_unit
        peak = 0.0
        for _ in range(int(min(5000, 0.2 / self.dt_s))):
            S = cm.update(S, C, 0.0)
            peak = max(peak, float(cm.threshold(S, P).reshape(-1)[0]) - x_rest)
        dist = abs(x_rest) if math.isfinite(x_rest) and x_rest != 0 else abs(x0)
        if not peak > 0 or not math.isfinite(peak):
            return 1.0 / math.sqrt(fan_in)
        return dist / (peak * math.sqrt(fan_in))

    # ---- fused path ---------------------------------------------------------------------------

    def _linear_plan(self, P: dict, C: dict):
        """``(plan, A, b)`` for the fused loops when this layer's step is affine in the state,
        else None (:func:`neurolearn.torch.fused._linear_plan`)."""
        return _linear_plan(self, P, C)

    # ---- forward ------------------------------------------------------------------------------
    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(np.asarray(x))
        if x.ndim != 3 or x.shape[2] != self.n_in:
            raise ValueError(
                f"layer '{self.name}': input has shape {tuple(x.shape)}; expected "
                f"[time, batch, channels] = [T, B, {self.n_in}]"
            )
        return x.to(self.W_in.dtype)

    def forward(self, x: torch.Tensor, record: Sequence[str] = ()):
        """Run the layer over a whole input sequence from the model's initial state.

        Parameters
        ----------
        x : Tensor ``[time, batch, channels]``
            Presynaptic spikes (0/1, or any real drive) per time step.
        record : sequence of str
            State variables to return traces of.

        Returns
        -------
        spikes : Tensor ``[time, batch, neurons]``
            (For the readout: the ``v`` trace.)
        traces : dict of str -> Tensor ``[time, batch, neurons]``
            Only when ``record`` is not empty.

        Raises
        ------
        ValueError
            Input not shaped ``[time, batch, channels]`` with ``channels = n_in``.
        NonFiniteError
            NaN/inf in a state variable (names the layer, the variable and the time step).
        """
        return loop.run(self, x, None, record)[0]

    def run(self, x: torch.Tensor, state: LayerState | None = None, record: Sequence[str] = ()):
        """Run the layer over the next piece of a sequence, from ``state``.

        Running ``T`` steps at once equals running them in pieces with the state handed on,
        spike for spike, on every path (fused or step-by-step), as Norse's and snnTorch's
        ``forward(input, state)``: long sequences can be streamed, and detaching the state
        between pieces (:meth:`LayerState.detach`) truncates backpropagation through time.

        Parameters
        ----------
        x : Tensor ``[time, batch, channels]``
            Presynaptic spikes of the next ``time`` steps.
        state : LayerState, optional
            The state returned by the previous call (same batch size); None starts from the
            model's initial state at step 0 (what :meth:`forward` does).
        record : sequence of str
            State variables to return traces of (as :meth:`forward`).

        Returns
        -------
        output : Tensor ``[time, batch, neurons]`` (or ``(spikes, traces)`` with ``record``)
            As :meth:`forward`.
        state : LayerState
            State after the last step: variables ``[batch, neurons]`` (SI, with their graph),
            last-spike steps and the step counter (the time of the next step is
            ``state.step * dt``).

        Raises
        ------
        ValueError
            Input not ``[time, batch, channels]``, or a state of another layer or batch size.
        NonFiniteError
            NaN/inf in a state variable.
        """
        return loop.run(self, x, state, record)

    def extra_repr(self):
        return (
            f"model={self.spec.name!r}, n_in={self.n_in}, n={self.n}, "
            f"recurrent={self.recurrent}, dt={self.dt_s * 1e3:g} ms, "
            f"trainable={list(self.trainable)}"
        )


class SpikingLayer(_ModelLayer):
    """A feed-forward or recurrent layer of spiking neurons of any compiled neuron model.

    Parameters
    ----------
    model : NeuronModel, str or CompiledModel
        Zoo name (``"lif"``), model file path, spec or compiled model.
    n_in, n : int
        Number of input channels and of neurons.
    dt : Quantity, str or float
        Time step (``"1 ms"``; a float is seconds).
    recurrent : bool
        Add all-to-all recurrent weights ``W_rec`` ``[n, n]`` (spikes of step ``n`` reach the
        other neurons in the same step's synaptic slot, as in Brian2).
    params : mapping, optional
        Parameter values overriding the spec's defaults (Quantities, strings, or arrays of
        ``n`` values for per-neuron parameters); also external inputs such as ``I_ext``.
    trainable : sequence of str
        Per-neuron parameters trained with the weights (e.g. ``("tau_m", "tau_syn")``).
    heterogeneity : mapping, optional
        ``{name: {"distribution": "gamma", "k": 3}}``: draw initial per-neuron values around
        the default (see :func:`init_parameter`); values outside the spec's range are clamped
        and counted.
    bounds : mapping, optional
        ``{name: (low, high)}`` in the parameter's display unit (``param_units``; None keeps
        the model file's end): replaces the file's range for projection and forward passes;
        the stored values are clamped into it after the weights are drawn (counted in
        ``clamp_counts``), e.g. ``{"tau_m": (1.0, None)}``.
    surrogate : str, dict, callable or Surrogate
        Surrogate derivative (:func:`neurolearn.torch.get_surrogate`); default fast sigmoid.
    target : str or (str, str), optional
        Variable incremented by presynaptic spikes; default: the model's declared synaptic
        targets (``[roles] synaptic_targets``), e.g. ``I_syn``, or ``("g_e", "g_i")`` for
        conductance-based models (positive weights excite through ``g_e``, negative ones
        inhibit through ``g_i`` with conductance ``-w``).
    weight_unit : str, optional
        Unit of the stored weights (default: display unit of the target, e.g. ``"1 nA"``).
    weight_std, recurrent_std : float, optional
        Std of the normal initial weights in weight units; default: chosen so that
        ``sqrt(fan_in)`` coincident inputs drive the neuron from rest to threshold (measured
        on the model), times ``weight_gain``.
    detach_reset : bool
        Stop gradients through the reset (Zenke & Vogels 2021 recommend it).
    threshold_scale : float, optional
        SI distance normalising ``x`` before the surrogate (default: threshold minus reset
        state at default parameters, e.g. 20 mV for the LIF).
    checkpoint_every : int, optional
        Memory-lean mode: store states only every ``checkpoint_every`` steps and recompute
        each chunk in the backward pass (:func:`torch.utils.checkpoint.checkpoint`). Costs one
        extra forward pass of the step-by-step path: +40-100 % time per training step
        against that path (benchmarks/torch_step.py: 0.85 s vs 0.62 s), several times the
        time of the fused loop (which it disables); the tensors kept for the backward pass
        then grow with ``T/checkpoint_every + checkpoint_every`` instead of ``T`` (17 MB vs
        55 MB there). The fused loop with ``fused_recompute`` needs less memory still.
    check_finite : bool
        Detect NaN/inf (one reduction per step) and raise :class:`NonFiniteError`.
    sparse_input : bool, optional
        Compute the input drive with a sparse matmul (default: when < 10 % of inputs are
        non-zero).
    fused : bool, optional
        The fused time loop (one custom autograd function for all steps with a hand-written
        reverse-time adjoint) for models whose compiled update is affine in the state
        (current-based LIF, SRM0-like models): default (None) whenever it applies, False
        never, True required (ValueError when the model does not qualify). It is decided by
        the model's symbolic affine form (:attr:`CompiledModel.affine`, see
        ``_linear_plan``); it is not
        used with ``record``, ``checkpoint_every``, the smooth sigmoid, conductance targets,
        state-dependent resets (ALIF's ``a += ...``), nonlinear updates (AdEx, Izhikevich)
        or trainable threshold/reset parameters. The forward pass calls the same compiled
        update, so spikes are bit-identical to the step-by-step path; gradients agree to
        rounding (tests/torch_engine/test_torch_fused.py). What it keeps for the backward pass: the
        spikes as bool ``[time, batch, neurons]`` (and, where sparse, their indices, see
        ``sparse_spikes``), the non-zero entries of a sparse input
        (int32 indices), with a refractory period a bool mask, and either the state at the
        start of every chunk of 16 steps (``fused_recompute=True``) or the post-update
        threshold and reset variables of every step (``[time, batch, neurons]`` floats; all
        ``k`` state variables before each update when a time constant is trained). The
        input drive is computed from the (sparse) input in chunks of 16 steps in both
        passes, so no ``[time, batch, neurons]`` drive or drive gradient is materialised.
        In a :class:`SpikingNetwork` the last hidden layer also applies the readout weights
        inside the loop (spikes handed on as ``spikes @ W_out``), so neither float spikes
        nor their gradient exist unless a loss term asks for ``net.spikes``.
    fused_recompute : bool
        In the fused loop, recompute the membrane values of each chunk of 16 steps in the
        backward pass from the chunk's starting state and the stored spikes (one sparse
        product for the input and one for the recurrent spikes per chunk) instead of
        storing them: about 1/4 less peak memory of a training step (13 MB of 46 there) for
        about 10 % more time (README, benchmarks/torch_step.py ``neurolearn`` vs
        ``neurolearn-store``).
        Spikes are identical either way; the recomputed values can differ from the stored
        ones by rounding.
    sparse_spikes : bool, optional
        Products with this layer's spikes (the recurrent input ``spikes[t] @ W_rec`` of every
        step, and in the fused loop the readout projection and the weight gradients) as
        sums of the weight rows of the neurons that spiked (``embedding_bag``) instead of
        dense matmuls: True always, False never, None (default) on the CPU for products
        of at least 2**20 multiply-adds in the steps where at most 1/16 of the
        ``[batch, neurons]`` entries are spikes (decided from the spikes of each step, so
        the fused loop and the step-by-step path make the same choice and their spikes
        stay bit-identical). Sums run in increasing neuron order; their rounding differs
        from a dense matmul's.
    tau_parameterization : {"direct", "decay"}
        How trained time constants are stored and stepped: in ms (default) or as the decay
        factor ``exp(-dt/tau)`` (:class:`~neurolearn.torch.options.ParameterInit`).
    weight_distribution : {"normal", "uniform"}
        Shape of the initial weights (:class:`~neurolearn.torch.options.WeightInit`).
    dtype : torch.dtype
        ``torch.float32`` or ``torch.float64`` (use float64 for spike-exact agreement with
        Brian2).
    generator : torch.Generator, optional
        Random source of weights and heterogeneous parameters.
    name : str, optional
        Layer name used in messages and in the Brian2 export.
    options : LayerOptions, option group or sequence of groups, optional
        The options above grouped by concern (:mod:`neurolearn.torch.options`:
        :class:`~neurolearn.torch.options.ParameterInit` for ``params``, ``trainable``,
        ``heterogeneity``, ``bounds``; :class:`~neurolearn.torch.options.WeightInit`;
        :class:`~neurolearn.torch.options.SurrogateOptions`;
        :class:`~neurolearn.torch.options.Execution`); a group given here replaces its
        keywords (ValueError if one of them is also given with another value).

    Attributes
    ----------
    W_in : Parameter ``[n_in, n]``, W_rec : Parameter ``[n, n]`` or None
        Weights in ``weight_unit``.
    raw : ParameterDict
        Trainable parameters in their display unit (``param_units``).
    clamp_counts : dict of str -> int
        Elements clamped into the valid range so far, per parameter.
    options : LayerOptions
        The options the layer was built with.

    Raises
    ------
    ModelError
        Not a neuron model, no threshold, no declared synaptic target, or an unknown or
        shared parameter named in ``trainable``, ``heterogeneity`` or ``bounds``.
    ValueError
        Non-positive sizes, bad bounds, or an option given twice with different values.
    """


class LeakyReadout(_ModelLayer):
    """Non-spiking leaky-integrator readout (:func:`readout_model`).

    Parameters
    ----------
    n_in, n_out : int
    dt : Quantity, str or float
    tau_m, tau_syn : Quantity or str, optional
        Time constants (defaults 20 ms and 5 ms).
    trainable : sequence of str
        ``("tau_m", "tau_syn")`` to train them.
    weight_std : float, optional
        Default ``1/sqrt(n_in)``.
    heterogeneity, bounds, params, checkpoint_every, check_finite, sparse_input, options
        As for :class:`SpikingLayer` (the weight unit is always 1).
    method : str, optional
        Brian2 state updater (default the readout model's ``exact``; ``"exponential_euler"``
        gives Perez-Nieves et al.'s readout update ``v' = beta v + (1 - beta) I_syn``).
    tau_parameterization, weight_distribution : str
        As for :class:`SpikingLayer`.
    fused : bool, optional
        False: the step-by-step autograd loop; otherwise (default) the whole time loop is
        one custom autograd function (:class:`_FusedLinearScan`: same output bit for bit,
        nothing saved for the backward pass unless a time constant is trained), except with
        ``checkpoint_every``.

    Forward returns the membrane trace ``v`` ``[time, batch, n_out]`` (the logits of
    :func:`neurolearn.torch.readout_loss`).
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        *,
        dt,
        tau_m=None,
        tau_syn=None,
        trainable: Sequence[str] = (),
        heterogeneity=None,
        weight_std=None,
        dtype=torch.float32,
        generator=None,
        name: str = "readout",
        checkpoint_every=None,
        check_finite=True,
        sparse_input=None,
        params=None,
        fused: bool | None = None,
        bounds: Mapping | None = None,
        method: str | None = None,
        tau_parameterization: str = "direct",
        weight_distribution: str = "normal",
        options=None,
    ):
        opts = LayerOptions.build(
            options,
            params=params,
            trainable=trainable,
            heterogeneity=heterogeneity,
            bounds=bounds,
            tau_parameterization=tau_parameterization,
            weight_std=weight_std,
            weight_distribution=weight_distribution,
            checkpoint_every=checkpoint_every,
            check_finite=check_finite,
            sparse_input=sparse_input,
            fused=fused,
        )
        p = dict(opts.parameters.values or {})
        if tau_m is not None:
            p["tau_m"] = tau_m
        if tau_syn is not None:
            p["tau_syn"] = tau_syn
        opts = dataclasses.replace(
            opts,
            parameters=dataclasses.replace(opts.parameters, values=p),
            weights=dataclasses.replace(opts.weights, unit="1"),
        )
        super().__init__(
            readout_model(),
            n_in,
            n_out,
            dt=dt,
            dtype=dtype,
            generator=generator,
            name=name,
            spiking=False,
            target="I_syn",
            method=method,
            options=opts,
        )

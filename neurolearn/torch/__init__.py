"""The surrogate-gradient bridge: a model's Brian2 equations as a trainable PyTorch network.

One model, two engines. :func:`compile_model` hands a neuron model's equations to Brian2's own
state updater and translates the resulting update code into PyTorch (module
:mod:`neurolearn.torch.compiler`); layers built from it follow Brian2's schedule within a time
step (state update, threshold, synaptic propagation, reset) and its refractoriness, so a
trained network exported with :func:`neurolearn.bridge.to_brian2` produces the same spikes in
Brian2. Everything runs in SI units (float32 or float64); parameters are stored and trained in
display units (ms, mV, nA, nS).

Public API
----------
Compiler (:mod:`neurolearn.torch.compiler`)
    ``compile_model(model, dt, method=None) -> CompiledModel``; ``CompiledModel`` with
    ``coefficients(P)``, ``update(S, C, t)``, ``threshold(S, P)``, ``reset(i, S, P)``,
    ``initial_state(P, shape)``, ``refractory_steps(P)`` and the generated source
    (``update_code``, ``static_code``...); ``SI_DISPLAY_UNITS``.
Surrogates (:mod:`neurolearn.torch.surrogate`)
    ``Surrogate(shape="fast_sigmoid"|"sigmoid"|"arctan"|"triangle"|callable, steepness=10,
    scale=1, normalize_peak=False)``, ``SmoothSigmoid(steepness)``, ``get_surrogate(spec)``,
    ``SURROGATES``.
Layers (:mod:`neurolearn.torch.layers`)
    ``SpikingLayer(model, n_in, n, *, dt, recurrent=False, params=None, trainable=(),
    heterogeneity=None, surrogate=None, target=None, weight_unit=None, weight_std=None,
    weight_gain=1.0, recurrent_std=None, detach_reset=False, threshold_scale=None,
    checkpoint_every=None, check_finite=True, sparse_input=None, dtype=torch.float32,
    generator=None, name=None, fused=None, fused_recompute=True, sparse_spikes=None)``; ``layer(x [T,B,n_in], record=()) -> spikes [T,B,n]``
    (``(spikes, traces)`` when ``record`` names state variables).
    ``LeakyReadout(n_in, n_out, *, dt, tau_m=None, tau_syn=None, trainable=(),
    heterogeneity=None, weight_std=None, dtype, generator, name="readout", fused=None)``;
    ``readout(spikes) -> v [T,B,n_out]``.
    ``SpikingNetwork(layers, readout=None)``; ``net(x [T,B,C]) -> readout [T,B,classes]``;
    ``net.spikes`` (list of ``[T,B,N]`` of the last forward, built on access for a fused
    layer), ``net.spike_counts`` (list of ``[B,N]``, differentiable), ``net.dt_s``,
    ``net.time_constant_parameters()``, ``net.weight_parameters()``,
    ``net.project_parameters_()`` (clamp into range after an optimiser step; returns the
    count), ``net.clamp_counts``; ``SpikingNetwork.build(n_in, hidden, n_out, *, model="lif",
    dt="1 ms", recurrent=True, heterogeneity=None | one of PEREZ_NIEVES_CONFIGS, taus=None,
    distribution="gamma", k=3.0, trainable=(), readout_trainable=None, params=None,
    surrogate=None, dtype=torch.float32, generator=None, **layer_kwargs)``.
    Per-layer: ``layer.parameter_si(name)`` (numpy, SI), ``layer.raw`` (trainable values in
    display units), ``layer.param_units``, ``layer.param_bounds``, ``layer.clamp_counts``.
    ``init_parameter(mean, n, distribution, k=3, cv=0.5, width=0.5, generator=None)``,
    ``DISTRIBUTIONS``, ``PEREZ_NIEVES_CONFIGS`` (``hom_init_std_train``, ``het_init_std_train``,
    ``hom_init_het_train``, ``het_init_het_train``), ``perez_nieves_config(name, taus)``,
    ``readout_model()``, ``NonFiniteError`` (``.layer``, ``.variable``, ``.step``).
Losses (:mod:`neurolearn.torch.losses`)
    ``readout_loss(readout [T,B,K], labels [B], reduction="max"|"mean"|"last",
    logit_scale=1.0)``, ``reduce_readout(readout, reduction) -> [B,K]``,
    ``rate_regulariser(spikes [T,B,N] or counts [B,N], dt, upper_hz=100, lower_hz=1,
    upper_strength=1, lower_strength=1, n_steps=None)``, ``firing_rates(spikes, dt,
    n_steps=None) -> [B,N] Hz``, ``READOUT_REDUCTIONS``.
Round trip and files
    In :mod:`neurolearn.bridge` (``to_brian2``, ``from_brian2``, ``save_network``,
    ``load_network``).
"""

from .compiler import SI_DISPLAY_UNITS, CompiledModel, compile_model
from .init import (
    DISTRIBUTIONS,
    PEREZ_NIEVES_CONFIGS,
    display_unit,
    init_parameter,
    perez_nieves_config,
)
from .layer import LeakyReadout, NonFiniteError, SpikingLayer, readout_model
from .losses import READOUT_REDUCTIONS, firing_rates, rate_regulariser, readout_loss, reduce_readout
from .network import SpikingNetwork
from .surrogate import SURROGATES, SmoothSigmoid, Surrogate, get_surrogate

__all__ = [
    "SI_DISPLAY_UNITS",
    "CompiledModel",
    "compile_model",
    "DISTRIBUTIONS",
    "PEREZ_NIEVES_CONFIGS",
    "LeakyReadout",
    "NonFiniteError",
    "SpikingLayer",
    "SpikingNetwork",
    "display_unit",
    "init_parameter",
    "perez_nieves_config",
    "readout_model",
    "READOUT_REDUCTIONS",
    "firing_rates",
    "rate_regulariser",
    "readout_loss",
    "reduce_readout",
    "SURROGATES",
    "SmoothSigmoid",
    "Surrogate",
    "get_surrogate",
]

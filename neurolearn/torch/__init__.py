"""The torch engine: a model's Brian2 equations as a trainable PyTorch network.

One model, two engines. :func:`compile_model` hands a neuron model's equations to Brian2's own
state updater, turns the resulting update code into the engine-neutral model IR
(:mod:`neurolearn.codegen`) and prints that as PyTorch; layers built from it follow Brian2's
schedule within a time step (state update, threshold, synaptic propagation,
reset) and its refractoriness, so a trained network exported with
:func:`neurolearn.bridge.to_brian2` produces the same spikes in Brian2. Everything runs in SI
units (float32 or float64); parameters are stored and trained in display units (ms, mV, nA,
nS). Signatures are documented with each name (autodoc); this is a map.

Modules
-------
:mod:`~neurolearn.torch.compiler`
    :func:`compile_model`, :class:`CompiledModel` (update, threshold, reset, initial state,
    coefficients, the IR and its symbolic affine form), :data:`SI_DISPLAY_UNITS`.
:mod:`~neurolearn.torch.printer`
    The IR printed as PyTorch source, allocating and in place (``out=``).
:mod:`~neurolearn.torch.step`
    The order within a time step written once (:func:`~neurolearn.torch.step.step` over
    :class:`~neurolearn.torch.step.StepOps`: an autograd and a preallocated-buffer
    implementation), :class:`LayerState`, :class:`NonFiniteError`.
:mod:`~neurolearn.torch.layer`
    :class:`SpikingLayer` (any compiled neuron model, feed-forward or recurrent),
    :class:`LeakyReadout`, :func:`readout_model`; ``forward(x)`` and ``run(x, state)``.
:mod:`~neurolearn.torch.network`
    :class:`SpikingNetwork` (hidden layers and a readout; ``build``, ``run``, ``spikes``,
    ``spike_counts``, parameter groups, projection after optimiser steps),
    :class:`NetworkState`.
:mod:`~neurolearn.torch.options`
    The layers' options grouped as frozen dataclasses: :class:`LayerOptions`,
    :class:`ParameterInit` (values, trainable, heterogeneity, bounds), :class:`WeightInit`,
    :class:`SurrogateOptions`, :class:`Execution`.
:mod:`~neurolearn.torch.init`
    Display units, :func:`init_parameter` (:data:`DISTRIBUTIONS`), the parameter table, the
    Perez-Nieves et al. (2021) configurations (:data:`PEREZ_NIEVES_CONFIGS`,
    :func:`perez_nieves_config`).
:mod:`~neurolearn.torch.surrogate`
    :class:`Surrogate`, :class:`SmoothSigmoid`, :func:`get_surrogate`; the shapes as classes
    registered in :data:`SURROGATES`.
:mod:`~neurolearn.torch.delays`, :mod:`~neurolearn.torch.conv`
    Learnable synaptic delays (:class:`SynapticDelays`, DCLS-style Gaussian kernels
    narrowing to whole steps, :func:`sigma_schedule`; options :class:`DelayOptions`) and the
    spiking temporal/spectral convolution :class:`SpikingConv1d`.
:mod:`~neurolearn.torch.losses`
    :func:`readout_loss`, :func:`reduce_readout` (:data:`READOUT_REDUCTIONS`),
    :func:`rate_regulariser`, :func:`firing_rates`.
:mod:`~neurolearn.torch.fused`, :mod:`~neurolearn.torch.loop`, :mod:`~neurolearn.torch.sparse`
    Internals: the fused time loops with their hand-written adjoint, the choice of path and
    the step-by-step loop, products with spikes and sparse inputs.
:mod:`~neurolearn.torch.layers`
    Compatibility: the names it held before the split.

Round trip to Brian2 and network files: :mod:`neurolearn.bridge`.
"""

from .compiler import SI_DISPLAY_UNITS, CompiledModel, compile_model
from .conv import SpikingConv1d
from .delays import SynapticDelays, sigma_schedule
from .init import (
    DISTRIBUTIONS,
    PEREZ_NIEVES_CONFIGS,
    display_unit,
    init_parameter,
    perez_nieves_config,
)
from .layer import LeakyReadout, NonFiniteError, SpikingLayer, readout_model
from .losses import READOUT_REDUCTIONS, firing_rates, rate_regulariser, readout_loss, reduce_readout
from .network import NetworkState, SpikingNetwork
from .options import (
    TAU_PARAMETERIZATIONS,
    WEIGHT_DISTRIBUTIONS,
    DelayOptions,
    Execution,
    LayerOptions,
    ParameterInit,
    SurrogateOptions,
    WeightInit,
)
from .step import LayerState
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
    "NetworkState",
    "LayerState",
    "LayerOptions",
    "ParameterInit",
    "WeightInit",
    "SurrogateOptions",
    "Execution",
    "DelayOptions",
    "SynapticDelays",
    "sigma_schedule",
    "SpikingConv1d",
    "TAU_PARAMETERIZATIONS",
    "WEIGHT_DISTRIBUTIONS",
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

"""What a layer needs before it is built: the neuron model of whatever names it, the
variables presynaptic spikes increment (the model's declared synaptic targets), and the
zero-mean, unit-variance draws of the initial weights (:mod:`neurolearn.torch.layer`)."""

from __future__ import annotations

import math

import torch

from ..spec import ModelError, NeuronModel, load_model
from .compiler import CompiledModel


def _neuron_spec(model) -> NeuronModel:
    """The neuron model of a zoo name, file path, spec or compiled model.

    Raises
    ------
    ModelError
        Not a neuron model (names it).
    """
    if isinstance(model, CompiledModel):
        spec = model.spec
    else:
        spec = load_model(model) if isinstance(model, str) else model
    if not isinstance(spec, NeuronModel):
        raise ModelError(
            f"'{getattr(spec, 'name', spec)}' is not a neuron model",
            getattr(spec, "path", None),
            parameter="model",
        )
    return spec


def _synaptic_targets(cm, spec, target) -> tuple:
    """The variables incremented by presynaptic spikes: ``target`` if given, else the model's
    declared synaptic targets (``[roles] synaptic_targets``, :attr:`NeuronModel.synaptic_targets`:
    one variable, or excitatory and inhibitory).

    Raises
    ------
    ModelError
        The model declares no synaptic target and none is given, or a target is not a state
        variable.
    ValueError
        Neither one nor two targets.
    """
    states = cm.state_names
    if target is None:
        declared = tuple(spec.synaptic_targets)
        if not declared:
            raise ModelError(
                f"model '{spec.name}' declares no synaptic target ([roles] synaptic_targets); "
                f"pass target='<variable>'",
                spec.path,
                parameter="target",
            )
        target = declared[0] if len(declared) == 1 else declared
    targets = (target,) if isinstance(target, str) else tuple(target)
    for t in targets:
        if t not in states:
            raise ModelError(
                f"synaptic target '{t}' is not a state variable of model "
                f"'{spec.name}' ({', '.join(states)})",
                spec.path,
                parameter="target",
            )
    if len(targets) not in (1, 2):
        raise ValueError("target must be one variable or (excitatory, inhibitory)")
    return targets


def _unit_draws(shape: tuple, distribution: str, generator) -> torch.Tensor:
    """Zero-mean, unit-variance draws (float64): standard normal, or uniform on
    ``[-sqrt(3), sqrt(3)]`` (:data:`~neurolearn.torch.options.WEIGHT_DISTRIBUTIONS`)."""
    if distribution == "uniform":
        u = torch.rand(shape, generator=generator, dtype=torch.float64)
        return (2.0 * u - 1.0) * math.sqrt(3.0)
    return torch.randn(shape, generator=generator, dtype=torch.float64)

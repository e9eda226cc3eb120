"""The network, loss, predictor, regulariser and augmentation of a training configuration."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from brian2 import Quantity

from ..torch import SpikingNetwork, get_surrogate, rate_regulariser, readout_loss, reduce_readout
from .config import DTYPES, READOUT_NAMES, TrainingConfig
from .transforms import SpikeAugmentation

__all__ = [
    "build_network",
    "build_augmentation",
    "network_parameters",
    "readout_loss_fn",
    "prediction_fn",
]


def build_network(config: TrainingConfig, n_in: int, n_classes: int):
    """The spiking network of a configuration (:meth:`neurolearn.torch.SpikingNetwork.build`).

    Parameters
    ----------
    config : TrainingConfig
    n_in, n_classes : int
        Input channels and classes (from the dataset).

    Returns
    -------
    neurolearn.torch.SpikingNetwork
        ``n_in -> hidden... -> n_classes`` with the configuration's model, recurrence,
        heterogeneity configuration, surrogate and precision; random draws from
        ``torch.Generator`` seeded with ``training.seed``.
    """

    net, het, sur = config["network"], config["heterogeneity"], config["surrogate"]
    dtype = DTYPES[net["dtype"]]
    surrogate = get_surrogate(
        {
            "shape": sur["name"],
            "steepness": sur["steepness"],
            "scale": sur["scale"],
            "normalize_peak": sur["normalize"],
        }
    )
    gen = torch.Generator().manual_seed(int(config["training"]["seed"]))
    network = SpikingNetwork.build(
        n_in,
        list(net["hidden"]),
        n_classes,
        model=net["model"],
        dt=float(config["data"]["dt_ms"]) * 1e-3,
        recurrent=net["recurrent"],
        heterogeneity=het["configuration"],
        taus=list(het["parameters"]),
        distribution=het["distribution"],
        k=het["shape"],
        params=net["parameters"] or None,
        surrogate=surrogate,
        dtype=dtype,
        generator=gen,
        detach_reset=sur["detach_reset"],
        readout_params={
            "tau_m": f"{net['readout_tau_m_ms']!r} ms",
            "tau_syn": f"{net['readout_tau_syn_ms']!r} ms",
        },
    )
    network.dropout = float(net["dropout"])  # training only (SpikingNetwork.forward)
    _raise_tau_floor(network, het["tau_min_ms"])
    with torch.no_grad():
        for layer in network.layers:
            if layer.W_rec is not None:
                layer.W_rec.mul_(float(net["recurrent_scale"]))
    return network


def _raise_tau_floor(network, tau_min_ms: float) -> None:
    """Clamp every time constant of every layer to >= ``tau_min_ms`` (stored values and the
    bound used by later projections), so that the exact-integration coefficients such as
    ``exp(dt/tau_m - dt/tau_syn)`` stay finite in float32 (with dt = 10 ms and the spec's
    lower bound of 0.1 ms they overflow)."""

    layers = list(network.layers) + ([network.readout] if network.readout is not None else [])
    with torch.no_grad():
        for layer in layers:
            for name, (lo, hi) in list(layer.param_bounds.items()):
                p = layer.spec.parameters.get(name)
                if p is None or not p.is_time_constant or layer.param_units[name][0] != "ms":
                    continue
                lo = max(lo, float(tau_min_ms))
                layer.param_bounds[name] = (lo, hi)
                layer.raw_parameter(name).clamp_(lo, hi)


def network_parameters(net) -> list:
    """Per-neuron parameters of every layer of a :class:`neurolearn.torch.SpikingNetwork`
    as ``[(layer name, {parameter: Brian2 Quantity [neurons]})]`` (hidden layers, then the
    readout), the input of :func:`write_parameters_csv`."""

    out = []
    layers = list(net.layers) + ([net.readout] if getattr(net, "readout", None) is not None else [])
    for layer in layers:
        values = {}
        for name, p in layer.spec.parameters.items():
            if not p.per_neuron or name not in layer.param_units:
                continue
            si = np.broadcast_to(
                np.asarray(layer.parameter_si(name), dtype=float), (layer.n,)
            ).copy()
            values[name] = Quantity(si, dim=p.dim)
        out.append((layer.name, values))
    return out


def readout_loss_fn(config: TrainingConfig) -> Callable:
    """``loss(readout [T,B,K], labels [B])`` of a configuration (cross-entropy on the reduced
    readout, :func:`neurolearn.torch.readout_loss`)."""

    reduction = READOUT_NAMES[config["loss"]["name"]]
    scale = config["loss"]["logit_scale"]
    return lambda readout, labels: readout_loss(readout, labels, reduction, logit_scale=scale)


def prediction_fn(config: TrainingConfig) -> Callable:
    """``predict(readout [T,B,K]) -> labels [B]``: arg-max of the reduced readout."""

    reduction = READOUT_NAMES[config["loss"]["name"]]
    return lambda readout: reduce_readout(readout, reduction).argmax(dim=1)


def _penalty_fn(config: TrainingConfig):
    loss = config["loss"]
    if loss["rate_upper_hz"] is None and loss["rate_lower_hz"] is None:
        return None

    def penalty(net):
        total = 0.0
        for spikes in net.spikes:
            total = total + rate_regulariser(
                spikes,
                net.dt_s,
                upper_hz=loss["rate_upper_hz"],
                lower_hz=loss["rate_lower_hz"],
                upper_strength=loss["rate_strength"],
                lower_strength=loss["rate_strength"],
            )
        return total

    return penalty


def build_augmentation(config: TrainingConfig) -> SpikeAugmentation | None:
    """The configuration's training-time augmentation (``[training] input_dropout``,
    ``time_shift_ms``, ``channel_shift``, ``blend``), seeded with ``training.seed``; None
    when every one of them is 0."""
    tr = config["training"]
    steps = int(round(tr["time_shift_ms"] / config["data"]["dt_ms"]))
    if not (tr["input_dropout"] or steps or tr["channel_shift"] or tr["blend"]):
        return None
    return SpikeAugmentation(
        drop_probability=tr["input_dropout"],
        max_time_shift=steps,
        max_channel_shift=tr["channel_shift"],
        blend_probability=tr["blend"],
        seed=tr["seed"],
    )

"""The recipe of a training configuration: the network, loss, predictor, firing-rate
regulariser, augmentation and optimiser settings that :func:`~neurolearn.training.run.
train_from_config` hands to the loop."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..sources import allen
from ..spec import load_model, with_reset_rule
from ..torch import (
    SpikingConv1d,
    SpikingNetwork,
    get_surrogate,
    rate_regulariser,
    readout_loss,
    readout_model,
    reduce_readout,
)
from .config import DTYPES, READOUT_NAMES, TrainingConfig
from .transforms import SpikeAugmentation

__all__ = [
    "build_network",
    "build_augmentation",
    "readout_loss_fn",
    "prediction_fn",
    "rate_penalty_fn",
    "training_options",
]


def build_network(config: TrainingConfig, n_in: int, n_classes: int) -> SpikingNetwork:
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
        ``torch.Generator`` seeded with ``training.seed``. Every time constant is at least
        ``[heterogeneity] tau_min_ms``, the recurrent weights are scaled by
        ``[network] recurrent_scale`` and ``network.dropout`` is ``[network] dropout``. With
        ``[network] delays``/``recurrent_delays`` the connections have learnable delays up
        to ``max_delay_ms``; with ``conv_channels > 0`` a
        :class:`~neurolearn.torch.SpikingConv1d` (``conv_*`` keys) comes first.
    """
    net, het, sur = config["network"], config["heterogeneity"], config["surrogate"]
    model = with_reset_rule(load_model(net["model"]), net["reset"])
    dt_ms = float(config["data"]["dt_ms"])
    surrogate = get_surrogate(
        {
            "shape": sur["name"],
            "steepness": sur["steepness"],
            "scale": sur["scale"],
            "normalize_peak": sur["normalize"],
        }
    )
    conv = _convolution(config, n_in, surrogate) if net["conv_channels"] else None
    # keywords at their defaults are left out, so that a default configuration builds the
    # network exactly as before these keys existed
    extra = {
        key: value
        for key, value, default in (
            ("method", net["method"], None),
            ("readout_method", net["readout_method"], None),
            ("weight_std", net["input_weight_std"], None),
            ("recurrent_std", net["recurrent_weight_std"], None),
            ("readout_weight_std", net["readout_weight_std"], None),
            ("weight_distribution", net["weight_distribution"], "normal"),
            ("tau_parameterization", het["tau_parameterization"], "direct"),
            ("readout_trainable", None if het["train_readout_tau"] else (), None),
            ("distributions", _allen_distributions(het), None),
        )
        if value != default
    }
    network = SpikingNetwork.build(
        n_in if conv is None else conv.n,
        list(net["hidden"]),
        n_classes,
        model=model,
        dt=dt_ms * 1e-3,
        recurrent=net["recurrent"],
        heterogeneity=het["configuration"],
        taus=list(het["parameters"]),
        distribution="gamma" if het["distribution"] == "allen" else het["distribution"],
        k=het["shape"],
        params=net["parameters"] or None,
        surrogate=surrogate,
        dtype=DTYPES[net["dtype"]],
        generator=torch.Generator().manual_seed(int(config["training"]["seed"])),
        detach_reset=sur["detach_reset"],
        readout_params={
            "tau_m": f"{net['readout_tau_m_ms']!r} ms",
            "tau_syn": f"{net['readout_tau_syn_ms']!r} ms",
        },
        bounds=tau_floor_bounds(
            model, het["tau_min_ms"], dt_ms, (het["decay_min"], het["decay_max"])
        ),
        delays=net["delays"],
        recurrent_delays=net["recurrent_delays"],
        max_delay=float(net["max_delay_ms"]) * 1e-3,
        **extra,
    )
    if conv is not None:
        network = SpikingNetwork([conv, *network.layers], network.readout)
    _after_build(network, config)
    return network


def _convolution(config: TrainingConfig, n_in: int, surrogate) -> SpikingConv1d:
    """The :class:`~neurolearn.torch.SpikingConv1d` of the configuration's ``conv_*`` keys
    (hidden model, parameters, surrogate and precision; seeded with ``training.seed + 1``),
    in front of the hidden layers."""
    net = config["network"]
    return SpikingConv1d(
        net["model"],
        n_in,
        net["conv_channels"],
        net["conv_kernel"],
        dt=float(config["data"]["dt_ms"]) * 1e-3,
        stride=net["conv_stride"],
        time_kernel=net["conv_time_kernel"],
        time_dilation=net["conv_time_dilation"],
        params=net["parameters"] or None,
        surrogate=surrogate,
        dtype=DTYPES[net["dtype"]],
        generator=torch.Generator().manual_seed(int(config["training"]["seed"]) + 1),
        detach_reset=config["surrogate"]["detach_reset"],
        name="conv",
    )


def tau_floor_bounds(
    model, tau_min_ms: float, dt_ms: float | None = None, decay_range=(None, None)
) -> dict:
    """``bounds`` for :meth:`SpikingNetwork.build` that raise the lower end of every time
    constant (of the hidden model and of the readout) to ``tau_min_ms``, so that
    exact-integration coefficients such as ``exp(dt/tau_m - dt/tau_syn)`` stay finite in
    float32 (with dt = 10 ms and the model files' lower bound of 0.1 ms they overflow), and
    keep every decay factor ``exp(-dt/tau)`` within ``decay_range``.

    Parameters
    ----------
    model : str or NeuronModel
        The hidden layers' model (zoo name, file or spec).
    tau_min_ms : float
        The floor in ms (``[heterogeneity] tau_min_ms``).
    dt_ms : float, optional
        Time step in ms (needed with ``decay_range``).
    decay_range : (float or None, float or None)
        ``([heterogeneity] decay_min, decay_max)``: tau within ``[-dt/ln(decay_min),
        -dt/ln(decay_max)]`` (Perez-Nieves et al. 2021 clip the decay factors to
        ``[2/e, 0.995]``: npvoid/neural_heterogeneity, SuGD_code/clipper.py l. 8-11).

    Returns
    -------
    dict of str -> (float, float or None)
        ``{name: (low, high)}`` in ms; ``high`` None without ``decay_max``.
    """
    dmin, dmax = decay_range
    floor = {}
    for spec in (load_model(model) if isinstance(model, str) else model, readout_model()):
        for name in spec.time_constants:
            low = spec.parameters[name].low
            low_ms = 0.0 if low is None else float(low) * 1e3
            floor[name] = max(floor.get(name, 0.0), low_ms, float(tau_min_ms))
            if dmin is not None:
                floor[name] = max(floor[name], -float(dt_ms) / math.log(dmin))
    high = None if dmax is None else -float(dt_ms) / math.log(dmax)
    return {name: (low, high) for name, low in floor.items()}


def _allen_distributions(het: dict) -> dict | None:
    """With ``[heterogeneity] distribution = "allen"``: ``tau_m`` drawn from the measured
    membrane time constants (ms) of the Allen cells of ``[heterogeneity] allen``
    (:func:`neurolearn.sources.allen.select`), as ``build``'s ``distributions``."""
    if het["distribution"] != "allen":
        return None
    cells = allen.select(allen.load_cells(), **het["allen"])
    return {"tau_m": {"distribution": "empirical", "samples": allen.tau_values(cells)}}


def _after_build(network: SpikingNetwork, config: TrainingConfig) -> None:
    """Training-only dropout and the recurrent-weight scale of a configuration, applied to a
    built network."""
    net = config["network"]
    network.dropout = float(net["dropout"])  # training only (SpikingNetwork.forward)
    with torch.no_grad():
        for layer in network.layers:
            if layer.W_rec is not None:
                layer.W_rec.mul_(float(net["recurrent_scale"]))


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


def rate_penalty_fn(config: TrainingConfig) -> Callable | None:
    """``penalty(network) -> scalar tensor``: the firing-rate regulariser of ``[loss]
    rate_upper_hz``, ``rate_lower_hz`` and ``rate_strength`` summed over the hidden layers'
    spikes of the last forward pass (:func:`neurolearn.torch.rate_regulariser`; Zenke &
    Vogels 2021); None when neither bound is set."""
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


def training_options(config: TrainingConfig, network: SpikingNetwork) -> dict:
    """Keyword arguments of :func:`neurolearn.training.trainer.train_network` for a
    configuration's ``[training]``, ``[optimizer]`` and ``[loss]`` sections: epochs, batch
    size, seed, the optimiser with its learning rates (``network``'s trained time constants
    in the ``lr_tau`` group), weight decay, schedule, gradient clipping, loss, predictor,
    firing-rate penalty and augmentation."""
    tr, opt = config["training"], config["optimizer"]
    return dict(
        epochs=tr["epochs"],
        batch_size=tr["batch_size"],
        seed=tr["seed"],
        lr_weights=opt["lr_weights"],
        lr_tau=opt["lr_tau"],
        tau_parameters=network.time_constant_parameters(),
        lr_delay=opt["lr_delay_steps"] * config["data"]["dt_ms"],
        hidden_weight_parameters=[p for layer in network.layers for p in layer.parameters()],
        lr_hidden_weights=opt["lr_hidden_weights"],
        optimizer=opt["name"],
        weight_decay=opt["weight_decay"],
        schedule=opt["schedule"],
        grad_clip=opt["grad_clip"],
        loss_fn=readout_loss_fn(config),
        predict=prediction_fn(config),
        penalty=rate_penalty_fn(config),
        transform=build_augmentation(config),
    )

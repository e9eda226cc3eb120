"""The schema of a training configuration: every section and key with its type, default,
allowed values and meaning (:data:`CONFIG_SCHEMA`); validation and TOML reading are in
:mod:`neurolearn.training.config`."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from ..datasets import DATASETS, SPLITS
from ..spec import RESET_RULES
from ..torch import (
    DISTRIBUTIONS,
    PEREZ_NIEVES_CONFIGS,
    READOUT_REDUCTIONS,
    SURROGATES,
    TAU_PARAMETERIZATIONS,
    WEIGHT_DISTRIBUTIONS,
)
from ..torch.options import DELAY_MODES
from .optim import OPTIMIZERS, SCHEDULES

__all__ = ["CONFIG_SCHEMA", "DTYPES", "READOUT_NAMES"]

#: ``[loss] name`` -> the readout reduction of :data:`neurolearn.torch.READOUT_REDUCTIONS` it
#: names: a reduction over time is called ``<reduction>_over_time``, the last step ``last``.
READOUT_NAMES: dict[str, str] = {
    (r if r == "last" else f"{r}_over_time"): r for r in READOUT_REDUCTIONS
}

#: ``[network] dtype`` -> floating-point type of training.
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


@dataclasses.dataclass(frozen=True)
class _Key:
    """One key of :data:`CONFIG_SCHEMA`: its type, default, meaning and allowed values
    (``choices``, or a range from ``low`` to ``high``, each bound inclusive unless
    ``low_open``/``high_open``)."""

    kind: str  # "str", "int", "float", "bool", "list[int|float|str]", "table"
    default: Any = None
    help: str = ""
    choices: tuple | None = None
    low: float | None = None  # inclusive lower bound
    high: float | None = None  # inclusive upper bound
    high_open: bool = False  # exclude the upper bound
    low_open: bool = False  # exclude the lower bound
    required: bool = False
    nullable: bool = False


#: Every section and key of a training configuration: type, default, allowed values and meaning.
#: Keys with a physical quantity carry the unit as suffix (``dt_ms``, ``lr_tau`` is per step).
CONFIG_SCHEMA: dict[str, dict[str, _Key]] = {
    "data": {
        "dataset": _Key(
            "str",
            required=True,
            choices=tuple(DATASETS),
            help="dataset name (neurolearn.datasets)",
        ),
        "dt_ms": _Key(
            "float",
            10.0,
            "time step of the binned input and of the network, ms",
            low=0,
            low_open=True,
        ),
        "duration_ms": _Key(
            "float", 1000.0, "length of every sample after binning, ms", low=0, low_open=True
        ),
        "binary": _Key(
            "bool",
            True,
            "0/1 per time bin (spikes, as the Brian2 export needs) instead of spike counts",
        ),
        "validation_fraction": _Key(
            "float",
            0.1,
            "fraction of the training split held out for "
            "validation (stratified by class, fixed by the seed)",
            low=0,
            high=0.9,
        ),
        "max_train_samples": _Key(
            "int",
            None,
            "use at most this many training samples (stratified; for smoke runs)",
            low=1,
            nullable=True,
        ),
        "max_test_samples": _Key(
            "int", None, "use at most this many test samples", low=1, nullable=True
        ),
        "options": _Key("table", {}, "extra keyword arguments of load_dataset (e.g. channels)"),
        "split": _Key(
            "str",
            "official",
            'which samples train and test: "official" (the dataset\'s test split; validation '
            'from validation_fraction of its training split) or "speaker" (test_speakers '
            "test, validation_speakers validate, every other speaker of both official splits "
            "trains: speaker-independent, as SHD's test set)",
            choices=SPLITS,
        ),
        "test_speakers": _Key(
            "list[str]", None, 'split = "speaker": speakers of the test set', nullable=True
        ),
        "validation_speakers": _Key(
            "list[str]",
            None,
            'split = "speaker": speakers of the validation set (none: validation_fraction '
            "of the training speakers' samples)",
            nullable=True,
        ),
    },
    "network": {
        "model": _Key("str", "lif", "neuron model of the hidden layers: zoo name or file path"),
        "hidden": _Key("list[int]", [128], "sizes of the hidden layers", low=1),
        "recurrent": _Key("bool", True, "all-to-all recurrent weights within each hidden layer"),
        "recurrent_scale": _Key(
            "float",
            0.1,
            "factor on the bridge's default initial "
            "recurrent weights (which alone drive a neuron to threshold; "
            "smaller values keep the initial dynamics input-driven)",
            low=0,
        ),
        "parameters": _Key(
            "table",
            {},
            "overrides of the model's parameters, e.g. "
            '{t_ref = "0 ms"} (values with units, as in model files)',
        ),
        "dtype": _Key(
            "str", "float32", "floating-point precision of training", choices=tuple(DTYPES)
        ),
        "dropout": _Key(
            "float",
            0.0,
            "training only: probability of dropping each spike a "
            "hidden layer passes to the next layer or the readout (inverted "
            "dropout, Srivastava et al. 2014; the recurrent connections see every "
            "spike); evaluation, the saved network and the Brian2 export are "
            "unaffected",
            low=0,
            high=1,
            high_open=True,
        ),
        "readout_tau_m_ms": _Key(
            "float",
            20.0,
            "membrane time constant of the leaky "
            "readout, ms (the mean of heterogeneous initial values)",
            low=0,
            low_open=True,
        ),
        "readout_tau_syn_ms": _Key(
            "float", 5.0, "synaptic time constant of the leaky readout, ms", low=0, low_open=True
        ),
        "reset": _Key(
            "str",
            "model",
            'reset of the hidden neurons: "model" (the model file\'s, e.g. v = v_reset) or '
            '"subtract" (v = v - (v_th - v_reset); neurolearn.spec.with_reset_rule)',
            choices=RESET_RULES,
        ),
        "method": _Key(
            "str",
            None,
            "state updater of the hidden layers (Brian2 name, e.g. exponential_euler); "
            "default the model file's",
            nullable=True,
        ),
        "readout_method": _Key(
            "str", None, "state updater of the readout (default exact)", nullable=True
        ),
        "weight_distribution": _Key(
            "str", "normal", "shape of every initial weight matrix", choices=WEIGHT_DISTRIBUTIONS
        ),
        "input_weight_std": _Key(
            "float",
            None,
            "std of the hidden layers' initial input weights in the synaptic target's display "
            "unit (nA for I_syn); default: the bridge's automatic scale",
            low=0,
            low_open=True,
            nullable=True,
        ),
        "recurrent_weight_std": _Key(
            "float",
            None,
            "std of the initial recurrent weights (same unit; recurrent_scale still "
            "applies); default: the automatic scale",
            low=0,
            low_open=True,
            nullable=True,
        ),
        "readout_weight_std": _Key(
            "float",
            None,
            "std of the readout's initial weights (dimensionless); default 1/sqrt(n_in)",
            low=0,
            low_open=True,
            nullable=True,
        ),
        "delays": _Key(
            "str",
            "none",
            "learnable synaptic delays of the feed-forward connections (hidden layers' input "
            "and the readout's): per_synapse, per_presynaptic, per_connection or none "
            "(DCLS Gaussian kernels narrowing to whole steps, Hammouamri et al. 2023; "
            "neurolearn.torch.delays)",
            choices=DELAY_MODES,
        ),
        "recurrent_delays": _Key(
            "str",
            "none",
            "learnable delays of the recurrent connections (at least one time step), same "
            "choices; needs recurrent = true",
            choices=DELAY_MODES,
        ),
        "max_delay_ms": _Key(
            "float", 100.0, "longest synaptic delay, ms (rounded to time steps)", low=0
        ),
        "conv_channels": _Key(
            "int",
            0,
            "feature maps of a spiking 1D convolution over input channels and time before "
            "the hidden layers (neurolearn.torch.SpikingConv1d); 0: none",
            low=0,
        ),
        "conv_kernel": _Key("int", 5, "convolution kernel size over input channels", low=1),
        "conv_stride": _Key("int", 1, "convolution stride over input channels", low=1),
        "conv_time_kernel": _Key(
            "int", 1, "temporal kernel size of the convolution (taps = delays)", low=1
        ),
        "conv_time_dilation": _Key(
            "int", 1, "time steps between the convolution's temporal taps", low=1
        ),
    },
    "heterogeneity": {
        "configuration": _Key(
            "str",
            "het_init_het_train",
            "Perez-Nieves et al. 2021 configuration",
            choices=tuple(PEREZ_NIEVES_CONFIGS),
        ),
        "distribution": _Key(
            "str",
            "gamma",
            'distribution of heterogeneous initial values ("allen": tau_m drawn from the '
            "measured cells of [heterogeneity] allen, the other parameters gamma)",
            choices=tuple(d for d in DISTRIBUTIONS if d not in ("constant", "empirical"))
            + ("allen",),
        ),
        "shape": _Key(
            "float",
            3.0,
            "gamma shape k (Perez-Nieves: 3) or log-normal sigma",
            low=0,
            low_open=True,
        ),
        "parameters": _Key(
            "list[str]", ["tau_m", "tau_syn"], "per-neuron parameters made heterogeneous / trained"
        ),
        "tau_min_ms": _Key(
            "float",
            1.0,
            "lower bound of every time constant (initial draws "
            "and training are clamped to it); keeps exp(dt/tau) finite in "
            "float32",
            low=0,
            low_open=True,
        ),
        "tau_parameterization": _Key(
            "str",
            "direct",
            'how trained time constants are stored and stepped: "direct" (tau in ms) or '
            '"decay" (the decay factor exp(-dt/tau) of one step, Perez-Nieves et al. 2021)',
            choices=TAU_PARAMETERIZATIONS,
        ),
        "decay_min": _Key(
            "float",
            None,
            "lower bound of every decay factor exp(-dt/tau) (hidden and readout; applied to "
            "tau as -dt/ln(decay_min)); Perez-Nieves et al. 2021: 2/e",
            low=0,
            high=1,
            low_open=True,
            high_open=True,
            nullable=True,
        ),
        "decay_max": _Key(
            "float",
            None,
            "upper bound of every decay factor (tau <= -dt/ln(decay_max)); "
            "Perez-Nieves et al. 2021: 0.995",
            low=0,
            high=1,
            low_open=True,
            high_open=True,
            nullable=True,
        ),
        "train_readout_tau": _Key(
            "bool",
            True,
            "train the readout's time constants too when the configuration trains tau "
            "(Perez-Nieves et al. 2021 keep them fixed)",
        ),
        "allen": _Key(
            "table",
            {"species": "mouse", "area": "VISp", "layer": "4", "dendrite_type": "spiny"},
            'distribution = "allen": Allen cells whose measured tau_m the initial tau_m are '
            "drawn from (filters of neurolearn.sources.allen.select)",
        ),
    },
    "surrogate": {
        "name": _Key(
            "str",
            "fast_sigmoid",
            "surrogate derivative of the spike",
            choices=tuple(SURROGATES),
        ),
        "steepness": _Key(
            "float",
            10.0,
            "steepness (per unit of the normalised distance to threshold)",
            low=0,
            low_open=True,
        ),
        "scale": _Key("float", 1.0, "scale of the surrogate derivative", low=0, low_open=True),
        "normalize": _Key("bool", False, "normalise the surrogate's peak to 1"),
        "detach_reset": _Key("bool", True, "no gradient through the reset (Zenke & Vogels 2021)"),
    },
    "loss": {
        "name": _Key(
            "str",
            "max_over_time",
            "readout reduction fed to cross-entropy",
            choices=tuple(READOUT_NAMES),
        ),
        "logit_scale": _Key(
            "float", 1.0, "factor on the reduced readout before the softmax", low=0, low_open=True
        ),
        "rate_upper_hz": _Key(
            "float", None, "per-neuron upper firing-rate bound, Hz", low=0, nullable=True
        ),
        "rate_lower_hz": _Key(
            "float", None, "population lower firing-rate bound, Hz", low=0, nullable=True
        ),
        "rate_strength": _Key(
            "float", 1.0, "strength of the firing-rate regulariser (both bounds; Hz**-2)", low=0
        ),
    },
    "optimizer": {
        "name": _Key("str", "adam", "optimiser (torch.optim)", choices=tuple(OPTIMIZERS)),
        "lr_weights": _Key(
            "float", 2e-3, "learning rate of weights and biases", low=0, low_open=True
        ),
        "lr_tau": _Key(
            "float",
            2e-2,
            "learning rate of trained per-neuron parameters (time constants)",
            low=0,
            low_open=True,
        ),
        "lr_hidden_weights": _Key(
            "float",
            None,
            "learning rate of the hidden layers' weights (nA per step for current-based "
            "models; default lr_weights)",
            low=0,
            low_open=True,
            nullable=True,
        ),
        "lr_delay_steps": _Key(
            "float",
            0.1,
            "learning rate of learnable synaptic delays, time steps per optimiser step "
            "(DCLS: 100 times the weights' rate)",
            low=0,
            low_open=True,
        ),
        "weight_decay": _Key("float", 0.0, "L2 weight decay of the weights", low=0),
        "schedule": _Key(
            "str", "cosine", "learning-rate schedule over epochs", choices=tuple(SCHEDULES)
        ),
        "grad_clip": _Key(
            "float",
            None,
            "clip the gradient norm to this value",
            low=0,
            low_open=True,
            nullable=True,
        ),
    },
    "training": {
        "epochs": _Key("int", 20, "number of epochs", low=1),
        "batch_size": _Key("int", 64, "samples per batch", low=1),
        "seed": _Key("int", 0, "seed of every random-number generator", low=0),
        "threads": _Key(
            "int", None, "torch CPU threads (default: torch's choice)", low=1, nullable=True
        ),
        "input_dropout": _Key(
            "float",
            0.0,
            "training only: probability of deleting each "
            "input spike (time bin) of a training sample (Srivastava et al. "
            "2014 dropout on the input layer; spike deletion)",
            low=0,
            high=1,
            high_open=True,
        ),
        "time_shift_ms": _Key(
            "float",
            0.0,
            "training only: shift every training sample in "
            "time by a uniform random whole number of steps in "
            "[-time_shift_ms, +time_shift_ms] (zero-padded; what leaves the "
            "window is lost), ms",
            low=0,
        ),
        "channel_shift": _Key(
            "int",
            0,
            "training only: shift every training sample across "
            "input channels by a uniform random integer in [-channel_shift, "
            "+channel_shift] (zero-padded; for cochlear channels a shift in "
            "frequency, as the random channel shifts of Nowotny et al. 2022 "
            "for SHD)",
            low=0,
        ),
        "blend": _Key(
            "float",
            0.0,
            "training only: probability of blending a training sample "
            "with another sample of its class in the batch (each input bin from "
            "one or the other; Nowotny et al. 2022)",
            low=0,
            high=1,
        ),
        "time_scales": _Key(
            "list[float]",
            None,
            "training only: multiply every training sample's spike times by a factor drawn "
            "per sample and epoch from this list (Perez-Nieves et al. 2021: [0.5, 1.0]); "
            "binned on the fly",
            low=0,
            low_open=True,
            nullable=True,
        ),
        "device": _Key(
            "str",
            "cpu",
            'torch device of training and evaluation: "cpu", '
            '"cuda" or "cuda:N" (model, batches and losses live there; '
            "checkpoints and outputs are device-independent)",
        ),
    },
}

_TYPE_NAMES = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "list[int]": "a list of integers",
    "list[str]": "a list of strings",
    "list[float]": "a list of numbers",
    "table": "a table",
}

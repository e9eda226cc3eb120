"""Training of spiking networks with surrogate gradients: configuration files, the training
loop, checkpoints and resumption.

A training run is described by a TOML file (see :data:`CONFIG_SCHEMA` for every key, its
type, default and meaning; ``configs/fsdd_lif.toml`` is a complete example)::

    [data]
    dataset = "fsdd"          # fsdd | shd | ssc | nmnist | braille
    dt_ms = 10.0
    duration_ms = 1000.0
    [data.options]            # passed to neurolearn.datasets.load_dataset
    channels = 64

    [network]
    model = "lif"             # zoo name or path of a model file
    hidden = [128]
    recurrent = true

    [heterogeneity]
    configuration = "het_init_het_train"   # one of the four Perez-Nieves et al. 2021 set-ups
    distribution = "gamma"

    [optimizer]
    lr_weights = 2e-3
    lr_tau = 2e-2

    [training]
    epochs = 20
    batch_size = 64
    seed = 0

``neurolearn train CONFIG.toml --out DIR`` (or :func:`train_from_config`) writes into ``DIR``:

``config.toml``
    The configuration with every default filled in.
``metrics.csv``
    One row per epoch: ``epoch``, ``train_loss``, ``train_accuracy``, ``val_loss``,
    ``val_accuracy``, learning rates, and the mean learned time constants.
``checkpoint.pt``
    Model, optimiser and random-number-generator states after the last completed epoch,
    replaced atomically at the end of every epoch; ``--resume`` continues from it.
``network.h5``
    The trained network in the torch bridge's file format
    (:func:`neurolearn.bridge.save_network`, HDF5 + JSON, no pickle).
``parameters.csv``
    One row per neuron: ``layer``, ``neuron`` and every per-neuron parameter with its unit as
    a suffix (``tau_m_ms``, ``tau_syn_ms``, ``v_th_mV``...).
``summary.json``
    Test accuracy of the final network, wall time, the number of epochs.
``learning_curves.{pdf,svg,png}``
    Loss and accuracy per epoch.

Determinism: Python's, NumPy's and torch's generators are seeded from ``training.seed``; the
order of samples in epoch ``e`` comes from a :class:`torch.Generator` seeded with
``(seed, e)``, and every generator state is stored in the checkpoint, so an interrupted run
resumed with ``--resume`` produces the same numbers as an uninterrupted one (a run killed
mid-epoch loses that epoch only).

References
----------
Neftci, Mostafa & Zenke (2019) IEEE Signal Process. Mag. 36:51 (surrogate-gradient learning);
Zenke & Vogels (2021) Neural Comput. 33:899 (loss on the readout maximum over time, firing-rate
regularisation); Perez-Nieves, Leung, Dragotti & Goodman (2021) Nat. Commun. 12:5791 (trained
per-neuron time constants; the four configurations).
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import io
import logging
import math
import random
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

import numpy as np

from .io import atomic_path, atomic_write_json, atomic_write_text

__all__ = [
    "ConfigError",
    "CONFIG_SCHEMA",
    "TrainingConfig",
    "load_config",
    "config_from_dict",
    "seed_everything",
    "resolve_device",
    "fit",
    "FitResult",
    "augment_spikes",
    "evaluate_model",
    "train_from_config",
    "load_data",
    "load_test_set",
    "build_network",
    "network_parameters",
    "readout_loss_fn",
    "prediction_fn",
    "read_metrics",
    "write_parameters_csv",
    "plot_learning_curves",
    "METRIC_COLUMNS",
]

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A training configuration is invalid. The message names the file, the section and the
    key at fault; ``path``, ``section`` and ``key`` hold the same facts for programs."""

    def __init__(
        self,
        message: str,
        path: str | Path | None = None,
        section: str | None = None,
        key: str | None = None,
    ):
        self.path = None if path is None else str(path)
        self.section = section
        self.key = key
        where = f"{self.path}: " if self.path else ""
        if section is not None:
            where += f"[{section}]" + (f" {key}" if key else "") + ": "
        super().__init__(where + message)


# ---------------------------------------------------------------------------------------------
# Configuration schema
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Key:
    kind: str  # "str", "int", "float", "bool", "list[int]", "list[str]", "table"
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
            choices=("fsdd", "shd", "ssc", "nmnist", "braille"),
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
            "str", "float32", "floating-point precision of training", choices=("float32", "float64")
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
    },
    "heterogeneity": {
        "configuration": _Key(
            "str",
            "het_init_het_train",
            "Perez-Nieves et al. 2021 configuration",
            choices=(
                "hom_init_std_train",
                "het_init_std_train",
                "hom_init_het_train",
                "het_init_het_train",
            ),
        ),
        "distribution": _Key(
            "str",
            "gamma",
            "distribution of heterogeneous initial values",
            choices=("gamma", "uniform", "lognormal"),
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
    },
    "surrogate": {
        "name": _Key(
            "str",
            "fast_sigmoid",
            "surrogate derivative of the spike",
            choices=("fast_sigmoid", "sigmoid", "arctan", "triangle"),
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
            choices=("max_over_time", "mean_over_time", "last"),
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
        "name": _Key("str", "adam", "optimiser (torch.optim)", choices=("adam", "adamw", "sgd")),
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
        "weight_decay": _Key("float", 0.0, "L2 weight decay of the weights", low=0),
        "schedule": _Key(
            "str", "cosine", "learning-rate schedule over epochs", choices=("constant", "cosine")
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
    "table": "a table",
}


def _check_value(key: _Key, value, path, section, name):
    def fail(msg):
        raise ConfigError(msg, path, section, name)

    if value is None:
        if key.nullable:
            return None
        fail(f"expected {_TYPE_NAMES[key.kind]}, got nothing")
    kind = key.kind
    if kind == "str":
        if not isinstance(value, str):
            fail(f"expected {_TYPE_NAMES[kind]}, got {value!r}")
    elif kind == "bool":
        if not isinstance(value, bool):
            fail(f"expected true or false, got {value!r}")
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            fail(f"expected an integer, got {value!r}")
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail(f"expected a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            fail(f"expected a finite number, got {value!r}")
    elif kind.startswith("list["):
        inner = kind[5:-1]
        if not isinstance(value, list) or not value:
            fail(f"expected a non-empty list of {inner}s, got {value!r}")
        for item in value:
            ok = (
                (isinstance(item, int) and not isinstance(item, bool))
                if inner == "int"
                else isinstance(item, str)
            )
            if not ok:
                fail(f"expected a list of {inner}s, got item {item!r}")
        value = list(value)
    elif kind == "table":
        if not isinstance(value, dict):
            fail(f"expected a table, got {value!r}")
        return dict(value)
    if key.choices is not None and value not in key.choices:
        fail(f"{value!r} is not one of: {', '.join(map(str, key.choices))}")
    numbers = value if isinstance(value, list) else [value]
    if kind in ("int", "float", "list[int]"):
        for number in numbers:
            if key.low is not None and (number < key.low or (key.low_open and number == key.low)):
                fail(f"must be {'>' if key.low_open else '>='} {key.low:g}, got {number!r}")
            if key.high is not None and (
                number > key.high or (key.high_open and number == key.high)
            ):
                fail(f"must be {'<' if key.high_open else '<='} {key.high:g}, got {number!r}")
    return value


@dataclasses.dataclass
class TrainingConfig:
    """A validated training configuration: ``sections[section][key]`` for every key of
    :data:`CONFIG_SCHEMA`, defaults filled in.

    Attributes
    ----------
    sections : dict of str -> dict
    path : Path or None
        The file it was read from (for error messages).
    """

    sections: dict
    path: Path | None = None

    def __getitem__(self, section: str) -> dict:
        return self.sections[section]

    def to_dict(self) -> dict:
        """A deep copy of the sections (plain TOML-able types)."""
        return copy.deepcopy(self.sections)

    def replace(self, **changes: Mapping) -> TrainingConfig:
        """A new, validated config with some keys changed: ``cfg.replace(training={"epochs": 2})``.

        Raises
        ------
        ConfigError
            If a changed key is unknown or its value invalid.
        """
        data = self.to_dict()
        for section, values in changes.items():
            data.setdefault(section, {}).update(values)
        return config_from_dict(data, self.path)

    def to_toml(self) -> str:
        """The configuration as TOML text (reads back to an equal config)."""
        out = io.StringIO()
        out.write("# neurolearn training configuration (every default filled in)\n")
        for section, values in self.sections.items():
            scalars = {k: v for k, v in values.items() if not isinstance(v, dict)}
            tables = {k: v for k, v in values.items() if isinstance(v, dict)}
            out.write(f"\n[{section}]\n")
            for k, v in scalars.items():
                if v is not None:
                    out.write(f"{k} = {_toml_value(v)}\n")
            for k, table in tables.items():
                out.write(f"\n[{section}.{k}]\n")
                for kk, vv in table.items():
                    out.write(f"{_toml_key(kk)} = {_toml_value(vv)}\n")
        return out.getvalue()


def _toml_key(key: str) -> str:
    import re

    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else '"' + key.replace('"', '\\"') + '"'


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return (
            repr(v)
            if math.isfinite(v)
            else ("inf" if v > 0 else "-inf")
            if not math.isnan(v)
            else "nan"
        )
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def config_from_dict(data: Mapping, path: str | Path | None = None) -> TrainingConfig:
    """Validate a configuration given as nested dicts and fill in defaults.

    Parameters
    ----------
    data : mapping of section -> mapping of key -> value
        As read from a TOML file.
    path : str or Path, optional
        The file it came from, named in error messages.

    Returns
    -------
    TrainingConfig

    Raises
    ------
    ConfigError
        For an unknown section or key (with the known ones listed), a missing required key, a
        value of the wrong type, out of range or not among the allowed choices. The message
        names the file, the section and the key.
    """
    sections: dict = {}
    for section in data:
        if section not in CONFIG_SCHEMA:
            raise ConfigError(
                f"unknown section [{section}]; known sections: "
                f"{', '.join(f'[{s}]' for s in CONFIG_SCHEMA)}",
                path,
            )
        if not isinstance(data[section], Mapping):
            raise ConfigError(f"'{section}' must be a table ([{section}])", path)
    for section, keys in CONFIG_SCHEMA.items():
        given = dict(data.get(section, {}))
        for name in given:
            if name not in keys:
                raise ConfigError(
                    f"unknown key '{name}'; known keys: {', '.join(keys)}", path, section, name
                )
        values = {}
        for name, key in keys.items():
            if name not in given:
                if key.required:
                    raise ConfigError("missing required key", path, section, name)
                values[name] = copy.deepcopy(key.default)
            else:
                values[name] = _check_value(key, given[name], path, section, name)
        sections[section] = values
    cfg = TrainingConfig(sections, Path(path) if path is not None else None)
    _check_network(cfg)
    _check_device(cfg["training"]["device"], path)
    shift, dt = cfg["training"]["time_shift_ms"], cfg["data"]["dt_ms"]
    if 0 < shift < dt / 2:
        raise ConfigError(
            f"{shift:g} ms is less than half a time step (dt_ms = {dt:g}), so no "
            f"sample would move; use 0 or at least {dt:g}",
            path,
            "training",
            "time_shift_ms",
        )
    return cfg


def _check_device(device: str, path=None) -> None:
    """``training.device`` must be ``cpu``, ``cuda`` or ``cuda:N``. Whether CUDA is there is
    checked when training starts (:func:`resolve_device`), so that a run trained on a GPU
    can still be read and evaluated on a machine without one."""
    import re

    if not re.fullmatch(r"cpu|cuda(:\d+)?", device):
        raise ConfigError(
            f'{device!r} is not a device this training supports; use "cpu", "cuda" or "cuda:N"',
            path,
            "training",
            "device",
        )


def resolve_device(config: TrainingConfig):
    """The :class:`torch.device` of ``training.device``, checked against this machine.

    Parameters
    ----------
    config : TrainingConfig

    Returns
    -------
    torch.device

    Raises
    ------
    ConfigError
        If CUDA is asked for but ``torch.cuda.is_available()`` is False, or the device index
        is not below ``torch.cuda.device_count()`` (the message names the key
        ``[training] device``).
    """
    import torch

    device = config["training"]["device"]
    _check_device(device, config.path)
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"{device!r} asked for, but torch finds no CUDA device "
                f"(torch {torch.__version__}, built with CUDA "
                f'{torch.version.cuda or "none"}); use device = "cpu"',
                config.path,
                "training",
                "device",
            )
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"{device!r} asked for, but torch finds {torch.cuda.device_count()} CUDA device(s)",
                config.path,
                "training",
                "device",
            )
    return torch.device(device)


def _check_network(cfg: TrainingConfig) -> None:
    """Check the model name/file and the parameter names against the model itself."""
    from .spec import ModelError, load_model

    net = cfg["network"]
    try:
        spec = load_model(net["model"])
    except (ModelError, FileNotFoundError) as exc:
        raise ConfigError(
            f"cannot load model {net['model']!r}: {exc}", cfg.path, "network", "model"
        ) from None
    if spec.kind != "neuron":
        raise ConfigError(
            f"model {net['model']!r} is a {spec.kind} model; a neuron model is needed",
            cfg.path,
            "network",
            "model",
        )
    if net["parameters"]:
        try:
            spec.resolve_parameters(net["parameters"])
        except (ModelError, ValueError) as exc:
            raise ConfigError(str(exc), cfg.path, "network", "parameters") from None
    for name in cfg["heterogeneity"]["parameters"]:
        p = spec.parameters.get(name)
        if p is None or not p.per_neuron:
            per = [n for n, q in spec.parameters.items() if q.per_neuron]
            raise ConfigError(
                f"'{name}' is not a per-neuron parameter of model "
                f"'{spec.name}'; per-neuron parameters: {', '.join(per)}",
                cfg.path,
                "heterogeneity",
                "parameters",
            )


def load_config(path: str | Path, overrides: Mapping | None = None) -> TrainingConfig:
    """Read and validate a training configuration file.

    Parameters
    ----------
    path : str or Path
        TOML file.
    overrides : mapping of section -> mapping, optional
        Values replacing those of the file (validated the same way).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ConfigError
        If the file is not valid TOML (with the line) or a key/value is invalid.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training configuration {path} not found")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path) from None
    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update(values)
    return config_from_dict(data, path)


# ---------------------------------------------------------------------------------------------
# Reproducibility
# ---------------------------------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch's CPU generator."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - the global generator is what is seeded
    torch.manual_seed(seed)


def _rng_state() -> dict:
    import torch

    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    state = {
        "python": _py_state_to_list(random.getstate()),
        "numpy": {
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["torch_cuda"] = torch.cuda.get_rng_state_all()  # e.g. dropout masks on a GPU
    return state


def _py_state_to_list(state):
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _set_rng_state(state: Mapping) -> None:
    import torch

    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            "MT19937",
            n["keys"].numpy().astype(np.uint32),
            n["pos"],
            n["has_gauss"],
            n["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    cuda = state.get("torch_cuda")
    if cuda and torch.cuda.is_available():
        for i, s in enumerate(cuda[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(s, i)


def _to_cpu(obj):
    """``obj`` (nested dicts/lists/tuples of tensors) with every tensor on the CPU, so that a
    checkpoint written on a GPU loads anywhere."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def _model_device(model):
    import torch

    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def _epoch_generator(seed: int, epoch: int, stream: int = 0):
    """The CPU generator of epoch ``epoch``: stream 0 orders the samples, stream 1 draws the
    data augmentation (independent streams, so augmenting leaves the sample order as is)."""
    import torch

    value = int(seed) * 100_003 + int(epoch)
    if stream:
        value = (value * 2_654_435_761 + 97 * int(stream)) % (2**63 - 1)
    return torch.Generator().manual_seed(value)


# ---------------------------------------------------------------------------------------------
# Data augmentation (training only)
# ---------------------------------------------------------------------------------------------
def augment_spikes(
    x,
    generator,
    *,
    drop_probability: float = 0.0,
    max_time_shift: int = 0,
    max_channel_shift: int = 0,
    labels=None,
    blend_probability: float = 0.0,
):
    """Randomly transformed copy of a batch of input spikes (training-time augmentation).

    In this order, each only when enabled (so that disabled transformations draw no random
    numbers): every sample is shifted in time by a uniform random integer number of steps
    in ``[-max_time_shift, max_time_shift]`` and across channels by one in
    ``[-max_channel_shift, max_channel_shift]`` (zero-padded: what leaves the window is lost);
    then, with probability ``blend_probability``, a sample is blended with another sample of
    the same class in the batch (each input bin taken from one or the other with
    probability 1/2, so rates stay as they are; a sample without a partner stays as it is);
    then every input bin is deleted with probability ``drop_probability`` (spike deletion,
    the input-layer dropout of Srivastava et al. 2014, without rescaling, so that the kept
    spikes stay spikes). Random shifts across input channels and the blending of two
    samples of one class follow the augmentations Nowotny, Turner & Knight (2022) used for
    the Spiking Heidelberg Digits; on cochlear channels a channel shift is a small shift of
    every frequency.

    Parameters
    ----------
    x : Tensor ``[time, batch, channels]``
        Input spikes (0/1 or counts), any float dtype, on the CPU (the generator's device).
    generator : torch.Generator
        Source of every random draw (the training loop seeds one per epoch).
    drop_probability : float in [0, 1)
    max_time_shift, max_channel_shift : int >= 0
        In time steps and in channels.
    labels : Tensor ``[batch]`` (int), optional
        Classes of the samples (needed for blending).
    blend_probability : float in [0, 1]

    Returns
    -------
    Tensor ``[time, batch, channels]``
        A new tensor (``x`` itself when nothing is enabled).

    Raises
    ------
    ValueError
        ``x`` not 3-D, a probability outside [0, 1) (blend: [0, 1]), a negative shift, or
        blending without labels.

    References
    ----------
    Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov (2014) J. Mach. Learn. Res.
    15:1929 (dropout). Nowotny, Turner & Knight (2022), "Loss shaping enhances exact
    gradient learning with EventProp in spiking neural networks", arXiv:2212.01232
    (augmentation of SHD: random channel shifts, blending of same-class samples).
    """
    import torch

    if x.ndim != 3:
        raise ValueError(
            f"input spikes have shape {tuple(x.shape)}; expected [time, batch, channels]"
        )
    if not 0.0 <= float(drop_probability) < 1.0:
        raise ValueError(f"drop_probability must lie in [0, 1), got {drop_probability!r}")
    if int(max_time_shift) < 0 or int(max_channel_shift) < 0:
        raise ValueError(
            "shifts must be >= 0, got max_time_shift="
            f"{max_time_shift!r}, max_channel_shift={max_channel_shift!r}"
        )
    if not 0.0 <= float(blend_probability) <= 1.0:
        raise ValueError(f"blend_probability must lie in [0, 1], got {blend_probability!r}")
    if blend_probability > 0 and labels is None:
        raise ValueError("blending needs the labels of the samples")
    T, B, C = x.shape
    for axis, size, k in ((0, T, int(max_time_shift)), (2, C, int(max_channel_shift))):
        if k <= 0:
            continue
        shift = torch.randint(-k, k + 1, (B,), generator=generator)
        source = torch.arange(size)[:, None] - shift[None, :]  # [size, batch]
        valid = ((source >= 0) & (source < size)).to(x.dtype)
        source = source.clamp(0, size - 1)
        if axis == 0:
            x = torch.gather(x, 0, source[:, :, None].expand(T, B, C)) * valid[:, :, None]
        else:
            idx = source.t()[None, :, :].expand(T, B, C)  # [T, B, C]
            x = torch.gather(x, 2, idx) * valid.t()[None, :, :]
    if blend_probability > 0:
        labels = torch.as_tensor(labels).reshape(-1).cpu()
        chosen = torch.rand(B, generator=generator) < float(blend_probability)
        score = torch.rand(B, B, generator=generator)  # random partner order
        same = (labels[:, None] == labels[None, :]) & ~torch.eye(B, dtype=torch.bool)
        score = torch.where(same, score, torch.full_like(score, -1.0))
        best, partner = score.max(dim=1)
        chosen &= best >= 0  # has a partner
        take_other = torch.rand(x.shape, generator=generator) < 0.5
        take_other &= chosen[None, :, None]
        x = torch.where(take_other, x[:, partner, :], x)
    if drop_probability > 0:
        keep = torch.rand(x.shape, generator=generator) >= float(drop_probability)
        x = x * keep.to(x.dtype)
    return x


# ---------------------------------------------------------------------------------------------
# Data plumbing
# ---------------------------------------------------------------------------------------------
def _collate_time_major(batch):
    """Stack ``(x [time, channels], label)`` samples into ``x [time, batch, channels]``."""
    import torch

    xs, ys = zip(*batch)
    x = torch.stack([torch.as_tensor(v) for v in xs], dim=1)
    return x, torch.as_tensor(ys, dtype=torch.long)


def _labels_of(dataset) -> np.ndarray:
    for attr in ("labels", "targets"):
        value = getattr(dataset, attr, None)
        if value is not None:
            return np.asarray(value)
    return np.asarray([int(dataset[i][1]) for i in range(len(dataset))])


def _batch_bar(loader, desc: str, progress: bool):
    """A tqdm bar counting the batches of ``loader``, updated by the caller. The loader itself
    is never wrapped: ``tqdm.auto``'s bar calls ``iter()`` on its iterable when it is created,
    which draws the loader's base seed from the epoch generator an extra time and so changed
    the sample order, making results depend on whether bars were shown."""
    from tqdm.auto import tqdm

    return tqdm(total=len(loader), desc=desc, leave=False, unit="batch", disable=not progress)


def _loader(dataset, batch_size: int, shuffle: bool, generator=None):
    import torch

    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        collate_fn=_collate_time_major,
        num_workers=0,
    )


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------
#: Columns of ``metrics.csv`` always present (more follow: mean learned parameters).
METRIC_COLUMNS = (
    "epoch",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "lr_weights",
    "lr_tau",
)


@dataclasses.dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    model : torch.nn.Module
        The trained model (state after the last epoch).
    metrics : list of dict
        One row per epoch (the rows of ``metrics.csv``).
    resumed_from : int
        Number of epochs loaded from a checkpoint (0 for a fresh run).
    """

    model: Any
    metrics: list
    resumed_from: int = 0


def _default_loss(readout, labels):
    import torch.nn.functional as F

    return F.cross_entropy(readout.max(dim=0).values, labels)


def _default_predict(readout):
    return readout.max(dim=0).values.argmax(dim=1)


def _split_output(out):
    """Model outputs are ``readout`` or ``(readout, extra)``; extras may hold a penalty."""
    if isinstance(out, tuple):
        return out[0], (out[1] if len(out) > 1 else None)
    return out, None


def evaluate_model(
    model,
    dataset,
    batch_size: int = 128,
    loss_fn: Callable | None = None,
    predict: Callable | None = None,
    dtype=None,
    progress: bool = False,
    desc: str = "evaluate",
) -> dict:
    """Loss, accuracy and predictions of ``model`` on ``dataset`` (no gradients).

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``x [time, batch, channels]`` to a readout ``[time, batch, classes]``
        (or ``(readout, extra)``).
    dataset : torch Dataset of ``(x [time, channels], label)``
    batch_size : int
    loss_fn : callable(readout, labels) -> scalar tensor, optional
        Default: cross-entropy of the readout's maximum over time.
    predict : callable(readout) -> labels [batch], optional
        Default: arg-max over classes of the maximum over time.
    dtype : torch.dtype, optional
        Cast inputs to this type (default: the model's first parameter's). Inputs and labels
        go to the device of the model's parameters.

    Returns
    -------
    dict with ``loss`` (float), ``accuracy`` (float in [0, 1]), ``predictions`` and
    ``labels`` (int arrays, shape ``[n_samples]``).
    """
    import torch

    loss_fn = loss_fn or _default_loss
    predict = predict or _default_predict
    if dtype is None:
        params = list(model.parameters())
        dtype = params[0].dtype if params else torch.get_default_dtype()
    device = _model_device(model)
    was_training = model.training
    model.eval()
    total, n, preds, labels_all = 0.0, 0, [], []
    loader = _loader(dataset, batch_size, shuffle=False)
    bar = _batch_bar(loader, desc, progress)
    with torch.no_grad():
        for x, y in loader:
            readout, _ = _split_output(model(x.to(device=device, dtype=dtype)))
            total += float(loss_fn(readout, y.to(device))) * len(y)
            n += len(y)
            preds.append(predict(readout).cpu().numpy())
            labels_all.append(y.numpy())
            bar.update(1)
    bar.close()
    model.train(was_training)
    preds = np.concatenate(preds) if preds else np.zeros(0, int)
    labels_all = np.concatenate(labels_all) if labels_all else np.zeros(0, int)
    return {
        "loss": total / max(n, 1),
        "accuracy": float(np.mean(preds == labels_all)) if n else float("nan"),
        "predictions": preds,
        "labels": labels_all,
    }


def _make_optimizer(
    model,
    name: str,
    lr_weights: float,
    lr_tau: float,
    weight_decay: float,
    tau_parameters: Iterable | None,
):
    import torch

    tau_ids = {id(p) for p in (tau_parameters or [])}
    weights = [p for p in model.parameters() if p.requires_grad and id(p) not in tau_ids]
    taus = [p for p in model.parameters() if p.requires_grad and id(p) in tau_ids]
    groups = [
        {"params": weights, "lr": lr_weights, "weight_decay": weight_decay, "name": "weights"}
    ]
    if taus:
        groups.append({"params": taus, "lr": lr_tau, "weight_decay": 0.0, "name": "tau"})
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[name]
    return cls(groups)


def _schedule_factor(schedule: str, epoch: int, epochs: int) -> float:
    """Learning-rate factor of epoch ``epoch`` (0-based): constant, or cosine annealing
    (Loshchilov & Hutter 2017, without restarts) down to 5 % of the initial rate."""
    if schedule == "constant" or epochs <= 1:
        return 1.0
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * epoch / (epochs - 1)))


def _atomic_torch_save(obj, path: Path) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _write_metrics(path: Path, rows: list) -> None:
    columns = list(METRIC_COLUMNS)
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: (repr(float(v)) if isinstance(v, float) else v) for k, v in row.items()}
        )
    atomic_write_text(path, out.getvalue())


def read_metrics(path: str | Path) -> list[dict]:
    """Rows of a ``metrics.csv`` as dicts of floats (``epoch`` as int)."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for row in rows:
        out.append(
            {
                k: (int(v) if k == "epoch" else (float(v) if v not in ("", None) else float("nan")))
                for k, v in row.items()
            }
        )
    return out


def fit(
    model,
    train_set,
    val_set,
    out_dir: str | Path,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    lr_weights: float = 2e-3,
    lr_tau: float = 2e-2,
    tau_parameters: Iterable | None = None,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    schedule: str = "constant",
    grad_clip: float | None = None,
    loss_fn: Callable | None = None,
    predict: Callable | None = None,
    epoch_stats: Callable | None = None,
    penalty: Callable | None = None,
    resume: bool = False,
    progress: bool = True,
    after_batch: Callable | None = None,
    device=None,
    augment: Callable | None = None,
) -> FitResult:
    """Train ``model`` with backpropagation through time, validating and checkpointing after
    every epoch.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``x [time, batch, channels]`` to a readout ``[time, batch, classes]``, or to
        ``(readout, extra)`` where ``extra`` is a dict that may hold ``"penalty"`` (a scalar
        tensor added to the loss, e.g. a firing-rate regulariser).
    train_set, val_set : torch Dataset of ``(x [time, channels], label)``
        ``val_set`` may be None (no validation columns then hold NaN).
    out_dir : str or Path
        Receives ``checkpoint.pt`` and ``metrics.csv`` (see the module docstring).
    epochs, batch_size, seed : int
    lr_weights, lr_tau : float
        Learning rates of the weights and of ``tau_parameters``.
    tau_parameters : iterable of torch.nn.Parameter, optional
        Parameters in the second optimiser group (trained time constants).
    optimizer : {"adam", "adamw", "sgd"}
    weight_decay : float
    schedule : {"constant", "cosine"}
        Learning-rate schedule over epochs.
    grad_clip : float, optional
        Clip the global gradient norm.
    loss_fn, predict : callables on ``(readout, labels)`` / ``readout``
        Default: cross-entropy on the maximum over time, arg-max of it.
    epoch_stats : callable(model) -> dict of str -> float, optional
        Extra columns of ``metrics.csv`` (e.g. mean learned tau in ms).
    penalty : callable(model) -> scalar tensor, optional
        Added to the loss after each forward pass (e.g. a firing-rate regulariser reading
        the spikes the model kept).
    resume : bool
        Continue from ``out_dir/checkpoint.pt`` when it exists (same arguments required);
        without it an existing checkpoint is an error, so nothing is overwritten by mistake.
    progress : bool
        Show tqdm progress bars.
    after_batch : callable(epoch, batch_index), optional
        Called after each optimiser step (tests use it to interrupt a run).
    device : str or torch.device, optional
        Move ``model`` there first (e.g. ``"cuda"``); batches, labels and losses follow the
        device of the model's parameters. Checkpoints hold CPU tensors whatever the device,
        and a run may be resumed on another device.
    augment : callable(x, labels, generator) -> x, optional
        Training-time transformation of each training batch ``x [time, batch, channels]``
        with its labels ``[batch]`` (on the CPU, before they move to the device), e.g.
        :func:`augment_spikes`; its random
        draws must come from ``generator``, a CPU generator seeded per epoch from ``seed``
        (so runs repeat and resume exactly). Validation data are never augmented.

    Returns
    -------
    FitResult

    Raises
    ------
    FileExistsError
        If ``out_dir`` holds a checkpoint and ``resume`` is False.
    ValueError
        If the checkpoint was written by a run with other settings, or the loss is NaN.
    """
    import torch

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / "checkpoint.pt"
    metrics_path = out_dir / "metrics.csv"
    loss_fn = loss_fn or _default_loss
    predict = predict or _default_predict
    tau_parameters = list(tau_parameters or [])
    if device is not None:
        model.to(device)
    device = _model_device(model)
    dtype = next(iter(model.parameters())).dtype
    settings = {
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "lr_weights": lr_weights,
        "lr_tau": lr_tau,
        "optimizer": optimizer,
        "weight_decay": weight_decay,
        "schedule": schedule,
        "n_train": len(train_set),
    }

    seed_everything(seed)
    opt = _make_optimizer(model, optimizer, lr_weights, lr_tau, weight_decay, tau_parameters)
    base_lrs = [g["lr"] for g in opt.param_groups]
    metrics: list = []
    start = 0
    if ckpt_path.exists():
        if not resume:
            raise FileExistsError(
                f"{out_dir} already holds a training run (checkpoint.pt); "
                "pass resume=True (--resume on the command line) to continue it "
                "or choose another folder"
            )
        state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        if state["settings"] != settings:
            diff = {
                k: (state["settings"].get(k), v)
                for k, v in settings.items()
                if state["settings"].get(k) != v
            }
            raise ValueError(
                f"{ckpt_path} was written with other settings "
                f"(checkpoint vs now: {diff}); use a new output folder"
            )
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        metrics = [dict(r) for r in state["metrics"]]
        start = int(state["epoch"])
        _set_rng_state(state["rng"])
        log.info("resumed %s after epoch %d", out_dir, start)
    _write_metrics(metrics_path, metrics)

    epoch_bar = None
    if progress:
        from tqdm.auto import tqdm

        epoch_bar = tqdm(total=epochs, initial=start, desc=f"train {out_dir.name}", unit="epoch")
    for epoch in range(start, epochs):
        factor = _schedule_factor(schedule, epoch, epochs)
        for group, base in zip(opt.param_groups, base_lrs):
            group["lr"] = base * factor
        model.train()
        loader = _loader(
            train_set, batch_size, shuffle=True, generator=_epoch_generator(seed, epoch)
        )
        bar = _batch_bar(loader, f"epoch {epoch + 1}/{epochs}", progress)
        total_loss, correct, n = 0.0, 0, 0
        aug_gen = _epoch_generator(seed, epoch, stream=1) if augment is not None else None
        for b, (x, y) in enumerate(loader):
            opt.zero_grad(set_to_none=True)
            if augment is not None:
                x = augment(x, y, aug_gen)
            x, y = x.to(device=device, dtype=dtype), y.to(device)
            readout, extra = _split_output(model(x))
            loss = loss_fn(readout, y)
            if extra and extra.get("penalty") is not None:
                loss = loss + extra["penalty"]
            if penalty is not None:
                loss = loss + penalty(model)
            if not torch.isfinite(loss):
                raise ValueError(
                    f"loss is {float(loss)} in epoch {epoch + 1}, batch {b}; "
                    "lower the learning rates or check the input"
                )
            loss.backward()
            if grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            opt.step()
            if hasattr(model, "project_parameters_"):
                model.project_parameters_()  # keep trained tau inside their valid range
            with torch.no_grad():
                total_loss += float(loss) * len(y)
                correct += int((predict(readout) == y).sum())
                n += len(y)
            if after_batch is not None:
                after_batch(epoch, b)
            bar.update(1)
        bar.close()
        row = {"epoch": epoch + 1, "train_loss": total_loss / n, "train_accuracy": correct / n}
        if val_set is not None and len(val_set):
            val = evaluate_model(
                model,
                val_set,
                batch_size=max(batch_size, 128),
                loss_fn=loss_fn,
                predict=predict,
                dtype=dtype,
            )
            row.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
        else:
            row.update(val_loss=float("nan"), val_accuracy=float("nan"))
        row["lr_weights"] = opt.param_groups[0]["lr"]
        row["lr_tau"] = opt.param_groups[1]["lr"] if len(opt.param_groups) > 1 else float("nan")
        if epoch_stats is not None:
            with torch.no_grad():
                row.update({k: float(v) for k, v in epoch_stats(model).items()})
        metrics.append(row)
        state = {
            "epoch": epoch + 1,
            "model": _to_cpu(model.state_dict()),
            "optimizer": _to_cpu(opt.state_dict()),
            "rng": _rng_state(),
            "metrics": metrics,
            "settings": settings,
        }
        _atomic_torch_save(state, ckpt_path)  # the checkpoint first: metrics follow it
        _write_metrics(metrics_path, metrics)
        if epoch_bar is not None:
            epoch_bar.update(1)
            epoch_bar.set_postfix(
                loss=f"{row['train_loss']:.3f}", val_acc=f"{row['val_accuracy']:.3f}"
            )
    if epoch_bar is not None:
        epoch_bar.close()
    return FitResult(model=model, metrics=metrics, resumed_from=start)


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------
_UNIT_SUFFIX = {
    "second": ("ms", 1e3),
    "volt": ("mV", 1e3),
    "ohm": ("Mohm", 1e-6),
    "amp": ("nA", 1e9),
    "siemens": ("nS", 1e9),
    "farad": ("pF", 1e12),
    "hertz": ("Hz", 1.0),
}


def write_parameters_csv(path: str | Path, layers: Sequence[tuple[str, Mapping[str, Any]]]) -> Path:
    """Write per-neuron parameters, one row per neuron, with units as column suffixes.

    Parameters
    ----------
    path : str or Path
        Destination (written atomically).
    layers : sequence of (layer name, mapping of parameter name -> values)
        Values are Brian2 quantities (scalar or one per neuron) or plain floats/arrays
        (dimensionless). Time constants become ``<name>_ms``, voltages ``<name>_mV``,
        resistances ``<name>_Mohm``, currents ``<name>_nA``...

    Returns
    -------
    Path

    Notes
    -----
    The columns are ``layer``, ``neuron`` and one per parameter; ``tau_m_ms`` is present for
    every model with a membrane time constant. :mod:`neurolearn.analysis` reads this file to
    compare learned time constants with the Allen Cell Types Database.
    """
    import pandas as pd

    frames = []
    for layer, params in layers:
        columns = {}
        n = max((np.size(v) for v in params.values()), default=0)
        for name, value in params.items():
            col, arr = _with_unit(name, value)
            arr = np.broadcast_to(
                np.asarray(arr, dtype=float).reshape(-1)
                if np.size(arr) > 1
                else np.asarray(arr, dtype=float).reshape(()),
                (n,),
            )
            columns[col] = arr
        frame = pd.DataFrame(columns)
        frame.insert(0, "neuron", np.arange(n))
        frame.insert(0, "layer", layer)
        frames.append(frame)
    table = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["layer", "neuron"])
    )
    atomic_write_text(path, table.to_csv(index=False, float_format="%.9g"))
    return Path(path)


def _with_unit(name: str, value):
    try:
        from brian2.units.fundamentalunits import Quantity, get_unit
    except ImportError:  # pragma: no cover
        return name, value
    if isinstance(value, Quantity) and not value.is_dimensionless:
        unit = repr(get_unit(value.dim))
        if unit in _UNIT_SUFFIX:
            suffix, factor = _UNIT_SUFFIX[unit]
            return f"{name}_{suffix}", np.asarray(value) * factor
        return f"{name}_{unit}", np.asarray(value)
    return name, np.asarray(value, dtype=float)


def plot_learning_curves(metrics: Sequence[Mapping], stem: str | Path, title: str = "") -> list:
    """Loss and accuracy per epoch (training and validation), saved with
    :func:`neurolearn.figures.save_figure`.

    Parameters
    ----------
    metrics : sequence of dict
        Rows of ``metrics.csv``.
    stem : str or Path
        Output path without suffix.

    Returns
    -------
    list of Path
    """
    from .figures import new_figure, save_figure

    epochs = [r["epoch"] for r in metrics]
    fig, (ax_loss, ax_acc) = new_figure(1, 2)
    ax_loss.plot(epochs, [r["train_loss"] for r in metrics], label="training")
    ax_loss.plot(epochs, [r["val_loss"] for r in metrics], label="validation")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy loss")
    ax_loss.legend()
    ax_acc.plot(epochs, [100 * r["train_accuracy"] for r in metrics], label="training")
    ax_acc.plot(epochs, [100 * r["val_accuracy"] for r in metrics], label="validation")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy (%)")
    if title:
        fig.suptitle(title)
    return save_figure(fig, stem)


# ---------------------------------------------------------------------------------------------
# Config -> data and network (glue to neurolearn.datasets and neurolearn.torch)
# ---------------------------------------------------------------------------------------------
def load_data(config: TrainingConfig, seed: int | None = None):
    """The training, validation and test sets of a configuration.

    Parameters
    ----------
    config : TrainingConfig
    seed : int, optional
        Seed of the validation split and of ``max_*_samples`` (default ``training.seed``).

    Returns
    -------
    (train, valid, test) : :class:`neurolearn.datasets.SpikeDataset`
        ``valid`` is None when ``validation_fraction`` is 0.
    """
    from .datasets import load_dataset

    d = config["data"]
    seed = config["training"]["seed"] if seed is None else seed
    common = dict(
        dt_ms=d["dt_ms"], duration_ms=d["duration_ms"], binary=d["binary"], **(d["options"] or {})
    )
    frac = d["validation_fraction"] or None
    train = load_dataset(
        d["dataset"],
        "train",
        valid_fraction=frac,
        seed=seed,
        max_samples=d["max_train_samples"],
        **common,
    )
    valid = None
    if frac:
        n_valid = None
        if d["max_train_samples"]:
            n_valid = max(1, int(round(d["max_train_samples"] * frac / (1 - frac))))
        valid = load_dataset(
            d["dataset"], "valid", valid_fraction=frac, seed=seed, max_samples=n_valid, **common
        )
    return train, valid, load_test_set(config, seed)


def load_test_set(config: TrainingConfig, seed: int | None = None):
    """The test set of a configuration (see :func:`load_data`)."""
    from .datasets import load_dataset

    d = config["data"]
    seed = config["training"]["seed"] if seed is None else seed
    return load_dataset(
        d["dataset"],
        "test",
        seed=seed,
        max_samples=d["max_test_samples"],
        dt_ms=d["dt_ms"],
        duration_ms=d["duration_ms"],
        binary=d["binary"],
        **(d["options"] or {}),
    )


class _Dense:
    """A dataset held as one dense tensor (binning once instead of every epoch)."""

    def __init__(self, dataset):
        x, y = dataset.dense()
        self.x = x.transpose(0, 1).contiguous()  # [n, time, channels]
        self.labels = np.asarray(y)
        self._y = [int(v) for v in self.labels]

    def __len__(self):
        return len(self._y)

    def __getitem__(self, i):
        return self.x[i], self._y[i]


def _maybe_dense(dataset, limit_bytes: float = 1.5e9):
    n = len(dataset)
    steps, channels = dataset.shape if hasattr(dataset, "shape") else (0, 0)
    if n and steps and 4.0 * n * steps * channels <= limit_bytes:
        return _Dense(dataset)
    return dataset


_REDUCTION = {"max_over_time": "max", "mean_over_time": "mean", "last": "last"}


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
    import torch

    from .torch import SpikingNetwork, get_surrogate

    net, het, sur = config["network"], config["heterogeneity"], config["surrogate"]
    dtype = torch.float64 if net["dtype"] == "float64" else torch.float32
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
    import torch

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
    from brian2 import Quantity

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


def _tau_stats(net) -> dict:
    """Mean and coefficient of variation of hidden tau_m / tau_syn in ms (metrics columns)."""
    stats = {}
    for layer in net.layers:
        for name in ("tau_m", "tau_syn"):
            if name in layer.param_units:
                v = np.asarray(layer.parameter_si(name), dtype=float).reshape(-1) * 1e3
                stats[f"{layer.name}_{name}_mean_ms"] = float(v.mean())
                stats[f"{layer.name}_{name}_cv"] = float(v.std() / v.mean()) if v.size > 1 else 0.0
    return stats


def readout_loss_fn(config: TrainingConfig) -> Callable:
    """``loss(readout [T,B,K], labels [B])`` of a configuration (cross-entropy on the reduced
    readout, :func:`neurolearn.torch.readout_loss`)."""
    from .torch import readout_loss

    reduction = _REDUCTION[config["loss"]["name"]]
    scale = config["loss"]["logit_scale"]
    return lambda readout, labels: readout_loss(readout, labels, reduction, logit_scale=scale)


def prediction_fn(config: TrainingConfig) -> Callable:
    """``predict(readout [T,B,K]) -> labels [B]``: arg-max of the reduced readout."""
    from .torch import reduce_readout

    reduction = _REDUCTION[config["loss"]["name"]]
    return lambda readout: reduce_readout(readout, reduction).argmax(dim=1)


def _penalty_fn(config: TrainingConfig):
    loss = config["loss"]
    if loss["rate_upper_hz"] is None and loss["rate_lower_hz"] is None:
        return None
    from .torch import rate_regulariser

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


def _augment_fn(config: TrainingConfig):
    """The configuration's training-time augmentation (:func:`augment_spikes`), or None."""
    tr = config["training"]
    steps = int(round(tr["time_shift_ms"] / config["data"]["dt_ms"]))
    if not (tr["input_dropout"] or steps or tr["channel_shift"] or tr["blend"]):
        return None

    def augment(x, labels, generator):
        return augment_spikes(
            x,
            generator,
            drop_probability=tr["input_dropout"],
            max_time_shift=steps,
            max_channel_shift=tr["channel_shift"],
            labels=labels,
            blend_probability=tr["blend"],
        )

    return augment


def train_from_config(
    config: TrainingConfig | str | Path,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
) -> dict:
    """Run the training described by a configuration; see the module docstring for what
    ``out_dir`` receives.

    Parameters
    ----------
    config : TrainingConfig or path of a TOML file
    out_dir : str or Path
    resume : bool
        Continue an interrupted run in ``out_dir`` (a finished run is left as it is and its
        summary returned).
    progress : bool

    Returns
    -------
    dict
        The content of ``summary.json``: ``test_accuracy``, ``val_accuracy``, ``epochs``,
        ``train_time_s``, ``n_train``, ``n_val``, ``n_test``.

    Raises
    ------
    ConfigError
        For an invalid configuration, or ``out_dir`` holding a run of another configuration.
    FileExistsError
        If ``out_dir`` holds another run and ``resume`` is False.
    """
    import json

    import torch

    from . import bridge

    if not isinstance(config, TrainingConfig):
        config = load_config(config)
    device = resolve_device(config)  # before anything is written
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config_path = out_dir / "config.toml"
    if config_path.exists():
        previous = load_config(config_path)
        if previous.sections != config.sections:
            if not resume:
                raise FileExistsError(
                    f"{out_dir} already holds a training run; pass --resume "
                    "(resume=True in Python) to continue it or choose "
                    "another folder"
                )
            raise ConfigError(
                f"{out_dir} holds a run of another configuration "
                f"({config_path}); use a new output folder",
                config.path,
            )
        summary_path = out_dir / "summary.json"
        if resume and summary_path.exists():
            return json.loads(summary_path.read_text())
        if not resume:
            raise FileExistsError(
                f"{out_dir} already holds a training run; pass --resume "
                "(resume=True in Python) to continue it or choose another "
                "folder"
            )
    atomic_write_text(config_path, config.to_toml())

    t0 = time.time()
    tr = config["training"]
    if tr["threads"]:
        torch.set_num_threads(tr["threads"])
    seed_everything(tr["seed"])
    train, valid, test = load_data(config)
    n_in, n_classes = train.n_channels, train.n_classes
    seed_everything(tr["seed"])
    net = build_network(config, n_in, n_classes)
    train_d, valid_d, test_d = (
        _maybe_dense(train),
        valid and _maybe_dense(valid),
        _maybe_dense(test),
    )
    opt = config["optimizer"]
    result = fit(
        net,
        train_d,
        valid_d,
        out_dir,
        epochs=tr["epochs"],
        batch_size=tr["batch_size"],
        seed=tr["seed"],
        lr_weights=opt["lr_weights"],
        lr_tau=opt["lr_tau"],
        tau_parameters=net.time_constant_parameters(),
        optimizer=opt["name"],
        weight_decay=opt["weight_decay"],
        schedule=opt["schedule"],
        grad_clip=opt["grad_clip"],
        loss_fn=readout_loss_fn(config),
        predict=prediction_fn(config),
        epoch_stats=_tau_stats,
        penalty=_penalty_fn(config),
        resume=resume,
        progress=progress,
        device=device,
        augment=_augment_fn(config),
    )
    test_eval = evaluate_model(
        result.model,
        test_d,
        batch_size=max(tr["batch_size"], 128),
        loss_fn=readout_loss_fn(config),
        predict=prediction_fn(config),
    )
    result.model.to("cpu")  # the outputs are device-independent
    bridge.save_network(result.model, out_dir / "network.h5")
    write_parameters_csv(out_dir / "parameters.csv", network_parameters(result.model))
    plot_learning_curves(
        result.metrics,
        out_dir / "learning_curves",
        title=f"{config['data']['dataset']}, {config['heterogeneity']['configuration']}",
    )
    last = result.metrics[-1]
    summary = {
        "test_accuracy": test_eval["accuracy"],
        "test_loss": test_eval["loss"],
        "val_accuracy": last["val_accuracy"],
        "train_accuracy": last["train_accuracy"],
        "epochs": len(result.metrics),
        "train_time_s": time.time() - t0,
        "n_train": len(train),
        "n_val": len(valid) if valid is not None else 0,
        "n_test": len(test),
        "n_inputs": n_in,
        "n_classes": n_classes,
        "resumed_from_epoch": result.resumed_from,
    }
    atomic_write_json(out_dir / "summary.json", summary)
    return summary

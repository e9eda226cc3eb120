"""The training configuration: its schema (:data:`CONFIG_SCHEMA`: every section and key with
type, default, allowed values and meaning), validation with errors that name the file, section
and key, and TOML reading and writing (:class:`TrainingConfig`)."""

from __future__ import annotations

import copy
import dataclasses
import io
import math
import re
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

import torch

from ..datasets import DATASETS
from ..spec import ModelError, load_model
from ..torch import DISTRIBUTIONS, PEREZ_NIEVES_CONFIGS, READOUT_REDUCTIONS, SURROGATES
from .optim import OPTIMIZERS, SCHEDULES

__all__ = [
    "ConfigError",
    "CONFIG_SCHEMA",
    "DTYPES",
    "READOUT_NAMES",
    "TrainingConfig",
    "load_config",
    "config_from_dict",
    "resolve_device",
    "default_config",
    "describe_key",
]

#: ``[loss] name`` -> the readout reduction of :data:`neurolearn.torch.READOUT_REDUCTIONS` it
#: names: a reduction over time is called ``<reduction>_over_time``, the last step ``last``.
READOUT_NAMES: dict[str, str] = {
    (r if r == "last" else f"{r}_over_time"): r for r in READOUT_REDUCTIONS
}

#: ``[network] dtype`` -> floating-point type of training.
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


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


@dataclasses.dataclass(frozen=True)
class _Key:
    """One key of :data:`CONFIG_SCHEMA`: its type, default, meaning and allowed values
    (``choices``, or a range from ``low`` to ``high``, each bound inclusive unless
    ``low_open``/``high_open``)."""

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
            "distribution of heterogeneous initial values",
            choices=tuple(d for d in DISTRIBUTIONS if d != "constant"),
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

    def to_toml(self, comments: bool = False) -> str:
        """The configuration as TOML text (reads back to an equal config).

        Parameters
        ----------
        comments : bool
            Precede every key by its meaning, type, allowed values and default from
            :data:`CONFIG_SCHEMA` (:func:`describe_key`); unset optional keys appear as
            commented-out lines.

        Returns
        -------
        str
        """
        out = io.StringIO()
        out.write("# neurolearn training configuration (every default filled in)\n")
        for section, values in self.sections.items():
            scalars = {k: v for k, v in values.items() if not isinstance(v, dict)}
            tables = {k: v for k, v in values.items() if isinstance(v, dict)}
            out.write(f"\n[{section}]\n")
            for k, v in scalars.items():
                if comments:
                    out.write(_comment(describe_key(section, k)))
                if v is not None:
                    out.write(f"{k} = {_toml_value(v)}\n")
                elif comments:
                    out.write(f"# {k} =\n")
            for k, table in tables.items():
                if comments:
                    out.write("\n" + _comment(describe_key(section, k)))
                out.write(f"{'' if comments else chr(10)}[{section}.{k}]\n")
                for kk, vv in table.items():
                    out.write(f"{_toml_key(kk)} = {_toml_value(vv)}\n")
        return out.getvalue()


def _comment(text: str, width: int = 99) -> str:
    return "".join(f"# {line}\n" for line in textwrap.wrap(text, width - 2))


def describe_key(section: str, name: str) -> str:
    """One key of :data:`CONFIG_SCHEMA` in words: meaning, type, allowed values, default.

    Parameters
    ----------
    section, name : str
        ``[section] name`` of the key.

    Returns
    -------
    str
        E.g. ``"time step of the binned input and of the network, ms (a number > 0; default
        10.0)"``.

    Raises
    ------
    KeyError
        For a section or key the schema does not have.
    """
    key = CONFIG_SCHEMA[section][name]
    facts = [_TYPE_NAMES[key.kind]]
    if key.choices is not None:
        facts[0] += ": " + " | ".join(map(str, key.choices))
    bounds = []
    if key.low is not None:
        bounds.append(f"{'>' if key.low_open else '>='} {key.low:g}")
    if key.high is not None:
        bounds.append(f"{'<' if key.high_open else '<='} {key.high:g}")
    if bounds:
        facts[0] += " " + " and ".join(bounds)
    if key.required:
        facts.append("required")
    elif key.default is None:
        facts.append("optional, unset by default")
    else:
        facts.append(f"default {_toml_value(key.default)}")
    return f"{key.help} ({'; '.join(facts)})"


def default_config(dataset: str = "fsdd") -> TrainingConfig:
    """The complete default configuration for ``dataset`` (every key of the schema).

    Parameters
    ----------
    dataset : str
        ``[data] dataset``, the one required key (a name of :data:`neurolearn.datasets.DATASETS`).

    Returns
    -------
    TrainingConfig

    Raises
    ------
    ConfigError
        For an unknown dataset.
    """
    return config_from_dict({"data": {"dataset": dataset}})


def _toml_key(key: str) -> str:
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

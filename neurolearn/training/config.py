"""The training configuration: validation against the schema (:data:`CONFIG_SCHEMA`, in
:mod:`neurolearn.training.schema`: every section and key with type, default, allowed values
and meaning) with errors that name the file, section and key, presets, and TOML reading and
writing (:class:`TrainingConfig`)."""

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

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

import torch

from ..spec import ModelError, load_model, with_reset_rule
from .presets import apply_preset
from .schema import _TYPE_NAMES, CONFIG_SCHEMA, DTYPES, READOUT_NAMES, _Key

__all__ = [
    "ConfigError",
    "CONFIG_SCHEMA",
    "DTYPES",
    "READOUT_NAMES",
    "TrainingConfig",
    "load_config",
    "config_from_dict",
    "resolve_relative_paths",
    "resolve_device",
    "default_config",
    "describe_key",
]


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
            number = isinstance(item, (int, float)) and not isinstance(item, bool)
            ok = {
                "int": number and isinstance(item, int),
                "float": number and math.isfinite(float(item)),
                "str": isinstance(item, str),
            }[inner]
            if not ok:
                fail(f"expected a list of {inner}s, got item {item!r}")
        value = [float(v) for v in value] if inner == "float" else list(value)
    elif kind == "table":
        if not isinstance(value, dict):
            fail(f"expected a table, got {value!r}")
        return dict(value)
    if key.choices is not None and value not in key.choices:
        fail(f"{value!r} is not one of: {', '.join(map(str, key.choices))}")
    numbers = value if isinstance(value, list) else [value]
    if kind in ("int", "float", "list[int]", "list[float]"):
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


def config_from_dict(
    data: Mapping, path: str | Path | None = None, *, check_model: bool = True
) -> TrainingConfig:
    """Validate a configuration given as nested dicts and fill in defaults.

    Parameters
    ----------
    data : mapping of section -> mapping of key -> value
        As read from a TOML file.
    path : str or Path, optional
        The file it came from, named in error messages (relative paths in ``data`` are
        taken as they are: :func:`load_config` makes them absolute first).
    check_model : bool
        Load the model and check the parameter names against it.

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
    if check_model:
        _check_network(cfg)
    _check_split(cfg["data"], path)
    het = cfg["heterogeneity"]
    if None not in (het["decay_min"], het["decay_max"]) and het["decay_min"] > het["decay_max"]:
        raise ConfigError(
            f"decay_min {het['decay_min']:g} > decay_max {het['decay_max']:g}",
            path,
            "heterogeneity",
            "decay_min",
        )
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


def _check_split(data: dict, path=None) -> None:
    """Speakers are named with ``split = "speaker"`` only, and then at least one tests."""
    speaker = data["split"] == "speaker"
    if speaker and not data["test_speakers"]:
        raise ConfigError(
            'split = "speaker" needs test_speakers (e.g. ["yweweler"])',
            path,
            "data",
            "test_speakers",
        )
    for key in ("test_speakers", "validation_speakers"):
        if not speaker and data[key]:
            raise ConfigError(f'{key} is used with split = "speaker" only', path, "data", key)


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
    if net["recurrent_delays"] != "none" and not net["recurrent"]:
        raise ConfigError(
            "recurrent delays need recurrent = true", cfg.path, "network", "recurrent_delays"
        )
    delays = net["delays"] != "none" or net["recurrent_delays"] != "none"
    if delays and net["max_delay_ms"] < cfg["data"]["dt_ms"] / 2:
        raise ConfigError(
            f"{net['max_delay_ms']:g} ms is less than half a time step (dt_ms = "
            f"{cfg['data']['dt_ms']:g}): no delay to learn",
            cfg.path,
            "network",
            "max_delay_ms",
        )
    if net["parameters"]:
        try:
            spec.resolve_parameters(net["parameters"])
        except (ModelError, ValueError) as exc:
            raise ConfigError(str(exc), cfg.path, "network", "parameters") from None
    try:
        with_reset_rule(spec, net["reset"])
    except ModelError as exc:
        raise ConfigError(str(exc), cfg.path, "network", "reset") from None
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


def load_config(
    path: str | Path,
    overrides: Mapping | None = None,
    preset: str | None = None,
    *,
    check_model: bool = True,
) -> TrainingConfig:
    """Read and validate a training configuration file.

    Relative paths in it (``[network] model`` when it names a file, and ``[data.options]``
    values whose key is ``path`` or ends in ``_path``, ``_dir`` or ``_file``) are relative to
    the folder of the file, whatever the working directory; ``~`` is expanded. They are stored
    as absolute paths in the returned configuration.

    Parameters
    ----------
    path : str or Path
        TOML file.
    overrides : mapping of section -> mapping, optional
        Values replacing those of the file (validated the same way).
    preset : str, optional
        A preset of :data:`neurolearn.training.presets.PRESETS` (``"perez-nieves"``) under
        the file: the file's keys replace the preset's, ``overrides`` replace both.
    check_model : bool
        Load the model file and check the parameter names against it (False: e.g. for
        evaluating a run whose network file holds the model).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ConfigError
        If the file is empty, not valid TOML (with the line), a key/value is invalid, or the
        preset is unknown.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training configuration {path} not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not a text file (TOML expected): {exc}", path) from None
    if not text.strip():
        raise ConfigError("the file is empty; a training configuration needs [data] dataset", path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path) from None
    try:
        data = apply_preset(data, preset)
    except ValueError as exc:
        raise ConfigError(str(exc), path) from None
    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update(values)
    resolve_relative_paths(data, path.parent)
    return config_from_dict(data, path, check_model=check_model)


#: ``[data.options]`` keys holding a path: ``path`` and names ending in one of these.
_PATH_SUFFIXES = ("_path", "_dir", "_file")


def _is_model_path(text: str) -> bool:
    """True if ``[network] model`` names a file rather than a zoo model (as
    :func:`neurolearn.spec.load_model` decides)."""
    return text.endswith(".toml") or "/" in text or "\\" in text


def _absolute(text: str, base: Path) -> str:
    p = Path(text).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def resolve_relative_paths(data: dict, base: str | Path) -> dict:
    """Make the paths of a configuration read from a file absolute, relative to ``base``
    (the folder of the file): ``[network] model`` when it names a file and the
    ``[data.options]`` keys ``path``, ``*_path``, ``*_dir``, ``*_file``. Changes ``data``
    in place and returns it; values of other types are left for validation."""
    base = Path(base)
    net = data.get("network")
    if isinstance(net, dict) and isinstance(net.get("model"), str) and _is_model_path(net["model"]):
        net["model"] = _absolute(net["model"], base)
    d = data.get("data")
    options = d.get("options") if isinstance(d, dict) else None
    if isinstance(options, dict):
        for key, value in options.items():
            if isinstance(value, str) and (key == "path" or key.endswith(_PATH_SUFFIXES)):
                options[key] = _absolute(value, base)
    return data

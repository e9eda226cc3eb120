"""The command line explains itself (issue 16): version, one model in full, the commented
default training configuration, the example configs as the current defaults, help texts in
plain text, and the fit config keys in ``neurolearn fit --help``."""

import argparse
import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

pytest.importorskip("torch", reason="needs torch: pip install 'neurolearn[torch]'")

import neurolearn  # noqa: E402
from neurolearn.cli import build_parser, main
from neurolearn.training import CONFIG_SCHEMA, config_from_dict, default_config, load_config

pytestmark = pytest.mark.torch

ROOT = Path(__file__).resolve().parents[1]


def _out(capsys, argv):
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip().startswith(f"neurolearn {neurolearn.__version__} ")


def test_models_name_prints_equations_parameters_roles_and_source(capsys):
    status, out, _ = _out(capsys, ["models", "lif"])
    assert status == 0
    spec = neurolearn.load_model("lif")
    assert f"source: {spec.reference}" in out
    assert "dv/dt = (v_rest - v + R_m*(I_syn + I_ext))/tau_m : volt (unless refractory)" in out
    assert "threshold: v > v_th" in out
    # value with unit, range with units, per-neuron flag and description on one line
    row = next(line for line in out.splitlines() if line.strip().startswith("tau_m "))
    assert re.search(r"tau_m\s+20 ms\s+\[100 us, 10 s\]\s+yes\s+membrane time constant", row)
    assert "time_constants = tau_m, tau_syn" in out
    assert "synaptic_targets = I_syn" in out
    assert "threshold_variable = v" in out


def test_models_name_of_a_file_and_unknown_name(capsys, tmp_path):
    path = neurolearn.load_model("alif").path
    status, out, _ = _out(capsys, ["models", str(path)])
    assert status == 0 and out.startswith("alif (neuron): ")
    status, _, err = _out(capsys, ["models", "no_such_model"])
    assert status == 2 and "no_such_model" in err


def test_config_train_prints_every_key_with_comments_and_reads_back(capsys):
    status, out, _ = _out(capsys, ["config", "train"])
    assert status == 0
    assert config_from_dict(tomllib.loads(out)).sections == default_config().sections
    for section, keys in CONFIG_SCHEMA.items():
        for name, key in keys.items():
            if key.kind == "table":
                assert f"[{section}.{name}]" in out
            elif key.default is None and not key.required:
                assert f"# {name} =\n" in out  # unset optional keys, commented out
            else:
                assert re.search(rf"^{name} = ", out, re.M), (section, name)
    # the comment before a key gives its meaning and range
    assert (
        "# time step of the binned input and of the network, ms (a number > 0; default 10.0)\ndt_ms = 10.0"
        in out
    )
    status, printed, _ = _out(capsys, ["train", "--print-config"])
    assert status == 0 and printed == out


def test_example_configs_are_the_current_defaults(capsys):
    # configs/train_defaults.toml is exactly what `neurolearn config train` prints now
    main(["config", "train"])
    assert (ROOT / "configs" / "train_defaults.toml").read_text() == capsys.readouterr().out
    # every example config loads with the current schema (unknown or invalid keys fail)
    for path in sorted((ROOT / "configs").glob("*.toml")):
        load_config(path)


def _parsers(parser, name="neurolearn"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


def test_help_texts_have_no_rest_markup():
    markup = re.compile(r"``|:(?:mod|func|class|data|meth|attr|obj):`|::\s*$", re.M)
    seen = 0
    for name, parser in _parsers(build_parser()):
        seen += 1
        found = markup.findall(parser.format_help())
        assert not found, f"{name} --help shows reST markup: {found}"
    assert seen >= 12


def test_fit_help_lists_every_config_key():
    from neurolearn.commands import fit

    text = dict(_parsers(build_parser()))["neurolearn fit"].format_help()
    for key in sorted(fit._TOP | fit._TARGET):
        assert re.search(rf"\b{key}\b", text), key

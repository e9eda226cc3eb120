"""Model specification: loading the zoo, user files, and every bad input naming its culprit."""

import textwrap

import numpy as np
import pytest
from brian2 import Hz, ms, mV, nA

from neurolearn import ModelError, list_models, load_model, parse_quantity
from neurolearn.spec import zoo_dir

ZOO = [
    "lif",
    "lif_cond",
    "lif_adaptive_threshold",
    "alif",
    "adex",
    "izhikevich",
    "srm0",
    "poisson",
    "spike_generator",
    "static_current",
    "static_conductance",
    "static_current_alpha",
]


def test_zoo_has_the_promised_models_each_with_a_reference():
    names = {m.name for m in list_models()}
    assert set(ZOO) <= names
    for m in list_models():
        assert m.reference.strip(), f"{m.name} cites no source"
        assert m.path.stem == m.name


def test_parameters_carry_units_and_defaults():
    lif = load_model("lif")
    assert lif.parameters["tau_m"].value == 20 * ms
    assert lif.parameters["v_th"].value == -50 * mV
    assert lif.parameters["tau_m"].per_neuron
    assert lif.state_variables == ["v", "I_syn"]
    assert lif.threshold == "v > v_th"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("20 ms", 20 * ms),
        ("20*ms", 20 * ms),
        ("-70 mV", -70 * mV),
        ("0.5 nA", 0.5 * nA),
        ("0.02 / ms", 20 * Hz),
        ("3", 3.0),
    ],
)
def test_parse_quantity(text, expected):
    assert np.isclose(float(parse_quantity(text)), float(expected))
    assert parse_quantity(text).__class__ is expected.__class__


def test_izhikevich_presets():
    iz = load_model("izhikevich")
    assert set(iz.presets) == {"rs", "fs", "ib", "ch"}
    fs = iz.with_preset("fs")
    assert float(fs.parameters["a"].value) == pytest.approx(100.0)  # 0.1/ms
    with pytest.raises(ModelError, match="unknown preset 'xx'.*ch, fs, ib, rs"):
        iz.with_preset("xx")


def test_spec_round_trips_through_dict():
    for name in ("lif", "adex", "izhikevich", "static_current_alpha", "poisson"):
        spec = load_model(name)
        again = type(spec).from_dict(spec.to_dict())
        assert again.equations == spec.equations
        for p in spec.parameters:
            assert float(again.parameters[p].value) == pytest.approx(
                float(spec.parameters[p].value)
            )


def _write(tmp_path, body, name="mine.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


GOOD = """
name = "mine"
kind = "neuron"
reference = "test"
equations = '''
dv/dt = (v_rest - v)/tau_m : volt
'''
threshold = "v > v_th"
reset = "v = v_rest"

[parameters.tau_m]
value = "10 ms"

[parameters.v_rest]
value = "-70 mV"

[parameters.v_th]
value = "-50 mV"
range = ["-100 mV", "0 mV"]
"""


def test_user_model_loads_by_path(tmp_path):
    spec = load_model(_write(tmp_path, GOOD))
    assert spec.name == "mine" and spec.path.name == "mine.toml"


def test_unknown_model_name_lists_the_zoo():
    with pytest.raises(ModelError, match="unknown model 'lifx'.*adex.*lif"):
        load_model("lifx")


def test_malformed_toml_names_file_and_line(tmp_path):
    path = _write(tmp_path, GOOD.replace('value = "10 ms"', 'value = "10 ms'))
    with pytest.raises(ModelError) as info:
        load_model(path)
    assert "mine.toml:" in str(info.value) and "malformed TOML" in str(info.value)
    assert info.value.line is not None


def test_inconsistent_units_name_the_equation_and_line(tmp_path):
    path = _write(tmp_path, GOOD.replace("dv/dt = (v_rest - v)/tau_m", "dv/dt = (v_rest - v)"))
    with pytest.raises(
        ModelError, match=r"mine\.toml:6: .*inconsistent units in the equation for 'v'"
    ):
        load_model(path)


def test_undefined_symbol_is_named(tmp_path):
    path = _write(tmp_path, GOOD.replace("(v_rest - v)/tau_m", "(v_rest - v + R*I)/tau_m"))
    with pytest.raises(ModelError, match=r"mine\.toml:6: .*undefined symbol 'I'.*equation for 'v'"):
        load_model(path)


def test_undefined_symbol_in_threshold(tmp_path):
    path = _write(tmp_path, GOOD.replace('"v > v_th"', '"v > theta"'))
    with pytest.raises(ModelError, match=r"undefined symbol 'theta' in threshold"):
        load_model(path)


def test_missing_parameter_is_an_undefined_symbol(tmp_path):
    body = GOOD.replace('[parameters.tau_m]\nvalue = "10 ms"\n', "")
    with pytest.raises(ModelError, match=r"undefined symbol 'tau_m'") as info:
        load_model(_write(tmp_path, body))
    assert info.value.parameter == "tau_m"


def test_non_positive_time_constant(tmp_path):
    path = _write(tmp_path, GOOD.replace('value = "10 ms"', 'value = "0 ms"'))
    with pytest.raises(
        ModelError, match=r"mine\.toml:\d+: parameter 'tau_m'.*time constant must be > 0"
    ):
        load_model(path)
    with pytest.raises(ModelError, match="parameter 'tau_m'.*> 0"):
        load_model("lif").resolve_parameters({"tau_m": -5 * ms})


def test_parameter_outside_range(tmp_path):
    path = _write(tmp_path, GOOD.replace('value = "-50 mV"', 'value = "10 mV"'))
    with pytest.raises(ModelError, match=r"parameter 'v_th'.*above the valid range"):
        load_model(path)
    with pytest.raises(ModelError, match="parameter 'v_th'.*below the valid range"):
        load_model("lif").resolve_parameters({"v_th": -300 * mV})


def test_wrong_unit_and_unknown_parameter_override():
    lif = load_model("lif")
    with pytest.raises(ModelError, match="parameter 'tau_m'.*units of second"):
        lif.resolve_parameters({"tau_m": 5 * mV})
    with pytest.raises(ModelError, match="unknown parameter 'tau'.*tau_m"):
        lif.resolve_parameters({"tau": 5 * ms})
    with pytest.raises(ModelError, match="'t_ref' is shared"):
        lif.resolve_parameters({"t_ref": [1, 2] * ms})
    with pytest.raises(ModelError, match="expected 3 values"):
        lif.resolve_parameters({"tau_m": [1, 2] * ms}, n=3)


def test_unknown_field_and_kind(tmp_path):
    with pytest.raises(ModelError, match="unknown field 'treshold'"):
        load_model(_write(tmp_path, GOOD.replace("threshold =", "treshold =")))
    with pytest.raises(ModelError, match="unknown kind 'neurone'"):
        load_model(_write(tmp_path, GOOD.replace('kind = "neuron"', 'kind = "neurone"')))


def test_zoo_files_are_inside_the_package_or_checkout():
    assert (zoo_dir() / "lif.toml").is_file()


def test_bad_initial_value_and_method_fail_on_loading(tmp_path):
    """Typos in [initial] and in method are caught when the file loads, naming file, line and
    field (not later inside Brian2)."""
    good = load_model(
        _write(tmp_path, GOOD + '\n[initial]\nv = "v_rest + rand()*(v_th - v_rest)"\n', "ok.toml")
    )
    assert good.initial["v"].startswith("v_rest")
    path = _write(tmp_path, GOOD + '\n[initial]\nv = "v_rst"\n')
    line = path.read_text().splitlines().index('v = "v_rst"') + 1
    with pytest.raises(
        ModelError,
        match=rf"mine\.toml:{line}: .*undefined symbol 'v_rst' in "
        r"the initial value of 'v'",
    ) as info:
        load_model(path)
    assert info.value.parameter == "v_rst"
    with pytest.raises(
        ModelError,
        match=r"mine\.toml:1: .*unknown state updater method "
        r"'eulr'; Brian2 has: .*euler",
    ):
        load_model(_write(tmp_path, 'method = "eulr"\n' + GOOD))
    assert load_model(_write(tmp_path, 'method = "rk4"\n' + GOOD, "rk.toml")).method == "rk4"


_BANNER = "Brian 2 encountered an unexpected error"
_PREFERENCE = "brian2.prefs['logging.display_brian_error_message'] = False"


def _python(code: str, cwd, tmp=None):
    """Run ``code`` in a fresh interpreter (temporary files in ``tmp`` when given)."""
    import os
    import subprocess
    import sys

    env = dict(os.environ)
    if tmp is not None:
        env["TMPDIR"] = str(tmp)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=env
    )


def test_importing_neurolearn_leaves_the_interpreter_alone(tmp_path):
    """No import-time patching: ``sys.excepthook`` and ``sys.meta_path`` are what they were
    before ``import neurolearn``, whether Brian2 was imported first or not."""
    for first in ("", "import brian2; "):
        r = _python(
            f"import sys; {first}hook, path = sys.excepthook, list(sys.meta_path); "
            "import neurolearn; import neurolearn.spec, neurolearn.cli; "
            "assert sys.excepthook is hook, sys.excepthook; "
            "assert sys.meta_path == path, sys.meta_path; print('untouched')",
            tmp_path,
        )
        assert r.returncode == 0 and r.stdout.strip() == "untouched", r.stderr


@pytest.mark.parametrize("brian_first", [False, True])
def test_uncaught_neurolearn_error_is_printed_plainly(tmp_path, brian_first):
    """A script that sets Brian2's preference as neurolearn's module docstring says sees an
    uncaught error of neurolearn (here: a missing model file) printed by Python's default
    handler, not announced as "an unexpected error" of Brian 2 with a bug-report request and
    a debug log; the same for errors raised inside Brian2. Without the preference Brian2's
    handler reports errors raised inside Brian2 as before: importing neurolearn changes
    nothing. Holds whether Brian2 or neurolearn is imported first."""
    first = "import brian2; import neurolearn" if brian_first else "import neurolearn, brian2"
    missing = tmp_path / "missing.toml"
    ours = _python(f"{first}; {_PREFERENCE}; neurolearn.load_model({str(missing)!r})", tmp_path)
    assert ours.returncode == 1
    assert "model file not found" in ours.stderr and "ModelError" in ours.stderr
    assert _BANNER not in ours.stderr
    in_brian2 = _python(f"{first}; {_PREFERENCE}; brian2.ms + brian2.mV", tmp_path)
    assert in_brian2.returncode == 1
    assert "DimensionMismatchError" in in_brian2.stderr and _BANNER not in in_brian2.stderr
    theirs = _python(f"{first}; brian2.ms + brian2.mV", tmp_path)
    assert "DimensionMismatchError" in theirs.stderr
    assert _BANNER in theirs.stderr


_QUADRATIC = """
name = "quadratic"
kind = "neuron"
title = "LIF with a quadratic term that Brian2's exact integration cannot separate"
method = "exact"
equations = "dv/dt = (v_rest - v)/tau_m + (v - v_rest)**2/(tau_m*mV) : volt"
threshold = "v > v_th"
reset = "v = v_rest"

[parameters.tau_m]
value = "20 ms"

[parameters.v_rest]
value = "-70 mV"

[parameters.v_th]
value = "-50 mV"

[roles]
time_constants = ["tau_m"]
synaptic_targets = []
threshold_variable = "v"
"""


def test_cli_reports_errors_in_one_line_and_leaves_no_brian2_log(tmp_path):
    """The command line: a neurolearn error (a missing model file) and a model Brian2's exact
    integrator cannot solve (found when the network is built) end with exit status 2 and one line on
    stderr; a bug with its traceback and exit status 1. Never Brian2's banner, and neither
    Brian2's debug log nor its copy of the script is left in the temporary folder."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    model = tmp_path / "quadratic.toml"
    model.write_text(_QUADRATIC)
    cli = "import sys; from neurolearn.cli import main; sys.exit(main({argv!r}))"

    r = _python(cli.format(argv=["simulate", str(tmp_path / "missing.toml")]), tmp_path, tmp)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert (
        r.stderr.startswith("neurolearn simulate: error: ") and "model file not found" in r.stderr
    )

    r = _python(cli.format(argv=["simulate", str(model), "--duration", "1 ms"]), tmp_path, tmp)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    # found when the network is built (issue 14): file, line of 'method', equation, method
    assert f"{model}:5: model 'quadratic': the equations (dv/dt) cannot be integrated" in r.stderr
    assert "method 'exact'" in r.stderr and "linear components" in r.stderr
    assert 'try method = "euler"' in r.stderr
    assert _BANNER not in r.stderr

    bug = "import neurolearn.commands.simulate as s; s.run = lambda args: None + 1; "
    r = _python(bug + cli.format(argv=["simulate", "lif"]), tmp_path, tmp)
    assert r.returncode == 1
    assert "Traceback" in r.stderr and "TypeError: unsupported operand" in r.stderr
    assert "neurolearn simulate: internal error" in r.stderr and _BANNER not in r.stderr
    assert sorted(p.name for p in tmp.iterdir()) == []

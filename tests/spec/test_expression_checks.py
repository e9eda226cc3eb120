"""Every expression of a model file is unit-checked at load (issue 14, items 2, 4 and 6):
threshold, reset, refractory period, initial values, on_pre/on_post; stochastic equations
(``xi``, ``xi_<name>``) load; ``*_pre``/``*_post`` names are checked when connected. Each bad
input fails with a ModelError naming the file, the line and the field."""

import textwrap

import pytest

from neurolearn import ModelError, load_model

BASE = """
name = "mine"
kind = "neuron"
reference = "test"
method = "{method}"
equations = '''
dv/dt = (v_rest - v)/tau_m{noise} : volt
'''
threshold = "{threshold}"
reset = "{reset}"
refractory = "{refractory}"

[parameters.tau_m]
value = "10 ms"

[parameters.v_rest]
value = "-70 mV"

[parameters.v_th]
value = "{v_th}"

[parameters.sigma]
value = "2 mV"

[initial]
v = "{v0}"

[roles]
time_constants = ["tau_m"]
synaptic_targets = []
threshold_variable = "v"
"""
GOOD = dict(
    method="exact",
    noise="",
    threshold="v > v_th",
    reset="v = v_rest",
    refractory="2 ms",
    v_th="-50 mV",
    v0="v_rest",
)


def _write(tmp_path, **fields):
    path = tmp_path / "mine.toml"
    path.write_text(textwrap.dedent(BASE.format(**{**GOOD, **fields})))
    return path


def _line(path, start):
    return next(
        n for n, text in enumerate(path.read_text().splitlines(), 1) if text.startswith(start)
    )


def test_the_good_file_loads(tmp_path):
    spec = load_model(_write(tmp_path))
    assert spec.threshold == "v > v_th" and spec.initial["v"] == "v_rest"


@pytest.mark.parametrize(
    "field,value,start,message",
    [
        ("threshold", "v > 5*nS", "threshold", r"inconsistent units in threshold 'v > 5\*nS'"),
        ("threshold", "v > ", "threshold", r"cannot parse threshold 'v >'"),
        ("threshold", "v + v_th", "threshold", r"threshold 'v \+ v_th' is not a condition"),
        (
            "reset",
            "v = v_rest + 3*kilogram",
            "reset",
            r"inconsistent units in reset 'v = v_rest \+ 3\*kilogram'.*kg",
        ),
        ("reset", "v = 5*nA", "reset", r"inconsistent units in reset 'v = 5\*nA'"),
        ("refractory", "2 mV", "refractory", r"refractory period '2 mV' has units of .*not a"),
        ("refractory", "v + v_th", "refractory", r"refractory 'v \+ v_th' is not a time or a"),
        ("v0", "3 nA", 'v = "3', r"initial value of 'v' \('3 nA'\) has units of amp but 'v' "),
        ("v0", "v_rest*tau_m", 'v = "v_rest', r"initial value of 'v' \('v_rest\*tau_m'\)"),
        (
            "v_th",
            "-50",
            "threshold",
            r"inconsistent units in threshold 'v > v_th'.*'v_th' has units \(1\)",
        ),
    ],
)
def test_each_bad_expression_names_file_line_and_field(tmp_path, field, value, start, message):
    path = _write(tmp_path, **{field: value})
    with pytest.raises(ModelError, match=rf"mine\.toml:{_line(path, start)}: .*{message}") as e:
        load_model(path)
    assert e.value.path == str(path)


def test_reset_without_threshold(tmp_path):
    path = _write(tmp_path, threshold="")
    text = path.read_text().replace('threshold = ""\n', "")
    path.write_text(text)
    with pytest.raises(ModelError, match=r"mine\.toml:\d+: .*reset 'v = v_rest' given without"):
        load_model(path)


@pytest.mark.parametrize("noise", ["sigma*xi*tau_m**-0.5", "sigma*xi_membrane/sqrt(tau_m)"])
def test_stochastic_equations_load(tmp_path, noise):
    spec = load_model(_write(tmp_path, method="euler", noise=f" + {noise}"))
    assert "xi" in spec.equations


def test_stochastic_term_with_wrong_units_is_refused(tmp_path):
    path = _write(tmp_path, method="euler", noise=" + sigma*xi")
    with pytest.raises(ModelError, match=r"mine\.toml:\d+: .*inconsistent units in the equation"):
        load_model(path)


GAP = """
name = "gap"
kind = "synapse"
reference = "test"
method = "exact"
equations = '''
w : siemens
I_gap_post = w*(v_pre - v_post) : amp (summed)
'''

[parameters.w]
value = "1 nS"

[roles]
time_constants = []
"""


def test_gap_junction_with_pre_post_names_loads(tmp_path):
    path = tmp_path / "gap.toml"
    path.write_text(GAP)
    spec = load_model(path)
    assert "I_gap_post" in spec.equations


SYNAPSE = """
name = "syn"
kind = "synapse"
reference = "test"
method = "exact"
equations = '''
w : siemens
dx/dt = -x/tau : 1 (clock-driven)
'''
on_pre = '''
{target}_post += w
x = x + 1*mV
'''
target = "g_e"

[parameters.w]
value = "1 nS"

[parameters.tau]
value = "5 ms"

[roles]
time_constants = ["tau"]
"""


def test_synapse_statements_are_unit_checked(tmp_path):
    path = tmp_path / "syn.toml"
    path.write_text(SYNAPSE)
    with pytest.raises(
        ModelError, match=r"syn\.toml:12: .*inconsistent units in on_pre 'x = x \+ 1\*mV'"
    ):
        load_model(path)
    path.write_text(SYNAPSE.replace("x + 1*mV", "x + 1"))
    assert load_model(path).on_pre.strip().endswith("x = x + 1")


def test_the_torch_compiler_refuses_a_stochastic_model(tmp_path):
    torch_compiler = pytest.importorskip("neurolearn.torch.compiler")
    spec = load_model(_write(tmp_path, method="euler", noise=" + sigma*xi*tau_m**-0.5"))
    with pytest.raises(ModelError, match=r"mine\.toml:\d+: .*stochastic term"):
        torch_compiler.compile_model(spec, 1e-4)

"""Property test of the model-file loader and both engines (issue 14): generated model files
with bad units in each field, undefined names, empty fields, huge, zero and equal time
constants and non-ASCII names either load and run identically in Brian2 (numpy) and torch
(float64), finite, with the same spikes, or fail with a ModelError naming the file and the
field. Never another exception, a NaN, or a silent disagreement.

Deterministic (``derandomize``) and modest (``max_examples``) so that CI stays fast."""

import numpy as np
import pytest
from brian2 import ms, nA

from neurolearn import ModelError, load_model

hypothesis = pytest.importorskip("hypothesis")
torch = pytest.importorskip("torch")
st = hypothesis.strategies
pytestmark = pytest.mark.usefixtures("one_torch_thread")

TEMPLATE = """
name = "generated"
kind = "neuron"
reference = "hypothesis"
method = "{method}"
equations = '''
dv/dt = (v_rest - v + R_m*I_syn)/{tau_m_name} : volt (unless refractory)
dI_syn/dt = -I_syn/tau_syn : amp
'''
threshold = "{threshold}"
reset = "{reset}"
refractory = "{refractory}"

[roles]
time_constants = ["{tau_m_name}", "tau_syn"]
synaptic_targets = ["I_syn"]
threshold_variable = "v"

[parameters.{tau_m_name}]
value = "{tau_m}"
per_neuron = true

[parameters.tau_syn]
value = "{tau_syn}"
per_neuron = true

[parameters.R_m]
value = "{R_m}"

[parameters.v_rest]
value = "-70 mV"

[parameters.v_th]
value = "{v_th}"

[parameters.v_reset]
value = "-70 mV"

[initial]
v = "{v0}"
I_syn = "{i0}"
"""
FIELDS = {
    "method": ["exact", "exact", "euler", "exponential_euler", "rk4", "eulr", ""],
    "tau_m_name": ["tau_m", "tau_m", "tau_m", "tau_µ", "τ_m"],
    "tau_m": [
        "20 ms",
        "5 ms",
        "5.00000000001 ms",
        "0.01 ms",
        "0 ms",
        "1e6 s",
        "-3 ms",
        "20",
        "20 mV",
    ],
    "tau_syn": ["5 ms", "5 ms", "20 ms", "0 ms", "abc", "5 ms ms"],
    "R_m": ["100 Mohm", "100 Mohm", "0 ohm", "100", "1e30 ohm"],
    "v_th": ["-50 mV", "-50 mV", "-50", "-50 nS", "nan*mV"],
    "threshold": ["v > v_th", "v > v_th", "v > 5*nS", "v > ", "", "v > v_thx", "v_th", "v > θ"],
    "reset": ["v = v_reset", "v = v_reset", "v = v_reset + 3*kilogram", "v = ", "v = x_undefined"],
    "refractory": ["2 ms", "", "0 ms", "2 mV", "t_undefined", "v > v_th"],
    "v0": ["v_rest", "v_rest", "-60 mV", "3 nA", "w_undefined", ""],
    "i0": ["0 nA", "0 nA", "1 nA", "0 mV"],
}
DT = 0.1 * ms
STEPS = 300
INPUT_STEPS = np.arange(10, STEPS, 15)
WEIGHT = 0.5 * nA


def _engines(spec):
    """(v [time], spikes) of one neuron driven by input spikes, in Brian2 numpy and torch."""
    from neurolearn.brian import NetworkSpec
    from neurolearn.torch import SpikingLayer

    net = NetworkSpec(dt=DT)
    net.add_input(
        "drive",
        "spike_generator",
        1,
        indices=np.zeros(INPUT_STEPS.size, int),
        times=INPUT_STEPS * DT,
    )
    net.add_population("cell", spec, 1)
    net.connect("drive", "cell", "static_current", weight=WEIGHT)
    net.monitor_spikes("cell").monitor_state("cell", ["v"])
    res = net.run((STEPS + 1) * DT)
    v_brian = np.asarray(res.states["cell"].values["v"])[1 : STEPS + 1, 0]
    s_brian = np.round(np.asarray(res.spikes["cell"].times) / float(DT)).astype(int)
    layer = SpikingLayer(spec, 1, 1, dt=float(DT), dtype=torch.float64)
    with torch.no_grad():
        layer.W_in.fill_(float(WEIGHT) / layer.weight_unit)
        x = torch.zeros(STEPS, 1, 1, dtype=torch.float64)
        x[INPUT_STEPS] = 1.0
        spikes, traces = layer(x, record=["v"])
    v_torch = traces["v"][:, 0, 0].numpy()
    s_torch = np.nonzero(spikes[:, 0, 0].numpy())[0]
    return (v_brian, s_brian[s_brian < STEPS]), (v_torch, s_torch)


@hypothesis.settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
@hypothesis.given(
    st.lists(
        st.sampled_from(sorted(FIELDS)).flatmap(
            lambda f: st.tuples(st.just(f), st.sampled_from(FIELDS[f]))
        ),
        min_size=0,
        max_size=2,
    ).map(lambda changes: {**{k: v[0] for k, v in FIELDS.items()}, **dict(changes)})
)
def test_generated_model_files_load_and_agree_or_fail_naming_file_and_field(
    tmp_path_factory, fields
):
    path = tmp_path_factory.mktemp("generated") / "generated.toml"
    path.write_text(TEMPLATE.format(**fields), encoding="utf-8")
    try:
        spec = load_model(path)
    except ModelError as exc:
        assert exc.path == str(path), exc
        assert str(exc).startswith(str(path)), exc
        assert exc.parameter or exc.line, f"no field named: {exc}"
        hypothesis.event(f"refused at load: {exc.parameter}")
        return
    try:
        (v_b, s_b), (v_t, s_t) = _engines(spec)
    except ModelError as exc:  # refused by an engine: must still name file and field
        assert exc.path == str(path) and (exc.parameter or exc.line), exc
        hypothesis.event(f"refused by an engine: {exc.parameter}")
        return
    hypothesis.event(f"ran in both engines ({len(s_b)} spikes)" if s_b.size else "ran, no spike")
    assert np.all(np.isfinite(v_b)) and np.all(np.isfinite(v_t)), fields
    np.testing.assert_array_equal(s_b, s_t, err_msg=str(fields))
    scale = max(np.max(np.abs(v_b)), 1e-3)
    assert np.max(np.abs(v_b - v_t)) <= 1e-9 * scale, fields


def test_extremely_small_time_constant_stays_finite(tmp_path):
    # dt/tau_m = 1e5: Brian2's exact coefficient (exp(dt/tau_syn) - exp(dt/tau_m)) *
    # exp(-dt/tau_m)*exp(-dt/tau_syn) was inf*0 = NaN in both engines; the IR cancels the
    # exponentials (codegen.steps.hoist). The membrane then follows its input at once,
    # v = v_rest + R_m*I_syn, and R_m*I_syn stays above v_th - v_rest = 20 mV from the first
    # input on (0.5 nA every 1.5 ms, tau_syn = 5 ms: at least 37 mV): the neuron fires the
    # step after the first input and again each time its 2 ms refractory period ends.
    fields = {k: v[0] for k, v in FIELDS.items()}
    path = tmp_path / "generated.toml"
    path.write_text(TEMPLATE.format(**{**fields, "tau_m": "1e-6 ms"}), encoding="utf-8")
    (v_b, s_b), (v_t, s_t) = _engines(load_model(path))
    assert np.all(np.isfinite(v_b)) and np.all(np.isfinite(v_t))
    refractory_steps = 20
    expected = np.arange(INPUT_STEPS[0] + 1, STEPS, refractory_steps)
    np.testing.assert_array_equal(s_b, expected)
    np.testing.assert_array_equal(s_t, expected)
    np.testing.assert_allclose(v_t, v_b, rtol=0, atol=1e-9 * np.max(np.abs(v_b)))

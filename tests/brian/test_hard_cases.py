"""Brian2 engine on the hard cases of issue 14: equations the method cannot integrate found
when the network is built, Brian2's own errors in one line, stochastic equations in every
Brian2 backend, a gap junction with ``*_pre``/``*_post`` names."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from brian2 import (
    Mohm,
    Network,
    NeuronGroup,
    SpikeMonitor,
    StateMonitor,
    Synapses,
    defaultclock,
    ms,
    mV,
    nA,
    nS,
    prefs,
)

from neurolearn import ModelError, load_model
from neurolearn.brian import BrianError, NetworkSpec

FAST_COMPILE = {"codegen.cpp.extra_compile_args_gcc": ["-w", "-O0"]}
ROLES = """
[roles]
time_constants = ["tau"]
synaptic_targets = []
threshold_variable = "x"
"""
OSCILLATOR = (
    """
name = "oscillator"
kind = "neuron"
reference = "test: a harmonic oscillator, complex eigenvalues +-i/tau"
method = "exact"
equations = '''
dx/dt = y/tau : 1
dy/dt = -x/tau : 1
'''
threshold = "x > 2"

[parameters.tau]
value = "10 ms"

[initial]
x = "1"
"""
    + ROLES
)


def _file(tmp_path, text, name="model.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_equations_the_method_cannot_integrate_fail_when_the_network_is_built(tmp_path):
    path = _file(tmp_path, OSCILLATOR)
    net = NetworkSpec(dt=0.1 * ms).add_population("osc", load_model(path), 2)
    with pytest.raises(ModelError) as info:
        net.build(1 * ms)
    text = str(info.value)
    assert text.startswith(f"{path}:5: model 'oscillator': the equations (dx/dt, dy/dt)")
    assert "cannot be integrated with method 'exact'" in text and "complex" in text
    assert 'try method = "' in text and info.value.parameter == "method"
    # the suggested method integrates them
    suggested = text.split('try method = "')[1].split('"')[0]
    path.write_text(OSCILLATOR.replace('method = "exact"', f'method = "{suggested}"'))
    res = NetworkSpec(dt=0.1 * ms).add_population("osc", load_model(path), 2).run(1 * ms)
    assert res.backend == "numpy"


NOISY = """
name = "noisy"
kind = "neuron"
reference = "test: an Ornstein-Uhlenbeck membrane (stationary std sigma/sqrt(2))"
method = "{method}"
equations = '''
dv/dt = (v_rest - v)/tau + sigma*xi/sqrt(tau) : volt
'''
threshold = "v > v_rest + 100*mV"
reset = "v = v_rest"

[parameters.tau]
value = "5 ms"

[parameters.v_rest]
value = "-70 mV"

[parameters.sigma]
value = "2 mV"

[initial]
v = "v_rest"

[roles]
time_constants = ["tau"]
synaptic_targets = []
threshold_variable = "v"
"""


def test_stochastic_model_under_exact_is_refused_with_a_method_to_use(tmp_path):
    spec = load_model(_file(tmp_path, NOISY.format(method="exact")))
    net = NetworkSpec(dt=0.1 * ms).add_population("p", spec, 3)
    with pytest.raises(ModelError, match=r"model\.toml:5: .*method 'exact': .*stochastic.*try"):
        net.build(1 * ms)


@pytest.mark.parametrize("backend", ["numpy", "cython", "cpp_standalone"])
def test_stochastic_model_runs_in_every_brian2_backend(tmp_path, backend):
    """Ornstein-Uhlenbeck membrane: the stationary standard deviation is sigma/sqrt(2)
    (Uhlenbeck & Ornstein 1930); 400 neurons over 20 tau after 4 tau of transient."""
    spec = load_model(_file(tmp_path, NOISY.format(method="euler")))
    net = NetworkSpec(dt=0.1 * ms).add_population("p", spec, 400).monitor_state("p", "v")
    options = {"prefs": FAST_COMPILE} if backend != "numpy" else {}
    if backend == "cpp_standalone":
        options["directory"] = tmp_path / "cpp"
    res = net.run(120 * ms, backend=backend, seed=11, **options)
    v = np.asarray(res.states["p"].values["v"])[200:]  # [time, neurons], volt
    assert np.all(np.isfinite(v))
    std = float(np.std(v - (-70e-3)))
    assert abs(std - 2e-3 / np.sqrt(2)) < 0.1 * 2e-3 / np.sqrt(2), std


def test_brian2_errors_while_running_are_one_line_naming_object_and_cause():
    net = NetworkSpec(dt=0.1 * ms)
    net.add_population("p", "lif_cond", 2).add_population("q", "lif", 2)
    net.connect("q", "p", "static_current", target_var="g_e", weight=1 * nA)
    with pytest.raises(BrianError) as info:
        net.run(1 * ms)
    text = str(info.value)
    assert "\n" not in text and "Brian2 object 'q_to_p_pre'" in text
    assert "DimensionMismatchError" in text and "'g_e_post' has unit S" in text
    assert info.value.object_name == "q_to_p_pre"
    assert isinstance(info.value, RuntimeError)


def test_cli_exits_2_in_one_line_without_banner_for_an_unintegrable_model(tmp_path):
    path = _file(tmp_path, OSCILLATOR)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    argv = ["simulate", str(path), "--duration", "1 ms"]
    code = f"import sys; from neurolearn.cli import main; sys.exit(main({argv!r}))"
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp)},
    )
    assert r.returncode == 2, r.stderr
    lines = [line for line in r.stderr.splitlines() if "Warning" not in line and line.strip()]
    assert lines[-1].startswith("neurolearn simulate: error: ") and "method 'exact'" in lines[-1]
    assert "encountered an unexpected error" not in r.stderr
    assert list(tmp.iterdir()) == []


GAP_NEURON = """
name = "lif_gap"
kind = "neuron"
reference = "test: the zoo LIF with a gap-junction current"
method = "exact"
equations = '''
dv/dt = (v_rest - v + R_m*(I_gap + I_ext))/tau_m : volt (unless refractory)
I_gap : amp
I_ext : amp
'''
threshold = "v > v_th"
reset = "v = v_reset"
refractory = "2 ms"

[parameters.tau_m]
value = "20 ms"
per_neuron = true

[parameters.R_m]
value = "100 Mohm"

[parameters.v_rest]
value = "-70 mV"

[parameters.v_th]
value = "-50 mV"

[parameters.v_reset]
value = "-70 mV"

[initial]
v = "v_rest"

[roles]
time_constants = ["tau_m"]
synaptic_targets = []
threshold_variable = "v"
"""
GAP = """
name = "gap"
kind = "synapse"
reference = "test: electrical synapse (Brian2 documentation, gap junctions)"
method = "exact"
equations = '''
w : siemens
I_gap_post = w*(v_pre - v_post) : amp (summed)
'''

[parameters.w]
value = "2 nS"

[roles]
time_constants = []
"""


def test_gap_junction_network_matches_plain_brian2(tmp_path):
    neuron = load_model(_file(tmp_path, GAP_NEURON, "lif_gap.toml"))
    gap = load_model(_file(tmp_path, GAP, "gap.toml"))
    n = 4
    drive = np.array([0.22, 0.3, 0.4, 0.0]) * nA
    taus = np.array([10.0, 20.0, 25.0, 15.0]) * ms
    net = NetworkSpec(dt=0.1 * ms)
    net.add_population("p", neuron, n, params={"tau_m": taus}, initial={"I_ext": drive})
    net.connect("p", "p", gap, condition="i != j", params={"w": 2 * nS})
    net.monitor_state("p", ["v", "I_gap"]).monitor_spikes("p")
    ours = net.run(200 * ms)

    defaultclock.dt = 0.1 * ms
    G = NeuronGroup(
        n,
        neuron.equations + "\ntau_m : second",
        threshold="v > -50*mV",
        reset="v = -70*mV",
        refractory=2 * ms,
        method="exact",
        namespace={"R_m": 100 * Mohm, "v_rest": -70 * mV},
    )
    G.v = -70 * mV
    G.tau_m = taus
    G.I_ext = drive
    S = Synapses(G, G, "w : siemens\nI_gap_post = w*(v_pre - v_post) : amp (summed)")
    S.connect(condition="i != j")
    S.w = 2 * nS
    M = StateMonitor(G, ["v", "I_gap"], record=True)
    spikes = SpikeMonitor(G)
    target = prefs.codegen.target
    prefs.codegen.target = "numpy"
    try:
        Network(G, S, M, spikes).run(200 * ms, namespace={})
    finally:
        prefs.codegen.target = target
    v_ours = np.asarray(ours.states["p"].values["v"])
    np.testing.assert_allclose(v_ours, np.asarray(M.v).T, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(
        np.asarray(ours.states["p"].values["I_gap"]), np.asarray(M.I_gap).T, rtol=1e-9, atol=1e-21
    )
    assert ours.spikes["p"].indices.size > 10
    np.testing.assert_array_equal(ours.spikes["p"].indices, np.asarray(spikes.i))
    np.testing.assert_allclose(np.asarray(ours.spikes["p"].times), np.asarray(spikes.t))
    assert np.any(np.abs(np.asarray(M.I_gap)) > 1e-12)

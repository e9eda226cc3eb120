"""NetworkSpec: building blocks and every bad input with its message."""

import numpy as np
import pytest
from brian2 import Hz, ms, mV, nA, nS

from neurolearn import ModelError, load_model
from neurolearn.brian import NetworkSpec


def test_delays_weights_and_connectivity_rules():
    """A spike generator fires neuron 0's input once; the spike arrives after the delay and
    the PSP has the weight's size (exact integration: LIF with exponential current)."""
    net = NetworkSpec(dt=0.1 * ms)
    net.add_input("src", "spike_generator", 1, indices=[0], times=[10 * ms])
    net.add_population("post", "lif", 4, params={"tau_syn": 5 * ms})
    net.connect("src", "post", i=[0, 0], j=[1, 2], weight=[0.5, 1.0] * nA, delay=[2.0, 4.0] * ms)
    net.connect("post", "post", p=0.0, condition="i != j", weight="rand()*nA")
    net.monitor_state("post", ["I_syn", "v"])
    res = net.run(30 * ms, backend="numpy")
    st = res.states["post"]
    t = np.asarray(st.t)
    i_syn = np.asarray(st["I_syn"])
    onset = [t[np.argmax(i_syn[:, k] > 0)] for k in (1, 2)]
    assert onset == pytest.approx([12.1e-3, 14.1e-3], abs=1.1e-4)  # delay (+1 step)
    assert i_syn[:, 1].max() == pytest.approx(0.5e-9)
    assert i_syn[:, 2].max() == pytest.approx(1.0e-9)
    assert np.all(i_syn[:, [0, 3]] == 0)
    # PSP peak of the exact LIF solution with tau_m = 20 ms, tau_syn = 5 ms, R = 100 MOhm:
    # R w tau_s/(tau_m - tau_s) (x^(tau_s/(tau_m-tau_s)) - x^(tau_m/(tau_m-tau_s))) at its max
    tm, ts, R, w = 20e-3, 5e-3, 100e6, 0.5e-9
    tt = np.linspace(0, 0.1, 100001)
    psp = R * w * ts / (tm - ts) * (np.exp(-tt / tm) - np.exp(-tt / ts))
    v = np.asarray(st["v"])[:, 1]
    assert (v.max() - (-70e-3)) == pytest.approx(psp.max(), rel=2e-3)


def test_conductance_targets_and_alpha_synapse():
    net = NetworkSpec()
    net.add_input("src", "spike_generator", 1, indices=[0], times=[5 * ms])
    net.add_population("cond", "lif_cond", 1)
    net.add_population("alpha", "lif", 1)
    net.connect("src", "cond", "static_conductance", target_var="g_i", j="i", weight=2 * nS)
    net.connect("src", "alpha", "static_current_alpha", j="i", weight=1 * nA)
    net.monitor_state("cond", ["g_i", "g_e", "v"])
    net.monitor_state("alpha", ["I_syn"])
    res = net.run(40 * ms, backend="numpy")
    g_i = np.asarray(res.states["cond"]["g_i"])[:, 0]
    assert g_i.max() == pytest.approx(2e-9) and np.all(np.asarray(res.states["cond"]["g_e"]) == 0)
    assert np.asarray(res.states["cond"]["v"]).min() < -60.01e-3  # inhibition hyperpolarises
    i_alpha = np.asarray(res.states["alpha"]["I_syn"])[:, 0]
    t_peak = np.asarray(res.states["alpha"].t)[np.argmax(i_alpha)]
    assert t_peak == pytest.approx(5e-3 + 5e-3, abs=2e-4)  # alpha peaks at tau
    assert i_alpha.max() == pytest.approx(1e-9, rel=1e-3)  # ... with height w


def _net():
    net = NetworkSpec()
    net.add_population("exc", "lif", 10)
    return net


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda n: n.add_population("exc", "lif", 5), "already has an element named 'exc'"),
        (lambda n: n.add_population("2x", "lif", 5), "must start with a letter"),
        (lambda n: n.add_population("a_spikes", "lif", 5), "must not end with"),
        (lambda n: n.add_population("b", "nosuch", 5), "unknown model 'nosuch'"),
        (lambda n: n.add_population("b", "poisson", 5), "is a input model, not a neuron model"),
        (lambda n: n.add_population("b", "lif", 0), "number of neurons must be a positive integer"),
        (lambda n: n.add_population("b", "lif", 2.5), "number of neurons must be a positive"),
        (
            lambda n: n.add_population("b", "lif", 5, params={"tau_q": 1 * ms}),
            "unknown parameter 'tau_q'",
        ),
        (
            lambda n: n.add_population("b", "lif", 5, params={"tau_m": -1 * ms}),
            "time constant must be > 0",
        ),
        (
            lambda n: n.add_population("b", "lif", 5, params={"tau_m": [1, 2] * ms}),
            "expected 5 values",
        ),
        (
            lambda n: n.add_population("b", "lif", 5, params={"t_ref": [1, 2, 3, 4, 5] * ms}),
            "parameter 't_ref' is shared by all neurons",
        ),
        (
            lambda n: n.add_population("b", "lif", 5, params={"v_th": 2 * nA}),
            "expected a value in units of volt",
        ),
        (lambda n: n.add_population("b", "lif", 5, initial={"w": 1}), "unknown variable 'w'"),
        (lambda n: n.add_population("b", "izhikevich", 5, preset="zz"), "unknown preset 'zz'"),
        (lambda n: n.add_input("in", "poisson", 5, rate=-1 * Hz), "below the valid range"),
        (lambda n: n.add_input("in", "poisson", 5, rate=3 * mV), "expected a value in units of"),
        (lambda n: n.add_input("in", "spike_generator", 5), "needs 'indices' and 'times'"),
        (
            lambda n: n.add_input("in", "spike_generator", 5, indices=[7], times=[1 * ms]),
            "indices must lie in [0, 4]",
        ),
        (lambda n: n.connect("nope", "exc"), "connection source 'nope' is neither"),
        (lambda n: n.connect("exc", "nope"), "connection target 'nope' is not a population"),
        (lambda n: n.connect("exc", "exc", "lif"), "is a neuron model, not a synapse model"),
        (
            lambda n: n.connect("exc", "exc", "static_conductance"),
            "drives 'g_e', which neuron model 'lif' does not have",
        ),
        (lambda n: n.connect("exc", "exc", p=1.5), "probability p must be a number in [0, 1]"),
        (lambda n: n.connect("exc", "exc", i=[0, 1], j=[1]), "same length"),
        (lambda n: n.connect("exc", "exc", i=[0], j=[12]), "'j' must lie in [0, 9]"),
        (lambda n: n.connect("exc", "exc", i=[0], j=[1], p=0.5), "not both"),
        (lambda n: n.connect("exc", "exc", p=0.1, weight=1 * mV), "w must be in units of amp"),
        (lambda n: n.connect("exc", "exc", p=0.1, weight=[1, 2] * nA), "needs explicit synapses"),
        (
            lambda n: n.connect("exc", "exc", i=[0, 1], j=[1, 2], weight=[1, 2, 3] * nA),
            "2 synapses but 3 w values",
        ),
        (lambda n: n.connect("exc", "exc", p=0.1, delay=-1 * ms), "delays must be >= 0"),
        (lambda n: n.connect("exc", "exc", p=0.1, delay=1 * nA), "delay must be in units of"),
        (lambda n: n.monitor_state("exc", ["q"]), "has no variable 'q'"),
        (lambda n: n.monitor_state("exc", ["v"], record=[10]), "must lie in [0, 9]"),
        (lambda n: n.monitor_spikes("inh"), "'inh' is not a population"),
        (lambda n: n.build(-1 * ms), "must be a positive time"),
        (lambda n: n.build(1 * ms, dt=0 * ms), "dt must be a positive time"),
        (lambda n: n.build(10 * ms, seed=-3), "seed must be >= 0"),
        (lambda n: n.build(10 * ms, seed="x"), "seed must be an integer"),
    ],
)
def test_bad_network_input_names_the_fault(call, message):
    with pytest.raises(ModelError) as err:
        call(_net())
    assert message in str(err.value)


def test_bad_run_params_name_the_fault():
    net = _net()
    net.add_input("noise", "poisson", 10, rate=10 * Hz)
    net.add_input("gen", "spike_generator", 1, indices=[0], times=[1 * ms])
    net.connect("noise", "exc", j="i", weight=0.1 * nA)
    net.connect("gen", "exc", p=1.0, weight="0.1*nA*rand()")
    sim = net.build(5 * ms, backend="numpy")
    cases = [
        ({"inh": {"tau_m": 1 * ms}}, "'inh' is not a population, input or connection"),
        ({"exc": {"tau_zz": 1 * ms}}, "unknown parameter 'tau_zz'"),
        ({"exc": {"tau_m": 0 * ms}}, "time constant must be > 0"),
        ({"exc": 3}, "must be a mapping"),
        ({"noise": {"rate": 5 * mV}}, "expected a value in units of hertz"),
        ({"gen": {"rate": 5 * Hz}}, "spike times of a spike generator are fixed"),
        ({"noise_to_exc": {"w": 1 * mV}}, "w must be in units of amp"),
        ({"noise_to_exc": {"q": 1 * nA}}, "unknown parameter 'q'"),
        ({"gen_to_exc": {"w": 1 * nA}}, "the weights of this connection are the expression"),
    ]
    for params, message in cases:
        with pytest.raises(ModelError) as err:
            sim.run(params=params)
        assert message in str(err.value), (params, str(err.value))
    sim.close()
    with pytest.raises(RuntimeError, match="closed"):
        sim.run()


def test_empty_network_and_spec_objects():
    with pytest.raises(ModelError, match="the network is empty"):
        NetworkSpec().build(10 * ms)
    spec = load_model("lif")
    net = NetworkSpec().add_population("a", spec, 2, params={"tau_m": "10 ms"})
    d = net.to_dict()
    assert d["populations"]["a"]["params"]["tau_m"] == "10 ms"
    assert d["models"]["lif"]["parameters"]["tau_m"]["value"] == "0.02 second"

"""R-STDP through NetworkSpec equals R-STDP through the plasticity API (issue 14, item 5):
the rule's parameters reach the postsynaptic group (tau_d, d_tonic), rewards are delivered and
dopamine is monitored through NetworkSpec."""

import numpy as np
import pytest
from brian2 import Network, SpikeGeneratorGroup, StateMonitor, ms, mV, second

from neurolearn import ModelError, load_model
from neurolearn.brian import NetworkSpec
from neurolearn.brian.backends import use_backend
from neurolearn.brian.build import make_neuron_group
from neurolearn.brian.plasticity import make_plastic_synapses
from neurolearn.brian.reward import RewardSchedule, deliver_rewards

N_PRE, N_POST = 20, 3
DT = 0.1 * ms
T = 0.6 * second
PARAMS = {"tau_d": 50 * ms, "d_tonic": 0.01, "eta": 200 / second}
SCHEDULE = RewardSchedule([0.1, 0.25, 0.4], [0.5, 0.3, 0.6])


def _spikes():
    rng = np.random.default_rng(5)
    steps = np.sort(rng.choice(int(T / DT) - 1, size=400, replace=False))
    # bursts: every pre neuron at a shared step every 20 ms, plus random single spikes
    burst = np.arange(50, int(T / DT) - 1, 200)
    idx = np.concatenate(
        [rng.integers(0, N_PRE, steps.size), np.repeat(np.arange(N_PRE), burst.size)]
    )
    st = np.concatenate([steps, np.tile(burst, N_PRE)])
    order = np.lexsort((idx, st))
    keep = np.unique(np.stack([st[order], idx[order]], 1), axis=0)
    return keep[:, 1], keep[:, 0] * DT


def _plasticity_api():
    idx, times = _spikes()
    rstdp = load_model("rstdp")
    with use_backend("numpy", dt=DT):
        post = make_neuron_group(
            load_model("lif"), N_POST, name="post", synapse_models=[(rstdp, "v")]
        )
        pre = SpikeGeneratorGroup(N_PRE, idx, times, name="pre")
        syn = make_plastic_synapses(
            rstdp,
            pre,
            post,
            connect=True,
            w_init=2 * mV,
            target_var="v",
            params=PARAMS,
            name="plastic",
        )
        rewards = deliver_rewards(SCHEDULE, post, duration=T, name="reward")
        mon = StateMonitor(post, "dopamine", record=True, name="post_state")
        Network(post, pre, syn, mon, *rewards).run(T, namespace={})
        return np.array(syn.w[:]), np.array(mon.dopamine[:]).T, float(post.tau_dopamine[:])


def _network_spec():
    idx, times = _spikes()
    net = NetworkSpec(dt=DT)
    net.add_input("pre", "spike_generator", N_PRE, indices=idx, times=times)
    net.add_population("post", "lif", N_POST)
    net.connect(
        "pre", "post", "rstdp", name="plastic", target_var="v", weight=2 * mV, params=PARAMS
    )
    net.deliver_rewards(SCHEDULE, "post", name="reward")
    net.monitor_state("post", ["dopamine", "v"]).monitor_spikes("post")
    sim = net.build(T)
    res = sim.run()
    return sim, res


def test_rstdp_through_network_spec_equals_the_plasticity_api_weight_for_weight():
    w_api, dop_api, tau_api = _plasticity_api()
    sim, res = _network_spec()
    assert float(sim.groups["post"].tau_dopamine[:]) == tau_api == 0.05
    dop = np.asarray(res.states["post"].values["dopamine"])
    np.testing.assert_array_equal(dop, dop_api)
    assert dop[0, 0] == pytest.approx(0.01) and dop.max() > 0.4  # tonic level, then rewards
    w = np.array(sim.groups["plastic"].w[:])
    assert res.spikes["post"].indices.size > 0
    assert np.any(np.abs(w - 2e-3) > 1e-6), "the weights did not move"
    np.testing.assert_array_equal(w, w_api)


def test_changing_tau_d_between_runs_reaches_the_postsynaptic_group():
    sim, _ = _network_spec()
    sim.run(params={"plastic": {"tau_d": 80 * ms}})
    assert float(sim.groups["post"].tau_dopamine[:]) == pytest.approx(0.08)


def test_rewards_onto_a_population_without_dopamine_are_refused():
    net = NetworkSpec().add_population("post", "lif", 2)
    with pytest.raises(ModelError, match=r"population 'post' has no 'dopamine'"):
        net.deliver_rewards(SCHEDULE, "post")

"""Plasticity on the numpy target: STDP windows against the analytic rules, pairing schemes
against an event-by-event reference, the three-factor rule against its closed form, reward
delivery (schedule, network_operation, pairing detector) and bad input."""

import numpy as np
import pytest
from brian2 import (
    Network,
    SpikeGeneratorGroup,
    SpikeMonitor,
    StateMonitor,
    Synapses,
    ms,
    mV,
    nS,
    second,
)

from neurolearn import ModelError, load_model
from neurolearn.brian.backends import use_backend
from neurolearn.brian.build import make_neuron_group
from neurolearn.brian.plasticity import (
    RewardSchedule,
    deliver_rewards,
    make_plastic_synapses,
    pairing_reward,
    reward_network_operation,
    simulate_stdp,
    stdp_model,
    stdp_reference,
    stdp_window,
)

STDP = [
    "stdp_additive",
    "stdp_additive_nearest",
    "stdp_multiplicative",
    "stdp_multiplicative_nearest",
    "stdp_triplet",
]


def test_plasticity_models_are_in_the_zoo_with_sources():
    for name in STDP + ["rstdp"]:
        spec = load_model(name)
        assert spec.kind == "synapse" and spec.reference.strip()
        assert "w_max" in spec.parameters
    assert stdp_model("multiplicative", "nearest").name == "stdp_multiplicative_nearest"
    triplet = load_model("stdp_triplet")  # Pfister & Gerstner (2006), minimal visual cortex
    assert float(triplet.parameters["A3_plus"].value) == pytest.approx(6.2e-3)
    assert float(triplet.parameters["tau_y"].value) == pytest.approx(0.125)
    assert float(triplet.parameters["A3_minus"].value) == 0


@pytest.mark.parametrize("model", STDP)
@pytest.mark.parametrize("w0_fraction", [0.5, 0.9])
def test_measured_window_equals_the_analytic_rule(model, w0_fraction):
    """Isolated pre/post pairs, dt = t_post - t_pre from -100 to +100 ms (dt != 0)."""
    dts = np.r_[np.arange(-100, 0, 7.5), np.arange(1, 101, 7.5)] * 1e-3
    spec = load_model(model)
    w0 = w0_fraction * spec.parameters["w_max"].value
    t_pre = np.full(dts.size, 0.15)
    w = simulate_stdp(spec, [[t] for t in t_pre], [[t] for t in t_pre + dts], w0=w0)
    measured = w - float(w0)
    expected = stdp_window(spec, dts, w0=w0)
    assert np.all(np.sign(expected) == np.sign(dts))  # LTP for pre -> post
    # to 1e-9 of the window's peak (the triplet model's pair potentiation, A2+ = 5e-10, is
    # below the float resolution of w itself, so a purely relative test cannot apply to it)
    np.testing.assert_allclose(measured, expected, rtol=1e-9, atol=1e-9 * np.max(np.abs(expected)))
    if model.startswith("stdp_multiplicative"):  # soft bound: LTP shrinks near w_max
        assert measured[dts > 0][0] / float(spec.parameters["w_max"].value) == pytest.approx(
            0.005 * (1 - w0_fraction) * np.exp(-1e-3 / 0.02), rel=1e-9
        )


def test_pairing_schemes_differ_in_trains_and_match_the_event_reference():
    """Pairings at 50 Hz, post 10 ms after pre: all-to-all also pairs each post spike with
    the *next* pre spike 10 ms later (depression) and with earlier pre spikes (potentiation);
    nearest-spike pairing keeps only the nearest neighbours."""
    pre = [0.1 + 0.02 * np.arange(10)]
    post = [pre[0] + 0.010]
    out = {}
    for model in STDP:
        spec = load_model(model)
        w0 = spec.parameters["w_max"].value / 2
        w = simulate_stdp(spec, pre, post, w0=w0, dt=1 * ms)[0]
        ref = stdp_reference(spec, pre[0], post[0], w0)
        assert w == pytest.approx(ref, rel=1e-12)
        out[model] = w - float(w0)
    # the schemes give measurably different results for the same trains
    assert abs(out["stdp_additive"] - out["stdp_additive_nearest"]) > 1e-3 * 0.15e-9
    # nearest: 10 pairs of +10 ms and 9 of -10 ms, each a single exponential
    A = 0.005 * 0.15e-9  # A+ w_max; tau+ = tau- = 20 ms: exp(-10/20)
    nearest = 10 * A * np.exp(-0.5) - 9 * 1.05 * A * np.exp(-0.5)
    assert out["stdp_additive_nearest"] == pytest.approx(nearest, rel=1e-9)


def test_weights_stay_within_bounds():
    """Many potentiating pairs push an additive synapse against w_max, never beyond."""
    spec = load_model("stdp_additive")
    pre = [0.1 + 0.01 * np.arange(20)]
    w = simulate_stdp(
        spec,
        pre,
        [pre[0] + 0.002],
        w0=0.14 * nS,
        dt=1 * ms,
        params={"A_plus": 0.05, "A_minus": 0.0},
    )
    assert w[0] == pytest.approx(0.15e-9, rel=1e-12)
    w = simulate_stdp(
        spec,
        [pre[0] + 0.002],
        pre,
        w0=0.01 * nS,
        dt=1 * ms,
        params={"A_plus": 0.0, "A_minus": 0.05},
    )
    assert w[0] == 0.0


def _dopamine_net(n=2, tau_d=200 * ms, d_tonic=0.0):
    """Neurons carrying rstdp's dopamine, with a silent plastic input setting tau_d."""
    rstdp = load_model("rstdp")
    g = make_neuron_group(load_model("lif"), n, name="post", synapse_models=[(rstdp, "v")])
    src = SpikeGeneratorGroup(1, [], [] * ms, name="silent")
    syn = make_plastic_synapses(
        rstdp,
        src,
        g,
        connect=True,
        w_init=1 * mV,
        target_var="v",
        params={"tau_d": tau_d, "d_tonic": d_tonic},
        name="plastic",
    )
    return g, src, syn


def test_reward_schedule_sets_dopamine_to_its_closed_form():
    """dopamine(t) = d_tonic + sum_k a_k exp(-(t - t_k)/tau_d) for t > t_k (exact)."""
    with use_backend("numpy", dt=1 * ms):
        g, src, syn = _dopamine_net(d_tonic=0.002)
        sched = RewardSchedule([0.05, 0.12, 0.12], [0.5, 0.25, 0.25])
        objs = deliver_rewards(sched, g, duration=0.3 * second)
        mon = StateMonitor(g, "dopamine", record=0)
        Network(g, src, syn, mon, *objs).run(0.3 * second)
        # a reward delivered in the step at t_k is recorded (at the start of each step) from
        # t_k + dt on, and has decayed for t - t_k - dt by then
        t = mon.t_[:]
        expected = 0.002 + sum(
            a * np.exp(-(t - tk - 1e-3) / 0.2) * (t > tk + 1e-9)
            for tk, a in ((0.05, 0.5), (0.12, 0.5))
        )
        np.testing.assert_allclose(mon.dopamine[0], expected, rtol=1e-9, atol=1e-12)


def test_network_operation_reward_equals_the_schedule():
    """Closed loop in runtime mode: a Python function decides the reward during the run."""
    with use_backend("numpy", dt=1 * ms):
        g, src, syn = _dopamine_net()
        op = reward_network_operation(lambda t: 0.5 if abs(float(t) - 0.05) < 5e-4 else 0.0, g)
        mon = StateMonitor(g, "dopamine", record=0)
        Network(g, src, syn, mon, op).run(0.2 * second)
        t = mon.t_[:]
        # the operation runs at the end of the step at 50 ms: recorded from 51 ms on
        expected = 0.5 * np.exp(-(t - 0.051) / 0.2) * (t > 0.05 + 1e-9)
        np.testing.assert_allclose(mon.dopamine[0], expected, rtol=1e-9, atol=1e-12)


def test_three_factor_rule_matches_its_closed_form():
    """One pre -> post pair (+5 ms) tags the synapse: c0 = A+ exp(-5/20); a reward of a at
    delay D then changes w, by time T, by eta c0 exp(-D/tau_c) a tau_s (1 - exp(-(T - t_r)/tau_s)),
    tau_s = tau_c tau_d/(tau_c + tau_d) (Izhikevich 2007, eq. 1-2 integrated with d_tonic = 0;
    forward Euler on a 0.5 ms step: agreement to 1 %). Without the reward w does not move."""
    D, a, T = 0.3, 0.5, 1.0
    with use_backend("numpy", dt=0.5 * ms):
        rstdp = load_model("rstdp")
        post = make_neuron_group(
            load_model("lif"),
            2,
            name="post",
            synapse_models=[(rstdp, "v")],
            params={"v_th": "0 mV"},
        )
        pre = SpikeGeneratorGroup(2, [0, 1], [100, 100] * ms, name="pre")
        # the postsynaptic spikes are imposed: v is pushed above threshold at 104.5 ms, so
        # the neurons fire in the step at 105 ms
        kick = SpikeGeneratorGroup(2, [0, 1], [104.5, 104.5] * ms, name="kick")
        syn = make_plastic_synapses(
            rstdp,
            pre,
            post,
            connect={"j": "i"},
            w_init=1 * mV,
            target_var="v",
            params={"d_tonic": 0},
            name="plastic",
        )
        force = Synapses(kick, post, on_pre="v_post = 200*mV", name="force")
        force.connect(j="i")
        spikes = SpikeMonitor(post)
        # reward reaches neuron 0 only: neuron 1 is the control without dopamine
        objs = deliver_rewards(RewardSchedule([0.105 + D], [a]), post[0:1], duration=T * second)
        Network(post, pre, kick, syn, force, spikes, *objs).run(T * second)
        np.testing.assert_allclose(spikes.t_[:], [0.105, 0.105], atol=1e-9)
        c0 = 0.1e-3 * np.exp(-0.005 / 0.020)
        tau_s = 1.0 * 0.2 / 1.2
        expected = (
            100.0 * c0 * np.exp(-D / 1.0) * a * tau_s * (1 - np.exp(-(T - 0.105 - D) / tau_s))
        )
        assert float(syn.w_[0]) - 1e-3 == pytest.approx(expected, rel=0.01)
        assert float(syn.w_[1]) == pytest.approx(1e-3, rel=1e-12)


def test_pairing_reward_detects_pairs_and_delays_rewards():
    """Pairs: pre 100 ms -> post 110 ms (yes), post 450 -> pre 500 (no: wrong order),
    pre 900 -> post 930 (no: 30 ms > window), pre 1200 -> post 1215 (yes)."""
    with use_backend("numpy", dt=1 * ms, seed=3):
        g, src, syn = _dopamine_net(n=3)
        pre = SpikeGeneratorGroup(1, [0, 0, 0, 0], [100, 500, 900, 1200] * ms, name="pre_cell")
        post = SpikeGeneratorGroup(1, [0, 0, 0, 0], [110, 450, 930, 1215] * ms, name="post_cell")
        r = pairing_reward(
            pre,
            0,
            post,
            0,
            g,
            window=20 * ms,
            delay=(0.2 * second, 0.4 * second),
            amount=0.5,
            n_slots=4,
        )
        rew = SpikeMonitor(r.timers)
        pairs = SpikeMonitor(r.critic)
        mon = StateMonitor(g, "dopamine", record=True)
        Network(g, src, syn, pre, post, rew, pairs, mon, *r.objects).run(1.65 * second)
        np.testing.assert_allclose(pairs.t_[:], [0.111, 1.216], atol=1e-9)
        assert rew.num_spikes == 2
        delays = rew.t_[:] - pairs.t_[:]
        assert np.all((delays >= 0.2 - 1e-9) & (delays <= 0.4 + 1e-3))
        k = np.argmax(mon.t_[:] > rew.t_[0] + 1e-9)
        # delivered in the step of the timer's spike, recorded at the start of the next one
        np.testing.assert_allclose(mon.dopamine[:, k], 0.5, rtol=1e-9)


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------
def _groups():
    src = SpikeGeneratorGroup(2, [], [] * ms, name="src")
    tgt = make_neuron_group(load_model("lif_cond"), 2, name="tgt")
    return src, tgt


def test_negative_time_constant_is_named():
    with use_backend("numpy"):
        src, tgt = _groups()
        with pytest.raises(ModelError, match="tau_plus.*time constant must be > 0"):
            make_plastic_synapses("stdp_additive", src, tgt, params={"tau_plus": "-20 ms"})
        with pytest.raises(ModelError, match="tau_y"):
            make_plastic_synapses("stdp_triplet", src, tgt, params={"tau_y": "-1 ms"})


def test_w_max_below_initial_weights_is_named():
    with use_backend("numpy"):
        src, tgt = _groups()
        with pytest.raises(
            ModelError,
            match=r"w_max .* is below the largest initial weight "
            r"w_init",
        ):
            make_plastic_synapses("stdp_additive", src, tgt, w_init=0.2 * nS)
        with pytest.raises(ModelError, match="w_max"):
            make_plastic_synapses(
                "stdp_multiplicative", src, tgt, w_init=0.1 * nS, params={"w_max": "0.05 nS"}
            )
        with pytest.raises(ModelError, match="w_init"):
            make_plastic_synapses("stdp_additive", src, tgt, w_init=-0.01 * nS)
        with pytest.raises(ModelError, match="w_init"):
            make_plastic_synapses("stdp_additive", src, tgt, w_init=0.1 * mV)


def test_reward_schedule_outside_the_run_is_named():
    with use_backend("numpy"):
        g, src, syn = _dopamine_net()
        with pytest.raises(ModelError, match=r"times.*|reward at t = 2 s is outside the run"):
            deliver_rewards(RewardSchedule([0.5, 2.0]), g, duration=1 * second)
        with pytest.raises(ModelError, match="outside the run") as err:
            deliver_rewards(RewardSchedule([1.0]), g, duration=1 * second)
        assert err.value.parameter == "times"
    with pytest.raises(ModelError, match="times must be finite and >= 0"):
        RewardSchedule([-0.1, 0.2])
    with pytest.raises(ModelError, match="2 amounts for 3 times"):
        RewardSchedule([0.1, 0.2, 0.3], [0.5, 0.5])


def test_dopamine_and_backend_misuse_are_explained():
    with use_backend("numpy"):
        src, tgt = _groups()
        with pytest.raises(ModelError, match="no 'dopamine'"):
            make_plastic_synapses("rstdp", src, tgt, target_var="v", w_init=1 * mV)
        with pytest.raises(ModelError, match="no 'dopamine' variable"):
            deliver_rewards(RewardSchedule([0.1]), tgt, duration=1 * second)
        g, s2, syn = _dopamine_net()
        with pytest.raises(ModelError, match="post_index = 5"):
            pairing_reward(g, 0, g, 5, g)
        with pytest.raises(ModelError, match="delay"):
            pairing_reward(g, 0, g, 1, g, delay=(3 * second, 1 * second))
    with use_backend("cpp_standalone"):
        g, s2, syn = _dopamine_net()
        with pytest.raises(ModelError, match="standalone"):
            reward_network_operation(lambda t: 0.0, g)
    with pytest.raises(ModelError, match="pairing must be one of all_to_all, nearest"):
        stdp_model("additive", "nearest_neighbour")

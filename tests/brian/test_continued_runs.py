"""Continued runs (issue 14, item 7; brian2 #355): Simulation.run(continued=True) carries
time, state and spikes in flight over to the next run; a connection's delay can be set per
run."""

import numpy as np
import pytest
from brian2 import ms, nA

from neurolearn import ModelError
from neurolearn.brian import NetworkSpec

DT = 0.1 * ms


def _net(delay=3 * ms):
    """One input spike at 9.5 ms onto one LIF neuron through a strong synapse with a delay:
    the neuron spikes once the spike arrives."""
    net = NetworkSpec(dt=DT)
    net.add_input("drive", "spike_generator", 1, indices=[0, 0], times=[9.5, 25.0] * ms)
    net.add_population("cell", "lif", 1, params={"tau_syn": 1 * ms})
    net.connect("drive", "cell", "static_current", name="syn", weight=20 * nA, delay=delay)
    net.monitor_spikes("cell").monitor_state("cell", ["v"])
    return net


def _times(res):
    return np.round(np.asarray(res.spikes["cell"].times) / float(DT)).astype(int)


def test_a_spike_in_flight_crosses_two_runs():
    whole = _net().run(40 * ms)
    sim = _net().build(10 * ms)  # the input spike (9.5 ms) is in flight at t = 10 ms
    first = sim.run()
    assert _times(first).size == 0
    for _ in range(3):
        last = sim.run(continued=True)
    assert float(last.duration) == pytest.approx(0.04)
    assert _times(whole).size == 2
    np.testing.assert_array_equal(_times(last), _times(whole))
    np.testing.assert_array_equal(
        np.asarray(last.states["cell"].values["v"]), np.asarray(whole.states["cell"].values["v"])
    )


def test_a_changed_delay_takes_effect_in_the_next_run():
    sim = _net(delay=3 * ms).build(20 * ms)
    first = sim.run()
    second = sim.run(params={"syn": {"delay": 1 * ms}}, continued=True)
    d3 = _times(first)
    assert d3.size == 1
    later = _times(second)[1:]  # the input spike at 25 ms, now 1 ms late instead of 3
    reference = _times(_net(delay=1 * ms).run(40 * ms))
    assert later.size == 1 and later[0] == reference[1]
    assert _times(_net(delay=3 * ms).run(40 * ms))[1] - later[0] == 20  # 2 ms earlier
    # a run that is not continued starts again at t = 0 with the build-time delay
    again = sim.run()
    np.testing.assert_array_equal(_times(again), d3)


def test_delay_set_per_run_in_standalone_through_run_args(tmp_path):
    # one compiled program; the delay of each run arrives as a run_args value (no
    # recompilation) and gives the spikes a runtime build with that delay gives
    sim = _net(delay=3 * ms).build(40 * ms, backend="cpp_standalone", directory=tmp_path / "p")
    try:
        built = sim.run()
        changed = sim.run(params={"syn": {"delay": 1 * ms}})
        again = sim.run()
    finally:
        sim.close()
    d3, d1 = _times(_net(delay=3 * ms).run(40 * ms)), _times(_net(delay=1 * ms).run(40 * ms))
    assert d3.size == 2 and np.all(d1 == d3 - 20)  # each spike 2 ms earlier
    np.testing.assert_array_equal(_times(built), d3)
    np.testing.assert_array_equal(_times(changed), d1)
    np.testing.assert_array_equal(_times(again), d3)  # the next run has the build's delay


def test_standalone_continued_runs_replay_with_the_spike_in_flight(tmp_path):
    # a standalone program cannot be resumed: a continued run replays the runs since the
    # last fresh one in a new program; the spike in flight at 10 ms and a delay changed for
    # the last run give the runtime's continued numbers
    ref = _net().build(10 * ms)
    ref.run()
    ref_two = ref.run(continued=True)
    ref_three = ref.run(params={"syn": {"delay": 1 * ms}}, continued=True)
    sim = _net().build(10 * ms, backend="cpp_standalone", directory=tmp_path / "p")
    try:
        assert _times(sim.run()).size == 0
        two = sim.run(continued=True)
        three = sim.run(params={"syn": {"delay": 1 * ms}}, continued=True)
        fresh = sim.run()
    finally:
        sim.close()
    assert float(two.duration) == pytest.approx(0.02)
    assert float(three.duration) == pytest.approx(0.03)
    assert _times(ref_two).size == 1  # the input spike of 9.5 ms arrived in the second run
    for got, want in ((two, ref_two), (three, ref_three)):
        np.testing.assert_array_equal(_times(got), _times(want))
        np.testing.assert_allclose(
            np.asarray(got.states["cell"].values["v"]),
            np.asarray(want.states["cell"].values["v"]),
            rtol=1e-9,
            atol=1e-12,
        )
    assert _times(fresh).size == 0 and float(fresh.duration) == pytest.approx(0.01)
    assert not list(tmp_path.glob("*replay*"))


def test_continued_runs_are_refused_where_they_cannot_be():
    sim = _net().build(10 * ms)
    with pytest.raises(ModelError, match="no earlier run to continue"):
        sim.run(continued=True)
    with pytest.raises(ModelError, match=r"params\['syn'\]: delay must be a time"):
        sim.run(params={"syn": {"delay": 3}})

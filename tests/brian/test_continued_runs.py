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


def test_continued_runs_are_refused_where_they_cannot_be():
    sim = _net().build(10 * ms)
    with pytest.raises(ModelError, match="no earlier run to continue"):
        sim.run(continued=True)
    with pytest.raises(ModelError, match=r"params\['syn'\]: delay must be a time"):
        sim.run(params={"syn": {"delay": 3}})

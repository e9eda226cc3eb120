"""The backend table and Backend.run: every backend name derives from one table, and one
function runs a network on any backend (runtime: Network.run; standalone: build once, run the
program, rerun with run_args)."""

import numpy as np
import pytest
from brian2 import Network, NeuronGroup, SpikeMonitor, ms

from neurolearn import ModelError
from neurolearn.brian import BACKENDS
from neurolearn.brian.backends import (
    BACKEND_TABLE,
    RUNTIME_BACKENDS,
    STANDALONE_BACKENDS,
    backend_info,
    use_backend,
)


def test_names_derive_from_the_table():
    assert (
        BACKENDS
        == tuple(BACKEND_TABLE)
        == (
            "numpy",
            "cython",
            "cpp_standalone",
            "cuda_standalone",
        )
    )
    assert RUNTIME_BACKENDS == ("numpy", "cython")
    assert STANDALONE_BACKENDS == ("cpp_standalone", "cuda_standalone")
    for name, info in BACKEND_TABLE.items():
        assert info.name == name
        assert info.is_standalone == (info.build is not None)
        assert info.is_standalone == (info.codegen_target is None)
    assert BACKEND_TABLE["numpy"].missing() == []
    assert {"nvcc", "brian2cuda"} <= set(BACKEND_TABLE["cuda_standalone"].needs_to_build)
    assert BACKEND_TABLE["cuda_standalone"].needs_to_run == ("NVIDIA GPU",)
    with pytest.raises(ModelError, match="unknown backend 'gpu'; choose one of: numpy, cython"):
        backend_info("gpu")


def _leaky_pair(tau_name="tau_x"):
    """Two neurons relaxing to v = 2 with the time constant ``tau_x`` of the caller's frame; a
    spike at v > 1 resets to v = 0."""
    group = NeuronGroup(
        2,
        f"dv/dt = (2 - v)/{tau_name} : 1\nk : 1",
        threshold="v > 1",
        reset="v = 0",
        method="exact",
    )
    monitor = SpikeMonitor(group)
    return group, monitor, Network(group, monitor)


@pytest.mark.parametrize("name", ["numpy", "cpp_standalone"])
def test_backend_run_takes_the_callers_namespace_and_run_args(name, tmp_path):
    tau_x = 10 * ms  # noqa: F841 - read by Brian2 from this frame (namespace=None)
    # exact solution v = 2 - (2 - v0) exp(-t/tau): first spike at t = tau ln(2 - v0), recorded
    # at the start of the step whose update crosses v = 1
    with use_backend(name, dt=0.1 * ms, directory=tmp_path) as backend:
        group, monitor, net = _leaky_pair()
        backend.run(net, 30 * ms, run_args={group.v: np.array([0.0, 0.9])})
        first = np.asarray(monitor.t[:][monitor.i[:] == 1] / ms)[0]
    assert first == pytest.approx(10 * np.log(2 - 0.9), abs=0.1)
    if name == "cpp_standalone":
        build_s = backend.timings["build_s"]
        # a second run of the compiled program with other initial values: no new build
        backend.run(net, 30 * ms, run_args={group.v: np.array([0.5, 0.5])})
        assert backend.timings["build_s"] == build_s
        with backend.active():
            t = np.asarray(monitor.t[:] / ms)
            i = np.asarray(monitor.i[:])
        assert t[i == 0][0] == pytest.approx(10 * np.log(2 - 0.5), abs=0.1)
        assert t[i == 1][0] == pytest.approx(t[i == 0][0])
        backend.close()


def test_reentering_a_backend_keeps_its_build_options(tmp_path):
    # Brian2's Device.activate() sets build_options to the arguments of set_device; active()
    # used to pass none, so options given to use_backend (here with_output, which
    # build_standalone reads) were gone when the project was built after the block
    with use_backend("cpp_standalone", dt=0.1 * ms, directory=tmp_path, with_output=True) as b:
        assert b.device.build_options == {"with_output": True}
    with b.active():
        assert b.device.build_options == {"with_output": True}
    with b.active():  # and again: nothing is lost by re-entering
        assert b.device.build_options == {"with_output": True}
    b.close()

"""Benchmark: the CUBA network built with neurolearn vs written by hand in plain Brian2.

The network is the "CUBA" example of the Brian2 documentation (after Vogels & Abbott 2005,
J. Neurosci. 25:10786, and benchmark 2 of Brette et al. 2007, J. Comput. Neurosci. 23:349):
4000 current-based LIF neurons with exponential synaptic currents, 3200 excitatory and 800
inhibitory, 2 % random connectivity, 1 s of biological time, dt = 0.1 ms.

Each variant runs in a fresh Python process (so that no Brian2 state is shared), on
``cython`` and ``cpp_standalone``; the time measured is from creating the network to having
its spikes in hand (imports excluded). Each time is given as wall-clock time and as CPU time
(user + system, of the Python process and of everything it waited for: compiler, the
standalone program), which a shared machine disturbs much less than the wall clock. Plain
and neurolearn runs alternate, so that a change of the background load hits both. Printed:

* cython, cold: with an empty Cython cache (includes compiling the extensions);
* cython, warm: best of ``--repeat`` runs with the cache filled;
* cpp_standalone, total: code generation + compilation + run (best of ``--repeat`` fresh
  processes and project folders);
* cpp_standalone, binary: running the compiled program only (best of 5 runs after the
  first; both variants timed by Brian2's own ``device.timers["run_binary"]``, i.e. the
  ``subprocess`` call of the program, and CPU time of that program);
* neurolearn's second cpp_standalone run with a changed parameter (the excitatory weight,
  +10 %) through ``run_args``: no recompilation.

The ratio neurolearn / plain Brian2 is the overhead of neurolearn (goal: <= 1.05).

Usage: ``python benchmarks/cuba.py [--repeat 2] [--duration 1s] [--json FILE]``; ``--json``
writes every row and the provenance record (command, date, git revision, versions, CPU,
threads, load average: :func:`neurolearn.provenance.provenance`) to FILE, e.g.
``benchmarks/results/cuba_<date>.json``, which the documentation's benchmarks page renders.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

N, N_EXC = 4000, 3200
#: The compiled program is run this many times per process; the shortest time is reported.
BINARY_REPEATS = 5


def _cpu_s(who=None) -> float:
    """CPU seconds (user + system) used so far by this process and its finished children,
    or by one of them (``resource.RUSAGE_SELF`` / ``RUSAGE_CHILDREN``)."""
    import resource

    whos = (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN) if who is None else (who,)
    return sum(resource.getrusage(w).ru_utime + resource.getrusage(w).ru_stime for w in whos)


def _time_binary(run_once) -> tuple[float, float]:
    """Best wall time (Brian2's ``run_binary`` timer) and best CPU time of the standalone
    program over ``BINARY_REPEATS`` calls of ``run_once() -> device``."""
    import resource

    walls, cpus = [], []
    for _ in range(BINARY_REPEATS):
        c0 = _cpu_s(resource.RUSAGE_CHILDREN)
        dev = run_once()
        cpus.append(_cpu_s(resource.RUSAGE_CHILDREN) - c0)
        walls.append(dev.timers["run_binary"])
    return min(walls), min(cpus)


def plain_brian2(backend: str, duration_s: float, directory: str) -> dict:
    """The Brian2 documentation's CUBA example, unchanged but for the device set-up."""
    from brian2 import (
        NeuronGroup,
        SpikeMonitor,
        Synapses,
        device,
        ms,
        mV,
        prefs,
        run,
        second,
        set_device,
    )

    if backend == "cpp_standalone":
        set_device("cpp_standalone", directory=directory)
    else:
        prefs.codegen.target = backend
    t0, c0 = time.perf_counter(), _cpu_s()
    taum = 20 * ms  # noqa: F841 - read by Brian2 from the local namespace
    taue = 5 * ms  # noqa: F841 - read by Brian2 from the local namespace
    taui = 10 * ms  # noqa: F841 - read by Brian2 from the local namespace
    Vt = -50 * mV  # noqa: F841 - read by Brian2 from the local namespace
    Vr = -60 * mV  # noqa: F841 - read by Brian2 from the local namespace
    El = -49 * mV  # noqa: F841 - read by Brian2 from the local namespace
    eqs = """
    dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    """
    P = NeuronGroup(N, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms, method="exact")
    P.v = "Vr + rand() * (Vt - Vr)"
    P.ge = 0 * mV
    P.gi = 0 * mV
    we = (60 * 0.27 / 10) * mV  # noqa: F841 - excitatory synaptic weight (voltage), read by Brian2
    wi = (-20 * 4.5 / 10) * mV  # noqa: F841 - inhibitory synaptic weight, read by Brian2
    Ce = Synapses(P, P, on_pre="ge += we")
    Ci = Synapses(P, P, on_pre="gi += wi")
    Ce.connect("i<3200", p=0.02)
    Ci.connect("i>=3200", p=0.02)
    s_mon = SpikeMonitor(P)
    run(duration_s * second)
    n_spikes = int(s_mon.num_spikes)
    out = {"total_s": time.perf_counter() - t0, "total_cpu_s": _cpu_s() - c0, "n_spikes": n_spikes}
    if backend == "cpp_standalone":

        def once():
            device.run(with_output=False)
            return device

        out["binary_s"], out["binary_cpu_s"] = _time_binary(once)
    return out


def cuba_specs():
    """The CUBA neuron and synapse as neurolearn specs (what a user would put in TOML files).
    Parameters are shared by all neurons, as in the plain version."""
    from neurolearn.spec import ModelSpec

    neuron = ModelSpec.from_dict(
        {
            "name": "cuba_lif",
            "kind": "neuron",
            "title": "CUBA LIF neuron (voltage-valued exponential synaptic inputs)",
            "reference": "Brette et al. (2007) J. Comput. Neurosci. 23:349, benchmark 2; Brian2 "
            "documentation, example CUBA",
            "method": "exact",
            "equations": "dv/dt = (ge + gi - (v - El))/taum : volt (unless refractory)\n"
            "dge/dt = -ge/taue : volt\n"
            "dgi/dt = -gi/taui : volt\n",
            "threshold": "v > Vt",
            "reset": "v = Vr",
            "refractory": "t_ref",
            "parameters": {
                "taum": "20 ms",
                "taue": "5 ms",
                "taui": "10 ms",
                "Vt": "-50 mV",
                "Vr": "-60 mV",
                "El": "-49 mV",
                "t_ref": "5 ms",
            },
            "initial": {"ge": "0 mV", "gi": "0 mV"},
            "roles": {
                "time_constants": ["taum", "taue", "taui"],
                "synaptic_targets": ["ge", "gi"],
                "threshold_variable": "v",
            },
        }
    )
    synapse = ModelSpec.from_dict(
        {
            "name": "cuba_syn",
            "kind": "synapse",
            "title": "static synapse adding a shared weight w to the target",
            "reference": "Brette et al. (2007) J. Comput. Neurosci. 23:349",
            "equations": "",
            "on_pre": "{target}_post += w",
            "target": "ge",
            "parameters": {"w": {"value": "1 mV", "range": ["-100 mV", "100 mV"]}},
            "roles": {"time_constants": []},
        }
    )
    return neuron, synapse


def with_neurolearn(backend: str, duration_s: float, directory: str) -> dict:
    from brian2 import mV, second

    from neurolearn.brian import NetworkSpec

    t0, c0 = time.perf_counter(), _cpu_s()
    neuron, synapse = cuba_specs()
    we = (60 * 0.27 / 10) * mV
    wi = (-20 * 4.5 / 10) * mV
    net = NetworkSpec(name="cuba")
    net.add_population("P", neuron, N, initial={"v": "Vr + rand()*(Vt - Vr)"})
    net.connect(
        "P", "P", synapse, name="Ce", target_var="ge", condition="i<3200", p=0.02, weight=we
    )
    net.connect(
        "P", "P", synapse, name="Ci", target_var="gi", condition="i>=3200", p=0.02, weight=wi
    )
    net.monitor_spikes("P")
    sim = net.build(duration_s * second, backend=backend, directory=directory)
    res = sim.run()
    out = {
        "total_s": time.perf_counter() - t0,
        "total_cpu_s": _cpu_s() - c0,
        "n_spikes": res.spikes["P"].count,
    }
    if backend == "cpp_standalone":

        def once():
            sim.run()
            return sim.backend.device

        out["binary_s"], out["binary_cpu_s"] = _time_binary(once)
        t1 = time.perf_counter()
        res2 = sim.run(params={"Ce": {"w": 1.1 * we}})
        out["second_run_s"] = time.perf_counter() - t1
        out["second_run_n_spikes"] = res2.spikes["P"].count
        out["second_run_binary_s"] = sim.backend.device.timers["run_binary"]
    sim.close()
    return out


def _child(variant, backend, duration_s, cache_dir):
    import warnings

    warnings.filterwarnings("ignore")
    from brian2 import prefs

    if cache_dir:
        prefs["codegen.runtime.cython.cache_dir"] = cache_dir
    directory = tempfile.mkdtemp(prefix=f"cuba_{variant}_")
    fn = plain_brian2 if variant == "plain" else with_neurolearn
    print("RESULT " + json.dumps(fn(backend, duration_s, directory)))


def _spawn(variant, backend, duration_s, cache_dir):
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        variant,
        backend,
        str(duration_s),
        cache_dir or "",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{variant}/{backend} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat",
        type=int,
        default=2,
        help="warm cython and cpp_standalone runs, best of (default 2)",
    )
    parser.add_argument("--duration", default="1s", help="biological time (default 1s)")
    parser.add_argument("--json", metavar="FILE", help="write the results to FILE (JSON)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        variant, backend, duration_s, cache = args.child
        _child(variant, backend, float(duration_s), cache or None)
        return 0
    from neurolearn.spec import parse_quantity

    duration_s = float(parse_quantity(args.duration, "duration"))
    rows = []
    cache = {v: tempfile.mkdtemp(prefix=f"cython_cache_{v}_") for v in ("plain", "neurolearn")}

    def both(label, backend, key, cache_for=None, repeat=1):
        """Best (by wall time) of ``repeat`` runs per variant, plain and neurolearn alternating."""
        vals = {}
        for _ in range(repeat):
            for variant in ("plain", "neurolearn"):
                r = _spawn(variant, backend, duration_s, cache_for and cache_for[variant])
                if variant not in vals or r[key] < vals[variant][key]:
                    vals[variant] = r
        rows.append(
            (
                label,
                vals["plain"][key],
                vals["neurolearn"][key],
                vals["plain"][key.replace("_s", "_cpu_s")],
                vals["neurolearn"][key.replace("_s", "_cpu_s")],
                vals["plain"]["n_spikes"],
                vals["neurolearn"]["n_spikes"],
            )
        )
        return vals

    print(
        f"CUBA, {N} neurons, {duration_s:g} s; machine: {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    both("cython, cold cache (incl. compilation)", "cython", "total_s", cache)
    both(f"cython, warm cache (best of {args.repeat})", "cython", "total_s", cache, args.repeat)
    cpp = both(
        f"cpp_standalone, total (best of {args.repeat})",
        "cpp_standalone",
        "total_s",
        repeat=args.repeat,
    )
    rows.append(
        (
            f"cpp_standalone, binary only (best of {BINARY_REPEATS})",
            cpp["plain"]["binary_s"],
            cpp["neurolearn"]["binary_s"],
            cpp["plain"]["binary_cpu_s"],
            cpp["neurolearn"]["binary_cpu_s"],
            cpp["plain"]["n_spikes"],
            cpp["neurolearn"]["n_spikes"],
        )
    )
    print(
        f"{'':46s} {'wall: plain s':>13s} {'neurolearn s':>13s} {'ratio':>6s}   "
        f"{'CPU: plain s':>12s} {'neurolearn s':>13s} {'ratio':>6s}   spikes (plain / nl)"
    )
    for label, a, b, ca, cb, na, nb in rows:
        print(
            f"{label:46s} {a:13.2f} {b:13.2f} {b / a:6.3f}   {ca:12.2f} {cb:13.2f} "
            f"{cb / ca:6.3f}   {na} / {nb}"
        )
    nl = cpp["neurolearn"]
    print(
        f"neurolearn cpp_standalone second run, w_exc +10 % (run_args, no recompilation): "
        f"{nl['second_run_s']:.2f} s (binary {nl['second_run_binary_s']:.2f} s), "
        f"{nl['second_run_n_spikes']} spikes (first run: {nl['n_spikes']}); "
        f"first run total {nl['total_s']:.2f} s"
    )
    print(
        f"load average at the end: {os.getloadavg()[0]:.1f} (wall times on a shared machine "
        f"vary by tens of percent between runs; CPU times much less)"
    )
    if args.json:
        from neurolearn.provenance import provenance

        record = {
            "benchmark": "cuba",
            "network": {"neurons": N, "duration_s": duration_s},
            "args": {"repeat": args.repeat, "duration": args.duration},
            "provenance": provenance(),
            "results": {
                label: {
                    "plain_wall_s": a,
                    "neurolearn_wall_s": b,
                    "wall_ratio": b / a,
                    "plain_cpu_s": ca,
                    "neurolearn_cpu_s": cb,
                    "cpu_ratio": cb / ca,
                    "spikes_plain": na,
                    "spikes_neurolearn": nb,
                }
                for label, a, b, ca, cb, na, nb in rows
            },
            "second_run": {
                "wall_s": nl["second_run_s"],
                "binary_s": nl["second_run_binary_s"],
                "n_spikes": nl["second_run_n_spikes"],
            },
        }
        with open(args.json, "w") as f:
            json.dump(record, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

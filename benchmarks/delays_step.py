"""Time and memory cost of learnable synaptic delays in one training step (forward +
backward), as ratios to the same network without delays, measured in one run.

Network: ``--inputs`` inputs -> ``--hidden`` recurrent current-based LIF neurons -> 20
leaky-integrator readout units, ``--steps`` time steps of 1 ms, batch ``--batch``, input
spike density 2 %, float32, CPU, one torch thread; loss = cross-entropy on the max-over-time
readout. Variants (``SpikingNetwork.build`` keywords; delays up to ``--max-delay`` ms, i.e.
``K + 1`` taps of the Gaussian kernels while they are smoothed, DCLS):

``none``                 no delays (the fused time loop; the reference)
``per_synapse``          delays per synapse of the input and readout connections
``per_presynaptic``      one delay per presynaptic neuron (input and readout)
``per_connection``       one delay per connection
``per_synapse+rec``      per synapse, and per-synapse recurrent delays (step-by-step path)
``per_synapse-rounded``  per synapse after rounding (sigma = 0: only the used taps)

Each variant runs in its own subprocess (so that peak memory is its own); time is the median
CPU time (``time.process_time``) of ``--repeats`` steps after one warm-up step, memory the
growth of the peak resident set size (``ru_maxrss``) over the first step. The subprocesses
run in alternating order over ``--rounds`` rounds, and the ratios use the medians over rounds.

Usage::

    python benchmarks/delays_step.py [--steps 100] [--batch 16] [--inputs 200]
        [--hidden 128] [--max-delay 25] [--repeats 3] [--rounds 1] [--json FILE]

Prints one line per variant with its time and memory and their ratios to ``none``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

VARIANTS = {
    "none": {},
    "per_synapse": {"delays": "per_synapse"},
    "per_presynaptic": {"delays": "per_presynaptic"},
    "per_connection": {"delays": "per_connection"},
    "per_synapse+rec": {"delays": "per_synapse", "recurrent_delays": "per_synapse"},
    "per_synapse-rounded": {"delays": "per_synapse", "round": True},
}


def _child(args) -> dict:
    """One variant's measurement (run in a subprocess)."""
    import torch

    from neurolearn.torch import SpikingNetwork, readout_loss

    torch.set_num_threads(1)
    kw = dict(VARIANTS[args.variant])
    rounded = kw.pop("round", False)
    if kw:
        kw["max_delay"] = f"{args.max_delay} ms"
    g = torch.Generator().manual_seed(0)
    net = SpikingNetwork.build(
        args.inputs, [args.hidden], 20, model="lif", dt="1 ms", generator=g, **kw
    )
    if rounded:
        net.round_delays_()
    x = (torch.rand(args.steps, args.batch, args.inputs, generator=g) < 0.02).float()
    labels = torch.randint(0, 20, (args.batch,), generator=g)

    def step():
        net.zero_grad()
        readout_loss(net(x), labels).backward()

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    step()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0
    times = []
    for _ in range(args.repeats):
        t0 = time.process_time()
        step()
        times.append(time.process_time() - t0)
    return {"time_s": statistics.median(times), "peak_mb": peak_kb / 1024}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--inputs", type=int, default=200)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--max-delay", type=float, default=25.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--json", default=None)
    p.add_argument("--variant", default=None, help=argparse.SUPPRESS)  # child process
    args = p.parse_args(argv)
    if args.variant is not None:
        print(json.dumps(_child(args)))
        return {}
    results: dict = {v: [] for v in args.variants}
    for r in range(args.rounds):
        order = args.variants if r % 2 == 0 else args.variants[::-1]
        for v in order:
            cmd = [sys.executable, __file__, "--variant", v]
            for key in ("steps", "batch", "inputs", "hidden", "max_delay", "repeats"):
                cmd += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
            env = dict(os.environ, OMP_NUM_THREADS="1")
            out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
            results[v].append(json.loads(out.stdout.strip().splitlines()[-1]))
    summary = {}
    for v, rows in results.items():
        summary[v] = {
            "time_s": statistics.median(r["time_s"] for r in rows),
            "peak_mb": statistics.median(r["peak_mb"] for r in rows),
        }
    ref = summary.get("none")
    print(
        f"{args.inputs} -> {args.hidden} (recurrent LIF) -> 20, T = {args.steps} steps of 1 ms, "
        f"batch {args.batch}, max delay {args.max_delay:g} ms, {args.rounds} round(s)"
    )
    print(f"{'variant':22s} {'time (s)':>9s} {'x none':>7s} {'peak (MB)':>10s} {'x none':>7s}")
    for v, s in summary.items():
        if ref:
            s["time_ratio"] = s["time_s"] / ref["time_s"]
            s["memory_ratio"] = s["peak_mb"] / ref["peak_mb"] if ref["peak_mb"] > 0 else None
        tr = f"{s.get('time_ratio', float('nan')):7.2f}"
        mr = s.get("memory_ratio")
        mr = f"{mr:7.2f}" if mr is not None else "    n/a"
        print(f"{v:22s} {s['time_s']:9.3f} {tr} {s['peak_mb']:10.1f} {mr}")
    report = {"settings": {k: v for k, v in vars(args).items() if k != "variant"}, **summary}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == "__main__":
    main()

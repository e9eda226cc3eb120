"""Forward + backward time and peak memory of one training step of a recurrent LIF network,
neurolearn's torch bridge against the same network written in snnTorch and in Norse.

Network (the issue's benchmark): 700 inputs -> 256 recurrent current-based LIF neurons
(tau_m 20 ms, tau_syn 5 ms, dt 1 ms) -> 20 leaky-integrator readout units; batch 64, 250 time
steps, input spike density 2 %, float32, CPU; loss = cross-entropy on the max-over-time
readout; one step = forward + backward.

Implementations
    ``neurolearn``       SpikingNetwork.build(...): the hidden LIF layer runs the fused time
                         loop (one custom autograd function, hand-written adjoint; membrane
                         recomputed per chunk in the backward pass; readout weights applied
                         inside the loop), the readout its own fused loop
    ``neurolearn-store`` the same with ``fused_recompute=False`` (membrane stored)
    ``neurolearn-step``  the same with ``fused=False``: step-by-step autograd (plain BPTT)
    ``neurolearn-lean``  ``checkpoint_every=25`` (memory-lean mode, step-by-step)
    ``snntorch``         nn.Linear + snntorch.RSynaptic (all-to-all recurrence), snntorch
                         Synaptic readout without reset; input projection per step (the
                         library's documented usage)
    ``norse``            norse.torch.LIFRecurrentCell + LILinearCell, stepped over time

Each implementation runs in its own subprocess (so that peak memory is its own): peak memory
is the growth of the resident set size (``ru_maxrss``) during the first forward+backward after
the model and the input exist ("cold": includes one-time growth such as code pages of kernels
used for the first time), and "warm" the growth during a second step after resetting the
high-water mark (``/proc/self/clear_refs``), i.e. what each further training step needs; the
memory children run with ``MALLOC_MMAP_THRESHOLD_=65536`` so that freed blocks leave the
resident set (the time children use the default allocator, unless ``--mmap-time``); "saved for backward" adds up the distinct storages autograd
keeps for the backward pass (``torch.autograd.graph.saved_tensors_hooks``; for the lean mode
only the chunk boundaries, since chunks are recomputed); time is the median over ``--repeats`` steps (after one warm-up
step) of the process's CPU time, and the median of that over ``--rounds`` rounds in which the
implementations run in alternating order (so that a drift of the shared machine's speed over
the minutes of the run hits every implementation alike) (``time.process_time``; with one thread it is the work done,
insensitive to other jobs on a shared machine; wall time is printed too; on a GPU the wall
time with synchronisation is used).
The machine is shared: run this once, with nothing else running if possible, and read the
ratios rather than the absolute numbers.

Usage::

    python benchmarks/torch_step.py [--repeats 5] [--rounds 3] [--threads 1] [--device cpu]
                                    [--dtype float32|float64] [--impl neurolearn norse ...]
                                    [--baseline DIR] [--json FILE]

``--baseline DIR`` also runs every ``neurolearn*`` implementation with the neurolearn source
tree in ``DIR`` first on the path (e.g. a ``git archive`` of ``main``), as ``<impl>@baseline``,
in the same alternating rounds, and prints the ratios of each to its baseline: a before/after
comparison of a change measured in one run. ``--json FILE`` writes every result (and the
versions and machine) to ``FILE``.

Prints one line per implementation and the ratios of neurolearn against the baselines, and
the goals (time <= 0.5 x Norse, peak memory <= 0.5 x the leaner baseline).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

N_IN, N_HID, N_OUT, BATCH, STEPS, DENSITY = 700, 256, 20, 64, 250, 0.02
DTYPE = [None]  # torch dtype of the run (--dtype), set in child()
DT, TAU_M, TAU_SYN = 1e-3, 20e-3, 5e-3


def _hwm_kb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _input(torch, device):
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(STEPS, BATCH, N_IN, generator=g) < DENSITY).to(device, DTYPE[0])
    y = torch.randint(0, N_OUT, (BATCH,), generator=g).to(device)
    return x, y


def _build(impl, torch, device):
    import torch.nn.functional as F

    if impl.startswith("neurolearn"):
        from neurolearn.torch import SpikingNetwork, readout_loss

        net = SpikingNetwork.build(
            N_IN,
            [N_HID],
            N_OUT,
            model="lif",
            dt=f"{DT * 1e3} ms",
            recurrent=True,
            params={"t_ref": "0 ms"},
            check_finite=True,
            checkpoint_every=25 if impl == "neurolearn-lean" else None,
            fused=False if impl == "neurolearn-step" else None,
            fused_recompute=impl != "neurolearn-store",
            dtype=DTYPE[0],
            generator=torch.Generator().manual_seed(1),
        )
        net = net.to(device, DTYPE[0])

        def step(x, y):
            return readout_loss(net(x), y, "max")

        return net, step
    if impl == "snntorch":
        import snntorch as snn
        from snntorch import surrogate
        from torch import nn

        alpha, beta = (
            float(torch.exp(torch.tensor(-DT / TAU_SYN))),
            float(torch.exp(torch.tensor(-DT / TAU_M))),
        )

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = nn.Linear(N_IN, N_HID, bias=False)
                self.lif1 = snn.RSynaptic(
                    alpha,
                    beta,
                    linear_features=N_HID,
                    spike_grad=surrogate.fast_sigmoid(25),
                    reset_mechanism="zero",
                )
                self.fc2 = nn.Linear(N_HID, N_OUT, bias=False)
                self.out = snn.Synaptic(alpha, beta, reset_mechanism="none", threshold=1e9)

            def forward(self, x):
                spk, syn, mem = self.lif1.init_rsynaptic()
                syn2, mem2 = self.out.init_synaptic()
                outs = []
                for t in range(x.shape[0]):
                    spk, syn, mem = self.lif1(self.fc1(x[t]), spk, syn, mem)
                    _, syn2, mem2 = self.out(self.fc2(spk), syn2, mem2)
                    outs.append(mem2)
                return torch.stack(outs)

        net = Net().to(device, DTYPE[0])

        def step(x, y):
            return F.cross_entropy(net(x).max(0).values, y)

        return net, step
    if impl == "norse":
        import norse.torch as nt
        from torch import nn

        p = nt.LIFParameters(
            tau_syn_inv=torch.tensor(1 / TAU_SYN),
            tau_mem_inv=torch.tensor(1 / TAU_M),
            v_th=torch.tensor(1.0),
        )

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.rec = nt.LIFRecurrentCell(N_IN, N_HID, p=p, dt=DT)
                self.out = nt.LILinearCell(N_HID, N_OUT, dt=DT)

            def forward(self, x):
                s1 = s2 = None
                outs = []
                for t in range(x.shape[0]):
                    z, s1 = self.rec(x[t], s1)
                    v, s2 = self.out(z, s2)
                    outs.append(v)
                return torch.stack(outs)

        net = Net().to(device, DTYPE[0])

        def step(x, y):
            return F.cross_entropy(net(x).max(0).values, y)

        return net, step
    raise ValueError(impl)


def child(
    impl: str, mode: str, repeats: int, threads: int, device: str, dtype: str = "float32"
) -> dict:
    import torch

    DTYPE[0] = getattr(torch, dtype)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net, step = _build(impl, torch, device)
    x, y = _input(torch, device)
    if mode == "memory":
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        saved = {}

        def pack(t):
            # bytes of every distinct storage autograd keeps for the backward pass
            try:
                key = t.untyped_storage().data_ptr()
                saved[key] = max(saved.get(key, 0), t.untyped_storage().nbytes())
            except (RuntimeError, NotImplementedError):  # sparse tensors
                pass
            return t

        base_rss = _rss_kb()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = step(x, y)
        loss.backward()
        if device == "cuda":
            return {"peak_mb": (torch.cuda.max_memory_allocated() - base) / 2**20}
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        res = {"peak_mb": (peak - base_rss) / 1024, "saved_mb": sum(saved.values()) / 2**20}
        # warm: a second step after resetting the high-water mark (Linux clear_refs 5), so
        # that one-time growth of the first step (code pages, allocator pools) is excluded
        del loss
        net.zero_grad(set_to_none=True)
        gc.collect()
        try:
            base_rss = _rss_kb()
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            loss = step(x, y)
            loss.backward()
            res["peak_warm_mb"] = (_hwm_kb() - base_rss) / 1024
        except OSError:
            pass
        return res
    loss = step(x, y)
    loss.backward()  # warm-up
    times, walls = [], []
    for _ in range(repeats):
        net.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        loss = step(x, y)
        loss.backward()
        if device == "cuda":
            torch.cuda.synchronize()
        walls.append(time.perf_counter() - t0)
        times.append(time.process_time() - c0)
    # CPU time of the process (robust on a shared machine); on a GPU, wall time
    t = statistics.median(walls) if device == "cuda" else statistics.median(times)
    return {"time_s": t, "wall_s": statistics.median(walls), "loss": float(loss)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="time measurements: rounds over all implementations, alternating "
        "their order (default 3)",
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument(
        "--impl",
        nargs="*",
        default=[
            "neurolearn",
            "neurolearn-store",
            "neurolearn-step",
            "neurolearn-lean",
            "snntorch",
            "norse",
        ],
    )
    ap.add_argument(
        "--mmap-time",
        action="store_true",
        help="time with the memory runs' allocator settings too (the protocol "
        "before Nov 2026: every block >= 64 kB mmapped and unmapped)",
    )
    ap.add_argument(
        "--baseline",
        metavar="DIR",
        help="also run the neurolearn implementations with the neurolearn source tree in DIR "
        "(as <impl>@baseline) and print the ratios to it",
    )
    ap.add_argument("--json", metavar="FILE", help="write the results to FILE (JSON)")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.baseline:
        args.impl = list(args.impl) + [
            f"{impl}@baseline" for impl in args.impl if impl.startswith("neurolearn")
        ]
    if args.child:
        print(
            json.dumps(
                child(
                    args.child[0],
                    args.child[1],
                    args.repeats,
                    args.threads,
                    args.device,
                    args.dtype,
                )
            )
        )
        return 0

    def run_child(impl, mode):
        name, _, tree = impl.partition("@")
        cmd = [
            sys.executable,
            __file__,
            "--child",
            name,
            mode,
            "--repeats",
            str(args.repeats),
            "--threads",
            str(args.threads),
            "--device",
            args.device,
            "--dtype",
            args.dtype,
        ]
        # memory: large blocks through mmap, returned at free, so that RSS follows live
        # memory; time: the default allocator (as in use), unless --mmap-time
        env = dict(os.environ)
        if tree == "baseline":  # the baseline's neurolearn first on the path
            path = [os.path.abspath(args.baseline), env.get("PYTHONPATH", "")]
            env["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
        if mode == "memory" or args.mmap_time:
            env.update(MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0")
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if out.returncode != 0:
            print(f"{impl} {mode} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
            return None
        return json.loads(out.stdout.strip().splitlines()[-1])

    results = {impl: (run_child(impl, "memory") or {}) for impl in args.impl}
    # time: --rounds rounds, the implementations in alternating order within each, so that a
    # slow drift of the (shared) machine's speed affects every implementation alike; the
    # median over rounds of each round's median step
    rounds: dict = {impl: [] for impl in args.impl}
    for r in range(args.rounds):
        for impl in args.impl if r % 2 == 0 else args.impl[::-1]:
            got = run_child(impl, "time")
            if got:
                rounds[impl].append(got)
    for impl in args.impl:
        row = results[impl]
        if rounds[impl]:
            row.update(
                time_s=statistics.median(g["time_s"] for g in rounds[impl]),
                wall_s=statistics.median(g["wall_s"] for g in rounds[impl]),
                rounds_s=[round(g["time_s"], 4) for g in rounds[impl]],
            )
        print(
            f"{impl:16s} time/step {row.get('time_s', float('nan')):7.3f} s CPU "
            f"({row.get('wall_s', float('nan')):6.3f} s wall)   "
            f"peak memory {row.get('peak_mb', float('nan')):6.1f} MB (warm "
            f"{row.get('peak_warm_mb', float('nan')):5.1f} MB)   saved for backward "
            f"{row.get('saved_mb', float('nan')):6.1f} MB   rounds "
            f"{row.get('rounds_s', [])}",
            flush=True,
        )
    print(
        f"\n{N_IN}->{N_HID} (recurrent LIF)->{N_OUT} readout, batch {BATCH}, {STEPS} steps, "
        f"input density {DENSITY:.0%}, {args.dtype}, {args.device}, {args.threads} "
        f"thread(s)"
    )
    base = {k: v for k, v in results.items() if k in ("snntorch", "norse")}
    lean_mem = min((v["peak_mb"] for v in base.values() if v.get("peak_mb")), default=None)
    lean_warm = min(
        (v["peak_warm_mb"] for v in base.values() if v.get("peak_warm_mb")), default=None
    )
    for impl in ("neurolearn", "neurolearn-store", "neurolearn-step", "neurolearn-lean"):
        r = results.get(impl)
        if not r:
            continue
        for b, v in base.items():
            if v.get("time_s") and r.get("time_s"):
                warm = (
                    f" (warm {r['peak_warm_mb'] / v['peak_warm_mb']:.2f}x)"
                    if r.get("peak_warm_mb") and v.get("peak_warm_mb")
                    else ""
                )
                print(
                    f"{impl} / {b}: time {r['time_s'] / v['time_s']:.2f}x, "
                    f"peak memory {r['peak_mb'] / v['peak_mb']:.2f}x{warm}"
                )
        if "norse" in base and base["norse"].get("time_s") and lean_mem and r.get("time_s"):
            ok_t = r["time_s"] <= 0.5 * base["norse"]["time_s"]
            ok_m = r["peak_mb"] <= 0.5 * lean_mem
            ok_w = (
                (" (warm: met)" if r["peak_warm_mb"] <= 0.5 * lean_warm else " (warm: NOT met)")
                if lean_warm and r.get("peak_warm_mb")
                else ""
            )
            print(
                f"{impl}: goal time <= 0.5x Norse: {'met' if ok_t else 'NOT met'}; "
                f"goal memory <= 0.5x leaner baseline: {'met' if ok_m else 'NOT met'}"
                f"{ok_w}"
            )
    for impl in args.impl:
        name, _, tree = impl.partition("@")
        r, b = results.get(impl), results.get(name)
        if tree and r and b and r.get("time_s") and b.get("time_s"):
            warm = (
                f" (warm {b['peak_warm_mb'] / r['peak_warm_mb']:.3f}x)"
                if r.get("peak_warm_mb") and b.get("peak_warm_mb")
                else ""
            )
            print(
                f"{name} / {impl}: time {b['time_s'] / r['time_s']:.3f}x, peak memory "
                f"{b['peak_mb'] / r['peak_mb']:.3f}x{warm}, saved for backward "
                f"{b['saved_mb'] / r['saved_mb']:.3f}x"
            )
    if args.json:
        import torch

        record = {
            "benchmark": "torch_step",
            "network": {
                "n_in": N_IN,
                "n_hidden": N_HID,
                "n_out": N_OUT,
                "batch": BATCH,
                "steps": STEPS,
                "input_density": DENSITY,
            },
            "args": {k: v for k, v in vars(args).items() if k not in ("child", "json")},
            "versions": {"python": platform.python_version(), "torch": torch.__version__},
            "machine": {
                "platform": platform.platform(),
                "processor": platform.processor() or platform.machine(),
                "cpus": os.cpu_count(),
                "load_average": list(os.getloadavg()),
            },
            "results": results,
        }
        try:  # command, date, git revision, package versions, CPU model, usable threads
            from neurolearn.provenance import provenance

            record["provenance"] = provenance()
        except ImportError:  # the --baseline checkout of an older version
            pass
        with open(args.json, "w") as f:
            json.dump(record, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: the effect of the time step on the main job's task, measured on validation data.

Issue 21 asks for a time step fine enough for the learned time constants to matter and for
the effect of dt to be measured, every setting chosen on validation data only. This script
trains the main job's default task (``fsdd_speakers``: Spiking FSDD, test speaker
"yweweler", validation speaker "theo"; :mod:`neurolearn.reproductions.heterogeneity`) at
several time steps, everything else at its defaults, and records for each run the validation
accuracy (the selection criterion), the CPU time, and the test accuracy, which is stored
but is not used to choose anything.

Run::

    python benchmarks/dt_choice.py --out results/dt_choice [--dt-ms 10 5 2]
        [--configurations hom_init_het_train] [--seeds 0] [--epochs 20 ...]
        [--settings 10:20 5:20 2:20 10:10]
        [--json benchmarks/results/dt_choice_DATE.json]

Each run is an ordinary ``neurolearn train`` folder under ``OUT/runs/dt<dt>/e<epochs>/
<configuration>/seed<k>`` (finished runs are read back, interrupted ones resume); the JSON
(default ``OUT/dt_choice.json``) holds every run and, per time step and number of epochs, the
mean validation accuracy; it is rewritten after each run.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
from pathlib import Path


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run(args) -> dict:
    """Train every (dt, configuration, seed) and write ``dt_choice.json``; returns it."""
    import torch

    from neurolearn.io import atomic_write_json
    from neurolearn.provenance import provenance
    from neurolearn.reproductions.heterogeneity import DEFAULT_TASK, experiment_config
    from neurolearn.training import train_from_config

    torch.set_num_threads(1)
    rows = []
    out = Path(args.out)
    record = {"benchmark": "dt_choice", "provenance": provenance(), "args": vars(args)}
    pairs = [(dt, e) for dt in args.dt_ms for e in args.epochs]
    if args.settings:
        pairs = [(float(x.split(":")[0]), int(x.split(":")[1])) for x in args.settings]
    settings = [
        (dt, epochs, configuration, seed)
        for dt, epochs in pairs
        for configuration in args.configurations
        for seed in args.seeds
    ]
    result: dict = {}
    for dt, epochs, configuration, seed in settings:
        over = {"data": {"dt_ms": float(dt)}, "training": {"epochs": int(epochs)}}
        config = experiment_config(DEFAULT_TASK, configuration, seed, overrides=over)
        run_dir = out / "runs" / f"dt{dt:g}" / f"e{epochs}" / configuration / f"seed{seed}"
        cpu_file = run_dir / "cpu_s.json"  # the CPU time of the run that trained it
        cpu0 = _cpu()
        summary = train_from_config(config, run_dir, resume=True, progress=False)
        if not cpu_file.exists():
            atomic_write_json(cpu_file, {"cpu_s": round(_cpu() - cpu0, 1)})
        rows.append(
            {
                "dt_ms": float(dt),
                "epochs": int(epochs),
                "configuration": configuration,
                "seed": seed,
                "val_accuracy": summary.get("val_accuracy"),
                "test_accuracy": summary.get("test_accuracy"),
                "cpu_s": json.loads(cpu_file.read_text())["cpu_s"],
            }
        )
        print(json.dumps(rows[-1]), flush=True)
        result = {
            "task": DEFAULT_TASK,
            "criterion": "validation accuracy (speaker theo); test accuracy not used",
            "runs": rows,
            "per_setting": _per_setting(rows),
        }
        path = Path(args.json) if args.json else out / "dt_choice.json"
        atomic_write_json(path, dict(record, results=result))
    return result


def _per_setting(rows: list) -> dict:
    out = {}
    for dt, epochs in sorted({(r["dt_ms"], r["epochs"]) for r in rows}, reverse=True):
        sel = [r for r in rows if (r["dt_ms"], r["epochs"]) == (dt, epochs)]
        out[f"dt {dt:g} ms, {epochs} epochs"] = {
            "val_accuracy_mean": statistics.fmean(r["val_accuracy"] for r in sel),
            "test_accuracy_mean": statistics.fmean(r["test_accuracy"] for r in sel),
            "cpu_s_mean": statistics.fmean(r["cpu_s"] for r in sel),
            "runs": len(sel),
        }
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--dt-ms", nargs="+", type=float, default=[10.0, 5.0, 2.0])
    p.add_argument("--configurations", nargs="+", default=["hom_init_het_train"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--epochs", nargs="+", type=int, default=[20])
    p.add_argument(
        "--settings",
        nargs="+",
        default=None,
        metavar="DT:EPOCHS",
        help="(dt in ms, epochs) pairs instead of every --dt-ms x --epochs",
    )
    p.add_argument("--json", default=None, help="results file (default OUT/dt_choice.json)")
    run(p.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())

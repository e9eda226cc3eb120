"""Test accuracy with and without learnable synaptic delays, over seeds, written as JSON.

Tasks (the heterogeneity experiment's presets, ``neurolearn/configs/heterogeneity.toml``):

``fsdd``  the main job's default task (Spiking FSDD, ALIF, dt 10 ms, 700 ms), shrunk by the
          options below so that it fits a small machine;
``shd``   the SHD preset (700 channels, 20 classes, dt 10 ms, 1000 ms). With the real SHD in
          ``NEUROLEARN_DATA_DIR/shd`` it is used; with ``--synthetic-shd`` a small data set
          in the SHD layout (:func:`neurolearn.datasets.shd.write_shd`) is written to a
          temporary data folder instead: 20 classes, each a sequence of four bursts on
          blocks of 35 channels whose onsets differ by class-specific intervals of 30-120 ms
          (with 10 ms jitter and background spikes), a task where timing matters.

Every condition (``no_delays``; ``delays``: ``[network] delays = "per_synapse"``,
``max_delay_ms``) is trained for every seed with :func:`neurolearn.training.train_from_config`
(configuration ``--configuration``, default ``het_init_het_train``); the JSON holds every
run's test accuracy, and per condition the mean, SD and a 95 % t interval of the mean
(``scipy.stats.t``), the mean paired difference (delays - no delays, same seeds) with its
interval, and the settings.

Usage::

    python benchmarks/delays_accuracy.py --task fsdd --seeds 3 --out results/delays_fsdd
    python benchmarks/delays_accuracy.py --task shd --synthetic-shd --seeds 3 --out DIR
        [--train-samples 300] [--test-samples 100] [--epochs 3] [--hidden 64]
        [--max-delay-ms 100] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def synthetic_shd(folder: Path, n_train: int, n_test: int, seed: int = 0) -> None:
    """Write ``shd/shd_train.h5`` and ``shd/shd_test.h5`` in the SHD layout under
    ``folder`` (see the module docstring)."""
    from neurolearn.datasets.core import SpikeEvents
    from neurolearn.datasets.shd import SHD_CLASSES, write_shd

    rng = np.random.default_rng(seed)
    table = np.random.default_rng(1234)  # the classes are the same in both splits
    blocks = table.permutation(20)[:4] * 35  # four blocks of 35 channels
    intervals = table.integers(3, 13, size=(20, 3)) * 10e-3  # s between the bursts
    order = np.stack([table.permutation(4) for _ in range(20)])
    for split, n in (("train", n_train), ("test", n_test)):
        times, units, offsets, labels = [], [], [0], []
        for i in range(n):
            c = i % 20
            onsets = 0.1 + np.concatenate([[0.0], np.cumsum(intervals[c])])
            t_s, u_s = [], []
            for k in range(4):
                ch = blocks[order[c, k]] + np.arange(35)
                t = onsets[k] + rng.normal(0, 0.01) + rng.uniform(0, 0.02, 35)
                keep = rng.random(35) < 0.7
                t_s.append(t[keep])
                u_s.append(ch[keep])
            noise = rng.random(700) < 0.02  # background spikes
            t_s.append(rng.uniform(0, 0.9, noise.sum()))
            u_s.append(np.nonzero(noise)[0])
            t_s, u_s = np.concatenate(t_s), np.concatenate(u_s)
            o = np.argsort(t_s)
            times.append(t_s[o])
            units.append(u_s[o])
            offsets.append(offsets[-1] + o.size)
            labels.append(c)
        events = SpikeEvents(
            times=np.concatenate(times).astype(np.float32),
            units=np.concatenate(units).astype(np.int32),
            offsets=np.asarray(offsets, dtype=np.int64),
            labels=np.asarray(labels, dtype=np.int64),
            n_channels=700,
            class_names=tuple(SHD_CLASSES),
            name="shd",
        )
        write_shd(folder / "shd" / f"shd_{split}.h5", events, compression=None)


def _interval(x: np.ndarray) -> list | None:
    from scipy import stats

    if x.size < 2:
        return None
    half = stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
    return [float(x.mean() - half), float(x.mean() + half)]


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", choices=("fsdd", "shd"), default="fsdd")
    p.add_argument("--synthetic-shd", action="store_true")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--configuration", default="het_init_het_train")
    p.add_argument("--train-samples", type=int, default=300)
    p.add_argument("--test-samples", type=int, default=100)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--max-delay-ms", type=float, default=100.0)
    p.add_argument("--out", default="results/delays_accuracy")
    p.add_argument("--json", default=None, help="default: OUT/delays_accuracy.json")
    args = p.parse_args(argv)

    from neurolearn.reproductions.heterogeneity import experiment_config
    from neurolearn.training import train_from_config

    out = Path(args.out)
    if args.task == "shd" and args.synthetic_shd:
        data = Path(tempfile.mkdtemp(prefix="synthetic_shd_"))
        synthetic_shd(data, args.train_samples, args.test_samples)
        os.environ["NEUROLEARN_DATA_DIR"] = str(data)
    shrink = {
        "data": {"max_train_samples": args.train_samples, "max_test_samples": args.test_samples},
        "network": {"hidden": [args.hidden]},
        "training": {"epochs": args.epochs},
    }
    conditions = {
        "no_delays": {},
        "delays": {"network": {"delays": "per_synapse", "max_delay_ms": args.max_delay_ms}},
    }
    runs: dict = {c: [] for c in conditions}
    t0 = time.time()
    for seed in range(args.seeds):
        for name, change in conditions.items():
            overrides = {k: dict(v) for k, v in shrink.items()}
            for section, values in change.items():
                overrides.setdefault(section, {}).update(values)
            cfg = experiment_config(args.task, args.configuration, seed, False, overrides)
            t1 = time.time()
            summary = train_from_config(
                cfg, out / name / f"seed{seed}", resume=True, progress=False
            )
            runs[name].append(
                {
                    "seed": seed,
                    "test_accuracy": float(summary["test_accuracy"]),
                    "wall_s": time.time() - t1,
                }
            )
            print(f"{name} seed {seed}: test accuracy {summary['test_accuracy']:.3f}", flush=True)
    report: dict = {
        "task": args.task,
        "synthetic_shd": bool(args.task == "shd" and args.synthetic_shd),
        "configuration": args.configuration,
        "settings": {k: v for k, v in vars(args).items()},
        "conditions": {},
        "wall_time_s": time.time() - t0,
    }
    for name, rows in runs.items():
        acc = np.array([r["test_accuracy"] for r in rows])
        report["conditions"][name] = {
            "runs": rows,
            "mean": float(acc.mean()),
            "sd": float(acc.std(ddof=1)) if acc.size > 1 else 0.0,
            "ci95": _interval(acc),
        }
    diff = np.array(
        [a["test_accuracy"] - b["test_accuracy"] for a, b in zip(runs["delays"], runs["no_delays"])]
    )
    report["difference_delays_minus_none"] = {
        "mean": float(diff.mean()),
        "ci95": _interval(diff),
    }
    path = Path(args.json) if args.json else out / "delays_accuracy.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "settings"}, indent=1))
    return report


if __name__ == "__main__":
    main()

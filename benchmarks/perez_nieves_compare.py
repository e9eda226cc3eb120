"""Benchmark: neurolearn's ``perez-nieves`` preset against the paper's own code on the same files.

The paper's code (Perez-Nieves, Leung, Dragotti & Goodman 2021, Nat. Commun. 12:5791;
github.com/npvoid/neural_heterogeneity, ``SuGD_code/main.py`` run unchanged but for its
command-line arguments) and neurolearn's preset train the four configurations on Spiking FSDD
written in the SHD layout (64 channels x 4 units = 256 inputs, 10 classes, official split: 2700
training, 300 test samples), with the settings of issue 21: 128 recurrent LIF, dt 2 ms, 1 s (500
steps), batch 64, Adam 1e-3 (time constants too), cross-entropy of the readout's maximum over
time, 5 epochs, seeds 1-3, one CPU thread per run, each run under ``/usr/bin/time -v`` (peak
resident memory, wall and CPU time).

Usage::

    # the paper's side: run_all.sh of the lead (logs/<configuration>_seed<N>.log and
    # SuGD_code/FSDD/results/<dir>/seed<N>/parameters.pickle)
    python benchmarks/perez_nieves_compare.py run --train FSDD/train.h5 --test FSDD/test.h5 \\
        --out results/perez_nieves_preset          # neurolearn's side, one process per run
    python benchmarks/perez_nieves_compare.py compare --original ORIG_DIR \\
        --neurolearn results/perez_nieves_preset --json docs/results/data/perez_nieves.json

``compare`` writes the JSON (per configuration and seed: test accuracy, learned tau_m CV and
maximum, peak memory, wall and CPU time, for both codes; per configuration mean and SD) and
prints a Markdown table (also written next to the JSON as ``.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

CONFIGURATIONS = (
    "hom_init_std_train",
    "het_init_std_train",
    "hom_init_het_train",
    "het_init_het_train",
)
# the paper's results folder of each configuration: {train_ab}{het_ab}{train_hom_ab}ab
ORIGINAL_DIRS = {
    "hom_init_std_train": "00th_000ab_00rest_00reset",
    "het_init_std_train": "00th_010ab_00rest_00reset",
    "hom_init_het_train": "00th_100ab_00rest_00reset",
    "het_init_het_train": "00th_110ab_00rest_00reset",
}
DT_MS = 2.0


def preset_sections(train: str, test: str, configuration: str, seed: int, epochs: int) -> dict:
    """The training configuration of one run: the preset with issue 21's settings."""
    from neurolearn.training.presets import apply_preset

    return apply_preset(
        {
            "data": {
                "dataset": "shd_files",
                "options": {"train": str(train), "test": str(test)},
                "dt_ms": DT_MS,
                "duration_ms": 1000.0,
            },
            "heterogeneity": {"configuration": configuration},
            "training": {"epochs": epochs, "seed": seed, "threads": 1},
        },
        "perez-nieves",
    )


def _train(args) -> None:
    from neurolearn.training import config_from_dict, train_from_config

    cfg = config_from_dict(
        preset_sections(args.train, args.test, args.configuration, args.seed, args.epochs)
    )
    train_from_config(cfg, args.run_dir, resume=True, progress=False)


def _run(args) -> None:
    out = Path(args.out)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    for seed in args.seeds:
        for configuration in args.configurations:
            run_dir = out / "runs" / configuration / f"seed{seed}"
            log = out / "logs" / f"{configuration}_seed{seed}.log"
            if (run_dir / "summary.json").exists():
                continue
            cmd = ["/usr/bin/time", "-v", sys.executable, __file__, "train"]
            cmd += ["--train", args.train, "--test", args.test, "--configuration", configuration]
            cmd += ["--seed", str(seed), "--epochs", str(args.epochs), "--run-dir", str(run_dir)]
            with open(log, "w") as fh:
                subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, check=False)
            print(f"{configuration} seed {seed}: {_time_v(log)}", flush=True)


def _time_v(log: Path) -> dict:
    """Peak memory (MB), wall and CPU time (s) and exit status from a ``/usr/bin/time -v`` log."""
    text = log.read_text(errors="replace") if log.exists() else ""
    out = {}
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    out["peak_memory_mb"] = int(m.group(1)) / 1024 if m else None
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text)
    if m:
        parts = [float(p) for p in m.group(1).split(":")]
        out["wall_s"] = sum(p * 60**i for i, p in enumerate(reversed(parts)))
    else:
        out["wall_s"] = None
    user = re.search(r"User time \(seconds\): ([\d.]+)", text)
    system = re.search(r"System time \(seconds\): ([\d.]+)", text)
    out["cpu_s"] = float(user.group(1)) + float(system.group(1)) if user and system else None
    m = re.search(r"Exit status: (\d+)", text)
    out["exit_status"] = int(m.group(1)) if m else None
    return out


def _tau_stats(tau_ms: np.ndarray) -> dict:
    tau_ms = np.asarray(tau_ms, dtype=float).ravel()
    if not tau_ms.size:
        return {"tau_m_cv": None, "tau_m_max_ms": None, "tau_m_median_ms": None}
    return {
        "tau_m_cv": float(tau_ms.std(ddof=1) / tau_ms.mean()) if tau_ms.size > 1 else 0.0,
        "tau_m_max_ms": float(tau_ms.max()),
        "tau_m_median_ms": float(np.median(tau_ms)),
    }


def _original_progress(folder: Path) -> dict | None:
    """Per-epoch training and test accuracy of a run of the paper's code, finished or not
    (its checkpoint ``model_last.pth``, utils.py:39-51)."""
    path = folder / "model_last.pth"
    if not path.exists():
        return None
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    return {
        "epochs_done": int(ckpt["epoch"]) + 1,
        "train_accuracy_per_epoch": [float(a) for a in ckpt["train_acc_v"]],
        "test_accuracy_per_epoch": [float(a) for a in ckpt["test_acc_v"]],
    }


def _original_run(root: Path, configuration: str, seed: int) -> dict | None:
    folder = root / "SuGD_code" / "FSDD" / "results" / ORIGINAL_DIRS[configuration]
    folder = folder / f"seed{seed}"
    path = folder / "parameters.pickle"
    log = root / "logs" / f"{configuration}_seed{seed}.log"
    if not path.exists():
        progress = _original_progress(folder)
        return None if progress is None else {"finished": False, **progress}
    with open(path, "rb") as fh:
        params = pickle.load(fh)  # holds torch objects: needs torch installed
    learned = dict(params["learn_prms"])
    beta = np.asarray(learned["network.0.beta"], dtype=float).ravel()
    beta = np.clip(beta, 1e-12, 1 - 1e-12)
    tau_m = -DT_MS / np.log(beta)  # beta = exp(-dt/tau_mem) (layers.py:260-266)
    return {
        "finished": True,
        "test_accuracy": float(params["prms"]["test_acc_v"][-1]),
        "train_accuracy_per_epoch": [float(a) for a in params["prms"]["train_acc_v"]],
        "test_accuracy_per_epoch": [float(a) for a in params["prms"]["test_acc_v"]],
        **_tau_stats(tau_m),
        **_time_v(log),
    }


def _neurolearn_run(root: Path, configuration: str, seed: int) -> dict | None:
    run_dir = root / "runs" / configuration / f"seed{seed}"
    import pandas as pd

    if not (run_dir / "summary.json").exists():
        if not (run_dir / "metrics.csv").exists():
            return None
        metrics = pd.read_csv(run_dir / "metrics.csv")
        return {
            "finished": False,
            "epochs_done": len(metrics),
            "train_accuracy_per_epoch": metrics["train_accuracy"].astype(float).tolist(),
        }
    metrics = pd.read_csv(run_dir / "metrics.csv")
    summary = json.loads((run_dir / "summary.json").read_text())
    table = pd.read_csv(run_dir / "parameters.csv")
    tau = table[table["layer"].astype(str).str.startswith("hidden")]["tau_m_ms"]
    log = root / "logs" / f"{configuration}_seed{seed}.log"
    return {
        "finished": True,
        "test_accuracy": float(summary["test_accuracy"]),
        "train_accuracy_per_epoch": metrics["train_accuracy"].astype(float).tolist(),
        **_tau_stats(tau.to_numpy(dtype=float)),
        **_time_v(log),
    }


def _mean_sd(values) -> dict:
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if not v.size:
        return {"mean": None, "sd": None, "n": 0}
    return {
        "mean": float(v.mean()),
        "sd": float(v.std(ddof=1)) if v.size > 1 else None,
        "n": int(v.size),
    }


def _original_via(python: str | None):
    """``_original_run``, in another Python when given (the paper's pickles hold numpy 2 and
    torch objects: read them with the interpreter that wrote them)."""
    if not python:
        return _original_run

    def read(root: Path, configuration: str, seed: int):
        cmd = [python, __file__, "read-original", str(root), configuration, str(seed)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    return read


def compare(original: Path, neurolearn: Path, seeds, original_python: str | None = None) -> dict:
    """Both codes' runs per configuration and seed, with means and SDs over seeds."""
    result = {"settings": preset_sections("train.h5", "test.h5", "<configuration>", 0, 5)}
    result["configurations"] = {}
    for configuration in CONFIGURATIONS:
        entry = {}
        for side, reader, root in (
            ("original", _original_via(original_python), original),
            ("neurolearn", _neurolearn_run, neurolearn),
        ):
            runs = {str(s): reader(Path(root), configuration, s) for s in seeds}
            runs = {s: r for s, r in runs.items() if r is not None}
            done = [r for r in runs.values() if r["finished"]]
            entry[side] = {
                "runs": runs,
                **{
                    key: _mean_sd([r[key] for r in done])
                    for key in ("test_accuracy", "tau_m_cv", "peak_memory_mb", "cpu_s")
                },
            }
        o, n = entry["original"]["test_accuracy"], entry["neurolearn"]["test_accuracy"]
        if o["mean"] is not None and n["mean"] is not None and o["sd"] and n["sd"]:
            entry["difference"] = n["mean"] - o["mean"]
            entry["within_seed_sd"] = abs(n["mean"] - o["mean"]) <= max(o["sd"], n["sd"])
        result["configurations"][configuration] = entry
    return result


def _fmt(stat: dict, scale: float = 1.0, digits: int = 1) -> str:
    if stat["mean"] is None:
        return "n/a"
    text = f"{stat['mean'] * scale:.{digits}f}"
    if stat["sd"] is not None:
        text += f" ± {stat['sd'] * scale:.{digits}f}"
    return text + f" (n={stat['n']})"


def progress_table(result: dict) -> str:
    """Training accuracy per epoch of every run, finished or not (both codes)."""
    lines = ["| configuration | seed | code | training accuracy per epoch (%) | test (%) |"]
    lines.append("|---|---|---|---|---|")
    for name, e in result["configurations"].items():
        for side in ("original", "neurolearn"):
            for seed, r in e[side]["runs"].items():
                train = ", ".join(f"{100 * a:.1f}" for a in r["train_accuracy_per_epoch"])
                test = ", ".join(f"{100 * a:.1f}" for a in r.get("test_accuracy_per_epoch", []))
                if side == "neurolearn" and r["finished"]:
                    test = f"{100 * r['test_accuracy']:.1f} (after the last epoch)"
                lines.append(f"| {name} | {seed} | {side} | {train} | {test or 'n/a'} |")
    return "\n".join(lines) + "\n"


def table(result: dict) -> str:
    """The comparison as a Markdown table (accuracy in %, mean ± SD over seeds)."""
    lines = [
        "| configuration | original: test acc. (%) | neurolearn: test acc. (%) | "
        "tau_m CV orig. / nl. | peak memory MB orig. / nl. | CPU s orig. / nl. |",
        "|---|---|---|---|---|---|",
    ]
    for name, e in result["configurations"].items():
        o, n = e["original"], e["neurolearn"]
        lines.append(
            f"| {name} | {_fmt(o['test_accuracy'], 100)} | {_fmt(n['test_accuracy'], 100)} | "
            f"{_fmt(o['tau_m_cv'], 1, 2)} / {_fmt(n['tau_m_cv'], 1, 2)} | "
            f"{_fmt(o['peak_memory_mb'], 1, 0)} / {_fmt(n['peak_memory_mb'], 1, 0)} | "
            f"{_fmt(o['cpu_s'], 1, 0)} / {_fmt(n['cpu_s'], 1, 0)} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="one run (used by 'run')")
    p.add_argument("--train", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--configuration", required=True, choices=CONFIGURATIONS)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--run-dir", required=True)
    p = sub.add_parser("run", help="every configuration and seed, each under /usr/bin/time -v")
    p.add_argument("--train", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--configurations", nargs="+", default=list(CONFIGURATIONS))
    p = sub.add_parser("read-original", help="one run of the paper's code as JSON")
    p.add_argument("root")
    p.add_argument("configuration", choices=CONFIGURATIONS)
    p.add_argument("seed", type=int)
    p = sub.add_parser("compare", help="read both sides, write JSON and Markdown")
    p.add_argument("--original-python", default=None, help="interpreter of the paper's code")
    p.add_argument("--original", required=True, help="folder with SuGD_code/ and logs/")
    p.add_argument("--neurolearn", required=True, help="the --out folder of 'run'")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--json", required=True)
    args = parser.parse_args(argv)
    if args.command == "train":
        _train(args)
    elif args.command == "read-original":
        print(json.dumps(_original_run(Path(args.root), args.configuration, args.seed)))
    elif args.command == "run":
        _run(args)
    else:
        result = compare(
            Path(args.original), Path(args.neurolearn), args.seeds, args.original_python
        )
        text = table(result) + "\n" + progress_table(result)
        result["table_markdown"] = text
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1, default=float))
        Path(args.json).with_suffix(".md").write_text(text)
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

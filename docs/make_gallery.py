"""Make the command-line figures of the documentation's gallery from small runs.

Runs each command below (small settings: seconds to a few minutes each) into a temporary
folder, copies the PNG figures it writes to ``docs/gallery/data/<name>/`` and writes
``docs/gallery/data/manifest.json`` (title, command, figure), which the documentation build
renders with the command beside each figure. Run from the repository root, with
``NEUROLEARN_DATA_DIR`` set::

    python docs/make_gallery.py [--only NAME ...]

The reproductions' figures come from their committed runs under ``docs/results/data``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "gallery" / "data"

QUICK_TRAIN = """
[data]
dataset = "fsdd"
max_train_samples = 900
max_test_samples = 100
[network]
hidden = [64]
[training]
epochs = 5
"""

#: name -> (title, command with {out} for the output folder)
COMMANDS = {
    "simulate_lif": (
        "One population of LIF neurons driven by a constant current",
        "neurolearn simulate lif --n 10 --duration 0.5s --current 0.5nA --param tau_m=15ms "
        "--out {out}",
    ),
    "simulate_izhikevich": (
        "Izhikevich neurons, chattering preset",
        "neurolearn simulate izhikevich --preset ch --current '10 mV/ms' --duration 0.5s "
        "--out {out}",
    ),
    "allen_figures": (
        "Membrane time constants of the Allen Cell Types Database: fits, Q-Q plot, panels",
        "neurolearn allen figures --out {out}",
    ),
    "train_quick": (
        "Learning curves of a small training run on Spiking FSDD",
        "neurolearn train quick.toml --out {out}",
    ),
}


def run(name: str, work: Path) -> list[dict]:
    title, command = COMMANDS[name]
    out = work / name
    if name == "train_quick":
        (work / "quick.toml").write_text(QUICK_TRAIN)
    argv = shlex.split(command.format(out=out))
    argv = [sys.executable, "-m", "neurolearn.cli", *argv[1:]]
    proc = subprocess.run(argv, cwd=work, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{command} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    target = DATA / name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    entries = []
    for png in sorted(out.rglob("*.png")):
        dest = target / png.name
        shutil.copy(png, dest)
        shown = command.format(out=f"runs/{name}")
        entries.append(
            {
                "title": f"{title} ({png.stem})",
                "command": shown,
                "figure": f"{name}/{png.name}",
            }
        )
    return entries


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(COMMANDS), default=None)
    args = parser.parse_args(argv)
    manifest_path = DATA / "manifest.json"
    old = json.loads(manifest_path.read_text()) if manifest_path.is_file() else []
    names = args.only or list(COMMANDS)
    kept = [e for e in old if e["figure"].split("/")[0] not in names]
    with tempfile.TemporaryDirectory() as tmp:
        new = []
        for name in names:
            print(f"{name} ...", flush=True)
            new += run(name, Path(tmp))
    order = {n: k for k, n in enumerate(COMMANDS)}
    entries = sorted(kept + new, key=lambda e: order.get(e["figure"].split("/")[0], 99))
    DATA.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(entries, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

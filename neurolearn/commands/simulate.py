"""``neurolearn simulate MODEL``: one population driven by a constant current or Poisson input.

Prints the spike count, mean firing rate and CV of the interspike intervals (or, with
``--json``, one JSON object); with ``--out DIR`` writes ``results.h5`` (layout in
:mod:`neurolearn.brian.results`), ``summary.json`` and ``raster.{pdf,svg,png}`` to DIR. Files
are written to a temporary folder next to DIR and moved into place only when everything
succeeded, so bad input or a failed run leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

__all__ = ["register", "run"]


def register(subparsers) -> None:
    """Add the ``simulate`` command to the CLI."""
    from ..brian.backends import BACKENDS

    p = subparsers.add_parser(
        "simulate",
        help="simulate one population driven by a current or Poisson input",
        description="Simulate N neurons of a zoo model (or a model file) driven by a constant "
        "current (--current, written to I_ext) or Poisson input (--rate), on any "
        "Brian2 backend. Prints spike count, mean rate and CV of ISIs.",
    )
    p.add_argument("model", help="zoo name (see `neurolearn models`) or path to a .toml file")
    p.add_argument("--n", type=int, default=10, help="number of neurons (default 10)")
    p.add_argument("--duration", default="1 s", help="simulated time (default '1 s')")
    drive = p.add_mutually_exclusive_group()
    drive.add_argument(
        "--current", help="constant input to I_ext, e.g. 0.5nA (Izhikevich: '10 mV/ms')"
    )
    drive.add_argument("--rate", help="rate of each Poisson input, e.g. 20Hz")
    p.add_argument(
        "--n-inputs",
        type=int,
        default=100,
        help="Poisson inputs per neuron with --rate (default 100)",
    )
    p.add_argument(
        "--weight",
        help="weight of each Poisson synapse (default by the unit of "
        "the target: 25 pA, 0.5 nS, 1 mV/ms)",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="model parameter, e.g. --param tau_m=15ms (repeatable)",
    )
    p.add_argument("--preset", help="named parameter set of the model (e.g. rs, fs, ib, ch)")
    p.add_argument(
        "--backend",
        default="numpy",
        help=f"{' | '.join(BACKENDS)} (default numpy)",
    )
    p.add_argument("--seed", type=int, default=None, help="random seed")
    p.add_argument("--dt", default="0.1 ms", help="time step (default '0.1 ms')")
    p.add_argument(
        "--record",
        type=int,
        default=None,
        help="neurons whose membrane potential is recorded (default 3, or --n if fewer)",
    )
    p.add_argument("--out", type=Path, help="folder for results.h5, summary.json and the figure")
    p.add_argument(
        "--build-dir",
        type=Path,
        metavar="DIR",
        help="standalone backends: project folder, kept (default: a temporary folder, removed "
        "when the run ends)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no compilation status and no simulation progress report on stderr",
    )
    p.set_defaults(func=run)


def _parse_params(items) -> dict:
    from ..spec import ModelError

    params = {}
    for item in items:
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise ModelError(
                f"--param expects NAME=VALUE (e.g. tau_m=15ms), got {item!r}", parameter="param"
            )
        params[name] = value
    return params


def run(args) -> int:
    """Run the command; returns the exit status (errors propagate to ``cli.main``)."""
    from ..brian.backends import check_backend
    from ..brian.single import plot_raster_voltage, single_population, summarize
    from ..io import check_output_dir
    from ..spec import ModelError

    check_backend(args.backend)
    if args.backend == "cuda_standalone":
        from ..brian import cuda

        if not cuda.gpu_available():
            from ..brian.backends import BackendUnavailableError

            raise BackendUnavailableError(
                "--backend cuda_standalone: this machine has no NVIDIA GPU (nvidia-smi lists "
                "none), so the simulation cannot run here. To generate (and compile) the CUDA "
                "project for another machine use the Python API: NetworkSpec.build(..., "
                "backend='cuda_standalone', directory=DIR); or choose --backend cpp_standalone"
            )
    params = _parse_params(args.param)
    if args.out is not None:  # before any work: a folder, or creatable, and writable
        check_output_dir(args.out, what="--out")
    if args.record is None:
        args.record = min(3, max(args.n, 0))
    if args.record < 0:
        raise ModelError(f"--record must be >= 0, got {args.record}", parameter="record")
    if args.n > 0 and args.record > args.n:
        raise ModelError(
            f"--record {args.record} is more than the {args.n} simulated neurons (--n)",
            parameter="record",
        )
    if args.weight is not None and args.rate is None:
        raise ModelError(
            "--weight is the weight of the Poisson synapses and needs --rate", parameter="weight"
        )
    results = single_population(
        args.model,
        n=args.n,
        duration=args.duration,
        current=args.current,
        rate=args.rate,
        n_inputs=args.n_inputs,
        weight=args.weight,
        params=params,
        preset=args.preset,
        backend=args.backend,
        seed=args.seed,
        dt=args.dt,
        record=args.record,
        directory=args.build_dir,
    )
    summary = summarize(results)
    model = results.network["populations"]["neurons"]["model"]
    summary = {
        "model": model,
        "preset": args.preset,
        "drive": ("current " + args.current)
        if args.current
        else ("poisson " + args.rate)
        if args.rate
        else "none",
        **summary,
    }
    if args.out is not None:
        _write_outputs(
            args.out, results, summary, title=_title(model, args, params), plot=plot_raster_voltage
        )
        summary["out"] = str(args.out)
    if args.json:
        print(json.dumps(summary))
    else:
        cv = (
            "n/a (fewer than 3 spikes per neuron)"
            if summary["cv_isi"] is None
            else f"{summary['cv_isi']:.3f}"
        )
        print(
            f"{summary['model']}: {summary['n_neurons']} neurons, "
            f"{summary['duration_s']:g} s, drive {summary['drive']}, "
            f"backend {summary['backend']}"
        )
        print(f"  spikes      {summary['n_spikes']}")
        print(f"  rate        {summary['rate_hz']:.3f} Hz (mean per neuron)")
        print(f"  CV of ISIs  {cv}")
        if args.out is not None:
            print(f"  written to  {args.out}")
    return 0


def _title(model: str, args, params: dict) -> str:
    """Figure title: model, preset, drive and every --param given."""
    title = f"{model}{' (' + args.preset + ')' if args.preset else ''}"
    drive = (
        ("current " + args.current)
        if args.current
        else ("poisson " + args.rate)
        if args.rate
        else "no drive"
    )
    extra = ", ".join(f"{k} = {v}" for k, v in params.items())
    return f"{title}, {drive}" + (f"\n{extra}" if extra else "")


def _write_outputs(out: Path, results, summary: dict, title: str, plot) -> None:
    from ..figures import save_figure
    from ..io import atomic_write_json, make_temp_dir

    out = Path(out)
    # next to DIR, renamed into place; inside DIR when it exists (its parent may be read-only)
    tmp = make_temp_dir(out if out.is_dir() else out.parent, prefix=f".{out.name}.")
    try:
        results.save(tmp / "results.h5")
        atomic_write_json(tmp / "summary.json", summary)
        save_figure(plot(results, title=title), tmp / "raster")
        if not out.exists():
            os.rename(tmp, out)
        else:
            for f in sorted(tmp.iterdir()):
                os.replace(f, out / f.name)
            tmp.rmdir()
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(tmp)

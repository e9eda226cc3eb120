"""The STDP window measured from the simulated synapse, against the rule it implements.

For every pair-based zoo model (additive and weight-dependent, all-to-all and nearest-spike
pairing) and for the triplet model, independent synapses each see one presynaptic and one
postsynaptic spike at ``dt = t_post - t_pre`` (spikes imposed by spike generators, as in a
pairing experiment); the weight change is read from the simulation and compared with the
analytic window (Song, Miller & Abbott 2000, eq. 1; Guetig et al. 2003, eq. 2-3; Pfister &
Gerstner 2006, eq. 3-4 with the triplet traces at zero).

The pairing schemes differ only when spikes come in trains: a second part repeats 20 pairings
(dt = +10 ms) at frequencies 2-50 Hz and compares the simulated weight change with an
independent event-by-event computation of each scheme
(:func:`neurolearn.brian.plasticity.stdp_reference`): at high frequency, all-to-all pairing
adds the depressing post -> next-pre interactions that nearest-spike pairing ignores.

Run::

    python -m neurolearn.reproductions.stdp_window --out results/stdp_window [--backend cpp_standalone]

writes ``stdp_window.json`` (maximal deviations, in units of w_max) and
``stdp_window.{pdf,svg,png}``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ..brian.backends import BACKENDS
from .registry import Reproduction, UsageError, register

__all__ = [
    "MODELS",
    "measure_window",
    "measure_frequency",
    "add_arguments",
    "run",
    "REPRODUCTION",
    "main",
]

#: Zoo models whose window is measured.
MODELS = (
    "stdp_additive",
    "stdp_additive_nearest",
    "stdp_multiplicative",
    "stdp_multiplicative_nearest",
    "stdp_triplet",
)


def measure_window(
    model: str,
    delta_t_s,
    backend: str = "numpy",
    t0_s: float = 0.2,
    dt_ms: float = 0.1,
    directory=None,
) -> dict:
    """Simulated and analytic weight change of isolated spike pairs.

    Parameters
    ----------
    model : str
        Zoo name of the STDP model.
    delta_t_s : array, shape (n,)
        ``t_post - t_pre`` of each pair, in seconds (multiples of the time step, != 0).
    backend : str
        Brian2 backend.

    Returns
    -------
    dict
        ``delta_t_s``, ``dw_simulated``, ``dw_analytic`` (SI units of the weight, here siemens)
        and ``w_max``.
    """
    from brian2 import ms

    from neurolearn import load_model
    from neurolearn.brian.plasticity import simulate_stdp, stdp_window

    dts = np.asarray(delta_t_s, dtype=float)
    spec = load_model(model)
    w_max = spec.parameters["w_max"].value
    w0 = w_max / 2
    t_pre = np.full(dts.size, t0_s)
    t_post = t_pre + dts
    w = simulate_stdp(
        spec,
        [[x] for x in t_pre],
        [[x] for x in t_post],
        w0=w0,
        backend=backend,
        dt=dt_ms * ms,
        directory=directory,
    )
    return {
        "delta_t_s": dts,
        "dw_simulated": w - float(w0),
        "dw_analytic": stdp_window(spec, dts, w0=w0),
        "w_max": float(w_max),
    }


def measure_frequency(
    model: str,
    freqs_hz,
    n_pairs: int = 20,
    delta_t_s: float = 0.010,
    backend: str = "numpy",
    dt_ms: float = 0.5,
    directory=None,
) -> dict:
    """Weight change after ``n_pairs`` pre -> post pairings repeated at each frequency
    (time step ``dt_ms``),
    simulated and computed event by event by :func:`stdp_reference`.

    Returns
    -------
    dict
        ``freq_hz``, ``dw_simulated``, ``dw_reference`` (SI units), ``w_max``.
    """
    from brian2 import ms

    from neurolearn import load_model
    from neurolearn.brian.plasticity import simulate_stdp, stdp_reference

    spec = load_model(model)
    w_max = spec.parameters["w_max"].value
    w0 = w_max / 2
    pre, post = [], []
    for f in freqs_hz:
        t = 0.1 + np.round(np.arange(n_pairs) / f / (dt_ms * 1e-3)) * dt_ms * 1e-3
        pre.append(t)
        post.append(t + delta_t_s)
    w = simulate_stdp(spec, pre, post, w0=w0, backend=backend, dt=dt_ms * ms, directory=directory)
    ref = np.array([stdp_reference(spec, a, b, w0) for a, b in zip(pre, post)])
    return {
        "freq_hz": np.asarray(freqs_hz, float),
        "dw_simulated": w - float(w0),
        "dw_reference": ref - float(w0),
        "w_max": float(w_max),
    }


def add_arguments(parser) -> None:
    """Options of ``neurolearn reproduce stdp_window`` (defaults: the measurement of the
    module docstring).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        Receives the options.
    """
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument(
        "--backend", default="numpy", help=f"{' | '.join(BACKENDS)} (default numpy)"
    )
    parser.add_argument(
        "--models",
        nargs="+",
        choices=MODELS,
        default=list(MODELS),
        metavar="MODEL",
        help=f"zoo models measured (default all: {', '.join(MODELS)})",
    )
    parser.add_argument(
        "--max-dt-ms",
        type=float,
        default=100.0,
        help="largest |t_post - t_pre| of the isolated pairs in ms (default 100)",
    )
    parser.add_argument(
        "--step-ms",
        type=float,
        default=2.0,
        help="spacing of t_post - t_pre in ms (default 2)",
    )
    parser.add_argument(
        "--freqs-hz",
        type=float,
        nargs="+",
        default=[2.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0],
        help="pairing frequencies of the second part in Hz (default 2 5 10 20 30 40 50)",
    )


def run(args) -> dict:
    """Measure every model's window and frequency dependence; writes ``stdp_window.json``
    (maximal deviations in units of w_max, the measured curves) and the figure into
    ``args.out``; returns what was written.

    Parameters
    ----------
    args : argparse.Namespace
        The options of :func:`add_arguments`.

    Returns
    -------
    dict
        What was written as JSON (see above).

    Raises
    ------
    UsageError
        For a non-positive ``--step-ms`` or ``--max-dt-ms`` below it, or a frequency <= 0.
    """
    from neurolearn.figures import label, new_figure, save_figure, style
    from neurolearn.io import atomic_write_json

    if args.step_ms <= 0 or args.max_dt_ms < args.step_ms:
        raise UsageError(
            f"--step-ms must be > 0 and --max-dt-ms >= --step-ms, got {args.step_ms:g} and "
            f"{args.max_dt_ms:g}"
        )
    if min(args.freqs_hz) <= 0:
        raise UsageError(f"--freqs-hz must be > 0, got {min(args.freqs_hz):g}")
    args.out.mkdir(parents=True, exist_ok=True)
    dts = np.round(np.arange(-args.max_dt_ms, args.max_dt_ms + args.step_ms / 4, args.step_ms), 6)
    dts = dts[dts != 0] * 1e-3
    freqs = np.array(args.freqs_hz, dtype=float)
    result = {"backend": args.backend, "models": {}}
    with style():  # titles and legend in the figure style too
        fig, axes = new_figure(1, 2, width=6.8, height=2.6)
        for k, model in enumerate(args.models):
            win = measure_window(model, dts, backend=args.backend)
            fr = measure_frequency(model, freqs, backend=args.backend)
            w_max = win["w_max"]
            result["models"][model] = {
                "window_max_abs_error_over_w_max": float(
                    np.max(np.abs(win["dw_simulated"] - win["dw_analytic"])) / w_max
                ),
                "frequency_max_abs_error_over_w_max": float(
                    np.max(np.abs(fr["dw_simulated"] - fr["dw_reference"])) / w_max
                ),
                "delta_t_ms": (dts * 1e3).tolist(),
                "dw_over_w_max": (win["dw_simulated"] / w_max).tolist(),
                "freq_hz": freqs.tolist(),
                "dw_20_pairings_over_w_max": (fr["dw_simulated"] / w_max).tolist(),
            }
            line = dict(color=f"C{k}", label=model.replace("stdp_", ""))
            axes[0].plot(dts * 1e3, win["dw_analytic"] / w_max, lw=0.8, **line)
            axes[0].plot(dts * 1e3, win["dw_simulated"] / w_max, "o", ms=1.5, color=f"C{k}")
            axes[1].plot(freqs, fr["dw_simulated"] / w_max, "o-", ms=2, **line)
        axes[0].axhline(0, color="0.7", lw=0.5)
        axes[0].set_xlabel(label("t_post - t_pre", "ms"))
        axes[0].set_ylabel(label("weight change / w_max", None))
        axes[0].set_title("isolated pairs: lines analytic, dots simulated")
        axes[1].set_xlabel(label("pairing frequency", "Hz"))
        axes[1].set_ylabel(label("weight change / w_max", None))
        axes[1].set_title("20 pairings, t_post - t_pre = +10 ms")
        axes[1].legend(fontsize=6)
        save_figure(fig, args.out / "stdp_window")
    atomic_write_json(args.out / "stdp_window.json", result)
    print(
        json.dumps(
            {m: {k: v for k, v in r.items() if "error" in k} for m, r in result["models"].items()},
            indent=1,
        )
    )
    return result


REPRODUCTION = register(
    Reproduction(
        name="stdp_window",
        description="STDP window of every pair-based zoo model and the triplet model, "
        "simulated against the analytic rule, and the dependence on pairing frequency",
        reference="Song, Miller & Abbott (2000) Nat. Neurosci. 3:919, eq. 1; Guetig et al. "
        "(2003) J. Neurosci. 23:3697, eq. 2-3; Pfister & Gerstner (2006) J. Neurosci. "
        "26:9673, eq. 3-4",
        add_arguments=add_arguments,
        run=run,
    )
)


def main(argv=None) -> int:
    """Command line (``python -m neurolearn.reproductions.stdp_window``): see the module
    docstring; exit status 2 for bad options."""
    return REPRODUCTION.main(argv)


if __name__ == "__main__":
    sys.exit(main())

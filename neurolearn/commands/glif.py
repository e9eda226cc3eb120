"""``neurolearn glif check CONFIG_JSON [--json]``: run an Allen GLIF neuron config in Brian2 and
in allensdk's GlifNeuron on a long-square and a noise stimulus and print the agreement.

Exit status 0 when both stimuli pass (>= 99 % of spikes within one time step and voltage RMS
difference < 0.5 mV), 1 otherwise, 2 for a bad config.
"""

from __future__ import annotations

import json

__all__ = ["register"]


def _check(args) -> int:
    from brian2 import second

    from ..analysis.glif import compare_glif, glif_check_stimuli
    from ..sources.glif import load_glif_config

    cfg = load_glif_config(args.config)
    stimuli = glif_check_stimuli(cfg, duration=args.duration * second, seed=args.seed)
    rows = []
    for name, stim in stimuli.items():
        r = compare_glif([cfg], stim[:, None], target=args.target)[0]
        r["stimulus"] = name
        r["passed"] = r["fraction_matched"] >= 0.99 and r["v_rms_mV"] < 0.5
        rows.append(r)
    ok = all(r["passed"] for r in rows)
    if args.json:
        print(
            json.dumps(
                {
                    "config": str(args.config),
                    "level": cfg.level,
                    "dt_s": float(cfg.dt),
                    "duration_s": args.duration,
                    "method": "allen_glif_method (forward Euler v, exact exponentials)",
                    "results": rows,
                    "passed": ok,
                },
                indent=2,
            )
        )
    else:
        print(
            f"GLIF{cfg.level} {args.config} (dt {float(cfg.dt) * 1e6:g} us, "
            f"{args.duration:g} s per stimulus)"
        )
        print(
            f"{'stimulus':<12} {'spikes brian2':>13} {'allensdk':>9} {'within 1 step':>13} "
            f"{'v RMS (mV)':>11} {'max |dv| (mV)':>13}"
        )
        for r in rows:
            print(
                f"{r['stimulus']:<12} {r['n_spikes_brian2']:>13} {r['n_spikes_allensdk']:>9} "
                f"{100 * r['fraction_matched']:>12.1f}% {r['v_rms_mV']:>11.3g} "
                f"{r['v_max_abs_mV']:>13.3g}"
            )
        print(
            "agreement: "
            + ("PASS" if ok else "FAIL")
            + " (>= 99 % of spikes within one step, RMS < 0.5 mV)"
        )
    return 0 if ok else 1


def register(subparsers) -> None:
    """Add the ``glif`` command group."""
    from ..brian.backends import RUNTIME_BACKENDS

    p = subparsers.add_parser("glif", help="Allen GLIF models (Teeter et al. 2018)")
    sub = p.add_subparsers(dest="glif_command", required=True)
    c = sub.add_parser(
        "check",
        help="compare a GLIF neuron config in Brian2 and allensdk",
        description="Run an Allen GLIF neuron config (allensdk *_neuron_config.json) in Brian2 "
        "and in allensdk's GlifNeuron on the same stimuli, and compare spikes and voltages.",
    )
    c.add_argument("config", help="allensdk *_neuron_config.json")
    c.add_argument("--json", action="store_true", help="machine-readable output")
    c.add_argument("--duration", type=float, default=1.0, help="seconds per stimulus")
    c.add_argument("--seed", type=int, default=0, help="seed of the noise stimulus")
    c.add_argument(
        "--target",
        default="numpy",
        choices=RUNTIME_BACKENDS,
        help="Brian2 code-generation target",
    )
    c.set_defaults(func=_check)

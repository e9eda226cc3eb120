"""``neurolearn sweep MODEL --param NAME=V1,V2,... [--backend cpp_standalone]``: one simulation
per value of a parameter (:func:`neurolearn.brian.sweep.sweep`), on local worker processes or
a Dask cluster (``--scheduler``); on ``cpp_standalone`` the network is compiled once and its
program run with ``run_args`` for every value. Prints the mean firing rate per value (or, with
``--json``, one JSON object); ``--out FILE`` writes that object atomically."""

from __future__ import annotations

import json

__all__ = ["register", "run"]


def register(subparsers) -> None:
    """Add the ``sweep`` command to the CLI."""
    from ..brian.backends import BACKENDS
    from ..executor import add_scheduler_argument

    p = subparsers.add_parser(
        "sweep",
        help="simulate a model once per value of a parameter (compiled once on cpp_standalone)",
        description="Simulate N neurons of a model once per value of one parameter, the runs "
        "spread over workers; on cpp_standalone the project is compiled once and the program "
        "run with Brian2 run_args for each value.",
    )
    p.add_argument("model", help="zoo name (see `neurolearn models`) or path to a .toml file")
    p.add_argument(
        "--param",
        required=True,
        metavar="NAME=V1,V2,...",
        help="the swept variable and its values, e.g. --param tau_m=10ms,20ms,40ms "
        "or --param I_ext=0.1nA,0.2nA",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="another model parameter, fixed, e.g. --set v_th=-50mV (repeatable)",
    )
    p.add_argument("--current", help="constant input to I_ext of every run, e.g. 0.5nA")
    p.add_argument("--n", type=int, default=1, help="neurons per run (default 1)")
    p.add_argument("--duration", default="1 s", help="simulated time per run (default '1 s')")
    p.add_argument("--preset", help="named parameter set of the model")
    p.add_argument("--backend", default="numpy", help=f"{' | '.join(BACKENDS)} (default numpy)")
    p.add_argument("--seed", type=int, default=None, help="random seed (the same for every run)")
    p.add_argument("--dt", default="0.1 ms", help="time step (default '0.1 ms')")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="local worker processes (default: CPU count; 1 runs in this process)",
    )
    add_scheduler_argument(p)
    p.add_argument("--out", help="write the JSON result to this file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    """Run the command; returns the exit status (errors propagate to ``cli.main``)."""
    from ..brian.backends import check_backend
    from ..brian.sweep import sweep
    from ..io import atomic_write_json
    from .simulate import _parse_params

    check_backend(args.backend)
    ((name, values),) = _parse_params([args.param]).items()
    result = sweep(
        args.model,
        name,
        values,
        n=args.n,
        duration=args.duration,
        current=args.current,
        params=_parse_params(args.set),
        preset=args.preset,
        backend=args.backend,
        seed=args.seed,
        dt=args.dt,
        scheduler=args.scheduler,
        workers=args.workers,
        progress=not (args.no_progress or args.json),
    )
    data = result.to_dict()
    if args.out:
        atomic_write_json(args.out, data)
    if args.json:
        print(json.dumps(data))
        return 0
    print(f"{name:>16}  mean rate (Hz)  spikes")
    for value, rate, counts in zip(data["values"], data["rates_hz"], data["counts"]):
        print(f"{value:>16}  {rate:14.2f}  {sum(counts)}")
    if result.builds:
        print(f"{args.backend}: compiled once, run {len(values)} times with run_args")
    return 0

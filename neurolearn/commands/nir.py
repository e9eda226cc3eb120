"""``neurolearn nir export|import|run``: networks in and out of NIR (see
:mod:`neurolearn.bridge.nir`).

``export RUN OUT.nir``
    A trained network (``neurolearn train`` folder holding ``network.h5``, or a ``.h5`` file of
    :func:`neurolearn.bridge.save_network`) written as a NIR graph.
``import FILE.nir OUT.h5 --dt DT``
    A NIR graph read as a neurolearn network and saved as HDF5.
``run FILE.nir --dt DT``
    A NIR graph run in Brian2 (any backend) and in torch on an input: a ``.npy`` array
    ``[time, batch, channels]`` of 0/1, or Poisson spikes (``--rate``, ``--steps``); the spikes
    go to ``--out`` (``.npz``: ``brian2_<layer>``, ``torch_<layer>``, ``brian2_readout``,
    ``torch_readout``).
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["register"]


def _network_file(path: str) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / "network.h5"
    if not p.is_file():
        raise FileNotFoundError(
            f"{path}: no trained network (expected a `neurolearn train` folder holding "
            f"network.h5, or a .h5 file of save_network)"
        )
    return p


def _export(args) -> int:
    from ..bridge import load_network
    from ..nir import write_nir

    net = load_network(_network_file(args.run))
    out = write_nir(
        net, args.out, readout=not args.no_readout, drop_refractory=args.drop_refractory
    )
    print(f"wrote {out} ({len(net.layers)} spiking layers, dt = {net.dt_s:g} s)")
    return 0


def _import(args) -> int:
    from ..bridge import save_network
    from ..nir import from_nir

    net = from_nir(
        args.file,
        args.dt,
        discretisation=args.discretisation,
        refractory_steps=args.refractory_steps,
    )
    save_network(net, args.out)
    names = ", ".join(f"{layer.name} ({layer.n})" for layer in net.layers)
    print(f"wrote {args.out}: layers {names}; readout {'yes' if net.readout else 'no'}")
    return 0


def _inputs(args, n_in: int, dt_s: float):
    import numpy as np

    if args.input:
        x = np.load(args.input)
        if x.ndim != 3 or x.shape[2] != n_in:
            raise ValueError(
                f"{args.input}: input of shape {x.shape}; expected [time, batch, {n_in}]"
            )
        return x
    if args.rate is None or args.steps is None:
        raise ValueError("give --input FILE.npy, or --rate HZ and --steps N for Poisson input")
    rng = np.random.default_rng(args.seed)
    return (rng.random((args.steps, args.batch, n_in)) < args.rate * dt_s).astype(np.float64)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _run(args) -> int:
    import numpy as np

    from ..nir import from_nir as _from
    from ..nir import read_nir, run_nir

    dt = float(args.dt) if _is_float(args.dt) else args.dt
    graph = read_nir(args.file)
    probe = _from(graph, dt, discretisation=args.discretisation)
    x = _inputs(args, probe.n_in, probe.dt_s)
    result = run_nir(
        graph,
        x,
        dt,
        discretisation=args.discretisation,
        refractory_steps=args.refractory_steps,
        backend=args.backend,
        directory=args.directory,
    )
    summary = {
        name: {"brian2_spikes": a["n_a"], "torch_spikes": a["n_b"], "identical": a["identical"]}
        for name, a in zip(result["layers"], result["agreement"])
    }
    if args.out:
        arrays = {}
        for name, b, t in zip(result["layers"], result["brian2_spikes"], result["torch_spikes"]):
            arrays[f"brian2_{name}"], arrays[f"torch_{name}"] = b, t
        if result["brian2_readout"] is not None:
            arrays["brian2_readout"] = result["brian2_readout"]
            arrays["torch_readout"] = result["torch_readout"]
        np.savez_compressed(args.out, **arrays)
    if args.json:
        print(json.dumps(summary))
    else:
        for name, s in summary.items():
            same = "identical" if s["identical"] else "DIFFER"
            print(
                f"{name}: {s['brian2_spikes']} spikes in Brian2 ({args.backend}), "
                f"{s['torch_spikes']} in torch: {same}"
            )
    return 0


def _common(p) -> None:
    p.add_argument("file", metavar="FILE.nir", help="NIR file (nir.write)")
    p.add_argument(
        "--dt",
        required=True,
        help="time step, seconds or a quantity ('0.1 ms'); snnTorch 1.0 writes for 1e-4 s",
    )
    p.add_argument(
        "--discretisation",
        default="exact",
        choices=("exact", "euler"),
        help="exact integration (default) or forward Euler, 1 - dt/tau, as snnTorch and Norse",
    )
    p.add_argument(
        "--refractory-steps",
        type=int,
        default=0,
        metavar="N",
        help="steps v stays at v_reset after a spike (1 for snnTorch's default delayed reset)",
    )


def register(subparsers) -> None:
    """Add the ``nir`` command (``export``, ``import``, ``run``)."""
    from ..brian.backends import BACKENDS

    p = subparsers.add_parser(
        "nir",
        help="networks in and out of NIR (Neuromorphic Intermediate Representation)",
        description="Write trained networks as NIR graphs, read NIR graphs (snnTorch, Norse, "
        "...) as neurolearn networks, run them in Brian2. Needs the 'nir' extra.",
    )
    sub = p.add_subparsers(dest="nir_command", required=True, metavar="{export,import,run}")
    e = sub.add_parser("export", help="write a trained network as a NIR file")
    e.add_argument("run", metavar="RUN", help="`neurolearn train` folder or network .h5 file")
    e.add_argument("out", metavar="OUT.nir", help="NIR file to write")
    e.add_argument(
        "--no-readout",
        action="store_true",
        help="end the graph at the last spiking layer (snnTorch and Norse read no LI)",
    )
    e.add_argument(
        "--drop-refractory",
        action="store_true",
        help="write layers with t_ref > 0 without it (NIR has no refractory period)",
    )
    e.set_defaults(func=_export)
    i = sub.add_parser("import", help="read a NIR file as a neurolearn network (.h5)")
    _common(i)
    i.add_argument("out", metavar="OUT.h5", help="network file (neurolearn.bridge.save_network)")
    i.set_defaults(func=_import)
    r = sub.add_parser("run", help="run a NIR file in Brian2 and torch")
    _common(r)
    r.add_argument("--input", metavar="X.npy", help="input spikes [time, batch, channels]")
    r.add_argument("--rate", type=float, metavar="HZ", help="Poisson input rate")
    r.add_argument("--steps", type=int, metavar="N", help="time steps of Poisson input")
    r.add_argument("--batch", type=int, default=1, metavar="B", help="Poisson samples")
    r.add_argument("--seed", type=int, default=0, help="seed of the Poisson input")
    r.add_argument("--backend", default="numpy", choices=BACKENDS, help="Brian2 target")
    r.add_argument("--directory", default=None, help="standalone project folder")
    r.add_argument("--out", metavar="SPIKES.npz", help="write the spikes and readouts")
    r.add_argument("--json", action="store_true", help="print per-layer spike counts as JSON")
    r.set_defaults(func=_run)

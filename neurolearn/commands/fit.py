"""``neurolearn fit CONFIG.toml --out DIR``: fit a neuron model to a target.

The config file's keys, with an example of each, are :data:`FIT_CONFIG_KEYS` (printed by
``neurolearn fit --help``). Writes DIR/fit.json, DIR/fit_traces.npz and DIR/fit.{pdf,svg,png}
atomically, with ``fit_progress.json`` after each generation. Exit status 0 (converged), 3
(did not converge: best parameters kept), 2 (bad input).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["register", "load_fit_config", "target_from_config", "FIT_CONFIG_KEYS"]

#: Every key of a fit config file, as an annotated example (TOML). Relative paths are relative
#: to the config file; ``$NEUROLEARN_DATA_DIR`` and ``~`` are expanded.
FIT_CONFIG_KEYS = """\
model = "lif"                       # zoo name or path to a model file
backend = "numpy"                   # numpy | cython | cpp_standalone | cuda_standalone

[target]
kind = "fi_curve"                   # ephys_features | fi_curve | trace | spike_train
file = "$NEUROLEARN_DATA_DIR/allen/osb_cell_types_sweeps/313862167_analysis.json"
# ephys_features: file = ".../ephys_features.csv", specimen_id = 313862167
# trace:          file = "x.npz" with v (V) and i (A), [time] or [time, sweeps]; dt_s;
#                 nan_policy = "raise" | "omit"
# spike_train:    file = "x.npz" with stimulus [time, sweeps], spike_times_s (one array per
#                 sweep: spike_times_s_0, spike_times_s_1...), dt_s; window_ms = 4;
#                 stimulus_units = "amp"

[optimizer]
name = "differential_evolution"     # or "adam"; the other keys go to the optimizer
popsize = 8
maxiter = 20

[bounds]                            # required: the fitted parameters and their ranges
tau_m = ["5 ms", "60 ms"]
R_m = ["50 Mohm", "1 Gohm"]

[start]                             # optional; default: the model's values
tau_m = "20 ms"

[fixed]                             # optional
v_rest = "-80 mV"
"""

_TOP = {"model", "backend", "target", "optimizer", "bounds", "start", "fixed"}
_TARGET = {"kind", "file", "specimen_id", "window_ms", "dt_s", "nan_policy", "stimulus_units"}


def _path(value: str, base: Path) -> Path:
    text = os.path.expanduser(os.path.expandvars(str(value)))
    if "$" in text:
        raise ValueError(f"unset environment variable in path {value!r}")
    p = Path(text)
    return p if p.is_absolute() else base / p


def load_fit_config(path: str | Path) -> dict:
    """Read and check a fit config file.

    Raises
    ------
    FileNotFoundError
        Missing config.
    ValueError
        Malformed TOML or an unknown/missing key (naming the file and key).
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"fit config not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file (a TOML fit config expected)") from None
    if not text.strip():
        raise ValueError(f"{path}: the file is empty (a fit config needs model, target, bounds)")
    try:
        cfg = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: malformed TOML: {exc}") from None
    unknown = set(cfg) - _TOP
    if unknown:
        raise ValueError(
            f"{path}: unknown key '{sorted(unknown)[0]}' (allowed: {', '.join(sorted(_TOP))})"
        )
    for key in ("model", "target", "bounds"):
        if key not in cfg:
            raise ValueError(f"{path}: missing '{key}'")
    bad = set(cfg["target"]) - _TARGET
    if bad:
        raise ValueError(
            f"{path}: unknown key '{sorted(bad)[0]}' in [target] (allowed: "
            f"{', '.join(sorted(_TARGET))})"
        )
    cfg["_base"] = path.parent
    cfg["_path"] = path
    return cfg


def target_from_config(t: dict, base: Path):
    """Build the target described by a config's ``[target]`` table.

    Raises
    ------
    ValueError
        Unknown kind, missing file/specimen, or arrays missing from the npz file.
    """
    import numpy as np
    from brian2 import ms, second

    from ..fitting import EphysFeatureTarget, FICurveTarget, SpikeTrainTarget, TraceTarget

    kind = t.get("kind")
    if "file" not in t:
        raise ValueError("[target] needs 'file'")
    f = _path(t["file"], base)
    if kind == "fi_curve":
        return FICurveTarget.from_osb_json(f)
    if kind == "ephys_features":
        if "specimen_id" not in t:
            raise ValueError("[target] kind 'ephys_features' needs 'specimen_id'")
        return EphysFeatureTarget.from_allen(f, int(t["specimen_id"]))
    if kind in ("trace", "spike_train"):
        if not f.is_file():
            raise FileNotFoundError(f"target file not found: {f}")
        data = np.load(f, allow_pickle=False)
        dt = float(t.get("dt_s", data["dt_s"] if "dt_s" in data else np.nan))
        if not np.isfinite(dt):
            raise ValueError(f"{f}: give dt_s (in the file or in [target])")
        if kind == "trace":
            for need in ("v", "i"):
                if need not in data:
                    raise ValueError(
                        f"{f}: trace target needs array '{need}' (has {', '.join(data.files)})"
                    )
            return TraceTarget(
                data["v"], data["i"], dt * second, nan_policy=t.get("nan_policy", "raise")
            )
        if "stimulus" not in data:
            raise ValueError(f"{f}: spike-train target needs array 'stimulus'")
        stim = data["stimulus"]
        n = 1 if stim.ndim == 1 else stim.shape[1]
        trains = (
            [data[f"spike_times_s_{k}"] for k in range(n)]
            if "spike_times_s_0" in data
            else [data["spike_times_s"]]
        )
        return SpikeTrainTarget(
            trains,
            stim,
            dt * second,
            window=float(t.get("window_ms", 4.0)) * ms,
            stimulus_units=t.get("stimulus_units", "amp"),
        )
    raise ValueError(
        f"unknown target kind {kind!r}; choose ephys_features, fi_curve, trace or spike_train"
    )


def _run(args) -> int:
    from ..io import OutputFolder, check_output_dir

    cfg = load_fit_config(args.config)
    check_output_dir(args.out, what="--out")  # before any work
    with OutputFolder(args.out, what="--out"):  # a failure before any result leaves nothing
        return _fit(args, cfg)


def _fit(args, cfg) -> int:
    from ..fitting import FitError, fit
    from ..fitting.plots import plot_fit

    base = cfg["_base"]
    try:
        target = target_from_config(cfg["target"], base)
    except ValueError as exc:  # name the config file and section where the message does not
        text = str(exc)
        if str(cfg["_path"]) in text:
            raise
        where = "" if text.startswith("[target]") else "[target] "
        raise ValueError(f"{cfg['_path']}: {where}{text}") from None
    opt = dict(cfg.get("optimizer", {}))
    name = opt.pop("name", "differential_evolution")
    model = cfg["model"]
    if str(model).endswith(".toml"):
        model = _path(model, base)
    try:
        res = fit(
            model,
            target,
            {k: tuple(v) for k, v in cfg["bounds"].items()},
            optimizer=name,
            start=cfg.get("start"),
            fixed=cfg.get("fixed"),
            backend=args.backend or cfg.get("backend", "numpy"),
            out=args.out,
            progress=not args.quiet,
            optimizer_options=opt,
        )
    except FitError as exc:
        print(f"neurolearn fit: {exc}; partial result in {args.out}", file=sys.stderr)
        return 3
    plot_fit(res, Path(args.out) / "fit")
    print(
        f"{res.model}: {res.status}, loss {res.loss:.4g} after {res.n_evaluations} "
        f"simulated parameter sets ({res.wall_s:.1f} s)"
    )
    for k, v in res.params.items():
        print(f"  {k} = {v}")
    print(f"results in {args.out}/fit.json")
    return 0 if res.converged else 3


def register(subparsers) -> None:
    """Add the ``fit`` command."""
    from ..brian.backends import BACKENDS

    p = subparsers.add_parser(
        "fit",
        help="fit a neuron model to data (features, f-I curve, traces, spike trains)",
        description="Fit a neuron model to a target (Allen features, an f-I curve, voltage "
        "traces or spike trains). Writes DIR/fit.json, fit_traces.npz and fit.{pdf,svg,png}; "
        "exit status 0 (converged), 3 (not converged: best parameters kept), 2 (bad input).",
        epilog="config file keys (TOML; relative paths are relative to the file, "
        "$NEUROLEARN_DATA_DIR and ~ are expanded):\n\n" + FIT_CONFIG_KEYS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", help="fit config (TOML): model, target, optimizer, bounds")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--backend",
        default=None,
        help=f"Brian2 backend (overrides the config): {', '.join(BACKENDS)}",
    )
    p.add_argument(
        "--quiet", "--no-progress", dest="quiet", action="store_true", help="no progress bar"
    )
    p.set_defaults(func=_run)

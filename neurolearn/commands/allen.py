"""``neurolearn allen``: membrane time constants of real neurons (Allen Cell Types Database).

* ``neurolearn allen summary [filters] [--json]``: n, mean, median, SD, quartiles of tau (ms),
  maximum-likelihood gamma and log-normal fits with bootstrap intervals and goodness of fit.
* ``neurolearn allen compare RUN [filters] --out DIR``: a training run's per-neuron tau
  (``RUN/parameters.csv``, column ``tau_m_ms``) against the selection: table and figures.
* ``neurolearn allen figures [filters] --out DIR``: histogram with fitted densities, Q-Q plot
  against the fits, and the species x dendrite-type panel.

Filters: ``--species mouse|human``, ``--area VISp``, ``--layer 4``, ``--dendrite spiny|aspiny|
"sparsely spiny"``, ``--line Pvalb-IRES-Cre``, ``--reporter positive``, ``--subclass`` (Patch-seq);
each may be repeated (cells matching any of the values). ``--patchseq`` analyses the Patch-seq
interneurons of Gouwens et al. (2020) instead of the Cell Types release. Data: ``--cache DIR``
(an allensdk CellTypesCache folder), filled from ``NEUROLEARN_DATA_DIR`` when set, else
downloaded from the Allen API (by allensdk where it is installed, else by
:mod:`neurolearn.sources.allen_api`; no allensdk needed).
"""

from __future__ import annotations

import json
import math
import sys

__all__ = ["register"]

_FILTERS = (
    ("species", "species", "mouse or human"),
    ("area", "area", "structure parent acronym, e.g. VISp, MTG"),
    ("layer", "layer", "cortical layer: 1, 2/3, 4, 5, 6a, 6b (human: 2, 3, ...)"),
    ("dendrite", "dendrite_type", "spiny, aspiny or 'sparsely spiny'"),
    ("line", "transgenic_line", "transgenic (Cre) line, e.g. Pvalb-IRES-Cre"),
    ("reporter", "reporter_status", "positive, negative or indeterminate"),
    (
        "subclass",
        "t_type_subclass",
        "transcriptomic subclass (with --patchseq), e.g. 'Sst interneuron'",
    ),
)


def _add_filters(p) -> None:
    g = p.add_argument_group("cell selection (repeat a flag to allow several values)")
    for flag, _column, help_ in _FILTERS:
        g.add_argument(f"--{flag}", action="append", metavar="VALUE", help=help_)
    p.add_argument(
        "--cache",
        metavar="DIR",
        help="allensdk CellTypesCache folder (default: the neurolearn cache; filled "
        "from NEUROLEARN_DATA_DIR/allen/cell_types when set)",
    )
    p.add_argument(
        "--patchseq",
        action="store_true",
        help="use the Patch-seq interneurons of Gouwens et al. 2020 "
        "(NEUROLEARN_DATA_DIR/allen/patchseq_gouwens2020/SpecimenMetadata.csv) "
        "instead of the Cell Types release",
    )
    p.add_argument(
        "--no-download",
        action="store_true",
        help="never download; fail if the cache is empty",
    )
    p.add_argument(
        "--boot",
        type=int,
        default=1000,
        metavar="N",
        help="bootstrap resamples for confidence intervals (default 1000)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the resampling (default 0)")


def _filters(args) -> dict:
    out = {}
    for flag, column, _ in _FILTERS:
        values = getattr(args, flag)
        if values:
            out[column] = values[0] if len(values) == 1 else values
    return out


def _selection(args):
    from ..sources.allen import load_cells, load_patchseq, select

    table = (
        load_patchseq() if args.patchseq else load_cells(args.cache, download=not args.no_download)
    )
    filters = _filters(args)
    return select(table, **filters), filters, table


def _fmt_ci(ci) -> str:
    lo, hi = ci
    return "" if lo is None or hi is None else f" [{lo:.3g}, {hi:.3g}]"


def _fmt_p(p) -> str:
    return "n/a" if p is None else f"{p:.3g}"


def _cmd_summary(args) -> int:
    from ..analysis.allen import tau_summary
    from ..sources.allen import describe_filters

    selection, filters, _ = _selection(args)
    summary = tau_summary(selection, n_boot=args.boot, seed=args.seed, n_mc=args.mc)
    dataset = (
        "Allen Patch-seq interneurons (Gouwens et al. 2020)"
        if args.patchseq
        else "Allen Cell Types Database"
    )
    summary = {
        "dataset": dataset,
        "selection": describe_filters(filters),
        "filters": filters,
        **summary,
    }
    if args.json:
        print(json.dumps(summary, allow_nan=False))
        return 0
    t, g, ln = summary["tau_ms"], summary["gamma"], summary["lognorm"]
    conf = int(round(100 * g["confidence"]))
    print(f"{dataset}, {summary['selection']}: n = {summary['n']} cells")
    print(
        f"membrane time constant tau (ms): mean {t['mean']:.2f}, median {t['median']:.2f}, "
        f"SD {t['sd']:.2f}, quartiles {t['q25']:.2f} / {t['q75']:.2f}, "
        f"range {t['min']:.2f} - {t['max']:.2f}"
    )
    print(
        f"gamma fit (ML, loc = 0; {conf}% bootstrap CI): shape {g['shape']:.3f}"
        f"{_fmt_ci(g['shape_ci'])}, scale {g['scale_ms']:.3f} ms{_fmt_ci(g['scale_ms_ci'])}"
    )
    print(
        f"log-normal fit (ML, loc = 0): sigma {ln['sigma']:.3f}{_fmt_ci(ln['sigma_ci'])}, "
        f"scale exp(mu) {ln['scale_ms']:.3f} ms{_fmt_ci(ln['scale_ms_ci'])}"
    )
    for name, f in (("gamma", g), ("log-normal", ln)):
        chi = (
            "chi2 n/a (too few cells)"
            if f["chi2"] is None
            else f"chi2({f['chi2_dof']}) = {f['chi2']:.1f} on {f['chi2_bins']} equal-count bins, "
            f"p = {_fmt_p(f['chi2_p'])}"
        )
        mc = "" if f["ks_p_mc"] is None else f", parametric-bootstrap p = {_fmt_p(f['ks_p_mc'])}"
        print(
            f"  {name:<10} goodness of fit: {chi}; KS D = {f['ks']:.4f}, "
            f"p = {_fmt_p(f['ks_p'])}{mc}; AIC {f['aic']:.1f}"
        )
    return 0


def _cmd_compare(args) -> int:
    from ..io import OutputFolder

    with OutputFolder(args.out, what="--out"):  # checked first; nothing left on a failure
        return _compare(args)


def _compare(args) -> int:
    from ..analysis import hidden_layers, learned_tau_ms, write_tau_comparison
    from ..sources.allen import describe_filters, tau_values

    layers = args.run_layer
    if layers is None:  # the hidden layers, as the main job; every layer if none is hidden
        layers = hidden_layers(args.run) or None
    elif "all" in layers:
        layers = None
    learned = learned_tau_ms(args.run, column=args.column, layers=layers)
    selection, filters, _ = _selection(args)
    allen = tau_values(selection)
    result = write_tau_comparison(
        learned,
        allen,
        args.out,
        learned_label=args.label,
        reference_label=f"Allen ({describe_filters(filters)})",
        n_boot=args.boot,
        n_perm=args.perm,
        seed=args.seed,
    )
    table = result["table"]
    for _, row in table.iterrows():
        unit = "ms" if row["unit"] == "ms" else ""
        md = row["median_diff"]
        md_txt = (
            ""
            if md is None or (isinstance(md, float) and math.isnan(md))
            else f", median difference {md:.2f} ms [{row['median_diff_ci_low']:.2f}, "
            f"{row['median_diff_ci_high']:.2f}]"
        )
        print(
            f"{row['scale']:>17}: median {row['median_learned']:.3g} vs "
            f"{row['median_measured']:.3g} {unit}; KS D = {row['ks_statistic']:.3f} "
            f"(p = {_fmt_p(row['ks_pvalue'])}); Wasserstein {row['wasserstein']:.3g} {unit} "
            f"(permutation p = {_fmt_p(row['wasserstein_pvalue'])}){md_txt}"
        )
    for label, note in result["notes"].items():
        print(f"note: {label}: {note}", file=sys.stderr)
    print(f"wrote {len(result['files'])} files to {args.out}", file=sys.stderr)
    return 0


def _cmd_figures(args) -> int:
    from ..analysis.allen import draw_tau_figures
    from ..io import OutputFolder

    with OutputFolder(args.out, what="--out"):  # checked first; nothing left on a failure
        return _figures(args, draw_tau_figures)


def _figures(args, draw_tau_figures) -> int:
    selection, filters, table = _selection(args)
    files = draw_tau_figures(table, selection, filters, args.out, n_boot=args.boot, seed=args.seed)
    for f in files:
        print(f)
    return 0


def register(subparsers) -> None:
    """Add ``neurolearn allen {summary,compare,figures}``."""
    p = subparsers.add_parser(
        "allen",
        help="tau of real neurons (Allen Cell Types Database)",
        description="Membrane time constants of real neurons (Allen "
        "Cell Types Database): statistics, fits, comparison "
        "with learned tau, figures.",
    )
    sub = p.add_subparsers(dest="allen_command", required=True)

    s = sub.add_parser("summary", help="tau statistics and gamma/log-normal fits of a selection")
    _add_filters(s)
    s.add_argument(
        "--mc",
        type=int,
        default=0,
        metavar="N",
        help="Monte Carlo samples for a KS p-value accounting for the fitted "
        "parameters (default 0: off)",
    )
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(func=_cmd_summary)

    c = sub.add_parser("compare", help="a training run's tau against an Allen selection")
    c.add_argument("run", metavar="RUN", help="training run folder holding parameters.csv")
    _add_filters(c)
    c.add_argument("--out", required=True, metavar="DIR", help="folder for tables and figures")
    c.add_argument(
        "--column",
        default="tau_m_ms",
        help="per-neuron column of RUN/parameters.csv (default tau_m_ms)",
    )
    c.add_argument(
        "--run-layer",
        action="append",
        metavar="NAME",
        help="network layer(s) of the run to include (default: the hidden layers, hidden0, "
        "hidden1..., as the main job; 'all' for every layer, the readout included)",
    )
    c.add_argument("--label", default="learned", help="name of the run in tables and legends")
    c.add_argument(
        "--perm",
        type=int,
        default=1000,
        metavar="N",
        help="permutations for the Wasserstein p-value (default 1000)",
    )
    c.set_defaults(func=_cmd_compare)

    f = sub.add_parser("figures", help="histogram with fits, Q-Q plot, species x dendrite panel")
    _add_filters(f)
    f.add_argument("--out", required=True, metavar="DIR", help="folder for the figures")
    f.set_defaults(func=_cmd_figures)

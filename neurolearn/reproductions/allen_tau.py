"""Membrane time constants of real neurons (Allen Cell Types Database), end to end.

Reproduces the Allen side of Perez-Nieves et al. (2021, Nat. Commun. 12:5791, Fig. 5): the
distribution of tau_m across cortical neurons, its gamma and log-normal fits, and how it differs
between species and dendrite types; optionally compares a trained network's tau with it.

Usage::

    python -m neurolearn.reproductions.allen_tau --out results/allen_tau [--cache DIR] [--run RUN] [--boot 1000]

Writes into ``--out``:

* ``summary.csv``: one row per selection (all cells, mouse, human, and species x dendrite type):
  n, mean, median, SD, quartiles of tau (ms), gamma shape/scale and log-normal sigma/scale with
  bootstrap intervals, chi-square and KS goodness of fit;
* ``mouse_vs_human.csv``: two-sample statistics, raw and median-normalised;
* ``figures/``: ``tau_histogram``, ``tau_qq_fit``, ``tau_species_dendrite`` (PDF, SVG, PNG);
* ``allen_tau.json``: the numbers of both tables (strict JSON, missing values as null);
* with ``--run RUN``: ``learned/`` with the learned-vs-Allen table and figures (mouse cells).

Data: ``NEUROLEARN_DATA_DIR`` (folder laid out like the project's reference data) or an allensdk
cache folder given with ``--cache``; otherwise the data are downloaded (through allensdk where it
is installed, else :mod:`neurolearn.sources.allen_api`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from neurolearn.analysis import allen as allen_stats
from neurolearn.analysis import compare_samples, learned_tau_ms, write_tau_comparison
from neurolearn.io import atomic_write_json, atomic_write_text, finite_or_none
from neurolearn.sources import allen

from .registry import Reproduction, register

__all__ = ["SELECTIONS", "add_arguments", "run", "REPRODUCTION", "main"]

SELECTIONS = [("all cells", {}), ("mouse", {"species": "mouse"}), ("human", {"species": "human"})]
SELECTIONS += [
    (f"{s} {d}", {"species": s, "dendrite_type": d})
    for s in allen.SPECIES
    for d in allen.DENDRITE_TYPES
]


def _row(name: str, s: dict) -> dict:
    g, ln, t = s["gamma"], s["lognorm"], s["tau_ms"]
    return {
        "selection": name,
        "n": s["n"],
        "mean_ms": t["mean"],
        "median_ms": t["median"],
        "sd_ms": t["sd"],
        "q25_ms": t["q25"],
        "q75_ms": t["q75"],
        "gamma_shape": g["shape"],
        "gamma_shape_ci_low": g["shape_ci"][0],
        "gamma_shape_ci_high": g["shape_ci"][1],
        "gamma_scale_ms": g["scale_ms"],
        "gamma_chi2_p": g["chi2_p"],
        "gamma_ks_p": g["ks_p"],
        "gamma_aic": g["aic"],
        "lognorm_sigma": ln["sigma"],
        "lognorm_sigma_ci_low": ln["sigma_ci"][0],
        "lognorm_sigma_ci_high": ln["sigma_ci"][1],
        "lognorm_scale_ms": ln["scale_ms"],
        "lognorm_chi2_p": ln["chi2_p"],
        "lognorm_ks_p": ln["ks_p"],
        "lognorm_aic": ln["aic"],
    }


def add_arguments(parser) -> None:
    """Options of ``neurolearn reproduce allen_tau`` (see the module docstring).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        Receives the options.
    """
    parser.add_argument("--out", default="results/allen_tau", type=Path)
    parser.add_argument("--cache", help="allensdk CellTypesCache folder")
    parser.add_argument("--run", help="training run folder with parameters.csv (tau_m_ms)")
    parser.add_argument("--boot", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0)


def _selection_rows(table, args) -> list[dict]:
    """One summary row (:func:`_row`) per selection of :data:`SELECTIONS`, printed as it goes."""
    rows = []
    for name, filters in SELECTIONS:
        try:
            selection = allen.select(table, **filters)
        except ValueError as exc:  # e.g. a release without one combination
            print(f"skipping {name}: {exc}")
            continue
        s = allen_stats.tau_summary(selection, n_boot=args.boot, seed=args.seed)
        rows.append(_row(name, s))
        print(
            f"{name:>22}: n = {s['n']:4d}, tau median {s['tau_ms']['median']:5.1f} ms, "
            f"mean {s['tau_ms']['mean']:5.1f} ms; gamma shape {s['gamma']['shape']:.2f} "
            f"[{s['gamma']['shape_ci'][0]:.2f}, {s['gamma']['shape_ci'][1]:.2f}], "
            f"log-normal sigma {s['lognorm']['sigma']:.3f}"
        )
    return rows


def run(args) -> dict:
    """Run with parsed options; writes the tables, ``allen_tau.json`` (the same numbers:
    ``selections`` and ``mouse_vs_human``, times in ms) and the figures into ``args.out`` and
    returns what ``allen_tau.json`` holds.

    Parameters
    ----------
    args : argparse.Namespace
        The options of :func:`add_arguments`.

    Returns
    -------
    dict
        What was written as JSON (see above).
    """
    table = allen.load_cells(args.cache)
    rows = _selection_rows(table, args)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "summary.csv", pd.DataFrame(rows).to_csv(index=False))

    mouse = allen.tau_values(allen.select(table, species="mouse"))
    human = allen.tau_values(allen.select(table, species="human"))
    comp = [
        compare_samples(
            mouse, human, normalise=n, n_boot=args.boot, n_perm=args.boot, seed=args.seed
        ).to_dict()
        for n in (None, "median")
    ]
    atomic_write_text(args.out / "mouse_vs_human.csv", pd.DataFrame(comp).to_csv(index=False))
    for c in comp:
        median = (
            ""
            if c["median_diff"] is None
            else f", median difference {c['median_diff']:.2f} ms "
            f"[{c['median_diff_ci_low']:.2f}, {c['median_diff_ci_high']:.2f}]"
        )
        print(
            f"mouse vs human ({c['scale']}): KS D = {c['ks_statistic']:.3f} "
            f"(p = {c['ks_pvalue']:.2g}), Wasserstein {c['wasserstein']:.3g}{median}"
        )

    allen_stats.draw_tau_figures(
        table, table, {}, args.out / "figures", n_boot=args.boot, seed=args.seed
    )
    if args.run:
        learned = learned_tau_ms(args.run)
        write_tau_comparison(
            learned,
            mouse,
            args.out / "learned",
            reference_label="Allen mouse",
            n_boot=args.boot,
            n_perm=args.boot,
            seed=args.seed,
        )
    result = finite_or_none(
        {
            "paper": REFERENCE,
            "n_boot": args.boot,
            "seed": args.seed,
            "selections": rows,
            "mouse_vs_human": comp,
        }
    )
    atomic_write_json(args.out / "allen_tau.json", result)
    print(f"results in {args.out}")
    return result


REFERENCE = "Perez-Nieves, Leung, Dragotti & Goodman (2021) Nat. Commun. 12:5791, Fig. 5"

REPRODUCTION = register(
    Reproduction(
        name="allen_tau",
        description="Membrane time constants of real neurons (Allen Cell Types Database): "
        "distribution, gamma and log-normal fits, species and dendrite types",
        reference=REFERENCE,
        add_arguments=add_arguments,
        run=run,
    )
)


def main(argv=None) -> int:
    """Command line (``python -m neurolearn.reproductions.allen_tau``): see the module
    docstring."""
    return REPRODUCTION.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())

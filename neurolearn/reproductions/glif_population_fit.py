"""Population fit: LIF (or GLIF1) fitted to the electrophysiology features of every Allen cell
with complete features, compared with Allen's own GLIF1 parameters (Teeter et al. 2018).

Usage::

    NEUROLEARN_DATA_DIR=../shared/data python -m neurolearn.reproductions.glif_population_fit --out OUT \\
        [--model lif|glif1] [--backend cython] [--maxiter 10] [--popsize 3] [--limit N]
        [--glif1-cells-only]

Writes (atomically; rerunning resumes the table)::

  OUT/<model>_population.csv        one row per cell (fitted parameters with unit suffixes,
                                    model and data features, loss, status)
  OUT/<model>_vs_glif1.json         correlation and median relative error of R, C, tau,
                                    threshold against Allen's GLIF1 values
  OUT/<model>_parameters_by_class.{pdf,svg,png}  fitted parameter distributions by cell class
  OUT/<model>_vs_glif1.{pdf,svg,png}             fitted vs Allen GLIF1 scatter plots
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ..brian.backends import BACKENDS
from ..executor import add_scheduler_argument
from ..figures import styled
from .registry import Reproduction, register

__all__ = ["QUANTITIES", "add_arguments", "run", "REPRODUCTION", "main"]


def add_arguments(parser) -> None:
    """Options of ``neurolearn reproduce glif_population_fit`` (see the module docstring).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        Receives the options.
    """
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--model", default="lif", choices=["lif", "glif1"])
    parser.add_argument("--backend", default="cython", help=" | ".join(BACKENDS))
    parser.add_argument("--maxiter", type=int, default=10)
    parser.add_argument("--popsize", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=400)
    parser.add_argument("--limit", type=int, default=None, help="fit only the first N cells")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="local worker processes, one chunk of cells each (default 1: this process)",
    )
    add_scheduler_argument(parser)
    parser.add_argument(
        "--glif1-cells-only",
        action="store_true",
        help="only cells that also have an Allen GLIF1 model",
    )


#: Fitted quantities compared and plotted: (column stem, axis label).
QUANTITIES = [
    ("R_mohm", "R (MOhm)"),
    ("C_pf", "C (pF)"),
    ("tau_ms", "tau_m (ms)"),
    ("threshold_mv", "threshold (mV)"),
]


def run(args) -> dict:
    """Fit every selected cell, compare with Allen's GLIF1 and draw the figures; writes
    ``<model>_population.csv``, ``<model>_vs_glif1.json`` and the figures into ``args.out``
    and returns what the JSON holds.

    Parameters
    ----------
    args : argparse.Namespace
        The options of :func:`add_arguments`.

    Returns
    -------
    dict
        What was written as JSON (see above).
    """
    import pandas as pd

    from neurolearn.fitting.population import (
        compare_with_glif1,
        fit_population,
        load_glif1_parameters,
    )
    from neurolearn.io import atomic_write_json
    from neurolearn.paths import data_path

    feats = pd.read_csv(data_path("allen", "cell_types", "ephys_features.csv"))
    glif1 = load_glif1_parameters(data_path("allen", "glif_teeter2018"))
    ids = None
    if args.glif1_cells_only:
        ids = glif1["specimen_id"].tolist()
    if args.limit:
        pool = ids if ids is not None else feats["specimen_id"].tolist()
        ids = pool[: args.limit]
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    table = fit_population(
        feats,
        model=args.model,
        out=out / f"{args.model}_population.csv",
        specimen_ids=ids,
        chunk_size=args.chunk,
        popsize=args.popsize,
        maxiter=args.maxiter,
        backend=args.backend,
        workers=getattr(args, "workers", 1),
        scheduler=getattr(args, "scheduler", None),
    )
    cmp = compare_with_glif1(table, glif1)
    cmp["n_fitted"] = int((table["status"] != "failed").sum())
    cmp["model"] = args.model
    atomic_write_json(out / f"{args.model}_vs_glif1.json", cmp)
    print(json.dumps(cmp, indent=2))
    _plot_by_class(table, args.model, out / f"{args.model}_parameters_by_class")
    _plot_vs_glif1(table, glif1, cmp, out / f"{args.model}_vs_glif1")
    return cmp


@styled
def _plot_by_class(table, model: str, stem: Path) -> None:
    """Fitted parameters by cell class (dendrite type: spiny ~ excitatory, aspiny ~
    inhibitory), classes with >= 10 cells."""
    import pandas as pd

    from neurolearn.figures import new_figure, save_figure
    from neurolearn.paths import data_path

    cells = pd.read_csv(
        data_path("allen", "cell_types_specimen_details.csv"),
        usecols=["specimen__id", "tag__dendrite_type", "donor__species"],
    )
    cells = cells.rename(columns={"specimen__id": "specimen_id"})
    t = table.merge(cells, on="specimen_id", how="left")
    species = t["donor__species"].map({"Mus musculus": "mouse", "Homo Sapiens": "human"})
    t["class"] = species.fillna("?") + " " + t["tag__dendrite_type"].fillna("?")
    classes = [c for c, n in t["class"].value_counts().items() if n >= 10]
    qs = QUANTITIES
    fig, axes = new_figure(1, len(qs), width=3.2 * len(qs), height=3.2)
    for ax, (q, label) in zip(np.ravel(axes), qs):
        data = [t.loc[t["class"] == c, q].dropna().to_numpy() for c in classes]
        ax.boxplot(data, showfliers=False)
        ax.set_xticks(range(1, len(classes) + 1))
        ax.set_xticklabels(classes, rotation=45, ha="right", fontsize=7)
        ax.set_ylabel(label)
    fig.suptitle(f"{model.upper()} fitted to Allen features, by cell class")
    save_figure(fig, stem)


@styled
def _plot_vs_glif1(table, glif1, cmp: dict, stem: Path) -> None:
    """Fitted against Allen GLIF1 values, one panel per quantity, with the Pearson r."""
    from neurolearn.figures import new_figure, save_figure

    m = table.merge(glif1, on="specimen_id", suffixes=("_fit", "_allen"))
    qs = QUANTITIES
    fig, axes = new_figure(1, len(qs), width=3.2 * len(qs), height=3.2)
    for ax, (q, label) in zip(np.ravel(axes), qs):
        a, b = m[f"{q}_allen"], m[f"{q}_fit"]
        ax.scatter(a, b, s=4, alpha=0.5)
        lim = [np.nanmin([a.min(), b.min()]), np.nanmax([a.max(), b.max()])]
        ax.plot(lim, lim, "k--", lw=0.8)
        ax.set_xlabel(f"Allen GLIF1 {label}")
        ax.set_ylabel(f"fitted {label}")
        ax.set_title(f"r = {cmp[q]['pearson_r']:.2f}", fontsize=9)
    save_figure(fig, stem)


REPRODUCTION = register(
    Reproduction(
        name="glif_population_fit",
        description="LIF (or GLIF1) fitted to the electrophysiology features of every Allen "
        "cell, compared with Allen's own GLIF1 parameters",
        reference="Teeter et al. (2018) Nat. Commun. 9:709",
        add_arguments=add_arguments,
        run=run,
    )
)


def main(argv=None) -> int:
    """Command line (``python -m neurolearn.reproductions.glif_population_fit``): see the
    module docstring."""
    return REPRODUCTION.main(argv)


if __name__ == "__main__":
    sys.exit(main())

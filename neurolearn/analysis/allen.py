"""Allen Cell Types Database statistics: the membrane time constants of a selection of cells
described and fitted (gamma, log-normal), compared with a trained network's learned time
constants, and drawn (histograms, Q-Q plots). Tables come from :mod:`neurolearn.sources.allen`
(Allen Institute for Brain Science (2015) Allen Cell Types Database, celltypes.brain-map.org)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..sources.allen import (
    DENDRITE_TYPES,
    FILTER_ALIASES,
    SPECIES,
    describe_filters,
    load_cells,
    select,
    tau_values,
)

__all__ = ["tau_summary", "compare_learned", "draw_tau_figures"]


def tau_summary(
    selection: pd.DataFrame,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
    n_mc: int = 0,
    min_per_bin: int = 20,
) -> dict:
    """Descriptive statistics and gamma / log-normal fits of the membrane time constant.

    Parameters
    ----------
    selection : pandas.DataFrame
        Cells (from :func:`select`), with a ``tau_ms`` column; cells without tau are dropped.
    n_boot : int
        Bootstrap resamples for the confidence intervals of the fitted parameters (0: none).
    confidence : float
        Confidence level of the intervals.
    seed : int or None
        Seed of the bootstrap (reproducible numbers by default).
    n_mc : int
        Monte Carlo samples for the parametric-bootstrap KS p-value (0: only the asymptotic
        one), see :func:`neurolearn.analysis.fit_distribution`.
    min_per_bin : int
        Cells per equal-count bin of the chi-square test (Perez-Nieves et al. 2021: 20).

    Returns
    -------
    dict
        ``{"n", "tau_ms": {"mean", "median", "sd", "q25", "q75", "min", "max"},
        "gamma": {"shape", "scale_ms", ... CIs, chi-square, KS, AIC}, "lognorm": {"sigma",
        "scale_ms", ...}}``; all times in ms, ready for JSON.

    Raises
    ------
    ValueError
        If fewer than 2 cells have a positive tau.
    """
    from . import describe, fit_distribution

    tau = tau_values(selection)
    out = {"n": int(tau.size), "tau_ms": describe(tau)}
    for i, name in enumerate(("gamma", "lognorm")):
        fit = fit_distribution(
            tau,
            name,
            n_boot=n_boot,
            confidence=confidence,
            seed=None if seed is None else seed + i,
            n_mc=n_mc,
            min_per_bin=min_per_bin,
        )
        out[name] = fit.to_dict(unit="ms")
    return out


def compare_learned(
    learned_tau_ms: Iterable[float],
    out: str | os.PathLike | None = None,
    cache: str | os.PathLike | None = None,
    table: pd.DataFrame | None = None,
    n_boot: int = 1000,
    n_perm: int = 1000,
    seed: int | None = 0,
    learned_label: str = "learned",
    **filters: Any,
) -> pd.DataFrame:
    """Compare a trained network's membrane time constants with an Allen selection.

    Parameters
    ----------
    learned_tau_ms : array-like, shape (n_neurons,)
        Per-neuron tau_m of the trained network, in ms (must be finite and > 0).
    out : path, optional
        Folder for the table, the fits and the figures
        (:func:`neurolearn.analysis.write_tau_comparison`); nothing is written when None.
    cache : path, optional
        allensdk cache folder, see :func:`cell_types_folder`.
    table : pandas.DataFrame, optional
        An already loaded :func:`load_cells` table (skips loading).
    n_boot, n_perm, seed
        Bootstrap resamples, permutation resamples and seed of the statistics.
    learned_label : str
        Name of the learned sample in tables and legends.
    **filters
        Selection of Allen cells, as for :func:`select` (``species="mouse"``, ``layer="4"``...).

    Returns
    -------
    pandas.DataFrame
        The two-sample comparison, one row per scale (``raw`` in ms, ``median-normalised``),
        see :func:`neurolearn.analysis.compare_tau`.

    Raises
    ------
    ValueError
        Bad filters, an empty selection, or bad learned values.
    DataNotFoundError
        If the Allen data are missing.
    """
    from . import compare_tau, write_tau_comparison

    if table is None:
        table = load_cells(cache)
    allen = tau_values(select(table, **filters))
    allen_label = f"Allen ({describe_filters(filters)})"
    if out is not None:
        return write_tau_comparison(
            learned_tau_ms,
            allen,
            out,
            learned_label=learned_label,
            reference_label=allen_label,
            n_boot=n_boot,
            n_perm=n_perm,
            seed=seed,
        )["table"]
    return compare_tau(
        learned_tau_ms,
        allen,
        learned_label=learned_label,
        reference_label=allen_label,
        n_boot=n_boot,
        n_perm=n_perm,
        seed=seed,
    )


def draw_tau_figures(
    table: pd.DataFrame,
    selection: pd.DataFrame,
    filters: Mapping[str, Any],
    out: str | os.PathLike,
    n_boot: int = 1000,
    seed: int | None = 0,
) -> list[Path]:
    """Figures of the tau distribution of a selection, written into ``out``.

    * ``tau_histogram``: density histogram with the fitted gamma and log-normal densities, one
      panel per species present in the selection;
    * ``tau_qq_fit``: Q-Q plot of the selection against both fits;
    * ``tau_species_dendrite``: species (rows) x dendrite type (columns) panel of the whole table
      restricted by the filters other than species and dendrite type;
    * ``tau_summary.json``: :func:`tau_summary` of every panel of ``tau_histogram``.

    Each figure as PDF, SVG and PNG (:func:`neurolearn.figures.save_figure`).

    Parameters
    ----------
    table : pandas.DataFrame
        The full :func:`load_cells` table.
    selection : pandas.DataFrame
        ``select(table, **filters)``.
    filters : mapping
        The filters that made ``selection`` (for titles and the panel figure).
    out : path
        Output folder (created).
    n_boot, seed
        Bootstrap settings of the fits in ``tau_summary.json``.

    Returns
    -------
    list of Path
        Written files.
    """
    from ..figures import save_figure
    from ..io import atomic_write_json
    from . import fit_distribution
    from .plots import histogram_figure, panel_figure, qq_fit_figure

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    name = describe_filters(filters)
    groups = {}
    for species in [s for s in SPECIES if s in set(selection["species"])]:
        part = selection[selection["species"] == species]
        if int(np.isfinite(pd.to_numeric(part["tau_ms"], errors="coerce")).sum()) >= 2:
            groups[species if ("species" in filters or not filters) else f"{species} ({name})"] = (
                part
            )
    if not groups:
        groups[name] = selection
    samples, fits, summaries = {}, {}, {}
    for label_, part in groups.items():
        samples[label_] = tau_values(part)
        summaries[label_] = tau_summary(part, n_boot=n_boot, seed=seed)
        fits[label_] = {
            "gamma": (summaries[label_]["gamma"]["shape"], summaries[label_]["gamma"]["scale_ms"]),
            "lognorm": (
                summaries[label_]["lognorm"]["sigma"],
                summaries[label_]["lognorm"]["scale_ms"],
            ),
        }
    files = [atomic_write_json(out / "tau_summary.json", {"selection": name, "groups": summaries})]
    files += save_figure(histogram_figure(samples, fits), out / "tau_histogram")
    all_tau = tau_values(selection)
    all_fits = {
        f: tuple(fit_distribution(all_tau, f, n_boot=0).params.values())
        for f in ("gamma", "lognorm")
    }
    files += save_figure(
        qq_fit_figure(all_tau, all_fits, name=f"Allen ({name})"), out / "tau_qq_fit"
    )

    rest = {
        k: v
        for k, v in filters.items()
        if FILTER_ALIASES.get(k, k) not in ("species", "dendrite_type")
    }
    base = select(table, **rest)
    grid, grid_fits = {}, {}
    for species in SPECIES:
        for dendrite in DENDRITE_TYPES:
            part = base[(base["species"] == species) & (base["dendrite_type"] == dendrite)]
            tau = pd.to_numeric(part["tau_ms"], errors="coerce").to_numpy(float)
            tau = tau[np.isfinite(tau) & (tau > 0)]
            if tau.size >= 2:
                grid[(species, dendrite)] = tau
                grid_fits[(species, dendrite)] = {
                    f: tuple(fit_distribution(tau, f, n_boot=0).params.values())
                    for f in ("gamma", "lognorm")
                }
    fig = panel_figure(grid, SPECIES, DENDRITE_TYPES, grid_fits)
    if rest:
        fig.suptitle(describe_filters(rest), fontsize=8)
    files += save_figure(fig, out / "tau_species_dendrite")
    return files

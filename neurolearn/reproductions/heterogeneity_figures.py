"""Figures of the heterogeneity experiment, in the project's one style
(:mod:`neurolearn.figures`): test accuracy per configuration as dots (one per seed) and mean
with its 95 % bootstrap interval; test accuracy against the time scale of the input (mean and
interval per configuration); learned tau_m and tau_syn as histograms with their fitted gamma
and log-normal densities, beside the Allen selections. Every figure is checked for overlapping
text before it is saved (:func:`neurolearn.figures.overlapping_text`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..figures import styled
from .heterogeneity_results import ALL_CONFIGURATIONS, _split_name, short_of

__all__ = ["draw_figures", "COLORS"]

#: One colour per configuration (Okabe & Ito 2008 colour-blind-safe palette).
COLORS = dict(zip(ALL_CONFIGURATIONS, ("#999999", "#E69F00", "#56B4E9", "#009E73", "#CC79A7")))


@styled
def draw_figures(results: Mapping, all_runs: Mapping, named: Mapping | None, out: Path) -> None:
    """Write ``accuracy_per_configuration``, ``robustness`` (when measured) and
    ``tau_histograms`` (``.pdf``, ``.svg``, ``.png``) into ``out``.

    Parameters
    ----------
    results : mapping
        ``results.json`` content (:func:`~.heterogeneity_results.summarize_runs`).
    all_runs : mapping
        Per configuration and seed: ``tau_m``, ``tau_syn`` arrays (ms).
    named : mapping or None
        Allen selections: name -> tau_m (ms).
    out : Path
        Folder.
    """
    _accuracy(results, out / "accuracy_per_configuration")
    if results.get("robustness"):
        _robustness(results, out / "robustness")
    _tau(results, all_runs, named, out / "tau_histograms")


def _save(fig, stem: Path) -> None:
    """Save ``fig``; text that overlaps (:func:`neurolearn.figures.overlapping_text`, e.g.
    tick labels of small panels with few data) is reported as a warning, and the results are
    written either way."""
    import warnings

    from ..figures import overlapping_text, save_figure

    fig.canvas.draw()
    clashes = overlapping_text(fig)
    if clashes:
        warnings.warn(f"{stem}: overlapping text in the figure: {clashes[:3]}", stacklevel=2)
    save_figure(fig, stem)


def _accuracy(results: Mapping, stem: Path) -> None:
    from ..figures import new_figure

    names = list(results["configurations"])
    fig, ax = new_figure(width=1.0 + 0.75 * len(names), height=2.6)
    for i, name in enumerate(names):
        e = results["configurations"][name]
        accs = 100 * np.asarray(e["accuracies"])
        jitter = np.linspace(-0.15, 0.15, accs.size) if accs.size > 1 else np.zeros(1)
        ax.plot(
            i + jitter, accs, "o", ms=3, color=COLORS[_split_name(name)[0]], alpha=0.6, mec="none"
        )
        lo, hi = (100 * np.asarray(e["accuracy_ci95"])).tolist()
        mean = 100 * e["accuracy_mean"]
        ax.errorbar(
            i + 0.3, mean, yerr=[[mean - lo], [hi - mean]], fmt="o", color="k", ms=4, capsize=2
        )
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([short_of(n) for n in names], fontsize=6)
    ax.set_xlim(-0.5, len(names) - 0.3)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{results['dataset']}: seeds and mean [95 % CI]", fontsize=8)
    _save(fig, stem)


def _robustness(results: Mapping, stem: Path) -> None:
    from ..figures import new_figure

    rob = results["robustness"]
    scales = np.asarray(rob["time_scales"], dtype=float)
    fig, ax = new_figure(width=4.8, height=2.6)
    for name, r in rob["configurations"].items():
        mean = 100 * np.asarray(r["mean"])
        ci = 100 * np.asarray(r["ci95"])
        ax.plot(
            scales,
            mean,
            "o-",
            ms=3,
            color=COLORS[_split_name(name)[0]],
            label=short_of(name).replace("\n", ", "),
        )
        ax.fill_between(
            scales, ci[:, 0], ci[:, 1], color=COLORS[_split_name(name)[0]], alpha=0.2, lw=0
        )
    ax.axvline(1.0, color="0.6", lw=0.5, ls=":")
    ax.set_xscale("log", base=2)
    ax.set_xticks(scales)
    ax.set_xticklabels([f"{s:g}" for s in scales], fontsize=6)
    ax.minorticks_off()
    ax.set_xlabel("time scale of the test input")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    _save(fig, stem)


def _tau(results: Mapping, all_runs: Mapping, named: Mapping | None, stem: Path) -> None:
    from matplotlib.ticker import MaxNLocator
    from scipy import stats

    from ..figures import new_figure

    names = list(all_runs)
    fig, axes = new_figure(2, len(names), width=1.2 + 1.5 * len(names), height=4.2, squeeze=False)
    for row, (param, label) in enumerate((("tau_m", "tau_m (ms)"), ("tau_syn", "tau_syn (ms)"))):
        for col, name in enumerate(names):
            ax = axes[row][col]
            tau = np.concatenate([r[param] for r in all_runs[name].values()])
            cells = (named or {}).get("mouse_visp_l4_spiny") if param == "tau_m" else None
            pool = [v for v in (tau, cells) if v is not None and v.size]
            hi = max(float(np.percentile(v, 99)) for v in pool) * 1.1 if pool else 1.0
            bins = np.linspace(0, max(hi, 1.0), 30)
            if cells is not None and cells.size:
                ax.hist(cells, bins=bins, density=True, color="0.85", label="mouse VISp L4 spiny")
            if tau.size:
                ax.hist(
                    tau,
                    bins=bins,
                    density=True,
                    histtype="step",
                    color=COLORS[_split_name(name)[0]],
                    lw=1.2,
                    label="learned",
                )
            fit = results["configurations"][name].get(f"{param}_fit")
            if fit:
                x = np.linspace(bins[1] / 4, bins[-1], 200)
                g, ln = fit["gamma"], fit["lognorm"]
                ax.plot(
                    x,
                    stats.gamma.pdf(x, g["shape"], scale=g["scale_ms"]),
                    "k-",
                    lw=0.8,
                    label="gamma fit",
                )
                ax.plot(
                    x,
                    stats.lognorm.pdf(x, ln["sigma"], scale=ln["scale_ms"]),
                    "k--",
                    lw=0.8,
                    label="log-normal fit",
                )
            ax.set_xlim(0, bins[-1])
            ax.xaxis.set_major_locator(MaxNLocator(3, prune="upper"))
            ax.yaxis.set_major_locator(MaxNLocator(3))
            ax.set_xlabel(label, fontsize=7)
            ax.tick_params(labelsize=6)
            if row == 0:
                ax.set_title(short_of(name).replace("\n", ", "), fontsize=6)
            if col == 0:
                ax.set_ylabel("density (1/ms)", fontsize=7)
    handles, labels = {}, {}
    for ax in np.ravel(axes):
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    labels = list(handles)
    fig.legend(
        [handles[k] for k in labels],
        labels,
        loc="outside lower center",
        ncol=len(labels),
        fontsize=6,
        frameon=False,
    )
    _save(fig, stem)

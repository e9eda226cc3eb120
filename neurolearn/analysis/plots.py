"""Figures of time-constant distributions: histograms with fitted densities, learned against
measured overlays, Q-Q plots and species x dendrite-type panels.

Every function takes plain arrays and plain numbers (fits as ``{"gamma": (shape, scale),
"lognorm": (sigma, scale)}`` with the scale in the unit of the data) and returns a matplotlib
figure styled by :mod:`neurolearn.figures`; save it with :func:`neurolearn.figures.save_figure`
(vector PDF and SVG plus PNG).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..figures import label, new_figure, styled
from .distributions import frozen_distribution

__all__ = [
    "FIT_STYLE",
    "plot_histogram",
    "histogram_figure",
    "overlay_figure",
    "qq_figure",
    "qq_fit_figure",
    "panel_figure",
]

#: Line style of each fitted family.
FIT_STYLE = {
    "gamma": dict(color="k", ls="-", label="gamma fit"),
    "lognorm": dict(color="0.45", ls="--", label="log-normal fit"),
}
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _upper(samples: Sequence[np.ndarray], q: float = 0.99) -> float:
    return float(max(np.quantile(np.asarray(s, float), q) for s in samples)) * 1.05


def plot_histogram(
    ax,
    values,
    fits: Mapping[str, tuple] | None = None,
    color: str = _COLORS[0],
    name: str | None = None,
    xmax: float | None = None,
    bins: int = 40,
    histtype: str = "stepfilled",
    fit_lines: bool = True,
    fit_labels: bool = True,
) -> None:
    """Density histogram of ``values`` on ``ax`` with the fitted densities.

    Parameters
    ----------
    ax : matplotlib Axes
    values : array-like, shape (n,)
        Positive sample.
    fits : mapping, optional
        ``family -> (shape or sigma, scale)`` drawn as densities (families of
        :data:`neurolearn.analysis.distributions.DISTRIBUTIONS`).
    color, name : str
        Histogram colour and legend label (``name (n = ...)``).
    xmax : float, optional
        Upper end of the bins (default: 1.05 x the 99th percentile; larger values are left out
        of the drawing, not of any statistic).
    bins : int
        Number of bins on [0, xmax].
    histtype : str
        Matplotlib histogram type.
    fit_lines : bool
        Draw the fitted densities.
    fit_labels : bool
        Give the fitted densities legend entries.
    """
    values = np.asarray(values, float)
    xmax = xmax or _upper([values])
    edges = np.linspace(0, xmax, bins + 1)
    kw = dict(alpha=0.35) if histtype == "stepfilled" else dict(lw=1.0)
    # density relative to all values, also those beyond xmax
    weights = np.full(values.size, 1.0 / (values.size * (edges[1] - edges[0])))
    ax.hist(
        values,
        bins=edges,
        weights=weights,
        color=color,
        histtype=histtype,
        label=f"{name} (n = {values.size})" if name else None,
        **kw,
    )
    if fits and fit_lines:
        grid = np.linspace(xmax / 500, xmax, 400)
        for family, params in fits.items():
            style = dict(FIT_STYLE.get(family, {}))
            if histtype != "stepfilled":
                style["color"] = color
            if not fit_labels:
                style.pop("label", None)
            ax.plot(grid, frozen_distribution(family, tuple(params)).pdf(grid), lw=1.0, **style)
    ax.set_xlim(0, xmax)


@styled
def histogram_figure(
    samples: Mapping[str, np.ndarray],
    fits: Mapping[str, Mapping[str, tuple]] | None = None,
    unit: str = "ms",
    quantity: str = "membrane time constant",
    bins: int = 40,
):
    """One density histogram with fitted densities per selection, stacked, shared x axis.

    Parameters
    ----------
    samples : mapping
        ``selection name -> values`` (shape (n,), in ``unit``).
    fits : mapping, optional
        ``selection name -> {family: (shape or sigma, scale)}``.
    unit, quantity : str
        Axis label parts: ``quantity (unit)``.
    bins : int
        Bins per histogram.

    Returns
    -------
    matplotlib Figure
    """
    names = list(samples)
    fig, axes = new_figure(len(names), 1, height=1.6 * len(names) + 0.4, sharex=True, squeeze=False)
    xmax = _upper([samples[n] for n in names])
    for i, (name, ax) in enumerate(zip(names, axes[:, 0])):
        plot_histogram(
            ax,
            samples[name],
            (fits or {}).get(name),
            color=_COLORS[i % 6],
            name=name,
            xmax=xmax,
            bins=bins,
        )
        ax.set_ylabel(label("density", f"1/{unit}"))
        ax.legend(loc="upper right")
    axes[-1, 0].set_xlabel(label(quantity, unit))
    return fig


@styled
def overlay_figure(
    learned,
    measured,
    fits_learned: Mapping[str, tuple] | None = None,
    fits_measured: Mapping[str, tuple] | None = None,
    names: tuple[str, str] = ("learned", "Allen"),
    unit: str = "ms",
    bins: int = 40,
):
    """Learned against measured distributions: raw (left) and median-normalised (right).

    Parameters
    ----------
    learned, measured : array-like, shapes (n_learned,), (n_measured,)
        Positive samples in ``unit``.
    fits_learned, fits_measured : mapping, optional
        ``family -> (shape or sigma, scale)`` of each sample on the raw scale; on the
        normalised scale the same shape is drawn with scale divided by the sample median.
    names : (str, str)
        Legend names.
    unit : str
        Unit of the samples.
    bins : int
        Bins per histogram.

    Returns
    -------
    matplotlib Figure
    """
    learned, measured = np.asarray(learned, float), np.asarray(measured, float)
    fig, (ax_raw, ax_norm) = new_figure(1, 2, width=6.8, height=2.5)
    xmax = _upper([learned, measured])
    for values, fits, name, color, htype in (
        (measured, fits_measured, names[1], "0.6", "stepfilled"),
        (learned, fits_learned, names[0], _COLORS[1], "step"),
    ):
        plot_histogram(
            ax_raw,
            values,
            fits,
            color=color,
            name=name,
            xmax=xmax,
            bins=bins,
            histtype=htype,
            fit_labels=htype == "stepfilled",
        )
        med = float(np.median(values))
        nfits = {f: (p[0], p[1] / med) for f, p in (fits or {}).items()}
        plot_histogram(
            ax_norm,
            values / med,
            nfits,
            color=color,
            name=name,
            xmax=_upper([learned / np.median(learned), measured / np.median(measured)]),
            bins=bins,
            histtype=htype,
            fit_labels=htype == "stepfilled",
        )
    ax_raw.set_xlabel(label("membrane time constant", unit))
    ax_raw.set_ylabel(label("density", f"1/{unit}"))
    ax_norm.set_xlabel(label("tau / median(tau)", "dimensionless"))
    ax_norm.set_ylabel("density")
    ax_norm.legend(loc="upper right")
    return fig


def _qq(ax, x, y, xname, yname):
    q = np.linspace(0.01, 0.99, 99)
    qx, qy = np.quantile(x, q), np.quantile(y, q)
    ax.plot(qx, qy, "o", ms=2.5, color=_COLORS[0])
    lim = [0, max(qx.max(), qy.max()) * 1.05]
    ax.plot(lim, lim, color="0.5", lw=0.6, ls=":")
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    ax.set_xlabel(xname)
    ax.set_ylabel(yname)


@styled
def qq_figure(learned, measured, names: tuple[str, str] = ("learned", "Allen"), unit: str = "ms"):
    """Two-sample Q-Q plots (percentiles 1..99) of learned against measured values, raw and
    median-normalised; points on the diagonal mean equal distributions.

    Parameters
    ----------
    learned, measured : array-like
        Positive samples in ``unit``.
    names : (str, str)
        Axis names.
    unit : str
        Unit of the samples.

    Returns
    -------
    matplotlib Figure
    """
    learned, measured = np.asarray(learned, float), np.asarray(measured, float)
    fig, (a, b) = new_figure(1, 2, width=5.0, height=2.5)
    _qq(
        a,
        measured,
        learned,
        label(f"{names[1]} tau quantile", unit),
        label(f"{names[0]} tau quantile", unit),
    )
    _qq(
        b,
        measured / np.median(measured),
        learned / np.median(learned),
        f"{names[1]} tau / median",
        f"{names[0]} tau / median",
    )
    return fig


@styled
def qq_fit_figure(values, fits: Mapping[str, tuple], unit: str = "ms", name: str = "Allen"):
    """Q-Q plot of a sample against its fitted distributions (empirical quantiles 1..99 %
    against the fitted quantile function).

    Parameters
    ----------
    values : array-like, shape (n,)
        Positive sample in ``unit``.
    fits : mapping
        ``family -> (shape or sigma, scale)``.
    unit, name : str
        Unit and name of the sample.

    Returns
    -------
    matplotlib Figure
    """
    values = np.asarray(values, float)
    q = np.linspace(0.01, 0.99, 99)
    emp = np.quantile(values, q)
    fig, ax = new_figure()
    top = emp.max()
    for family, params in fits.items():
        theo = frozen_distribution(family, tuple(params)).ppf(q)
        top = max(top, theo.max())
        style = FIT_STYLE.get(family, {})
        ax.plot(
            theo,
            emp,
            "o",
            ms=2.5,
            mfc="none" if family == "lognorm" else style.get("color"),
            color=style.get("color"),
            label=style.get("label", family),
        )
    ax.plot([0, top * 1.05], [0, top * 1.05], color="0.5", lw=0.6, ls=":")
    ax.set_xlabel(label("fitted quantile", unit))
    ax.set_ylabel(label(f"{name} quantile", unit))
    ax.legend(loc="upper left")
    return fig


@styled
def panel_figure(
    samples: Mapping[tuple[str, str], np.ndarray],
    rows: Sequence[str],
    cols: Sequence[str],
    fits: Mapping[tuple[str, str], Mapping[str, tuple]] | None = None,
    unit: str = "ms",
    quantity: str = "membrane time constant",
    bins: int = 30,
):
    """Grid of histograms with fitted densities, e.g. species (rows) x dendrite type (columns).

    Parameters
    ----------
    samples : mapping
        ``(row, col) -> values``; missing cells (or fewer than 2 values) are drawn empty with
        ``n = 0``.
    rows, cols : sequence of str
        Row and column names, in order.
    fits : mapping, optional
        ``(row, col) -> {family: (shape or sigma, scale)}``.
    unit, quantity : str
        Axis label parts.
    bins : int
        Bins per panel.

    Returns
    -------
    matplotlib Figure
    """
    fig, axes = new_figure(
        len(rows),
        len(cols),
        width=2.2 * len(cols),
        height=1.7 * len(rows) + 0.3,
        sharex=True,
        squeeze=False,
    )
    present = [np.asarray(v, float) for v in samples.values() if len(v) > 1]
    xmax = _upper(present) if present else 1.0
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            ax = axes[i, j]
            values = np.asarray(samples.get((r, c), []), float)
            if values.size > 1:
                plot_histogram(
                    ax, values, (fits or {}).get((r, c)), color=_COLORS[i % 6], xmax=xmax, bins=bins
                )
                med = np.median(values)
                ax.text(
                    0.97,
                    0.95,
                    f"n = {values.size}\nmedian {med:.1f} {unit}",
                    transform=ax.transAxes,
                    ha="right",
                    va="top",
                    fontsize=6,
                )
            else:
                ax.text(0.5, 0.5, "n = 0", transform=ax.transAxes, ha="center", va="center")
                ax.set_xlim(0, xmax)
            if i == 0:
                ax.set_title(c)
            if j == 0:
                ax.set_ylabel(f"{r}\n" + label("density", f"1/{unit}"))
            if i == len(rows) - 1:
                ax.set_xlabel(label(quantity, unit))
    handles, labels_ = axes[0, 0].get_legend_handles_labels()
    if handles:
        axes[0, -1].legend(handles, labels_, loc="center right", fontsize=6)
    return fig

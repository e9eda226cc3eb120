"""Figures: one style and one way to save, for every result neurolearn draws.

Plotting functions take plain arrays (and unit names), never library objects, so that every
layer can draw without importing the others. :func:`save_figure` writes vector PDF and SVG plus
a PNG, each atomically.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .io import atomic_path

__all__ = ["overlapping_text", "STYLE", "style", "styled", "new_figure", "save_figure", "label"]

#: Matplotlib rc settings of neurolearn figures (journal single column: 85 mm wide).
STYLE = {
    "figure.figsize": (3.35, 2.5),
    "figure.dpi": 150,
    "savefig.dpi": 300,
    "font.size": 8,
    "axes.labelsize": 8,
    "axes.titlesize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.0,
    "pdf.fonttype": 42,  # embed TrueType: text stays editable in Illustrator/Inkscape
    "svg.fonttype": "none",
    "legend.frameon": False,
}


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Context manager applying :data:`STYLE` (and the non-interactive Agg backend)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    with plt.rc_context(STYLE):
        yield


def styled(func: Callable) -> Callable:
    """Decorator: run a figure function inside :func:`style`, so that what it adds after
    creating the figure (titles, legends, text: matplotlib reads their font sizes from the
    rc settings when they are made) follows :data:`STYLE` too.

    Parameters
    ----------
    func : callable
        A function that draws (and usually saves) a figure.

    Returns
    -------
    callable
        ``func`` run inside :func:`style`.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with style():
            return func(*args, **kwargs)

    return wrapper


def new_figure(
    nrows: int = 1,
    ncols: int = 1,
    width: float | None = None,
    height: float | None = None,
    **kwargs,
):
    """A styled ``(figure, axes)`` pair; ``width``/``height`` in inches.

    The style is applied to the figure and axes created here; draw inside :func:`style` (or
    a function decorated with :func:`styled`) so that titles, legends and text added later
    follow it too.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    w, h = STYLE["figure.figsize"]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            nrows,
            ncols,
            figsize=(width or w * ncols, height or h * nrows),
            constrained_layout=True,
            **kwargs,
        )
    return fig, axes


def label(name: str, unit: str | None) -> str:
    """Axis label with its unit: ``label("membrane potential", "mV")`` -> ``"membrane potential (mV)"``."""
    return f"{name} ({unit})" if unit else name


def save_figure(
    fig, stem: str | Path, formats: Iterable[str] = ("pdf", "svg", "png"), close: bool = True
) -> list[Path]:
    """Save ``fig`` as ``stem.pdf``, ``stem.svg`` and ``stem.png`` (atomically).

    Parameters
    ----------
    fig : matplotlib Figure
    stem : str or Path
        Output path without suffix; folders are created.
    formats : iterable of str
        File formats (matplotlib names).
    close : bool
        Close the figure afterwards (frees memory in long runs).

    Returns
    -------
    list of Path
        The written files.
    """
    import matplotlib.pyplot as plt

    stem = Path(stem)
    written = []
    with plt.rc_context(STYLE):
        for fmt in formats:
            target = stem.with_suffix(f".{fmt}")
            with atomic_path(target) as tmp:
                fig.savefig(tmp, format=fmt, bbox_inches="tight")
            written.append(target)
    if close:
        plt.close(fig)
    return written


def overlapping_text(fig, pad_px: float = 0.0) -> list[tuple[str, str]]:
    """Pairs of visible text elements of ``fig`` whose drawn extents overlap.

    Every non-empty, visible :class:`matplotlib.text.Text` of the figure (titles, axis labels,
    tick labels, legend entries, annotations) is measured after drawing (its window extent,
    in display pixels); two overlap when their boxes intersect by more than ``pad_px`` in
    both directions. Text inside one legend is compared too.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    pad_px : float
        Overlap tolerated, in pixels.

    Returns
    -------
    list of (str, str)
        The texts of every overlapping pair (empty: none).
    """
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = []
    for t in fig.findobj(Text):
        if not t.get_visible() or not t.get_text().strip():
            continue
        if t.axes is not None and not t.axes.get_visible():
            continue
        bb = t.get_window_extent(renderer)
        if bb.width > 0 and bb.height > 0:
            boxes.append((t.get_text(), bb))
    clashes = []
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            a, b = boxes[i][1], boxes[j][1]
            dx = min(a.x1, b.x1) - max(a.x0, b.x0)
            dy = min(a.y1, b.y1) - max(a.y0, b.y0)
            if dx > pad_px and dy > pad_px:
                clashes.append((boxes[i][0], boxes[j][0]))
    return clashes

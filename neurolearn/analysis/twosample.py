"""Two-sample comparisons of positive quantities (learned against measured time constants).

For samples ``a`` and ``b`` (scipy.stats throughout):

* two-sample Kolmogorov-Smirnov test (``ks_2samp``): maximal distance of the empirical CDFs;
* Wasserstein-1 (earth mover's) distance (``wasserstein_distance``), in the unit of the data,
  with a permutation p-value (``permutation_test``, independent samples, one-sided);
* difference of medians ``median(a) - median(b)`` and difference of interquartile ranges, with
  bootstrap intervals (``bootstrap``, each sample resampled on its own).

``normalise="median"`` first divides each sample by its own median: the comparison then asks
whether the *shapes* agree, whatever the overall scale (a network may learn tau in the right
proportions around a different typical value). On that scale the median difference is 0 by
construction and is reported as NaN; the IQR difference becomes a difference of relative
spreads (IQR/median), and its bootstrap renormalises every resample.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
from scipy import stats

from ..io import finite_or_none
from .distributions import _rng_kwargs, as_positive_sample

__all__ = ["TwoSampleResult", "compare_samples", "normalise_by_median"]


def normalise_by_median(x: Any) -> np.ndarray:
    """``x / median(x)``: dimensionless, median 1.

    Raises
    ------
    ValueError
        If ``x`` is not a finite positive sample (see ``as_positive_sample``).
    """
    x = as_positive_sample(x)
    return x / np.median(x)


@dataclasses.dataclass
class TwoSampleResult:
    """Result of :func:`compare_samples`.

    Attributes
    ----------
    scale : str
        ``"raw"`` or ``"median-normalised"``.
    n_a, n_b : int
        Sample sizes.
    median_a, median_b, iqr_a, iqr_b : float
        Medians and interquartile ranges on this scale (unit of the data for ``raw``,
        dimensionless otherwise).
    ks_statistic, ks_pvalue : float
        Two-sample KS test (two-sided).
    wasserstein, wasserstein_pvalue : float
        Wasserstein-1 distance and its permutation p-value (NaN when ``n_perm = 0``).
    median_diff, median_diff_ci : float, (float, float)
        ``median(a) - median(b)`` and its bootstrap interval (NaN on the normalised scale).
    iqr_diff, iqr_diff_ci : float, (float, float)
        ``IQR(a) - IQR(b)`` and its bootstrap interval.
    confidence : float
        Level of the intervals.
    """

    scale: str
    n_a: int
    n_b: int
    median_a: float
    median_b: float
    iqr_a: float
    iqr_b: float
    ks_statistic: float
    ks_pvalue: float
    wasserstein: float
    wasserstein_pvalue: float
    median_diff: float
    median_diff_ci: tuple
    iqr_diff: float
    iqr_diff_ci: tuple
    confidence: float

    def to_dict(self) -> dict:
        """JSON-ready dict (intervals as ``*_ci_low``/``*_ci_high``; NaN -> None)."""
        out = dataclasses.asdict(self)
        for key in ("median_diff_ci", "iqr_diff_ci"):
            lo, hi = out.pop(key)
            out[f"{key}_low"], out[f"{key}_high"] = lo, hi
        return finite_or_none(out)


def _iqr(x, axis=-1):
    q75, q25 = np.quantile(x, [0.75, 0.25], axis=axis)
    return q75 - q25


def compare_samples(
    a: Any,
    b: Any,
    normalise: str | None = None,
    n_boot: int = 2000,
    n_perm: int = 1000,
    confidence: float = 0.95,
    method: str = "percentile",
    seed: int | None = None,
) -> TwoSampleResult:
    """Compare two samples of a positive quantity.

    Parameters
    ----------
    a, b : array-like, shapes (n_a,), (n_b,)
        Finite positive samples in the same unit (e.g. learned and measured tau in ms).
    normalise : {None, "median"}
        Divide each sample by its own median first (the shape question).
    n_boot : int
        Bootstrap resamples for the intervals (0: intervals are NaN).
    n_perm : int
        Permutations for the Wasserstein p-value (0: NaN).
    confidence : float
        Level of the bootstrap intervals.
    method : {"percentile", "BCa", "basic"}
        Interval method of ``scipy.stats.bootstrap``.
    seed : int or None
        Seed of the resampling.

    Returns
    -------
    TwoSampleResult

    Raises
    ------
    ValueError
        If a sample is not finite and positive, or ``normalise`` is unknown.
    """
    if normalise not in (None, "median"):
        raise ValueError(f"normalise must be None or 'median', got {normalise!r}")
    raw_a, raw_b = as_positive_sample(a, "a"), as_positive_sample(b, "b")
    x = normalise_by_median(raw_a) if normalise else raw_a
    y = normalise_by_median(raw_b) if normalise else raw_b
    ks = stats.ks_2samp(x, y)
    wd = float(stats.wasserstein_distance(x, y))
    wd_p = float("nan")
    if n_perm > 0:

        def wstat(u, v):
            return stats.wasserstein_distance(u, v)

        perm = stats.permutation_test(
            (x, y),
            wstat,
            permutation_type="independent",
            vectorized=False,
            n_resamples=int(n_perm),
            alternative="greater",
            **_rng_kwargs(stats.permutation_test, seed),
        )
        wd_p = float(perm.pvalue)

    def statistic(u, v, axis=-1):
        if normalise:
            u = u / np.median(u, axis=axis, keepdims=True)
            v = v / np.median(v, axis=axis, keepdims=True)
        return np.stack(
            [np.median(u, axis=axis) - np.median(v, axis=axis), _iqr(u, axis) - _iqr(v, axis)]
        )

    point = statistic(raw_a, raw_b)
    nan2 = (float("nan"), float("nan"))
    med_ci, iqr_ci = nan2, nan2
    if n_boot > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = stats.bootstrap(
                (raw_a, raw_b),
                statistic,
                vectorized=True,
                paired=False,
                n_resamples=int(n_boot),
                confidence_level=confidence,
                method=method,
                **_rng_kwargs(stats.bootstrap, seed),
            )
        low, high = res.confidence_interval
        med_ci = (float(low[0]), float(high[0]))
        iqr_ci = (float(low[1]), float(high[1]))
    median_diff = float(point[0])
    if normalise:
        median_diff, med_ci = float("nan"), nan2
    return TwoSampleResult(
        scale="median-normalised" if normalise else "raw",
        n_a=int(x.size),
        n_b=int(y.size),
        median_a=float(np.median(x)),
        median_b=float(np.median(y)),
        iqr_a=float(_iqr(x)),
        iqr_b=float(_iqr(y)),
        ks_statistic=float(ks.statistic),
        ks_pvalue=float(ks.pvalue),
        wasserstein=wd,
        wasserstein_pvalue=wd_p,
        median_diff=median_diff,
        median_diff_ci=med_ci,
        iqr_diff=float(point[1]),
        iqr_diff_ci=iqr_ci,
        confidence=confidence,
    )

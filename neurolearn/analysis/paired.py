"""Statistics of a paired design: the same seeds for every configuration of an experiment.

Each configuration is trained once per seed (the seed fixes the initial weights, the draws of
the heterogeneous time constants and the order of the batches), so the accuracies of two
configurations form pairs, one per seed. Per configuration :func:`mean_interval` gives the mean
and a 95 % percentile bootstrap interval of the mean (Efron & Tibshirani 1993, ch. 13;
``scipy.stats.bootstrap``); per pair of configurations :func:`paired_difference` gives the mean
of the per-seed differences, its bootstrap interval and the p-value of an exact two-sided
sign-flip permutation test of the mean difference (Fisher 1935; ``scipy.stats.permutation_test``
with ``permutation_type="samples"``; every one of the ``2**n`` sign patterns when ``n <= 16``).

With ``n`` pairs the smallest possible two-sided p-value of a sign-flip (or Wilcoxon
signed-rank) test is ``2 / 2**n``: 0.0625 for 5 seeds, 0.031 for 6. A design with fewer than 6
seeds cannot show a difference at the 5 % level, however large.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

__all__ = ["mean_interval", "paired_difference", "paired_differences", "holm"]


def _values(x, name: str) -> np.ndarray:
    v = np.asarray(x, dtype=float).ravel()
    if not v.size or not np.all(np.isfinite(v)):
        raise ValueError(f"{name}: needs at least one finite value, got {list(v)}")
    return v


def _bootstrap(v: np.ndarray, n_boot: int, confidence: float, seed: int) -> list:
    if v.size < 2 or np.ptp(v) == 0:
        return [float(v.mean()), float(v.mean())]
    res = stats.bootstrap(
        (v,),
        np.mean,
        n_resamples=n_boot,
        confidence_level=confidence,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    return [float(res.confidence_interval.low), float(res.confidence_interval.high)]


def mean_interval(
    values: Sequence[float], n_boot: int = 10000, confidence: float = 0.95, seed: int = 0
) -> dict:
    """Mean and percentile bootstrap interval of the mean.

    Parameters
    ----------
    values : sequence of float, shape (n_seeds,)
        E.g. test accuracies (fractions) of one configuration, one per seed.
    n_boot : int
        Bootstrap resamples.
    confidence : float
        Level of the interval (0.95: the 2.5 and 97.5 percentiles of the resampled means).
    seed : int
        Seed of the resampling.

    Returns
    -------
    dict
        ``{"mean", "ci95": [low, high], "sd", "n"}`` (``ci95`` is the interval at
        ``confidence``; a single value or identical values give ``[mean, mean]``).

    Raises
    ------
    ValueError
        No values, or a value that is not finite.
    """
    v = _values(values, "mean_interval")
    return {
        "mean": float(v.mean()),
        "ci95": _bootstrap(v, n_boot, confidence, seed),
        "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0,
        "n": int(v.size),
    }


def paired_difference(
    a: Sequence[float],
    b: Sequence[float],
    n_boot: int = 10000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """Mean of the per-seed differences ``b - a``, its bootstrap interval and a paired test.

    Parameters
    ----------
    a, b : sequences of float, shape (n_seeds,)
        Values of two configurations, element ``i`` of both from seed ``i``.
    n_boot, confidence, seed
        As for :func:`mean_interval` (bootstrap of the differences).

    Returns
    -------
    dict
        ``{"mean", "ci95": [low, high], "p_value", "n", "test"}``: ``p_value`` of the
        two-sided sign-flip permutation test of ``mean(b - a) = 0`` (exact for ``n <= 16``;
        1.0 when every difference is 0), ``test`` names it.

    Raises
    ------
    ValueError
        Sequences of different lengths, empty or not finite.
    """
    a, b = _values(a, "paired_difference a"), _values(b, "paired_difference b")
    if a.size != b.size:
        raise ValueError(f"paired_difference: {a.size} values against {b.size}; pairs needed")
    d = b - a
    if np.all(d == 0):
        p = 1.0
    else:
        res = stats.permutation_test(
            (d,),
            np.mean,
            permutation_type="samples",
            n_resamples=np.inf if d.size <= 16 else 100000,
            alternative="two-sided",
            random_state=np.random.default_rng(seed),
        )
        p = float(res.pvalue)
    return {
        "mean": float(d.mean()),
        "ci95": _bootstrap(d, n_boot, confidence, seed),
        "p_value": min(1.0, p),
        "n": int(d.size),
        "test": "two-sided sign-flip permutation test of the mean paired difference",
    }


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (Holm 1979), in the order given.

    Parameters
    ----------
    p_values : sequence of float, shape (m,)

    Returns
    -------
    list of float
        ``min(1, max_{j <= i} (m - j) p_(j))`` for the sorted p-values, mapped back.
    """
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (len(p) - rank) * p[i])
        adjusted[i] = min(1.0, running)
    return [float(x) for x in adjusted]


def paired_differences(
    values: Mapping[str, Mapping[int, float]],
    pairs: Sequence[tuple[str, str]],
    alpha: float = 0.05,
    **kwargs,
) -> list[dict]:
    """:func:`paired_difference` for every pair of configurations, on their common seeds.

    Parameters
    ----------
    values : mapping configuration -> {seed: value}
    pairs : sequence of (a, b)
        Configurations compared (difference ``b - a``); pairs with a missing configuration
        or fewer than 2 common seeds are left out.
    alpha : float
        Level of the ``significant`` flags.
    **kwargs
        Passed to :func:`paired_difference`.

    Returns
    -------
    list of dict
        ``{"a", "b", "seeds", "mean", "ci95", "p_value", "p_holm", "significant",
        "significant_holm", "n", "test"}``; ``p_holm`` adjusted over the pairs returned.
    """
    out = []
    for a, b in pairs:
        if a not in values or b not in values:
            continue
        seeds = sorted(set(values[a]) & set(values[b]))
        if len(seeds) < 2:
            continue
        r = paired_difference(
            [values[a][s] for s in seeds], [values[b][s] for s in seeds], **kwargs
        )
        out.append({"a": a, "b": b, "seeds": seeds, **r})
    for entry, p in zip(out, holm([e["p_value"] for e in out])):
        entry["p_holm"] = p
        entry["significant"] = bool(entry["p_value"] < alpha)
        entry["significant_holm"] = bool(p < alpha)
    return out

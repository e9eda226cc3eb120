"""Distributions of positive quantities (membrane time constants): fits and goodness of fit.

Maximum-likelihood gamma and log-normal fits with the location fixed at 0 (scipy.stats
``gamma.fit(x, floc=0)``, ``lognorm.fit(x, floc=0)``), bootstrap confidence intervals of the
parameters (``scipy.stats.bootstrap``, resampling cells), and goodness of fit by

* a chi-square test on equal-count bins of at least ``min_per_bin`` observations (20 in
  Perez-Nieves et al. 2021, Nat. Commun. 12:5791), with ``k - 1 - 2`` degrees of freedom;
* the one-sample Kolmogorov-Smirnov test against the fitted distribution. Its textbook p-value
  assumes parameters known in advance and is conservative when they were fitted to the same
  data (Lilliefors 1967); with ``n_mc > 0`` a parametric-bootstrap p-value
  (``scipy.stats.goodness_of_fit``, refitting every Monte Carlo sample) is reported as well.

Parameterisations (x > 0):

* gamma: ``p(x) = x**(k-1) exp(-x/theta) / (Gamma(k) theta**k)``, shape ``k``, scale ``theta``
  (mean ``k theta``);
* log-normal: ``log x ~ Normal(mu, sigma**2)``, reported as ``sigma`` and ``scale = exp(mu)``
  (the median), scipy's ``lognorm(s=sigma, scale=exp(mu))``.

Both families are scale families: the fit of ``x / median(x)`` has the same shape (gamma ``k``,
log-normal ``sigma``) and a scale divided by the median, so the shape parameters answer the
"same shape whatever the typical value" question directly.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any

import numpy as np
from scipy import stats

from ..io import finite_or_none

__all__ = [
    "DISTRIBUTIONS",
    "describe",
    "as_positive_sample",
    "DistributionFit",
    "fit_distribution",
    "fit_gamma",
    "fit_lognorm",
    "chisquare_equal_count",
    "frozen_distribution",
]

#: Supported families: name -> (scipy distribution, parameter names in neurolearn's order).
DISTRIBUTIONS = {
    "gamma": (stats.gamma, ("shape", "scale")),
    "lognorm": (stats.lognorm, ("sigma", "scale")),
}


def _rng_kwargs(func, seed) -> dict:
    """``{"rng": seed}`` or ``{"random_state": seed}``, whichever the scipy function takes
    (scipy >= 1.15 renamed the argument)."""
    params = inspect.signature(func).parameters
    return {"rng": seed} if "rng" in params else {"random_state": seed}


def as_positive_sample(x: Any, name: str = "sample") -> np.ndarray:
    """1-D float array of finite, strictly positive values.

    Raises
    ------
    ValueError
        If ``x`` is not 1-D, has fewer than 2 values, or holds a non-finite or non-positive value
        (the message gives the first offending index).
    """
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if arr.size < 2:
        raise ValueError(f"{name}: need at least 2 values, got {arr.size}")
    bad = np.flatnonzero(~np.isfinite(arr) | (arr <= 0))
    if bad.size:
        raise ValueError(
            f"{name}: values must be finite and > 0; index {bad[0]} is "
            f"{float(arr[bad[0]])!r} ({bad.size} bad value(s))"
        )
    return arr


def describe(x: Any) -> dict:
    """Descriptive statistics of a sample.

    Parameters
    ----------
    x : array-like, shape (n,)
        Finite values (NaNs are an error: drop them first).

    Returns
    -------
    dict
        ``n``, ``mean``, ``median``, ``sd`` (sample standard deviation, ddof = 1), ``q25``,
        ``q75`` (linear-interpolation quartiles, numpy's default), ``min``, ``max``; same unit
        as ``x``.
    """
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError("describe: expected a non-empty 1-D array of finite values")
    return {
        "n": int(arr.size),
        "mean": float(arr.mean()),
        "median": float(np.median(arr)),
        "sd": float(arr.std(ddof=1)) if arr.size > 1 else float("nan"),
        "q25": float(np.quantile(arr, 0.25)),
        "q75": float(np.quantile(arr, 0.75)),
        "min": float(arr.min()),
        "max": float(arr.max()),
    }


def _mle(name: str, x: np.ndarray) -> tuple[float, float]:
    dist = DISTRIBUTIONS[name][0]
    shape, _loc, scale = dist.fit(x, floc=0)
    return float(shape), float(scale)


def frozen_distribution(name: str, params: tuple[float, float]):
    """scipy frozen distribution of family ``name`` with ``(shape or sigma, scale)``, loc = 0."""
    dist = DISTRIBUTIONS[name][0]
    return dist(params[0], loc=0, scale=params[1])


def chisquare_equal_count(x: np.ndarray, frozen, n_params: int = 2, min_per_bin: int = 20) -> dict:
    """Chi-square goodness of fit on equal-count bins.

    The ``k = n // min_per_bin`` bins have edges at the empirical ``i/k`` quantiles (first edge 0,
    last +inf), so every bin holds about ``n/k >= min_per_bin`` observations; expected counts
    are ``n (F(e_{i+1}) - F(e_i))`` of the fitted distribution ``F``; the statistic is compared
    with chi-square of ``k - 1 - n_params`` degrees of freedom (``scipy.stats.chisquare`` with
    ``ddof = n_params``). As in Perez-Nieves et al. (2021); with parameters fitted on the
    ungrouped data the null distribution lies between chi2(k-1-n_params) and chi2(k-1)
    (Chernoff & Lehmann 1954), so the p-value is slightly anti-conservative.

    Parameters
    ----------
    x : ndarray, shape (n,)
        Sample (> 0).
    frozen : scipy frozen distribution
        The fitted distribution.
    n_params : int
        Number of fitted parameters.
    min_per_bin : int
        Minimum observations per bin.

    Returns
    -------
    dict
        ``chi2``, ``chi2_dof``, ``chi2_p``, ``chi2_bins``; NaN statistics when fewer than
        ``n_params + 2`` bins are possible (``n < (n_params + 2) * min_per_bin``).
    """
    n = x.size
    k = n // min_per_bin
    if k < n_params + 2:
        return {"chi2": float("nan"), "chi2_dof": 0, "chi2_p": float("nan"), "chi2_bins": int(k)}
    inner = np.unique(np.quantile(x, np.arange(1, k) / k))
    observed = np.bincount(np.searchsorted(inner, x, side="right"), minlength=inner.size + 1)
    cdf = frozen.cdf(np.concatenate([[0.0], inner, [np.inf]]))
    expected = n * np.diff(cdf)
    expected *= n / expected.sum()
    res = stats.chisquare(observed, expected, ddof=n_params)
    return {
        "chi2": float(res.statistic),
        "chi2_dof": int(observed.size - 1 - n_params),
        "chi2_p": float(res.pvalue),
        "chi2_bins": int(observed.size),
    }


@dataclasses.dataclass
class DistributionFit:
    """A maximum-likelihood fit (loc = 0) with bootstrap intervals and goodness of fit.

    Attributes
    ----------
    name : str
        ``"gamma"`` or ``"lognorm"``.
    params : dict
        ``{"shape", "scale"}`` (gamma) or ``{"sigma", "scale"}`` (log-normal); ``scale`` in the
        unit of the data.
    ci : dict
        ``name -> (low, high)`` bootstrap interval of each parameter (NaN when ``n_boot = 0``).
    confidence : float
        Level of ``ci``.
    n : int
        Sample size.
    loglik, aic, bic : float
        Log-likelihood at the fit and the information criteria (2 parameters).
    gof : dict
        ``chi2``, ``chi2_dof``, ``chi2_p``, ``chi2_bins`` (:func:`chisquare_equal_count`),
        ``ks``, ``ks_p`` (asymptotic/exact one-sample KS) and ``ks_p_mc`` (parametric bootstrap,
        NaN when not computed).
    """

    name: str
    params: dict
    ci: dict
    confidence: float
    n: int
    loglik: float
    aic: float
    bic: float
    gof: dict

    @property
    def frozen(self):
        """The fitted scipy frozen distribution."""
        return frozen_distribution(self.name, tuple(self.params.values()))

    def to_dict(self, unit: str | None = None) -> dict:
        """Flat JSON-ready dict; with ``unit="ms"`` the scale keys become ``scale_ms``.

        Keys: the parameters, ``<param>_ci`` ([low, high]), ``confidence``, ``n``, ``loglik``,
        ``aic``, ``bic`` and the ``gof`` entries. NaN becomes None.
        """

        def key(p):
            return f"{p}_{unit}" if (unit and p == "scale") else p

        out: dict = {key(p): v for p, v in self.params.items()}
        if self.name == "gamma" and unit:
            out[f"mean_{unit}"] = self.params["shape"] * self.params["scale"]
        for p, (lo, hi) in self.ci.items():
            out[f"{key(p)}_ci"] = [lo, hi]
        out.update(
            confidence=self.confidence,
            n=self.n,
            loglik=self.loglik,
            aic=self.aic,
            bic=self.bic,
            **self.gof,
        )
        return finite_or_none(out)


def fit_distribution(
    x: Any,
    name: str,
    n_boot: int = 1000,
    confidence: float = 0.95,
    method: str = "BCa",
    seed: int | None = None,
    n_mc: int = 0,
    min_per_bin: int = 20,
) -> DistributionFit:
    """Maximum-likelihood fit of a gamma or log-normal distribution (loc fixed at 0).

    Parameters
    ----------
    x : array-like, shape (n,)
        Sample, finite and > 0 (e.g. membrane time constants in ms).
    name : {"gamma", "lognorm"}
        Family.
    n_boot : int
        Bootstrap resamples of the cells for the parameter intervals (0: no intervals).
    confidence : float
        Confidence level in (0, 1).
    method : {"BCa", "percentile", "basic"}
        Interval method of ``scipy.stats.bootstrap`` (BCa: bias-corrected and accelerated,
        Efron 1987; it falls back to percentile if BCa is degenerate).
    seed : int or None
        Seed of the resampling.
    n_mc : int
        Monte Carlo samples of ``scipy.stats.goodness_of_fit`` for a KS p-value that accounts
        for the fitted parameters (0: skip; costs about ``n_mc`` fits).
    min_per_bin : int
        Observations per bin of the chi-square test.

    Returns
    -------
    DistributionFit

    Raises
    ------
    ValueError
        Unknown family, or a sample that is not finite and positive.
    """
    if name not in DISTRIBUTIONS:
        raise ValueError(f"unknown distribution {name!r}; choose from {', '.join(DISTRIBUTIONS)}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    x = as_positive_sample(x)
    dist, pnames = DISTRIBUTIONS[name]
    params = _mle(name, x)
    frozen = frozen_distribution(name, params)

    ci = {p: (float("nan"), float("nan")) for p in pnames}
    if n_boot > 0:

        def statistic(sample):
            return np.array(_mle(name, sample))

        kwargs = dict(
            vectorized=False,
            n_resamples=int(n_boot),
            confidence_level=confidence,
            **_rng_kwargs(stats.bootstrap, seed),
        )
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = stats.bootstrap((x,), statistic, method=method, **kwargs)
            low, high = (
                np.atleast_1d(res.confidence_interval.low),
                np.atleast_1d(res.confidence_interval.high),
            )
            if method == "BCa" and not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
                res = stats.bootstrap((x,), statistic, method="percentile", **kwargs)
                low, high = (
                    np.atleast_1d(res.confidence_interval.low),
                    np.atleast_1d(res.confidence_interval.high),
                )
        ci = {p: (float(lo), float(hi)) for p, lo, hi in zip(pnames, low, high)}

    loglik = float(np.sum(frozen.logpdf(x)))
    gof = chisquare_equal_count(x, frozen, n_params=2, min_per_bin=min_per_bin)
    ks = stats.kstest(x, frozen.cdf)
    gof.update(ks=float(ks.statistic), ks_p=float(ks.pvalue), ks_p_mc=float("nan"))
    if n_mc > 0:
        mc = stats.goodness_of_fit(
            dist,
            x,
            known_params={"loc": 0},
            statistic="ks",
            n_mc_samples=int(n_mc),
            **_rng_kwargs(stats.goodness_of_fit, seed),
        )
        gof["ks_p_mc"] = float(mc.pvalue)
    return DistributionFit(
        name=name,
        params=dict(zip(pnames, params)),
        ci=ci,
        confidence=confidence,
        n=int(x.size),
        loglik=loglik,
        aic=4.0 - 2.0 * loglik,
        bic=2.0 * math.log(x.size) - 2.0 * loglik,
        gof=gof,
    )


def fit_gamma(x: Any, **kwargs) -> DistributionFit:
    """Gamma fit with loc = 0; see :func:`fit_distribution` for the arguments."""
    return fit_distribution(x, "gamma", **kwargs)


def fit_lognorm(x: Any, **kwargs) -> DistributionFit:
    """Log-normal fit with loc = 0; see :func:`fit_distribution` for the arguments."""
    return fit_distribution(x, "lognorm", **kwargs)

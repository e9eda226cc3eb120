"""Statistics of neuron properties: distribution fits, goodness of fit, two-sample comparisons,
learned against measured time constants, and their figures (:mod:`neurolearn.analysis.plots`).

Everything here takes plain arrays (values in a stated unit) and uses scipy.stats; the Allen
Cell Types tables come from :mod:`neurolearn.sources.allen`.
"""

from .distributions import (
    DISTRIBUTIONS,
    DistributionFit,
    as_positive_sample,
    chisquare_equal_count,
    describe,
    fit_distribution,
    fit_gamma,
    fit_lognorm,
    frozen_distribution,
)
from .learned import (
    compare_tau,
    fits_table,
    hidden_layers,
    learned_tau_ms,
    read_run_parameters,
    write_tau_comparison,
)
from .twosample import TwoSampleResult, compare_samples, normalise_by_median

__all__ = [
    "DISTRIBUTIONS",
    "DistributionFit",
    "as_positive_sample",
    "chisquare_equal_count",
    "describe",
    "fit_distribution",
    "fit_gamma",
    "fit_lognorm",
    "frozen_distribution",
    "TwoSampleResult",
    "compare_samples",
    "normalise_by_median",
    "compare_tau",
    "fits_table",
    "learned_tau_ms",
    "hidden_layers",
    "read_run_parameters",
    "write_tau_comparison",
]

"""Fitting neuron models to biological data: one interface, several targets and optimizers.

* targets (:mod:`.targets`): Allen electrophysiology features, f-I / I-V curves, voltage
  traces, spike trains scored with the coincidence factor (:mod:`.gamma`);
* optimizers (:mod:`.optimizers`): scipy differential evolution evaluating a whole population
  as one Brian2 ``NeuronGroup`` (:mod:`.simulate`), and Adam through a differentiable
  simulation;
* :func:`fit` returns a :class:`FitResult` (parameters with units, loss history, fitted
  traces/curves; saved atomically);
* population fits of the Allen cells and their comparison with Allen's GLIF1 parameters
  (:mod:`.population`).

See the README section "GLIF models and fitting" and ``neurolearn fit --help``.
"""

from ..analysis.coincidence import coincidence_factor, count_coincidences, intrinsic_reliability
from .fit import STIMULUS_PARAMETERS, FitError, FitResult, fit, parse_bounds
from .optimizers import Adam, DifferentialEvolution, get_optimizer
from .population import (
    compare_with_glif1,
    fit_population,
    load_glif1_parameters,
    population_parameters,
)
from .simulate import BatchResult, StandaloneCache, simulate_batch
from .targets import EphysFeatureTarget, FICurveTarget, SpikeTrainTarget, Target, TraceTarget

__all__ = [
    "fit",
    "FitResult",
    "FitError",
    "parse_bounds",
    "STIMULUS_PARAMETERS",
    "coincidence_factor",
    "count_coincidences",
    "intrinsic_reliability",
    "Adam",
    "DifferentialEvolution",
    "get_optimizer",
    "BatchResult",
    "StandaloneCache",
    "simulate_batch",
    "Target",
    "TraceTarget",
    "SpikeTrainTarget",
    "FICurveTarget",
    "EphysFeatureTarget",
    "fit_population",
    "compare_with_glif1",
    "load_glif1_parameters",
    "population_parameters",
]

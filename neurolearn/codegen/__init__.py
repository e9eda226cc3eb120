"""Engine-neutral model IR: a neuron model's update as symbolic steps (Brian2's abstract code
turned into sympy, parameter-only coefficients hoisted, removable singularities handled, the
affine form ``S' = A S + b`` derived where it exists), printed by each engine.

Public API
----------
``model_ir(model, method=None) -> ModelIR`` (cached) and ``build_ir(spec, method=None)``
    run the steps of :mod:`neurolearn.codegen.steps` on a neuron model.
``abstract_update_code(spec, method=None) -> str``
    Brian2's abstract state-update code (cached on disk), the input of the steps.
``ModelIR``, ``Coefficient``, ``Plain``, ``SingularGuard``, ``Threshold``, ``ThresholdAffine``, ``Reset``, ``AffineUpdate``
    The IR (:mod:`neurolearn.codegen.ir`).
``split_fraction``, ``check_supported``, ``UNARY_FUNCTIONS``
    The IR's vocabulary of expressions (:mod:`neurolearn.codegen.vocabulary`).

References: Stimberg, Brette & Goodman (2019) eLife 8:e47314 (Brian2's code generation);
Brian2 documentation, "Numerical integration" (the ``exact`` state updater and its linear
system).
"""

from .abstract import abstract_update_code
from .ir import (
    AffineUpdate,
    Coefficient,
    ModelIR,
    Plain,
    Reset,
    SingularGuard,
    Threshold,
    ThresholdAffine,
)
from .steps import build_ir, model_ir
from .vocabulary import UNARY_FUNCTIONS, check_supported, split_fraction

__all__ = [
    "abstract_update_code",
    "build_ir",
    "model_ir",
    "ModelIR",
    "Coefficient",
    "Plain",
    "SingularGuard",
    "Threshold",
    "ThresholdAffine",
    "Reset",
    "AffineUpdate",
    "split_fraction",
    "check_supported",
    "UNARY_FUNCTIONS",
]

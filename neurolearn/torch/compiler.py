"""Compile a neuron model's Brian2 equations into differentiable PyTorch update functions.

The update is *derived*, not hand-written: Brian2 itself integrates the model's equations
with the spec's state updater (``exact``, ``exponential_euler``, ``euler``...; Stimberg,
Brette & Goodman 2019, eLife 8:e47314), and the engine-neutral model IR
(:mod:`neurolearn.codegen`) turns that code into sympy expressions with

* **refractoriness** as ``not_refractory = 1``: the layer keeps the ``(unless refractory)``
  variables unchanged (``torch.where``) while refractory, exactly the integral of
  ``dv/dt = 0``;
* **hoisting**: every maximal sub-expression that depends only on parameters and ``dt``
  (decay factors ``exp(-dt/tau)``, the coupling coefficient of ``I_syn`` in the exact LIF
  solution...) becomes a *coefficient* computed once per forward pass; the per-step code is a
  few multiply-adds. Gradients reach the parameters through the coefficients;
* **removable singularities**: a coefficient that divides by a difference of time constants
  is evaluated as ``where(|d| < tol*scale, series, exact)``
  (:class:`neurolearn.codegen.SingularGuard`), finite with finite gradients at equal time
  constants. ``tol`` is 1e-4 in float64 (cancellation error and truncation error both
  ~1e-12) and 1e-2 in float32;
* the **affine form** ``S' = A S + b`` of the update (derived symbolically, as Brian2's
  ``exact`` state updater derives its linear system), exposed as :attr:`CompiledModel.affine`.

The IR is printed as PyTorch source by :mod:`neurolearn.torch.printer` (an allocating form and
an in-place ``out=`` form performing the same operations) and executed here.

Units: everything is computed in SI base units (volt, ampere, second, siemens...) with no
unit checking inside torch; Brian2 checked the equations' dimensions when it integrated them.
Unit names appearing in the code (``mV`` in the Izhikevich model) are replaced by their SI
values.

Unsupported constructs (stochastic ``xi`` terms, functions without a PyTorch equivalent,
conditions inside equations, synaptic or summed variables) raise :class:`~neurolearn.spec.ModelError`
naming the construct and the equation.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import torch

from ..codegen import ModelIR, model_ir
from ..spec import ModelError, NeuronModel, load_model, parse_quantity
from .printer import (
    affine_source,
    initial_source,
    inplace_threshold_source,
    inplace_update_source,
    reset_sources,
    static_source,
    threshold_source,
    update_source,
)

__all__ = ["CompiledModel", "AffineModel", "compile_model", "SI_DISPLAY_UNITS"]

#: Display unit in which a parameter of a given SI dimension is stored (and trained) by the
#: torch layers: numbers of order 1-100, so that optimiser step sizes mean the same thing
#: for every parameter. Keys are Brian2 unit names of the SI dimension.
SI_DISPLAY_UNITS = {
    "second": "ms",
    "volt": "mV",
    "amp": "nA",
    "siemens": "nS",
    "farad": "pF",
    "ohm": "Mohm",
    "hertz": "Hz",
    "1": "1",
    "volt/second": "mV/ms",
}

_TOL = {"float64": 1e-4, "float32": 1e-2, "float16": 3e-2, "bfloat16": 3e-2}


def _exec(source: str, filename: str) -> dict:
    """Namespace after executing generated ``source`` (with ``torch`` in scope)."""
    ns = {"torch": torch}
    exec(compile(source, filename, "exec"), ns)  # noqa: S102
    return ns


def _tensor_like(x, ref: torch.Tensor) -> torch.Tensor:
    """``x`` as a tensor of ``ref``'s dtype and device (tensors are returned as they are)."""
    if isinstance(x, torch.Tensor):
        return x
    return torch.as_tensor(x, dtype=ref.dtype, device=ref.device)


class AffineModel:
    """The affine form of a compiled model's step, derived symbolically at compile time
    (:class:`neurolearn.codegen.AffineUpdate`; the linear-system extraction of Brian2's
    ``exact`` state updater, Brian2 documentation, "Numerical integration").

    The update is ``new_S_i = sum_{(i, j) in A_idx} A_ij S_j + b_i`` (per-neuron ``A``,
    ``b``); the threshold's signed distance, where affine, ``x = x0 + sum_j c_j S_j``; the
    resets, where state-independent, assign constants. Indices ``i``, ``j`` refer to
    :attr:`CompiledModel.state_names`.

    Attributes
    ----------
    A_idx : list of (int, int)
        Pairs ``(i, j)`` with ``d new_S_i / d S_j != 0``, ordered by ``j``, then ``i``.
    """

    def __init__(self, A_idx, fns: dict):
        self.A_idx = list(A_idx)
        self._fns = fns

    def matrices(self, C: dict) -> tuple[list, list]:
        """``A`` and ``b`` evaluated from the coefficients.

        Parameters
        ----------
        C : dict of str -> Tensor
            From :meth:`CompiledModel.coefficients` (differentiable w.r.t. the parameters).

        Returns
        -------
        A : list of Tensor
            ``A_ij`` for each pair of :attr:`A_idx`, broadcastable to ``[batch, neurons]``
            (0-d or ``[neurons]``), in SI units of ``S_i`` per SI unit of ``S_j``.
        b : list of Tensor
            ``b_i`` for every state variable (SI units of the variable), broadcastable to
            ``[batch, neurons]``. Both differentiable w.r.t. the parameters through ``C``.
        """
        ref = C["P_dt"]
        A, b = self._fns["_affine_matrices"](C)
        return [_tensor_like(a, ref) for a in A], [_tensor_like(x, ref) for x in b]

    def threshold_form(self, P: dict):
        """``(c, x0)`` with ``x = x0 + sum_j c_j S_j`` the signed distance to threshold, or
        None when the model has no threshold or it is not affine in the state.

        Parameters
        ----------
        P : dict of str -> Tensor
            Parameters (SI; 0-d or ``[neurons]``).

        Returns
        -------
        c : list of (int, Tensor)
            State index ``j`` and ``c_j`` for the variables ``x`` depends on, state order.
        x0 : Tensor
            Broadcastable to ``[batch, neurons]``, SI units of the threshold variable.
        """
        res = self._fns["_threshold_form"](P)
        if res is None:
            return None
        ref = next(iter(P.values()))
        c, x0 = res
        return [(j, _tensor_like(cj, ref)) for j, cj in c], _tensor_like(x0, ref)

    def reset_constants(self, P: dict):
        """Value of each reset statement (in file order), or None when some reset depends on
        the state (``a += 1``).

        Parameters
        ----------
        P : dict of str -> Tensor

        Returns
        -------
        list of Tensor or None
            Broadcastable to ``[batch, neurons]`` (SI).
        """
        res = self._fns["_reset_constants"](P)
        if res is None:
            return None
        ref = next(iter(P.values()))
        return [_tensor_like(r, ref) for r in res]


@dataclasses.dataclass(eq=False)
class CompiledModel:
    """A neuron model compiled to PyTorch update functions (see the module docstring).

    Build with :func:`compile_model`. All tensors are in SI units; ``P`` below is a dict of
    parameter tensors (0-d for shared parameters, ``[neurons]`` for per-neuron ones, also the
    model's external variables such as ``I_ext``), ``S`` a dict of state tensors
    ``[batch, neurons]``.

    Attributes
    ----------
    spec : NeuronModel
        The model the code was derived from.
    dt : float
        Time step in seconds.
    state_names : list of str
        Differential-equation variables, in file order.
    external_names : list of str
        Variables declared without an equation (``I_ext : amp``): constant inputs, set like
        parameters (default 0).
    param_names : list of str
        The spec's parameters.
    clamped : tuple of str
        Variables flagged ``(unless refractory)``.
    refractory : str, float or None
        Name of the refractory-period parameter, a fixed period in seconds, or None.
    threshold_variable : str
        The state variable the spike condition is taken through.
    threshold_strict : bool
        ``True`` for ``>`` / ``<`` conditions (a spike needs ``x > 0``), ``False`` for ``>=``.
    threshold_scale : float
        Distance (SI) between the threshold and the post-reset state at default parameters;
        the surrogate derivative is evaluated at ``x / threshold_scale``.
    units : dict of str -> brian2.Unit
        SI unit of every state variable, external variable and parameter.
    update_code, threshold_code, reset_code, static_code, initial_code : str
        The generated PyTorch source (for inspection).
    ir : ModelIR
        The model IR the code was printed from (:mod:`neurolearn.codegen`).
    affine : AffineModel or None
        The affine form ``S' = A S + b`` of the update, derived symbolically; None when the
        update is not affine in the state or uses ``t``.
    """

    spec: NeuronModel
    dt: float
    state_names: list
    external_names: list
    param_names: list
    clamped: tuple
    refractory: object
    threshold_variable: str | None
    threshold_strict: bool
    threshold_scale: float
    units: dict
    reset_targets: list
    update_code: str = ""
    threshold_code: str = ""
    reset_code: str = ""
    static_code: str = ""
    initial_code: str = ""
    ir: ModelIR | None = dataclasses.field(default=None, repr=False)
    affine: AffineModel | None = dataclasses.field(default=None, repr=False)
    _fns: dict = dataclasses.field(default_factory=dict, repr=False)

    # -- runtime -------------------------------------------------------------------------------
    def coefficients(self, P: dict) -> dict:
        """Per-forward-pass coefficients (decay factors etc.) from parameters ``P`` (SI).

        Returns
        -------
        dict of str -> Tensor
            Broadcastable against ``[batch, neurons]``; differentiable w.r.t. ``P``.
        """
        ref = next(iter(P.values()))
        tol = _TOL.get(str(ref.dtype).replace("torch.", ""), 1e-4)
        dt = torch.as_tensor(self.dt, dtype=ref.dtype, device=ref.device)
        return self._fns["static"](P, dt, tol)

    def update(self, S: dict, C: dict, t=None) -> dict:
        """One state update (integration over ``dt``) ignoring refractoriness.

        Parameters
        ----------
        S : dict of str -> Tensor ``[batch, neurons]``
            Current state (SI).
        C : dict
            From :meth:`coefficients`.
        t : Tensor or float, optional
            Time at the start of the step (s), for models that use ``t``.

        Returns
        -------
        dict of str -> Tensor
            New value of every state variable (the layer keeps ``clamped`` variables of
            refractory neurons unchanged).
        """
        return self._fns["update"](S, C, t)

    def threshold(self, S: dict, P: dict):
        """Signed distance to threshold ``x`` (SI, ``[batch, neurons]``): a spike is ``x > 0``
        (``x >= 0`` if not :attr:`threshold_strict`)."""
        return self._fns["threshold"](S, P)

    def reset(self, index: int, S: dict, P: dict):
        """Value assigned by reset statement ``index`` (in file order) to
        ``reset_targets[index]``, computed from the current (partly reset) state."""
        return self._fns["reset"][index](S, P)

    def initial_state(self, P: dict, shape) -> dict:
        """Initial value of every state variable, ``[batch, neurons]`` (``shape``), from the
        spec's ``[initial]`` table (0 where absent)."""
        ref = next(iter(P.values()))
        out = self._fns["initial"](P)
        return {
            k: torch.broadcast_to(
                torch.as_tensor(v, dtype=ref.dtype, device=ref.device), shape
            ).clone()
            for k, v in out.items()
        }

    def inplace(self, which: str):
        """The in-place (``out=``) variant of the generated ``update`` or ``threshold``
        function, printed from the same IR (:func:`neurolearn.torch.printer.inplace_update_source`,
        :func:`~neurolearn.torch.printer.inplace_threshold_source`), or None when there is
        none (a model without a threshold).

        Returns
        -------
        (fn, n_tmp) or None
            ``fn(S, C, t, out, tmp)`` for ``'update'`` writes the new value of every state
            variable into ``out[name]`` (tensors ``[batch, neurons]`` that must not alias
            ``S``); ``fn(S, P, out, tmp)`` for ``'threshold'`` writes the signed distance to
            threshold into the tensor ``out``. ``tmp`` is a list of ``n_tmp`` scratch
            tensors ``[batch, neurons]``. Every operation is the one the generated function
            performs, in the same order, so results are bit-identical; only the result
            tensors are reused instead of allocated (the per-step cost of the fused loops).

        Raises
        ------
        ValueError
            If ``which`` is neither ``'update'`` nor ``'threshold'``.
        """
        if which not in ("update", "threshold"):
            raise ValueError(f"inplace: which must be 'update' or 'threshold', not {which!r}")
        key = "inplace_" + which
        if key not in self._fns:
            res = self.inplace_source(which)
            if res is not None:
                code, n_tmp = res
                ns = _exec(code, f"<neurolearn.torch:{self.spec.name}:inplace>")
                res = (ns["_inplace"], n_tmp)
            self._fns[key] = res
        return self._fns[key]

    def inplace_source(self, which: str):
        """Source of :meth:`inplace` ``(source, n_tmp)``, or None.

        Raises
        ------
        ValueError
            If ``which`` is neither ``'update'`` nor ``'threshold'``.
        """
        if which == "update":
            return inplace_update_source(self.ir)
        if which == "threshold":
            return inplace_threshold_source(self.ir)
        raise ValueError(f"inplace: which must be 'update' or 'threshold', not {which!r}")

    @property
    def has_refractory(self) -> bool:
        """Whether the model has a refractory period."""
        return self.refractory is not None

    def refractory_steps(self, P: dict) -> int | object:
        """Refractory period in time steps, with Brian2's rounding
        (``timestep(t_ref, dt) = int((t_ref + 1e-3 dt)/dt)``); a tensor for per-neuron
        periods, 0 without refractoriness."""
        if self.refractory is None:
            return 0
        value = (
            P[self.refractory]
            if isinstance(self.refractory, str)
            else torch.as_tensor(float(self.refractory))
        )
        value = value.detach().to(torch.float64)
        steps = torch.floor((value + 1e-3 * self.dt) / self.dt).to(torch.int64)
        return int(steps) if steps.ndim == 0 else steps


# ---------------------------------------------------------------------------------------------
# Compilation
# ---------------------------------------------------------------------------------------------
def compile_model(model, dt, method: str | None = None) -> CompiledModel:
    """Compile a neuron model into differentiable PyTorch update functions.

    Parameters
    ----------
    model : NeuronModel or str
        A spec or a zoo name / path (:func:`neurolearn.spec.load_model`).
    dt : Quantity, str or float
        Time step (a Quantity, ``"1 ms"``, or seconds).
    method : str, optional
        Brian2 state updater overriding the spec's ``method``.

    Returns
    -------
    CompiledModel

    Raises
    ------
    ModelError
        For a non-neuron model, a stochastic equation (``xi``), a function without a PyTorch
        equivalent, a threshold that is not a single comparison, or a reset statement that is
        not ``var = expr`` / ``var += expr`` / ``var -= expr`` / ``var *= expr``; the message
        names the construct and the equation.

    Notes
    -----
    Results are cached per (spec, dt, method); compiling a zoo model takes 0.1-1 s (sympy).
    """
    if isinstance(model, str):
        model = load_model(model)
    if not isinstance(model, NeuronModel):
        raise ModelError(
            f"'{getattr(model, 'name', model)}' is not a neuron model; the torch "
            f"bridge compiles neuron models",
            getattr(model, "path", None),
            parameter="model",
        )
    dt_s = float(parse_quantity(dt, "dt")) if not isinstance(dt, float) else dt
    if not dt_s > 0:
        raise ModelError(f"dt must be > 0, got {dt!r}", parameter="dt")
    key = json.dumps(model.to_dict(), sort_keys=True) + f"|{dt_s!r}|{method}"
    return _compile_cached(key, model, dt_s, method)


_CACHE: dict = {}


def _compile_cached(key, model, dt_s, method):
    if key not in _CACHE:
        _CACHE[key] = _compile(model, dt_s, method)
    cm = _CACHE[key]
    return dataclasses.replace(cm, spec=model, _fns=cm._fns)


def _compile(spec: NeuronModel, dt: float, method) -> CompiledModel:
    """Print the model IR as PyTorch source and execute it."""
    ir = model_ir(spec, method)
    update_code = update_source(ir)
    static_code = static_source(ir)
    thr_code = threshold_source(ir)
    reset_srcs = reset_sources(ir)
    init_code = initial_source(ir)

    ns = {}
    for src in (update_code, static_code, thr_code, init_code, *reset_srcs):
        ns.update(_exec(src, f"<neurolearn.torch:{spec.name}>"))
    fns = {
        "update": ns["_update"],
        "static": ns["_static"],
        "threshold": ns["_threshold"],
        "initial": ns["_initial"],
        "reset": [ns[f"_reset{i}"] for i in range(len(reset_srcs))],
    }
    affine = None
    aff_code = affine_source(ir)
    if aff_code is not None:
        affine = AffineModel(
            ir.affine.A_idx, _exec(aff_code, f"<neurolearn.torch:{spec.name}:affine>")
        )

    thr = ir.threshold
    cm = CompiledModel(
        spec=spec,
        dt=dt,
        state_names=list(ir.states),
        external_names=list(ir.externals),
        param_names=list(ir.params),
        clamped=ir.clamped,
        refractory=ir.refractory,
        threshold_variable=thr.variable if thr is not None else None,
        threshold_strict=thr.strict if thr is not None else True,
        threshold_scale=1.0,
        units=dict(ir.units),
        reset_targets=[r.target for r in ir.resets],
        update_code=update_code,
        threshold_code=thr_code,
        reset_code="\n".join(reset_srcs),
        static_code=static_code,
        initial_code=init_code,
        ir=ir,
        affine=affine,
        _fns=fns,
    )
    cm.threshold_scale = _default_threshold_scale(cm)
    return cm


def _default_threshold_scale(cm: CompiledModel) -> float:
    """|x| right after a reset from the initial state at default parameters (SI)."""
    if cm._fns["threshold"] is None or cm.threshold_variable is None:
        return 1.0
    try:
        P = {
            n: torch.tensor(float(np.asarray(cm.spec.parameters[n].value)), dtype=torch.float64)
            for n in cm.param_names
        }
        for n in cm.external_names:
            P[n] = torch.tensor(0.0, dtype=torch.float64)
        S = cm.initial_state(P, (1, 1))
        for i, var in enumerate(cm.reset_targets):
            S[var] = torch.broadcast_to(cm.reset(i, S, P), (1, 1))
        x = float(cm.threshold(S, P).reshape(-1)[0])
    except Exception:
        return 1.0
    if not math.isfinite(x) or x == 0:
        return 1.0
    return abs(x)

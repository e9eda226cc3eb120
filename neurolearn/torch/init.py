"""Initial values of per-neuron parameters: display units, distributions of heterogeneous
initial values, and the four training configurations of Perez-Nieves et al. (2021).

Every parameter is *stored* as a number in a display unit (``tau_m`` in ms, voltages in mV,
currents in nA, conductances in nS: :data:`neurolearn.torch.compiler.SI_DISPLAY_UNITS`), see
:func:`display_unit`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from ..spec import ModelError, parse_quantity
from .compiler import SI_DISPLAY_UNITS

__all__ = [
    "DISTRIBUTIONS",
    "PEREZ_NIEVES_CONFIGS",
    "PerezNievesConfig",
    "display_unit",
    "init_parameter",
    "perez_nieves_config",
    "ParameterTable",
    "parameter_table",
    "merge_bounds",
]

#: Initial distributions of per-neuron parameters (see :func:`init_parameter`).
DISTRIBUTIONS = ("constant", "uniform", "gamma", "lognormal", "empirical")


@dataclass(frozen=True)
class PerezNievesConfig:
    """One training configuration of Perez-Nieves, Leung, Dragotti & Goodman (2021) Nat.
    Commun. 12:5791 ("Neural heterogeneity promotes robust learning"), Fig. 2.

    Attributes
    ----------
    name : str
        ``{hom,het}_init_{std,het}_train``.
    heterogeneous_init : bool
        Initial time constants drawn per neuron (gamma, k = 3 in the paper) instead of equal.
    trained : bool
        Time constants trained with the weights ("heterogeneous training").
    description : str
        Human-readable label (tables, figures).
    """

    name: str
    heterogeneous_init: bool
    trained: bool
    description: str


#: The registry of the Perez-Nieves et al. (2021) configurations, in the paper's order: name ->
#: :class:`PerezNievesConfig`. Configuration choices derive from this table.
PEREZ_NIEVES_CONFIGS = {
    c.name: c
    for c in (
        PerezNievesConfig("hom_init_std_train", False, False, "homogeneous init, weights trained"),
        PerezNievesConfig("het_init_std_train", True, False, "heterogeneous init, weights trained"),
        PerezNievesConfig(
            "hom_init_het_train", False, True, "homogeneous init, weights + tau trained"
        ),
        PerezNievesConfig(
            "het_init_het_train", True, True, "heterogeneous init, weights + tau trained"
        ),
    )
}


def display_unit(unit) -> tuple[str, float]:
    """The unit a quantity of ``unit`` is stored and trained in.

    Parameters
    ----------
    unit : brian2.Unit, Dimension or None
        SI unit of the quantity (None: dimensionless).

    Returns
    -------
    (str, float)
        Display unit name and its value in SI, e.g. ``("ms", 1e-3)`` for second
        (:data:`neurolearn.torch.compiler.SI_DISPLAY_UNITS`); the SI unit itself with value 1
        when the table has no entry.
    """
    name = repr(unit).replace(" ", "") if unit is not None else "1"
    name = {"volt/second": "volt/second", "metre**0": "1"}.get(name, name)
    disp = SI_DISPLAY_UNITS.get(name)
    if disp is None:
        return (name, 1.0)
    if disp == "1":
        return ("1", 1.0)
    return (disp, float(parse_quantity(f"1 {disp}")))


def init_parameter(
    mean: float,
    n: int,
    distribution: str = "constant",
    *,
    k: float = 3.0,
    cv: float = 0.5,
    width: float = 0.5,
    samples=None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw ``n`` per-neuron values around ``mean`` (float64 tensor, same unit as ``mean``).

    Parameters
    ----------
    mean : float
        Homogeneous value (mean of every distribution).
    n : int
        Number of values (neurons).
    distribution : {"constant", "uniform", "gamma", "lognormal"}
        ``constant``: all equal (homogeneous). ``uniform``: on ``[mean (1 - width),
        mean (1 + width)]``. ``gamma``: shape ``k``, scale ``mean/k`` (Perez-Nieves et al. 2021
        used k = 3 around the homogeneous time constant; coefficient of variation
        ``1/sqrt(k)``). ``lognormal``: coefficient of variation ``cv``
        (``sigma**2 = log(1 + cv**2)``, ``mu = log(mean) - sigma**2/2``). ``empirical``:
        drawn with replacement from ``samples`` (e.g. membrane time constants measured in
        real cells), ``mean`` unused.
    k, cv, width : float
        Gamma shape, log-normal coefficient of variation, uniform half-width (relative).
    samples : array-like, optional
        Values of the ``empirical`` distribution ``[m]``, in the unit of ``mean``.
    generator : torch.Generator, optional
        Source of randomness (reproducible draws).

    Returns
    -------
    Tensor ``[n]`` (float64)
        The values, in the unit of ``mean``.

    Raises
    ------
    ValueError
        Unknown distribution, a non-positive ``k``/``cv``/``width`` or mean for the
        positive distributions, or ``empirical`` without finite samples.
    """
    g = generator
    if distribution == "constant":
        return torch.full((n,), float(mean), dtype=torch.float64)
    if distribution == "uniform":
        if not 0 <= width:
            raise ValueError(f"uniform width must be >= 0, got {width}")
        u = torch.rand(n, generator=g, dtype=torch.float64)
        return float(mean) * (1.0 - width + 2.0 * width * u)
    if distribution in ("gamma", "lognormal") and not float(mean) > 0:
        raise ValueError(f"a {distribution} distribution needs a positive mean, got {mean}")
    if distribution == "gamma":
        if not k > 0:
            raise ValueError(f"gamma shape k must be > 0, got {k}")
        # Marsaglia-Tsang through torch's standard gamma (reparameterised, seeded by g)
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=g))
        x = torch.from_numpy(np.random.default_rng(seed).gamma(float(k), 1.0, n))
        return x * float(mean) / float(k)
    if distribution == "empirical":
        values = torch.as_tensor(
            np.asarray(samples if samples is not None else []), dtype=torch.float64
        )
        if values.ndim != 1 or values.numel() == 0 or not bool(torch.isfinite(values).all()):
            raise ValueError(
                "an empirical distribution needs a non-empty 1-D array of finite samples"
            )
        return values[torch.randint(0, values.numel(), (n,), generator=g)]
    if distribution == "lognormal":
        if not cv > 0:
            raise ValueError(f"log-normal cv must be > 0, got {cv}")
        s2 = math.log(1.0 + cv * cv)
        z = torch.randn(n, generator=g, dtype=torch.float64)
        return torch.exp(math.log(float(mean)) - s2 / 2 + math.sqrt(s2) * z)
    raise ValueError(
        f"unknown distribution '{distribution}'; expected one of {', '.join(DISTRIBUTIONS)}"
    )


def perez_nieves_config(
    name: str,
    taus: Sequence[str] = ("tau_m", "tau_syn"),
    distribution: str = "gamma",
    k: float = 3.0,
):
    """Heterogeneity and trainable-parameter arguments of one Perez-Nieves et al. (2021)
    configuration.

    Parameters
    ----------
    name : str
        One of :data:`PEREZ_NIEVES_CONFIGS`: ``hom_init_std_train`` (homogeneous init, weights
        only), ``het_init_std_train`` (heterogeneous init, weights only), ``hom_init_het_train``
        (homogeneous init, weights and taus), ``het_init_het_train`` (both).
    taus : sequence of str
        Time constants concerned.
    distribution : str
        Distribution of the heterogeneous initial values (:func:`init_parameter`); the paper
        draws from a gamma distribution.
    k : float
        Gamma shape (the paper: 3, coefficient of variation ``1/sqrt(3)``).

    Returns
    -------
    dict
        ``{"heterogeneity": {...}, "trainable": (...)}`` to pass to :class:`SpikingLayer`.

    Raises
    ------
    ValueError
        Unknown configuration name (lists the four).
    """
    if name not in PEREZ_NIEVES_CONFIGS:
        raise ValueError(
            f"unknown heterogeneity configuration '{name}'; expected one of "
            f"{', '.join(PEREZ_NIEVES_CONFIGS)}"
        )
    cfg = PEREZ_NIEVES_CONFIGS[name]
    het, train = cfg.heterogeneous_init, cfg.trained
    heterogeneity = {t: {"distribution": distribution, "k": k} for t in taus} if het else {}
    return {"heterogeneity": heterogeneity, "trainable": tuple(taus) if train else ()}


class ParameterTable(NamedTuple):
    """Initial per-neuron parameters of a layer (:func:`parameter_table`).

    Attributes
    ----------
    units : dict of str -> (str, float)
        Display unit of each parameter: name and value in SI.
    bounds : dict of str -> (float, float)
        Valid range in the display unit (``-inf``/``inf`` for an open end).
    per_neuron : dict of str -> bool
        Whether the parameter has one value per neuron.
    values : dict of str -> Tensor
        Initial values in the display unit, float64, ``[neurons]`` or 0-d.
    clamp_counts : dict of str -> int
        Initial values clamped into range, for trained and heterogeneous parameters.
    """

    units: dict
    bounds: dict
    per_neuron: dict
    values: dict
    clamp_counts: dict


def parameter_table(spec, cm, n: int, init, generator=None) -> ParameterTable:
    """Initial values, display units and valid ranges of every parameter of a layer.

    Each parameter of the model (and each external variable such as ``I_ext``, default 0) is
    stored in its display unit (:func:`display_unit`). Its range is the model file's
    ``range`` (a time constant's lower bound at least 0); heterogeneous parameters are drawn
    around the default (:func:`init_parameter`); trained and heterogeneous parameters are
    clamped into range, each clamped element counted. ``init.bounds`` is checked here and
    applied by the layer once its weights exist (:func:`merge_bounds`).

    Parameters
    ----------
    spec : NeuronModel
    cm : CompiledModel
        The compiled model (parameter and external names, units).
    n : int
        Number of neurons.
    init : neurolearn.torch.options.ParameterInit
        Values, trainable names, heterogeneity and bounds.
    generator : torch.Generator, optional
        Source of the heterogeneous draws (drawn in parameter order).

    Returns
    -------
    ParameterTable

    Raises
    ------
    ModelError
        A trainable, heterogeneous or bounded name that is not a parameter of the model, or
        a shared (``per_neuron = false``) parameter to be trained.
    """
    trainable = tuple(init.trainable)
    heterogeneity = dict(init.heterogeneity or {})
    bounds = dict(init.bounds or {})
    names = list(cm.param_names) + list(cm.external_names)
    _check_names(spec, names, trainable, heterogeneity, bounds)
    overrides = dict(init.values or {})
    ext_over = {k: overrides.pop(k) for k in list(overrides) if k in cm.external_names}
    values = spec.resolve_parameters(overrides, n=n)
    table = ParameterTable({}, {}, {}, {}, {})
    for pname in names:
        if pname in spec.parameters:
            p = spec.parameters[pname]
            dname, dval = display_unit(cm.units[pname])
            si = np.asarray(values[pname], dtype=np.float64)
            per = p.per_neuron
            lo = float(p.low) / dval if p.low is not None else -math.inf
            hi = float(p.high) / dval if p.high is not None else math.inf
            positive = p.is_time_constant
        else:  # external variable (I_ext): constant input, default from initial or 0
            dname, dval = display_unit(cm.units[pname])
            v = ext_over.get(pname, 0.0)
            si = np.asarray(parse_quantity(v, pname) if isinstance(v, str) else v, dtype=np.float64)
            per, lo, hi, positive = True, -math.inf, math.inf, False
        if positive:
            lo = max(lo, 0.0)
        table.units[pname] = (dname, dval)
        table.bounds[pname] = (lo, hi)
        table.per_neuron[pname] = per
        raw = torch.as_tensor(si / dval, dtype=torch.float64)
        if per and raw.ndim == 0:
            raw = raw.expand(n).clone()
        if pname in heterogeneity:
            h = dict(heterogeneity[pname])
            dist = h.pop("distribution", "gamma")
            mean = float(raw.mean())
            raw = init_parameter(mean, n, dist, generator=generator, **h)
        if pname in trainable or pname in heterogeneity:
            table.clamp_counts.setdefault(pname, 0)
            out = (raw < lo) | (raw > hi)
            table.clamp_counts[pname] += int(out.sum())
            raw = raw.clamp(lo, hi)
        table.values[pname] = raw
    return table


def merge_bounds(spec, table: ParameterTable, bounds) -> dict:
    """The ranges of ``table`` with ``bounds`` in place of the model file's.

    Parameters
    ----------
    spec : NeuronModel
        The layer's model (which parameters are time constants: their lower bound stays
        >= 0).
    table : ParameterTable
        The parameter table (:func:`parameter_table`).
    bounds : mapping or None
        ``{name: (low, high)}`` in display units; None keeps that end of the file's range.

    Returns
    -------
    dict of str -> (float, float)
        The new ranges of the parameters named in ``bounds``.

    Raises
    ------
    ValueError
        A low end above the high end once merged.
    """
    out = {}
    for name, (blo, bhi) in dict(bounds or {}).items():
        lo, hi = table.bounds[name]
        lo = lo if blo is None else float(blo)
        hi = hi if bhi is None else float(bhi)
        p = spec.parameters.get(name)
        if p is not None and p.is_time_constant:
            lo = max(lo, 0.0)
        if lo > hi:
            raise ValueError(
                f"bounds of parameter '{name}' of model '{spec.name}': low {lo} > high {hi} "
                f"{table.units[name][0]}"
            )
        out[name] = (lo, hi)
    return out


def _check_names(spec, names, trainable, heterogeneity, bounds) -> None:
    for t in trainable:
        if t not in names:
            raise ModelError(
                f"trainable parameter '{t}' is not a parameter of model "
                f"'{spec.name}' ({', '.join(names)})",
                spec.path,
                parameter=t,
            )
        if t in spec.parameters and not spec.parameters[t].per_neuron:
            raise ModelError(
                f"parameter '{t}' of model '{spec.name}' is shared "
                f"(per_neuron = false) and cannot be trained per neuron",
                spec.path,
                parameter=t,
            )
    for h in heterogeneity:
        if h not in names:
            raise ModelError(
                f"heterogeneity given for unknown parameter '{h}' of model '{spec.name}'",
                spec.path,
                parameter=h,
            )
    for b in bounds:
        if b not in names:
            raise ModelError(
                f"bounds given for unknown parameter '{b}' of model '{spec.name}' "
                f"({', '.join(names)})",
                spec.path,
                parameter=b,
            )

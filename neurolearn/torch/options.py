"""Options of a layer, grouped by concern (:class:`SpikingLayer`'s ``options=``).

Each group is a small frozen dataclass; :class:`LayerOptions` holds one of each. A layer takes
them as ``options=`` (one group, several, or a :class:`LayerOptions`) or through its keyword
arguments, which build the same objects, so that both spellings mean the same::

    SpikingLayer("lif", 700, 256, dt="1 ms", fused=False, weight_gain=2.0)
    SpikingLayer("lif", 700, 256, dt="1 ms",
                 options=(Execution(fused=False), WeightInit(gain=2.0)))

=========================  =================================================================
group                      keyword arguments it holds
=========================  =================================================================
:class:`ParameterInit`     ``params``, ``trainable``, ``heterogeneity``, ``bounds``,
                           ``tau_parameterization``
:class:`WeightInit`        ``weight_std``, ``recurrent_std``, ``weight_gain``, ``weight_unit``,
                           ``weight_distribution``
:class:`SurrogateOptions`  ``surrogate``, ``detach_reset``, ``threshold_scale``
:class:`Execution`         ``fused``, ``fused_recompute``, ``sparse_input``, ``sparse_spikes``,
                           ``checkpoint_every``, ``check_finite``
:class:`DelayOptions`      ``delays``, ``recurrent_delays``, ``max_delay``, ``delay_init``,
                           ``delay_sigma``
=========================  =================================================================
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "TAU_PARAMETERIZATIONS",
    "WEIGHT_DISTRIBUTIONS",
    "ParameterInit",
    "WeightInit",
    "SurrogateOptions",
    "Execution",
    "DelayOptions",
    "DELAY_MODES",
    "LayerOptions",
    "KEYWORDS",
]


#: How trained time constants are stored and stepped by the optimiser
#: (``ParameterInit.tau_parameterization``): ``"direct"`` the time constant itself in its display unit (ms);
#: ``"decay"`` the decay factor ``exp(-dt/tau)`` of one time step, as Perez-Nieves et al.
#: (2021) train ``alpha``/``beta`` (npvoid/neural_heterogeneity, SuGD_code/layers.py l. 260-273).
TAU_PARAMETERIZATIONS = ("direct", "decay")

#: Shapes of the initial weights (``WeightInit.distribution``): ``"normal"`` (zero mean) or
#: ``"uniform"`` on ``[-sqrt(3) std, sqrt(3) std]`` (PyTorch's default initialisation, as in
#: Perez-Nieves et al. 2021, SuGD_code/layers.py l. 252-258).
WEIGHT_DISTRIBUTIONS = ("normal", "uniform")


def _bound(value, what: str):
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number or None, got {value!r}") from None
    if math.isnan(v):
        raise ValueError(f"{what} must not be NaN")
    return v


@dataclass(frozen=True)
class ParameterInit:
    """Values, training and range of the per-neuron parameters of a layer.

    Parameters
    ----------
    values : mapping, optional
        Parameter values overriding the model's defaults (Quantities, strings such as
        ``"20 ms"``, or arrays of ``n`` values for per-neuron parameters); also external
        inputs such as ``I_ext`` (keyword ``params``).
    trainable : sequence of str
        Per-neuron parameters trained with the weights, e.g. ``("tau_m", "tau_syn")``.
    heterogeneity : mapping, optional
        ``{name: {"distribution": "gamma", "k": 3}}``: initial per-neuron values drawn around
        the default (:func:`neurolearn.torch.init_parameter`).
    bounds : mapping, optional
        ``{name: (low, high)}`` in the parameter's display unit (ms, mV, nA, nS...;
        ``layer.param_units``): replaces the model file's ``range`` for the initial values,
        the projection after each optimiser step and the forward pass; None keeps that end of
        the file's range, e.g. ``{"tau_m": (1.0, None)}``. A time constant's lower bound
        stays >= 0.
    tau_parameterization : {"direct", "decay"}
        How the *trained* time constants are stored (:data:`TAU_PARAMETERIZATIONS`): the
        time constant in ms (default), or the decay factor ``exp(-dt/tau)`` of one step,
        whose gradient steps move tau by about ``tau**2/dt`` times as much (Perez-Nieves et
        al. 2021). The forward pass, the bounds (still in ms), the stored network and its
        Brian2 export do not depend on it.

    Raises
    ------
    ValueError
        A bound that is not a pair of numbers or None, ``low > high``, or an unknown
        parameterisation.
    """

    values: Mapping | None = None
    trainable: tuple = ()
    heterogeneity: Mapping | None = None
    bounds: Mapping | None = None
    tau_parameterization: str = "direct"

    def __post_init__(self):
        if self.tau_parameterization not in TAU_PARAMETERIZATIONS:
            raise ValueError(
                f"tau_parameterization must be one of {', '.join(TAU_PARAMETERIZATIONS)}, "
                f"got {self.tau_parameterization!r}"
            )
        if isinstance(self.trainable, str):
            raise ValueError(f"trainable must be a sequence of names, got {self.trainable!r}")
        object.__setattr__(self, "trainable", tuple(self.trainable))
        if self.bounds is not None:
            checked = {}
            for name, b in dict(self.bounds).items():
                if not isinstance(b, Sequence) or isinstance(b, str) or len(b) != 2:
                    raise ValueError(
                        f"bounds of parameter '{name}' must be a pair (low, high) in its "
                        f"display unit (None: the model file's bound), got {b!r}"
                    )
                lo = _bound(b[0], f"lower bound of parameter '{name}'")
                hi = _bound(b[1], f"upper bound of parameter '{name}'")
                if lo is not None and hi is not None and lo > hi:
                    raise ValueError(f"bounds of parameter '{name}': low {lo} > high {hi}")
                checked[name] = (lo, hi)
            object.__setattr__(self, "bounds", checked)


@dataclass(frozen=True)
class WeightInit:
    """Initial weights of a layer: normal, zero mean, in the weight unit.

    Parameters
    ----------
    std, recurrent_std : float, optional
        Standard deviation of the input and recurrent weights in weight units (keywords
        ``weight_std``, ``recurrent_std``); default: chosen so that ``sqrt(fan_in)``
        coincident inputs drive the neuron from rest to threshold (measured on the model),
        times ``gain``.
    gain : float
        Factor on the default standard deviations (keyword ``weight_gain``).
    unit : str, optional
        Unit of the stored weights (keyword ``weight_unit``); default the display unit of the
        synaptic target, e.g. nA for ``I_syn``.
    distribution : {"normal", "uniform"}
        Shape of the initial weights (keyword ``weight_distribution``,
        :data:`WEIGHT_DISTRIBUTIONS`), both with zero mean and the standard deviations above.

    Raises
    ------
    ValueError
        An unknown distribution.
    """

    std: float | None = None
    recurrent_std: float | None = None
    gain: float = 1.0
    unit: str | None = None
    distribution: str = "normal"

    def __post_init__(self):
        if self.distribution not in WEIGHT_DISTRIBUTIONS:
            raise ValueError(
                f"weight distribution must be one of {', '.join(WEIGHT_DISTRIBUTIONS)}, "
                f"got {self.distribution!r}"
            )


@dataclass(frozen=True)
class SurrogateOptions:
    """The surrogate gradient of a spiking layer.

    Parameters
    ----------
    surrogate : str, dict, callable or Surrogate, optional
        Surrogate derivative (:func:`neurolearn.torch.get_surrogate`); default fast sigmoid.
    detach_reset : bool
        Stop gradients through the reset (Zenke & Vogels 2021, Neural Comput. 33:899).
    threshold_scale : float, optional
        SI distance normalising the distance to threshold before the surrogate (default:
        threshold minus reset state at default parameters, e.g. 20 mV for the LIF).
    """

    surrogate: object = None
    detach_reset: bool = False
    threshold_scale: float | None = None


@dataclass(frozen=True)
class Execution:
    """How a layer's time loop runs; spikes do not depend on these options (products with
    spikes round differently when sparse).

    Parameters
    ----------
    fused : bool, optional
        The fused time loop for models whose update is affine in the state: None (default)
        where it applies, False never, True required.
    fused_recompute : bool
        In the fused loop, recompute the membrane of each chunk of 16 steps in the backward
        pass instead of storing it.
    sparse_input : bool, optional
        Input drive by sparse products (None: when < 10 % of the inputs are non-zero).
    sparse_spikes : bool, optional
        Products with this layer's spikes as sums of weight rows (None: on the CPU for large
        products at low spike density).
    checkpoint_every : int, optional
        Memory-lean step-by-step mode: store the state every ``checkpoint_every`` steps and
        recompute in the backward pass.
    check_finite : bool
        Detect NaN/inf and raise :class:`neurolearn.torch.NonFiniteError`.

    Raises
    ------
    ValueError
        ``checkpoint_every`` not a positive integer.
    """

    fused: bool | None = None
    fused_recompute: bool = True
    sparse_input: bool | None = None
    sparse_spikes: bool | None = None
    checkpoint_every: int | None = None
    check_finite: bool = True

    def __post_init__(self):
        c = self.checkpoint_every
        if c and (not isinstance(c, (int, float)) or int(c) != c or c < 1):
            raise ValueError(f"checkpoint_every must be a positive integer or None, got {c!r}")


#: Where the delays of a connection are learned (:class:`DelayOptions`): none, one delay per
#: synapse, one per presynaptic neuron (shared by its outgoing synapses of the connection), or
#: one for the whole connection.
DELAY_MODES = ("none", "per_synapse", "per_presynaptic", "per_connection")


@dataclass(frozen=True)
class DelayOptions:
    """Learnable synaptic delays of a layer's connections (:mod:`neurolearn.torch.delays`).

    Delays are trained as Gaussian-interpolated delay kernels whose width ``sigma`` narrows
    during training down to whole time steps (dilated convolution with learnable spacings,
    DCLS: Hammouamri, Khalfaoui-Hassani & Masquelier 2023, ICLR 2024, arXiv:2306.17670);
    with ``sigma = 0`` each delay is rounded to whole steps, as Brian2 does.

    Parameters
    ----------
    mode : str
        Delays of the input (feed-forward) connection, one of :data:`DELAY_MODES` (keyword
        ``delays``): ``"per_synapse"`` (``[n_in, n]`` delays), ``"per_presynaptic"``
        (``[n_in]``), ``"per_connection"`` (one) or ``"none"``.
    recurrent : str
        Delays of the recurrent connection (keyword ``recurrent_delays``), same choices; a
        recurrent delay is at least one time step.
    max_delay : Quantity, str or float, optional
        Longest delay (``"100 ms"``; a float is seconds); required with any delay. It is
        rounded to whole time steps ``K``; delays lie in ``[0, K]`` steps (recurrent:
        ``[1, K]``).
    init : str or float
        Initial delays: ``"uniform"`` over the allowed range (DCLS) or a value in ms for all.
    sigma : float, optional
        Initial width of the Gaussian delay kernels in time steps; default ``K/3`` (DCLS);
        0: rounded delays from the start (nothing to learn by gradient).

    Raises
    ------
    ValueError
        An unknown mode, a delay without ``max_delay``, a negative ``sigma`` or an ``init``
        that is neither ``"uniform"`` nor a number.
    """

    mode: str = "none"
    recurrent: str = "none"
    max_delay: object = None
    init: object = "uniform"
    sigma: float | None = None

    def __post_init__(self):
        for what, m in (("delays", self.mode), ("recurrent_delays", self.recurrent)):
            if m not in DELAY_MODES:
                raise ValueError(f"{what} must be one of {', '.join(DELAY_MODES)}, got {m!r}")
        if self.active and self.max_delay is None:
            raise ValueError("delays need max_delay (e.g. max_delay='100 ms')")
        if self.sigma is not None and not float(self.sigma) >= 0:
            raise ValueError(f"delay_sigma must be >= 0 time steps, got {self.sigma!r}")
        if not (self.init == "uniform" or isinstance(self.init, (int, float))):
            raise ValueError(f"delay_init must be 'uniform' or a value in ms, got {self.init!r}")

    @property
    def active(self) -> bool:
        """Whether any connection of the layer has delays."""
        return self.mode != "none" or self.recurrent != "none"


#: Keyword argument of the layers -> (group of :class:`LayerOptions`, field).
KEYWORDS = {
    "params": ("parameters", "values"),
    "trainable": ("parameters", "trainable"),
    "heterogeneity": ("parameters", "heterogeneity"),
    "bounds": ("parameters", "bounds"),
    "tau_parameterization": ("parameters", "tau_parameterization"),
    "weight_std": ("weights", "std"),
    "recurrent_std": ("weights", "recurrent_std"),
    "weight_gain": ("weights", "gain"),
    "weight_unit": ("weights", "unit"),
    "weight_distribution": ("weights", "distribution"),
    "surrogate": ("gradient", "surrogate"),
    "detach_reset": ("gradient", "detach_reset"),
    "threshold_scale": ("gradient", "threshold_scale"),
    "fused": ("execution", "fused"),
    "fused_recompute": ("execution", "fused_recompute"),
    "sparse_input": ("execution", "sparse_input"),
    "sparse_spikes": ("execution", "sparse_spikes"),
    "checkpoint_every": ("execution", "checkpoint_every"),
    "check_finite": ("execution", "check_finite"),
    "delays": ("delays", "mode"),
    "recurrent_delays": ("delays", "recurrent"),
    "max_delay": ("delays", "max_delay"),
    "delay_init": ("delays", "init"),
    "delay_sigma": ("delays", "sigma"),
}


@dataclass(frozen=True)
class LayerOptions:
    """All option groups of a layer.

    Parameters
    ----------
    parameters : ParameterInit
    weights : WeightInit
    gradient : SurrogateOptions
    execution : Execution
    delays : DelayOptions
    """

    parameters: ParameterInit = field(default_factory=ParameterInit)
    weights: WeightInit = field(default_factory=WeightInit)
    gradient: SurrogateOptions = field(default_factory=SurrogateOptions)
    execution: Execution = field(default_factory=Execution)
    delays: DelayOptions = field(default_factory=DelayOptions)

    @classmethod
    def build(cls, options=None, **keywords) -> LayerOptions:
        """Options from ``options`` (None, a :class:`LayerOptions`, one group or a sequence
        of groups) and keyword arguments (names of :data:`KEYWORDS`).

        A keyword at its default value leaves the group as it is; a keyword with another
        value sets its field, unless ``options`` gives that group as well.

        Raises
        ------
        ValueError
            A keyword set to a non-default value whose group ``options`` also gives (the two
            would disagree), an object in ``options`` that is no option group, or a group
            given twice.
        TypeError
            An unknown keyword.
        """
        groups = {f.name: f.type for f in dataclasses.fields(cls)}
        by_type = {
            ParameterInit: "parameters",
            WeightInit: "weights",
            SurrogateOptions: "gradient",
            Execution: "execution",
            DelayOptions: "delays",
        }
        given: dict = {}
        if isinstance(options, LayerOptions):
            given = {g: getattr(options, g) for g in groups}
        elif options is not None:
            items = options if isinstance(options, Sequence) else (options,)
            for obj in items:
                group = by_type.get(type(obj))
                if group is None:
                    raise ValueError(
                        f"options must be option groups (ParameterInit, WeightInit, "
                        f"SurrogateOptions, Execution, DelayOptions) or a LayerOptions, "
                        f"got {obj!r}"
                    )
                if group in given:
                    raise ValueError(f"options: {type(obj).__name__} given twice")
                given[group] = obj
        fields: dict = {g: {} for g in groups}
        for key, value in keywords.items():
            if key not in KEYWORDS:
                raise TypeError(f"unknown layer option '{key}'")
            group, name = KEYWORDS[key]
            default = next(
                f for f in dataclasses.fields(type(_DEFAULTS[group])) if f.name == name
            ).default
            if _is_default(value, default):
                continue
            if group in given:
                raise ValueError(
                    f"option '{key}' is given as a keyword and in options "
                    f"({type(given[group]).__name__}); give it once"
                )
            fields[group][name] = value
        made = {g: given[g] if g in given else type(_DEFAULTS[g])(**fields[g]) for g in groups}
        return cls(**made)

    def keywords(self) -> dict:
        """The options as the layers' keyword arguments (the inverse of :meth:`build`)."""
        return {key: getattr(getattr(self, group), name) for key, (group, name) in KEYWORDS.items()}


def _is_default(value, default) -> bool:
    """Whether a keyword's value is its default (None and empty collections alike, numbers
    by value)."""
    if value is default:
        return True
    if isinstance(default, str):
        return value == default
    if default is None or default == ():
        return isinstance(value, (Mapping, Sequence)) and not isinstance(value, str) and not value
    if isinstance(default, bool) or isinstance(value, bool):
        return False
    return isinstance(value, (int, float)) and value == default


_DEFAULTS = {
    "parameters": ParameterInit(),
    "weights": WeightInit(),
    "gradient": SurrogateOptions(),
    "execution": Execution(),
    "delays": DelayOptions(),
}

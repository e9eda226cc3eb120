"""Surrogate derivatives of the spike threshold (Heaviside step).

A spike is ``H(x)``, the exact step of the signed distance to threshold ``x`` (SI units,
divided by the model's ``threshold_scale`` so that ``x = -1`` is roughly the post-reset state).
The forward pass is the exact step; the backward pass replaces ``H'(x)`` (zero almost
everywhere) by a smooth pseudo-derivative ``scale * g(steepness * x)``:

=================  ================================================  ==========================
name               g(u)                                              source
=================  ================================================  ==========================
``fast_sigmoid``   ``1 / (1 + |u|)**2``                              Zenke & Ganguli (2018)
                                                                     Neural Comput. 30:1514
                                                                     (SuperSpike)
``sigmoid``        ``sigmoid(u) * (1 - sigmoid(u))``                 logistic-sigmoid derivative;
                                                                     Zenke & Vogels (2021)
                                                                     Neural Comput. 33:899
``arctan``         ``1 / (1 + (pi/2 * u)**2)``  (times 1/2)          Fang et al. (2021) ICCV,
                                                                     SpikingJelly's ``ATan``
``triangle``       ``max(0, 1 - |u|)``                               Esser et al. (2016) PNAS
                                                                     113:11441
=================  ================================================  ==========================

``normalize_peak=True`` divides ``g`` by its maximum so that the peak of the surrogate equals
``scale`` whatever the shape and steepness; Zenke & Vogels (2021) found that the scale (peak
height), not the shape, decides whether training works. Without normalisation the peak is
``scale * g(0)`` (``1``, ``1/4``, ``1/2``, ``1``) -- note that it does not grow with the steepness
since the derivative is taken w.r.t. ``u``, as in the cited implementations.

Each shape is a small class (:class:`SurrogateShape`: ``g(u)``, its in-place form used by the
fused loop's backward pass, its peak and source) registered in :data:`SURROGATES` by defining
it; a new surrogate is one class::

    class Gaussian(SurrogateShape):
        name, peak = "gaussian", 1.0
        source = "..."

        @staticmethod
        def g(u):
            return torch.exp(-u * u)

after which ``Surrogate("gaussian")`` and the configuration choices know it. A user can also
pass any callable ``g(u) -> Tensor`` (a derivative shape) to :func:`get_surrogate`.

:class:`SmoothSigmoid` is not a surrogate: it replaces the step by a sigmoid in the forward
pass *and* differentiates it exactly, giving a smooth network whose gradients can be checked
against finite differences (used by the test suite).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

__all__ = [
    "Surrogate",
    "SmoothSigmoid",
    "get_surrogate",
    "SURROGATES",
    "SurrogateShape",
    "FastSigmoid",
    "Sigmoid",
    "Arctan",
    "Triangle",
]


class SurrogateShape:
    """A surrogate derivative shape ``g(u)``: subclass it to add one (defining the class
    registers it in :data:`SURROGATES` under :attr:`name` and its :attr:`aliases`).

    Attributes
    ----------
    name : str
        Name used in configurations (``Surrogate("fast_sigmoid")``).
    aliases : tuple of str
        Other names for the same shape.
    peak : float
        ``g(0)``, the maximum (for ``normalize_peak``).
    source : str
        Where the shape comes from.
    """

    name: str = ""
    aliases: tuple = ()
    peak: float = 1.0
    source: str = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for key in (cls.name, *cls.aliases):
            if key in SURROGATES:
                raise ValueError(f"surrogate name '{key}' is already registered")
            SURROGATES[key] = cls

    @staticmethod
    def g(u: torch.Tensor) -> torch.Tensor:
        """The shape at ``u`` (a new tensor)."""
        raise NotImplementedError

    @classmethod
    def g_(cls, x: torch.Tensor, c: float, k: float) -> torch.Tensor:
        """``c * g(k * x)`` written into ``x`` (no temporaries where possible); the default
        computes it out of place and copies."""
        return x.copy_(c * cls.g(k * x))


#: The registry of surrogate shapes: name (and alias) -> :class:`SurrogateShape` subclass.
#: A subclass registers itself; configuration choices derive from this table.
SURROGATES: dict = {}


class FastSigmoid(SurrogateShape):
    """``g(u) = 1 / (1 + |u|)**2`` (SuperSpike)."""

    name, aliases, peak = "fast_sigmoid", ("superspike",), 1.0
    source = "Zenke & Ganguli (2018) Neural Comput. 30:1514"

    @staticmethod
    def g(u):
        return 1.0 / (1.0 + u.abs()) ** 2

    @classmethod
    def g_(cls, x, c, k):  # c / (1 + |k x|)**2
        x.mul_(k).abs_().add_(1.0)
        return x.mul_(x).reciprocal_().mul_(c)


class Sigmoid(SurrogateShape):
    """``g(u) = sigmoid(u) (1 - sigmoid(u))``, the logistic sigmoid's derivative."""

    name, peak = "sigmoid", 0.25
    source = "Zenke & Vogels (2021) Neural Comput. 33:899"

    @staticmethod
    def g(u):
        s = torch.sigmoid(u)
        return s * (1.0 - s)

    @classmethod
    def g_(cls, x, c, k):  # c s (1 - s), s = sigmoid(k x)
        x.mul_(k).sigmoid_()
        return x.mul_(1.0 - x).mul_(c)


class Arctan(SurrogateShape):
    """``g(u) = 1/2 / (1 + (pi/2 u)**2)``, the derivative of ``arctan(pi/2 u)/pi``."""

    name, peak = "arctan", 0.5
    source = "Fang et al. (2021) ICCV; SpikingJelly's ATan"

    @staticmethod
    def g(u):
        return 0.5 / (1.0 + (0.5 * math.pi * u) ** 2)

    @classmethod
    def g_(cls, x, c, k):  # c/2 / (1 + (pi/2 k x)**2)
        x.mul_(0.5 * math.pi * k)
        return x.mul_(x).add_(1.0).reciprocal_().mul_(0.5 * c)


class Triangle(SurrogateShape):
    """``g(u) = max(0, 1 - |u|)``."""

    name, peak = "triangle", 1.0
    source = "Esser et al. (2016) PNAS 113:11441"

    @staticmethod
    def g(u):
        return torch.clamp(1.0 - u.abs(), min=0.0)

    @classmethod
    def g_(cls, x, c, k):  # c max(0, 1 - |k x|)
        return x.mul_(k).abs_().neg_().add_(1.0).clamp_(min=0.0).mul_(c)


class _SpikeFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, strict, shape, steepness, scale):
        ctx.save_for_backward(x)
        ctx.shape, ctx.steepness, ctx.scale = shape, steepness, scale
        return (x > 0).to(x.dtype) if strict else (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (ctx.scale * ctx.shape(ctx.steepness * x)), None, None, None, None


class Surrogate:
    """Exact step forward, surrogate derivative backward.

    Parameters
    ----------
    shape : str, SurrogateShape subclass or callable
        A name of :data:`SURROGATES`, a shape class, or a callable ``g(u)`` returning the
        derivative shape.
    steepness : float
        ``u = steepness * x`` (x normalised by the model's threshold scale). Default 10
        (Zenke & Vogels 2021 used 10 on a membrane normalised to threshold 1).
    scale : float
        Multiplies the derivative (its peak when ``normalize_peak``).
    normalize_peak : bool
        Divide ``g`` by ``g(0)`` so the peak equals ``scale``.

    Raises
    ------
    ValueError
        Unknown shape name (lists the known ones) or non-positive steepness/scale.
    """

    smooth = False

    def __init__(
        self,
        shape="fast_sigmoid",
        steepness: float = 10.0,
        scale: float = 1.0,
        normalize_peak: bool = False,
    ):
        self.shape_cls = None
        if isinstance(shape, str):
            if shape not in SURROGATES:
                raise ValueError(
                    f"unknown surrogate '{shape}'; known: "
                    f"{', '.join(SURROGATES)} (or pass a callable)"
                )
            self.shape_cls = SURROGATES[shape]
            fn, peak = self.shape_cls.g, self.shape_cls.peak
            self.name = shape
        elif isinstance(shape, type) and issubclass(shape, SurrogateShape):
            self.shape_cls = shape
            fn, peak = shape.g, shape.peak
            self.name = shape.name
        elif callable(shape):
            fn, peak = shape, None
            self.name = getattr(shape, "__name__", "custom")
        else:
            raise ValueError(f"surrogate shape must be a name or a callable, got {shape!r}")
        if not steepness > 0 or not scale > 0:
            raise ValueError(f"surrogate steepness and scale must be > 0, got {steepness}, {scale}")
        if normalize_peak:
            if peak is None:
                peak = float(fn(torch.zeros(1, dtype=torch.float64))[0])
            scale = scale / peak
        self.shape_fn: Callable = fn
        self.steepness = float(steepness)
        self.scale = float(scale)
        self.normalize_peak = bool(normalize_peak)

    def __call__(self, x: torch.Tensor, strict: bool = True) -> torch.Tensor:
        """Spikes ``H(x)`` (0/1 in ``x``'s dtype); ``strict``: ``x > 0`` else ``x >= 0``."""
        return _SpikeFn.apply(x, strict, self.shape_fn, self.steepness, self.scale)

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        """The surrogate derivative at ``x`` (for plots)."""
        return self.scale * self.shape_fn(self.steepness * x)

    def derivative_(
        self, x: torch.Tensor, factor: float = 1.0, x_scale: float = 1.0
    ) -> torch.Tensor:
        """``factor * derivative(x_scale * x)`` written into ``x`` (a tensor that is not
        needed afterwards and does not require a gradient), without temporaries for the
        built-in shapes (used by the fused loop's backward pass on chunks of steps); other
        shapes are computed out of place. Equal to :meth:`derivative` up to rounding."""
        if self.shape_cls is not None:
            return self.shape_cls.g_(x, self.scale * factor, self.steepness * x_scale)
        return x.copy_(self.derivative(x * x_scale) * factor)

    def config(self) -> dict:
        """JSON-ready description (custom callables are recorded by name only)."""
        return {
            "shape": self.name,
            "steepness": self.steepness,
            "scale": self.scale
            * (self.shape_cls.peak if self.normalize_peak and self.shape_cls is not None else 1.0),
            "normalize_peak": self.normalize_peak,
        }

    def __repr__(self):
        return (
            f"Surrogate({self.name!r}, steepness={self.steepness}, scale={self.scale}, "
            f"normalize_peak={self.normalize_peak})"
        )


class SmoothSigmoid(Surrogate):
    """Smooth replacement of the step: ``sigmoid(steepness * x)`` forward, its exact derivative
    backward. Makes the network a smooth function of its parameters (finite-difference checks
    of the gradient); not for training spiking networks."""

    smooth = True

    def __init__(self, steepness: float = 10.0):
        super().__init__("sigmoid", steepness=steepness, scale=1.0)
        self.name = "smooth_sigmoid"

    def __call__(self, x, strict=True):
        return torch.sigmoid(self.steepness * x)

    def config(self):
        return {"shape": "smooth_sigmoid", "steepness": self.steepness}


def get_surrogate(surrogate=None, **kwargs) -> Surrogate:
    """A :class:`Surrogate` from a name, a callable, a config dict or an instance.

    Parameters
    ----------
    surrogate : str, callable, dict, Surrogate or None
        None gives ``fast_sigmoid`` with steepness 10. A dict holds the keyword arguments
        (``{"shape": "arctan", "steepness": 2.0}``); ``"smooth_sigmoid"`` gives
        :class:`SmoothSigmoid`.
    **kwargs
        ``steepness``, ``scale``, ``normalize_peak`` overriding the defaults.

    Returns
    -------
    Surrogate

    Raises
    ------
    ValueError
        Unknown names or bad values.
    """
    if isinstance(surrogate, Surrogate):
        return surrogate
    if isinstance(surrogate, dict):
        kwargs = {**surrogate, **kwargs}
        surrogate = kwargs.pop("shape", None)
    if surrogate == "smooth_sigmoid":
        return SmoothSigmoid(kwargs.get("steepness", 10.0))
    return Surrogate(surrogate or "fast_sigmoid", **kwargs)

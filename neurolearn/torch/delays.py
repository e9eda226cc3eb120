"""Learnable synaptic delays: Gaussian-interpolated delay kernels that narrow during training
and end as whole time steps.

Method (DCLS, dilated convolution with learnable spacings: Khalfaoui-Hassani, Pellegrini &
Masquelier 2023, ICLR; applied to synaptic delays by Hammouamri, Khalfaoui-Hassani &
Masquelier 2023, "Learning delays in spiking neural networks using dilated convolutions with
learnable spacings", ICLR 2024, arXiv:2306.17670). A synapse with weight ``w`` and delay ``d``
(in time steps, continuous while training) acts on the input through a kernel over the delay
taps ``k = k_min..K``

.. math::

    w_k = w \\, \\frac{g_k(d)}{\\sum_{k'} g_{k'}(d)}, \\qquad
    g_k(d) = \\exp\\left(-\\frac{(k - d)^2}{2 \\sigma^2}\\right),

so that the input current of step ``n`` is ``sum_k w_k x[n - k]``: a convex combination of
the input delayed by the taps around ``d``, differentiable in ``d``. The width ``sigma`` (in
steps, the same for all synapses of a layer; a buffer, not trained) starts wide (``K/3`` by
default) so that distant taps see a gradient, and is narrowed during training
(:func:`sigma_schedule`: exponential decay to 0.23 steps at half of training, as in
Hammouamri et al.); at ``sigma = 0`` every delay is rounded to whole steps,
``D = floor(d + 1/2)`` clamped to its bounds, and the kernel is one tap of weight ``w``: the
network Brian2 runs (``Synapses.delay = D dt``; Brian2's spike queue rounds ``delay/dt`` back
to ``D``: ``numpy``'s ``round`` and the C++ targets' ``int(x + 0.5)`` agree away from
half-integers, and ``D dt / dt`` is within rounding of an integer).

Timing (Brian2's): a presynaptic spike of step ``n`` through a synapse of delay ``D`` is added
to the target variable in the synaptic-propagation slot of step ``n + D``, after the
thresholds and before the resets (:mod:`neurolearn.torch.step`). Delays of the input
(feed-forward) connection lie in ``[0, K]`` steps, recurrent ones in ``[1, K]``.

Granularity (:data:`~neurolearn.torch.options.DELAY_MODES`): ``per_synapse`` (``[n_pre,
n_post]`` delays; the input current is ``sum_k x[n - k] @ (W * g_k)``, one product per tap),
``per_presynaptic`` (``[n_pre]``: the axonal delay of each presynaptic neuron; the input is
delayed channel by channel, then multiplied by ``W`` once) and ``per_connection`` (one delay
for the whole weight matrix). Delays are stored and trained in ms (display unit, like the
time constants) and projected into their bounds after each optimiser step.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..spec import parse_quantity
from .options import DelayOptions

__all__ = [
    "SynapticDelays",
    "DelayedRecurrence",
    "sigma_schedule",
    "DCLS_FINAL_SIGMA",
    "build_delays",
]

#: Final width of the delay kernels in time steps (Hammouamri et al. 2023: 0.23, where the
#: kernel of a delay at a whole step is one tap to within 2e-4).
DCLS_FINAL_SIGMA = 0.23


def sigma_schedule(
    epoch: int, epochs: int, sigma0: float, final: float = DCLS_FINAL_SIGMA, fraction=0.5
) -> float:
    """Width of the delay kernels in epoch ``epoch`` (0-based) of ``epochs``.

    Exponential decay from ``sigma0`` in the first epoch to ``final`` after ``fraction`` of
    the epochs, then ``final`` (Hammouamri et al. 2023: ``sigma0 = K/3``, 0.23 at half of
    training); the caller rounds the delays after the last epoch
    (:meth:`SynapticDelays.round_`).

    Parameters
    ----------
    epoch, epochs : int
    sigma0, final : float
        Initial and final width in time steps (``sigma0 <= final`` keeps ``sigma0``).
    fraction : float
        Fraction of the epochs over which the width decays, in (0, 1].

    Returns
    -------
    float
        Width in time steps.
    """
    if sigma0 <= final or sigma0 <= 0:
        return float(sigma0)
    span = max(1, int(round(fraction * epochs)))
    if epoch >= span:
        return float(final)
    return float(sigma0 * (final / sigma0) ** (epoch / span))


class SynapticDelays(nn.Module):
    """Learnable delays of one connection with weights ``[n_pre, n_post]``.

    Parameters
    ----------
    mode : {"per_synapse", "per_presynaptic", "per_connection"}
    n_pre, n_post : int
    dt_s : float
        Time step in seconds.
    max_steps : int
        Longest delay ``K`` in steps (>= ``min_steps``).
    min_steps : int
        Shortest delay in steps (0 for an input connection, 1 for a recurrent one).
    init : "uniform" or float
        Uniform draws over ``[min, max]`` or one value in ms.
    sigma : float, optional
        Initial kernel width in steps (default ``K/3``).
    dtype : torch.dtype
    generator : torch.Generator, optional

    Attributes
    ----------
    delay : Parameter
        Delays in ms: ``[n_pre, n_post]``, ``[n_pre]`` or a scalar.
    sigma : Tensor (buffer, scalar)
        Width of the delay kernels in steps; 0: rounded delays.
    sigma0 : float
        Initial width in steps (``sigma`` at construction).
    bounds : (float, float)
        ``(min, max)`` in ms.
    clamped : int
        Delay values clamped into the bounds so far.

    Raises
    ------
    ValueError
        Bad sizes, bounds or initial value.
    """

    def __init__(
        self,
        mode: str,
        n_pre: int,
        n_post: int,
        *,
        dt_s: float,
        max_steps: int,
        min_steps: int = 0,
        init="uniform",
        sigma: float | None = None,
        dtype=torch.float32,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        shapes = {"per_synapse": (n_pre, n_post), "per_presynaptic": (n_pre,), "per_connection": ()}
        if mode not in shapes:
            raise ValueError(f"delay mode must be one of {', '.join(shapes)}, got {mode!r}")
        if max_steps < min_steps:
            raise ValueError(
                f"max_delay of {max_steps} time steps is shorter than the shortest delay "
                f"allowed here ({min_steps} steps)"
            )
        self.mode, self.n_pre, self.n_post = mode, int(n_pre), int(n_post)
        self.dt_ms = float(dt_s) * 1e3
        self.min_steps, self.max_steps = int(min_steps), int(max_steps)
        lo, hi = self.min_steps * self.dt_ms, self.max_steps * self.dt_ms
        self.bounds = (lo, hi)
        shape = shapes[mode]
        if init == "uniform":
            u = torch.rand(shape, generator=generator, dtype=torch.float64)
            values = lo + (hi - lo) * u
        else:
            v = float(init)
            if not lo - 1e-9 <= v <= hi + 1e-9:
                raise ValueError(f"delay_init {v} ms is outside the allowed [{lo:g}, {hi:g}] ms")
            values = torch.full(shape, v, dtype=torch.float64)
        self.delay = nn.Parameter(values.to(dtype))
        s = self.max_steps / 3.0 if sigma is None else float(sigma)
        self.register_buffer("sigma", torch.tensor(s, dtype=torch.float64))
        #: initial kernel width in steps (the start of :func:`sigma_schedule`)
        self.sigma0 = s
        self.clamped = 0

    # ---- values ------------------------------------------------------------------------------
    @property
    def smooth(self) -> bool:
        """Whether the delays act through Gaussian kernels (``sigma > 0``)."""
        return float(self.sigma) > 0

    @property
    def taps(self) -> torch.Tensor:
        """Delay taps in steps, ``min_steps..max_steps`` (int64)."""
        return torch.arange(self.min_steps, self.max_steps + 1, device=self.delay.device)

    def steps(self) -> torch.Tensor:
        """Delays in time steps (continuous, clamped into the bounds; differentiable)."""
        lo, hi = self.bounds
        return self.delay.clamp(lo, hi) / self.dt_ms

    @torch.no_grad()
    def rounded(self) -> torch.Tensor:
        """Whole delays ``floor(d / dt + 1/2)`` in steps, within the bounds (int64; the delays
        of the Brian2 export and of the forward pass at ``sigma = 0``)."""
        d = self.delay.detach().to(torch.float64).clamp(*self.bounds) / self.dt_ms
        return torch.floor(d + 0.5).long().clamp(self.min_steps, self.max_steps)

    def rounded_numpy(self) -> np.ndarray:
        """:meth:`rounded` broadcast to ``[n_pre, n_post]`` (numpy int64)."""
        D = self.rounded().cpu().numpy()
        if D.ndim == 1:
            D = D[:, None]
        return np.broadcast_to(D, (self.n_pre, self.n_post)).copy()

    def tap_weights(self) -> torch.Tensor:
        """Kernel weights ``[L, *delay.shape]`` over the ``L`` taps, summing to 1 over taps:
        the normalised Gaussians of the module docstring (``sigma > 0``, differentiable in
        the delays) or one-hot at the rounded delays (``sigma = 0``)."""
        taps = self.taps
        view = (-1,) + (1,) * self.delay.ndim
        if not self.smooth:
            D = self.rounded()
            return (taps.view(view) == D.unsqueeze(0)).to(self.delay.dtype)
        z = (taps.view(view).to(self.delay.dtype) - self.steps().unsqueeze(0)) / float(self.sigma)
        g = torch.exp(-0.5 * z * z)
        return g / g.sum(0, keepdim=True)

    # ---- training ----------------------------------------------------------------------------
    @torch.no_grad()
    def project_(self) -> int:
        """Clamp the delays into their bounds in place; returns the number clamped."""
        lo, hi = self.bounds
        out = int(((self.delay < lo) | (self.delay > hi)).sum())
        if out:
            self.delay.clamp_(lo, hi)
            self.clamped += out
        return out

    @torch.no_grad()
    def set_sigma(self, sigma: float) -> None:
        """Set the kernel width in steps (>= 0).

        Raises
        ------
        ValueError
            A negative or non-finite width.
        """
        if not (math.isfinite(float(sigma)) and float(sigma) >= 0):
            raise ValueError(f"delay kernel width must be >= 0 steps, got {sigma!r}")
        self.sigma.fill_(float(sigma))

    @torch.no_grad()
    def round_(self) -> None:
        """Round the stored delays to whole steps and set ``sigma = 0`` (end of training:
        the forward pass then is the network exported to Brian2)."""
        self.delay.copy_((self.rounded() * self.dt_ms).to(self.delay.dtype))
        self.sigma.fill_(0.0)

    # ---- products ----------------------------------------------------------------------------
    def delayed_input(self, xh: torch.Tensor, T: int) -> torch.Tensor:
        """The input delayed channel by channel (``per_presynaptic``, ``per_connection``).

        Parameters
        ----------
        xh : Tensor ``[K + T, batch, n_pre]``
            The ``K = max_steps`` input steps before the piece (zeros at the start of a
            sequence), then the piece's ``T`` steps.
        T : int

        Returns
        -------
        Tensor ``[T, batch, n_pre]``
            ``sum_k g_k x[n - k]`` (exactly ``x[n - D]`` at ``sigma = 0``).
        """
        K = self.max_steps
        if not self.smooth:
            D = self.rounded()
            if D.ndim == 0:
                return xh[K - int(D) : K - int(D) + T]
            idx = (K - D).view(1, 1, -1) + torch.arange(T, device=xh.device).view(-1, 1, 1)
            return xh.gather(0, idx.expand(T, xh.shape[1], self.n_pre))
        g = self.tap_weights()
        out = None
        for j, k in enumerate(self.taps.tolist()):
            part = g[j] * xh[K - k : K - k + T]
            out = part if out is None else out + part
        return out

    def synaptic_drive(self, xh: torch.Tensor, W: torch.Tensor, T: int) -> torch.Tensor:
        """Input current through per-synapse delays (``per_synapse``).

        Parameters
        ----------
        xh : Tensor ``[K + T, batch, n_pre]``
            History and piece as in :meth:`delayed_input`.
        W : Tensor ``[n_pre, m * n_post]``
            Weights (SI); ``m`` pathways side by side (excitatory and inhibitory parts for
            conductance targets) share the delays.
        T : int

        Returns
        -------
        Tensor ``[T, batch, m * n_post]``
            ``sum_k x[n - k] @ (W * g_k)``; at ``sigma = 0`` the taps without a synapse are
            skipped.
        """
        K, B = self.max_steps, xh.shape[1]
        g = self.tap_weights()
        m = W.shape[1] // self.n_post
        if m > 1:
            g = torch.cat([g] * m, dim=2)
        used = None if self.smooth else g.reshape(g.shape[0], -1).any(1).tolist()
        out = None
        for j, k in enumerate(self.taps.tolist()):
            if used is not None and not used[j]:
                continue
            part = xh[K - k : K - k + T].reshape(T * B, self.n_pre) @ (W * g[j])
            out = part if out is None else out + part
        if out is None:
            return W.new_zeros((T, B, W.shape[1]))
        return out.reshape(T, B, -1)

    def extra_repr(self) -> str:
        return (
            f"mode={self.mode!r}, n_pre={self.n_pre}, n_post={self.n_post}, "
            f"delays=[{self.bounds[0]:g}, {self.bounds[1]:g}] ms, sigma={float(self.sigma):g}"
        )


class DelayedRecurrence:
    """The recurrent input of each step from the spikes of the previous ``K`` steps, through
    recurrent delays (the step-by-step path; :class:`~neurolearn.torch.step.AutogradStep`).

    Parameters
    ----------
    delays : SynapticDelays
        Recurrent delays (``min_steps >= 1``).
    W : list of Tensor ``[n, n]``
        Recurrent weights per synaptic target (SI).
    history : Tensor ``[K, batch, n]``
        Spikes of the ``K`` steps before the piece, oldest first (zeros at the start).

    Notes
    -----
    :meth:`inputs` is called in the synaptic-propagation slot of step ``n`` before
    :meth:`push` adds the spikes of step ``n``: a recurrent spike of step ``m`` through delay
    ``D >= 1`` arrives at step ``m + D``, as Brian2's ``on_pre`` with that delay.
    """

    def __init__(self, delays: SynapticDelays, W: list, history: torch.Tensor):
        self.d = delays
        self.K = delays.max_steps
        self.hist = list(history.unbind(0))
        g = delays.tap_weights()  # taps 1..K
        self.taps = delays.taps.tolist()
        if delays.mode == "per_synapse":
            # [L*n, n] per target: the spikes of the L taps side by side times the kernel
            self.kernels = [(g * Wt.unsqueeze(0)).reshape(-1, Wt.shape[1]) for Wt in W]
        else:
            self.g, self.W = g, W
            self.D = None if delays.smooth else delays.rounded()

    def _delayed_spikes(self) -> torch.Tensor:
        """``sum_k g_k s[n - k]`` ``[batch, n]`` (per presynaptic neuron or connection)."""
        if self.D is not None:
            if self.D.ndim == 0:
                return self.hist[self.K - int(self.D)]
            stack = torch.stack(self.hist, 0)  # [K, B, n], index K - D for delay D
            idx = (self.K - self.D).view(1, 1, -1).expand(1, stack.shape[1], -1)
            return stack.gather(0, idx)[0]
        out = None
        for j, k in enumerate(self.taps):
            part = self.g[j] * self.hist[self.K - k]
            out = part if out is None else out + part
        return out

    def inputs(self) -> list:
        """Recurrent input of the current step per target, ``[batch, n]`` each (SI)."""
        if self.d.mode == "per_synapse":
            spikes = torch.cat([self.hist[self.K - k] for k in self.taps], dim=1)
            return [spikes @ kern for kern in self.kernels]
        sd = self._delayed_spikes()
        return [sd @ Wt for Wt in self.W]

    def push(self, s: torch.Tensor) -> None:
        """Record the spikes of the current step (float ``[batch, n]``)."""
        self.hist.append(s)
        del self.hist[0]

    def history(self) -> torch.Tensor:
        """Spikes of the last ``K`` steps, ``[K, batch, n]``, oldest first."""
        return torch.stack(self.hist, 0)


def build_delays(
    opts: DelayOptions, n_in: int, n: int, recurrent: bool, dt_s: float, dtype, generator
):
    """``(input delays, recurrent delays)`` of a layer (:class:`SynapticDelays` or None each)
    from its :class:`~neurolearn.torch.options.DelayOptions`.

    Raises
    ------
    ValueError
        Recurrent delays without recurrent weights, or a ``max_delay`` that is not a
        time (or rounds to less than the shortest delay).
    """
    if not opts.active:
        return None, None
    if opts.recurrent != "none" and not recurrent:
        raise ValueError("recurrent_delays need a recurrent layer (recurrent=True)")
    md = opts.max_delay
    max_s = float(md) if isinstance(md, (int, float)) else float(parse_quantity(md, "max_delay"))
    if not max_s >= 0:
        raise ValueError(f"max_delay must be >= 0, got {md!r}")
    K = int(math.floor(max_s / dt_s + 0.5))
    kw = dict(dt_s=dt_s, max_steps=K, init=opts.init, sigma=opts.sigma, dtype=dtype)
    d_in = d_rec = None
    if opts.mode != "none":
        d_in = SynapticDelays(opts.mode, n_in, n, min_steps=0, generator=generator, **kw)
    if opts.recurrent != "none":
        d_rec = SynapticDelays(opts.recurrent, n, n, min_steps=1, generator=generator, **kw)
    return d_in, d_rec

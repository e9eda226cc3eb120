"""Spiking 1D convolutions over input channels (frequency) and over time (delays).

A :class:`SpikingConv1d` layer convolves its input spikes ``[time, batch, channels]`` with a
kernel shared across channel positions ("spectral" convolution over neighbouring frequency
channels, as in the convolutional SNNs for speech of Masquelier and colleagues: Pellegrini,
Zimmer & Masquelier 2021, "Low-activity supervised convolutional spiking neural networks
applied to speech commands recognition", IEEE SLT, arXiv:2011.06846) and over past time
steps ("temporal" convolution: a tap ``k`` of the kernel reads the input ``k * dilation``
steps back, i.e. a synapse with that conduction delay). The input current of neuron
``(o, p)`` (feature map ``o``, channel position ``p``; neuron index ``o * positions + p``) at
step ``n`` is

.. math::

    I_{o,p}[n] = \\sum_{f=0}^{F-1} \\sum_{k=0}^{K_t-1} w_{o,f,k}\\, x_{p s + f}[n - k\\,r],

with ``F`` the kernel size over channels, ``s`` the stride, ``K_t`` the temporal kernel size
and ``r`` the temporal dilation in steps. In Brian2 (:func:`neurolearn.bridge.to_brian2`) the
shared weights are expanded: one synapse per ``(o, f, k)`` and position ``p`` from channel
``p s + f`` to neuron ``(o, p)`` with weight ``w_{o,f,k}`` and ``delay = k r dt``
(:meth:`SpikingConv1d.input_taps`). The spike of step ``m`` then reaches the target variable
in the synaptic slot of step ``m + k r``, as the torch layer computes it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .layer import SpikingLayer

__all__ = ["SpikingConv1d"]


class SpikingConv1d(SpikingLayer):
    """A layer of spiking neurons of any compiled neuron model fed by a 1D convolution over
    input channels and time.

    Parameters
    ----------
    model : NeuronModel, str or CompiledModel
        As :class:`~neurolearn.torch.SpikingLayer`.
    in_channels : int
        Input channels ``C`` (e.g. frequency bands).
    out_channels : int
        Feature maps ``O``.
    kernel_size : int
        Kernel size ``F`` over channels (1 <= F <= C).
    dt : Quantity, str or float
        Time step.
    stride : int
        Step ``s`` between channel positions; ``positions = (C - F) // s + 1`` and the layer has
        ``n = O * positions`` neurons, neuron ``o * positions + p`` for map ``o`` at ``p``.
    time_kernel : int
        Temporal kernel size ``K_t`` (taps at delays ``0, r, ..., (K_t - 1) r`` steps); 1: a
        purely spectral convolution.
    time_dilation : int
        Steps ``r`` between temporal taps.
    weight_std : float, optional
        Std of the normal initial kernel in weight units; default: the automatic scale of
        :class:`~neurolearn.torch.SpikingLayer` for a fan-in of ``F * K_t``, times
        ``weight_gain``.
    weight_gain : float
    **kwargs
        Other :class:`~neurolearn.torch.SpikingLayer` options (``recurrent``, ``params``,
        ``trainable``, ``heterogeneity``, ``dtype``, ``generator``, ``name``...). Learnable
        input delays (``delays=``) are not combined with the temporal kernel.

    Attributes
    ----------
    W_in : Parameter ``[O, F, K_t]``
        The shared kernel in weight units (instead of the ``[n_in, n]`` matrix of a dense
        layer).
    positions : int

    Raises
    ------
    ValueError
        Non-positive sizes, a kernel wider than the input, or input delays.
    """

    convolutional = True

    def __init__(
        self,
        model,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        dt,
        stride: int = 1,
        time_kernel: int = 1,
        time_dilation: int = 1,
        weight_std: float | None = None,
        weight_gain: float = 1.0,
        **kwargs,
    ):
        sizes = dict(
            in_channels=in_channels,
            out_channels=out_channels,
            kernel_size=kernel_size,
            stride=stride,
            time_kernel=time_kernel,
            time_dilation=time_dilation,
        )
        for key, v in sizes.items():
            if int(v) != v or v < 1:
                raise ValueError(f"SpikingConv1d: {key} must be a positive integer, got {v!r}")
        if kernel_size > in_channels:
            raise ValueError(
                f"SpikingConv1d: kernel_size {kernel_size} exceeds in_channels {in_channels}"
            )
        if kwargs.get("delays", "none") != "none":
            raise ValueError(
                "SpikingConv1d: its temporal kernel is its input delays; use time_kernel and "
                "time_dilation instead of delays="
            )
        positions = (in_channels - kernel_size) // stride + 1
        generator = kwargs.get("generator")
        super().__init__(
            model,
            in_channels,
            out_channels * positions,
            dt=dt,
            weight_std=1.0 if weight_std is None else weight_std,
            weight_gain=weight_gain,
            **kwargs,
        )
        self.out_channels, self.kernel_size, self.stride = out_channels, kernel_size, stride
        self.time_kernel, self.time_dilation = time_kernel, time_dilation
        self.positions = positions
        fan_in = kernel_size * time_kernel
        std = weight_gain * self._auto_weight_std(fan_in) if weight_std is None else weight_std
        w = torch.randn(
            out_channels, kernel_size, time_kernel, generator=generator, dtype=torch.float64
        )
        self.W_in = nn.Parameter((w * std).to(self.W_in.dtype))
        #: input steps before a piece that its input current depends on
        self.input_history = (time_kernel - 1) * time_dilation
        self.config["conv"] = sizes

    def _delayed(self, xh: torch.Tensor, T: int):
        """``("drive", [current per target])`` ``[T, B, n]`` each (SI): the convolution of
        the module docstring over ``xh`` ``[input_history + T, B, C]`` (the input steps
        before the piece first)."""
        W = self.W_in * self.weight_unit
        kernels = [W] if len(self.targets) == 1 else [torch.relu(W), torch.relu(-W)]
        x = xh.permute(1, 0, 2).unsqueeze(1)  # [B, 1, H + T, C]
        out = []
        for K in kernels:
            # conv2d correlates: tap k of the kernel reads x[n - k r], so flip the time axis
            weight = K.flip(2).permute(0, 2, 1).unsqueeze(1)  # [O, 1, K_t, F]
            y = F.conv2d(x, weight, stride=(1, self.stride), dilation=(self.time_dilation, 1))
            # [B, O, T, positions] -> [T, B, O * positions]
            out.append(y.permute(2, 0, 1, 3).reshape(T, xh.shape[1], self.n))
        return "drive", out

    def weight_matrix(self, tap: int) -> torch.Tensor:
        """The shared kernel's tap ``tap`` expanded to ``[n_in, n]`` (weight units): entry
        ``[p s + f, o * positions + p] = W_in[o, f, tap]``, zero elsewhere."""
        W = self.W_in.new_zeros((self.n_in, self.n))
        for p in range(self.positions):
            rows = slice(p * self.stride, p * self.stride + self.kernel_size)
            cols = torch.arange(self.out_channels) * self.positions + p
            W[rows, cols] = self.W_in[:, :, tap].t()
        return W

    def input_taps(self) -> list:
        """``[(W, D), ...]``: per temporal tap, the expanded weights ``[n_in, n]`` (weight
        units, :meth:`weight_matrix`) and the delays ``[n_in, n]`` in steps (numpy int64): the
        synapses of the Brian2 export."""
        return [
            (
                self.weight_matrix(k),
                np.full((self.n_in, self.n), k * self.time_dilation, dtype=np.int64),
            )
            for k in range(self.time_kernel)
        ]

    def extra_repr(self):
        return (
            super().extra_repr()
            + f", conv: out_channels={self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, time_kernel={self.time_kernel}, "
            f"time_dilation={self.time_dilation} ({math.prod((self.out_channels, self.kernel_size, self.time_kernel))} "
            "shared weights)"
        )

"""Training-time data augmentation of input spikes ``[time, batch, channels]``:
:func:`augment_spikes` (the operation) and :class:`SpikeAugmentation` (a batch transform of the
training loader with its own, checkpointed generator).

The transform is applied where the loader collates a batch
(:func:`neurolearn.datasets.time_major_loader`), in batch order, never to validation or test
data. Its draws come from a generator of its own seeded per epoch from the run's seed
(:func:`neurolearn.training.rng.epoch_generator`, stream 1), independent of the sample order
(stream 0) and of torch's global generator (dropout), so that a run repeats and resumes
exactly and a disabled augmentation leaves it bit for bit as without it.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .rng import epoch_generator

__all__ = ["augment_spikes", "SpikeAugmentation"]


def augment_spikes(
    x,
    generator,
    *,
    drop_probability: float = 0.0,
    max_time_shift: int = 0,
    max_channel_shift: int = 0,
    labels=None,
    blend_probability: float = 0.0,
):
    """Randomly transformed copy of a batch of input spikes (training-time augmentation).

    In this order, each only when enabled (so that disabled transformations draw no random
    numbers): every sample is shifted in time by a uniform random integer number of steps
    in ``[-max_time_shift, max_time_shift]`` and across channels by one in
    ``[-max_channel_shift, max_channel_shift]`` (zero-padded: what leaves the window is lost);
    then, with probability ``blend_probability``, a sample is blended with another sample of
    the same class in the batch (each input bin taken from one or the other with
    probability 1/2, so rates stay as they are; a sample without a partner stays as it is);
    then every input bin is deleted with probability ``drop_probability`` (spike deletion,
    the input-layer dropout of Srivastava et al. 2014, without rescaling, so that the kept
    spikes stay spikes). Random shifts across input channels and the blending of two
    samples of one class follow the augmentations Nowotny, Turner & Knight (2022) used for
    the Spiking Heidelberg Digits; on cochlear channels a channel shift is a small shift of
    every frequency.

    Parameters
    ----------
    x : Tensor ``[time, batch, channels]``
        Input spikes (0/1 or counts), any float dtype, on the CPU (the generator's device).
    generator : torch.Generator
        Source of every random draw (:class:`SpikeAugmentation` seeds one per epoch).
    drop_probability : float in [0, 1)
    max_time_shift, max_channel_shift : int >= 0
        In time steps and in channels.
    labels : Tensor ``[batch]`` (int), optional
        Classes of the samples (needed for blending).
    blend_probability : float in [0, 1]

    Returns
    -------
    Tensor ``[time, batch, channels]``
        A new tensor (``x`` itself when nothing is enabled).

    Raises
    ------
    ValueError
        ``x`` not 3-D, a probability outside [0, 1) (blend: [0, 1]), a negative shift, or
        blending without labels.

    References
    ----------
    Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov (2014) J. Mach. Learn. Res.
    15:1929 (dropout). Nowotny, Turner & Knight (2022), "Loss shaping enhances exact
    gradient learning with EventProp in spiking neural networks", arXiv:2212.01232
    (augmentation of SHD: random channel shifts, blending of same-class samples).
    """
    if x.ndim != 3:
        raise ValueError(
            f"input spikes have shape {tuple(x.shape)}; expected [time, batch, channels]"
        )
    _check_options(drop_probability, max_time_shift, max_channel_shift, blend_probability)
    if blend_probability > 0 and labels is None:
        raise ValueError("blending needs the labels of the samples")
    T, B, C = x.shape
    for axis, size, k in ((0, T, int(max_time_shift)), (2, C, int(max_channel_shift))):
        if k <= 0:
            continue
        shift = torch.randint(-k, k + 1, (B,), generator=generator)
        source = torch.arange(size)[:, None] - shift[None, :]  # [size, batch]
        valid = ((source >= 0) & (source < size)).to(x.dtype)
        source = source.clamp(0, size - 1)
        if axis == 0:
            x = torch.gather(x, 0, source[:, :, None].expand(T, B, C)) * valid[:, :, None]
        else:
            idx = source.t()[None, :, :].expand(T, B, C)  # [T, B, C]
            x = torch.gather(x, 2, idx) * valid.t()[None, :, :]
    if blend_probability > 0:
        labels = torch.as_tensor(labels).reshape(-1).cpu()
        chosen = torch.rand(B, generator=generator) < float(blend_probability)
        score = torch.rand(B, B, generator=generator)  # random partner order
        same = (labels[:, None] == labels[None, :]) & ~torch.eye(B, dtype=torch.bool)
        score = torch.where(same, score, torch.full_like(score, -1.0))
        best, partner = score.max(dim=1)
        chosen &= best >= 0  # has a partner
        take_other = torch.rand(x.shape, generator=generator) < 0.5
        take_other &= chosen[None, :, None]
        x = torch.where(take_other, x[:, partner, :], x)
    if drop_probability > 0:
        keep = torch.rand(x.shape, generator=generator) >= float(drop_probability)
        x = x * keep.to(x.dtype)
    return x


def _check_options(drop_probability, max_time_shift, max_channel_shift, blend_probability):
    if not 0.0 <= float(drop_probability) < 1.0:
        raise ValueError(f"drop_probability must lie in [0, 1), got {drop_probability!r}")
    if int(max_time_shift) < 0 or int(max_channel_shift) < 0:
        raise ValueError(
            "shifts must be >= 0, got max_time_shift="
            f"{max_time_shift!r}, max_channel_shift={max_channel_shift!r}"
        )
    if not 0.0 <= float(blend_probability) <= 1.0:
        raise ValueError(f"blend_probability must lie in [0, 1], got {blend_probability!r}")


class SpikeAugmentation:
    """:func:`augment_spikes` as a batch transform of the training data, with its own
    generator: ``transform(x, labels) -> (x, labels)``.

    Parameters
    ----------
    drop_probability : float in [0, 1)
        Probability of deleting each input bin.
    max_time_shift : int >= 0
        Largest shift in time, in time steps.
    max_channel_shift : int >= 0
        Largest shift across input channels.
    blend_probability : float in [0, 1]
        Probability of blending a sample with another sample of its class in the batch.
    seed : int
        The run's seed (``training.seed``): epoch ``e`` draws from
        ``epoch_generator(seed, e, stream=1)``.

    Attributes
    ----------
    enabled : bool
        Whether any augmentation is switched on (a disabled one draws nothing).
    epoch : int
        The epoch of :attr:`generator` (:meth:`set_epoch`).
    generator : torch.Generator
        Source of every random draw (CPU).

    Raises
    ------
    ValueError
        For a probability outside its range or a negative shift.

    Notes
    -----
    The trainer calls :meth:`set_epoch` at the start of every epoch and stores
    :meth:`state_dict` in its checkpoint. The draws of a batch follow :func:`augment_spikes`
    (time shift, channel shift, blending, deletion), so batches drawn in the same order give
    the same results.
    """

    def __init__(
        self,
        drop_probability: float = 0.0,
        max_time_shift: int = 0,
        max_channel_shift: int = 0,
        blend_probability: float = 0.0,
        seed: int = 0,
    ):
        _check_options(drop_probability, max_time_shift, max_channel_shift, blend_probability)
        self.drop_probability = float(drop_probability)
        self.max_time_shift = int(max_time_shift)
        self.max_channel_shift = int(max_channel_shift)
        self.blend_probability = float(blend_probability)
        self.seed = int(seed)
        self.set_epoch(0)

    @property
    def enabled(self) -> bool:
        """Whether any augmentation is switched on."""
        return bool(
            self.drop_probability
            or self.max_time_shift
            or self.max_channel_shift
            or self.blend_probability
        )

    def set_epoch(self, epoch: int) -> None:
        """Draw from epoch ``epoch``'s generator from now on (0-based)."""
        self.epoch = int(epoch)
        self.generator = epoch_generator(self.seed, self.epoch, stream=1)

    def __call__(self, x: torch.Tensor, labels: torch.Tensor):
        """Augmented batch ``x [time, batch, channels]`` (CPU) and its labels ``[batch]``."""
        x = augment_spikes(
            x,
            self.generator,
            drop_probability=self.drop_probability,
            max_time_shift=self.max_time_shift,
            max_channel_shift=self.max_channel_shift,
            labels=labels,
            blend_probability=self.blend_probability,
        )
        return x, labels

    def state_dict(self) -> dict:
        """``{"epoch": int, "generator": uint8 tensor}`` (the generator's state)."""
        return {"epoch": self.epoch, "generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping) -> None:
        """Continue from a :meth:`state_dict`."""
        self.set_epoch(state["epoch"])
        self.generator.set_state(state["generator"])

    def __repr__(self) -> str:
        return (
            f"SpikeAugmentation(drop_probability={self.drop_probability!r}, "
            f"max_time_shift={self.max_time_shift}, max_channel_shift="
            f"{self.max_channel_shift}, blend_probability={self.blend_probability!r}, "
            f"seed={self.seed})"
        )

"""Seeding and the random-number state of a training run: Python's, NumPy's and torch's
generators (saved in checkpoints and restored on resumption) and the per-epoch generators of
the sample order and of the data augmentation."""

from __future__ import annotations

import random
from collections.abc import Mapping

import numpy as np
import torch

__all__ = ["seed_everything", "rng_state", "set_rng_state", "epoch_seed", "epoch_generator"]


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator (with ``seed mod 2**32``) and
    torch's generators (CPU, and CUDA where present)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - the global generator is what is seeded
    torch.manual_seed(seed)


def rng_state() -> dict:
    """The states of Python's, NumPy's and torch's global generators, as a checkpoint holds
    them (lists, numbers and tensors only, so that it loads with ``weights_only=True``).

    Returns
    -------
    dict
        ``python`` (``random.getstate()`` as a list), ``numpy`` (``keys`` int64 tensor
        ``[624]``, ``pos``, ``has_gauss``, ``cached_gaussian``), ``torch`` (uint8 tensor) and,
        once CUDA is initialised, ``torch_cuda`` (one uint8 tensor per device).
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    state = {
        "python": _py_state_to_list(random.getstate()),
        "numpy": {
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["torch_cuda"] = torch.cuda.get_rng_state_all()  # e.g. dropout masks on a GPU
    return state


def _py_state_to_list(state):
    version, internal, gauss = state
    return [version, list(internal), gauss]


def set_rng_state(state: Mapping) -> None:
    """Restore the generators from a :func:`rng_state` (CUDA states only where CUDA is
    available, for as many devices as there are)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            "MT19937",
            n["keys"].numpy().astype(np.uint32),
            n["pos"],
            n["has_gauss"],
            n["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    cuda = state.get("torch_cuda")
    if cuda and torch.cuda.is_available():
        for i, s in enumerate(cuda[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(s, i)


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """The seed of epoch ``epoch``'s generator of ``stream``: stream 0 orders the samples,
    stream 1 draws the data augmentation (independent streams, so augmenting leaves the
    sample order as is).

    Parameters
    ----------
    seed : int
        The run's seed (``training.seed``).
    epoch : int
        0-based.
    stream : int

    Returns
    -------
    int in [0, 2**63)
    """
    value = int(seed) * 100_003 + int(epoch)
    if stream:
        value = (value * 2_654_435_761 + 97 * int(stream)) % (2**63 - 1)
    return value


def epoch_generator(seed: int, epoch: int, stream: int = 0) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with :func:`epoch_seed`."""
    return torch.Generator().manual_seed(epoch_seed(seed, epoch, stream))

"""Speaker-independent splits: train, validate and test on disjoint sets of speakers.

The Spiking Heidelberg Digits hold out speakers in their test set (Cramer et al. 2020, IEEE
TNNLS 33:2744): a network must generalise to voices it never heard. The Free Spoken Digit
Dataset's official split instead tests every speaker on other repetitions of the same words
(index 0-4), which a small spiking network solves to about 98 %. :func:`speaker_split` joins
the official splits of a dataset whose samples carry ``extra["speaker"]`` and splits them by
speaker instead, as :data:`SPLITS` ``"speaker"`` of a training configuration.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .catalog import dataset_info
from .core import SpikeEvents

__all__ = ["SPLITS", "speaker_names", "speaker_split"]

#: How a training configuration's samples are split (``[data] split``): the dataset's
#: ``"official"`` split, or disjoint ``"speaker"`` sets.
SPLITS = ("official", "speaker")


def speaker_names(events: SpikeEvents) -> np.ndarray:
    """The speaker of every sample as a string ``(n_samples,)``: the file's speaker names
    (``meta_info/speaker_name``, Spiking FSDD) where it has them, else the speaker id.

    Raises
    ------
    ValueError
        If the samples carry no ``extra["speaker"]``.
    """
    if "speaker" not in events.extra:
        raise ValueError(
            f"{events.name or 'dataset'}: the samples carry no speaker (extra['speaker']); "
            "a speaker split needs one"
        )
    ids = np.asarray(events.extra["speaker"]).astype(np.int64)
    names = (events.meta.get("meta_info") or {}).get("speaker_name")
    if names is not None and len(names) > int(ids.max(initial=0)):
        table = np.array([n.decode() if isinstance(n, bytes) else str(n) for n in names])
        return table[ids]
    return ids.astype(str)


def speaker_split(
    name: str,
    test_speakers: Sequence[str],
    validation_speakers: Sequence[str] = (),
    **options,
) -> dict[str, SpikeEvents]:
    """The samples of every official split of dataset ``name``, split by speaker.

    Parameters
    ----------
    name : str
        A dataset whose samples carry ``extra["speaker"]`` (``"fsdd"``, ``"shd"``).
    test_speakers, validation_speakers : sequences of str
        Speaker names (Spiking FSDD: ``"george"``, ``"jackson"``...; SHD: the id as a
        string); every other speaker trains.
    **options
        Dataset options (:func:`neurolearn.datasets.load_events`).

    Returns
    -------
    dict
        ``{"train", "valid", "test"}`` -> :class:`SpikeEvents` (``"valid"`` empty without
        validation speakers), samples in their official order (train split first).

    Raises
    ------
    ValueError
        No test speaker, a speaker named twice or not in the data (the message lists the
        speakers there), or samples without speakers.
    """
    from .api import load_events

    test, valid = [str(s) for s in test_speakers], [str(s) for s in validation_speakers]
    if not test:
        raise ValueError("a speaker split needs at least one test speaker")
    twice = sorted(set(test) & set(valid))
    if twice or len(set(test)) < len(test) or len(set(valid)) < len(valid):
        raise ValueError(f"speakers must be named once, in one set only: {twice or test + valid}")
    parts = [load_events(name, split, **options) for split in dataset_info(name).splits]
    every = SpikeEvents.concatenate(parts)
    every.meta = dict(parts[0].meta)
    who = speaker_names(every)
    known = sorted(set(who.tolist()))
    unknown = [s for s in test + valid if s not in known]
    if unknown:
        raise ValueError(
            f"{name}: no speaker {', '.join(map(repr, unknown))}; speakers: {', '.join(known)}"
        )
    is_test, is_valid = np.isin(who, test), np.isin(who, valid)
    return {
        "train": every.subset(np.flatnonzero(~is_test & ~is_valid)),
        "valid": every.subset(np.flatnonzero(is_valid)),
        "test": every.subset(np.flatnonzero(is_test)),
    }

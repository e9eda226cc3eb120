r"""Braille letters read by a tactile fingertip, encoded into spikes.

Source
    Müller-Cleve, S. F., Fra, V., Khacef, L., Pequeño-Zurro, A., Klepatsch, D., Forno, E.,
    Ivanovich, D. G., Rastogi, S., Urgese, G., Zenke, F. & Bartolozzi, C. (2022). Braille
    letter reading: a benchmark for spatio-temporal pattern recognition on neuromorphic
    hardware. Frontiers in Neuroscience 16:951164. doi:10.3389/fnins.2022.951164
    Data: Zenodo doi:10.5281/zenodo.7050094; the 40 Hz recordings as used in the SpyTorch
    tutorial (github.com/fzenke/spytorch, ``notebooks/data``), here converted to
    ``braille_taxels.npz`` (``taxels`` (1350, 77, 12) float32 padded with NaN, ``lengths``,
    ``letters``, ``repetitions``, ``sample_rate_hz``).
Licence
    Creative Commons Attribution 4.0 (CC BY 4.0).

Content
    27 classes (``BRAILLE_CLASSES``: "Space", "A".."Z") x 50 repetitions, recorded from the 12
    capacitive taxels of an iCub fingertip sliding over 3D-printed Braille letters, sampled at
    40 Hz, values 0-255 (255 = no contact).

Encoding (sigma-delta / send-on-delta, as in Müller-Cleve et al. 2022, their
``sample_to_changes``): the pressure signal of a taxel is :math:`s = 255 - x`; it is linearly
interpolated between samples; a reference level :math:`r` starts at :math:`s(0)`; whenever
:math:`s` reaches :math:`r + \vartheta` an "increase" spike is emitted at the (interpolated)
crossing time and :math:`r \leftarrow r + \vartheta`, and whenever it reaches
:math:`r - \vartheta` a "decrease" spike is emitted and :math:`r \leftarrow r - \vartheta`.
Channel of a spike: ``2 * taxel + 0`` (increase) or ``2 * taxel + 1`` (decrease); 24 channels.
The threshold :math:`\vartheta` (``threshold``) is 1 by default (the paper compares 1, 2, 5
and 10).

Split (the paper uses a stratified 80 / 20 split without publishing indices): repetitions with
``repetition % 5 == 4`` are the test set (10 per letter, 270), the others training (1080).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from ..paths import DataNotFoundError, data_dir
from .catalog import DatasetInfo, register_dataset
from .core import SpikeEvents

__all__ = ["BRAILLE_CLASSES", "sigma_delta_encode", "read_braille_npz", "braille_events"]

BRAILLE_CLASSES = ("Space",) + tuple(chr(ord("A") + i) for i in range(26))
_HOW_TO_GET = (
    "The Braille reading data (Mueller-Cleve et al. 2022, CC BY 4.0) is on Zenodo "
    "(doi:10.5281/zenodo.7050094); neurolearn reads it as "
    "$NEUROLEARN_DATA_DIR/braille/braille_taxels.npz (arrays taxels [n, time, 12] "
    "NaN-padded, lengths, letters, repetitions, sample_rate_hz)."
)


def sigma_delta_encode(
    signals: np.ndarray, lengths: np.ndarray, sample_rate_hz: float, threshold: float = 1.0
):
    """Send-on-delta (sigma-delta) spikes of sampled signals, two channels per signal.

    Parameters
    ----------
    signals : array, shape (n_samples, n_time, n_signals)
        Sampled signals (e.g. taxel pressure); values after ``lengths[i]`` are ignored.
    lengths : int array, shape (n_samples,)
        Number of valid time points of each sample.
    sample_rate_hz : float
        Sampling rate; spike times are in seconds from the first sample.
    threshold : float
        Level step :math:`\\vartheta` (> 0), in signal units.

    Returns
    -------
    sample, channel : int64 arrays
        Sample index and channel (``2 * signal + 0`` increase, ``+ 1`` decrease) per spike.
    times_s : float64 array
        Spike times (linear interpolation of the crossing between two samples).

    Raises
    ------
    ValueError
        If ``threshold`` <= 0 or the shapes disagree.
    """
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    x = np.asarray(signals, dtype=np.float64)
    if x.ndim != 3 or len(lengths) != x.shape[0]:
        raise ValueError(
            f"signals must be (n_samples, n_time, n_signals) with one length per "
            f"sample, got {x.shape} and {len(lengths)} lengths"
        )
    lengths = np.asarray(lengths, dtype=np.int64)
    n, n_t, n_sig = x.shape
    dt = 1.0 / float(sample_rate_hz)
    ref = x[:, 0, :].copy()
    eps = 1e-9 * threshold
    out_s, out_c, out_t = [], [], []
    sig_idx = np.broadcast_to(np.arange(n_sig), (n, n_sig))
    smp_idx = np.broadcast_to(np.arange(n)[:, None], (n, n_sig))
    for i in range(n_t - 1):
        valid = (i + 1 < lengths)[:, None] & np.ones((1, n_sig), dtype=bool)
        x0, x1 = x[:, i, :], x[:, i + 1, :]
        up = np.where(valid, np.floor((x1 - ref) / threshold + eps), 0).clip(min=0)
        down = np.where(valid, np.floor((ref - x1) / threshold + eps), 0).clip(min=0)
        for count, sign, offset in ((up, 1.0, 0), (down, -1.0, 1)):
            k = count.astype(np.int64)
            total = int(k.sum())
            if total == 0:
                continue
            mask = k > 0
            reps = k[mask]
            # level index 1..k for every (sample, signal) with events
            start = np.repeat(np.cumsum(reps) - reps, reps)
            level_no = np.arange(total) - start + 1
            r0 = np.repeat(ref[mask], reps)
            a = np.repeat(x0[mask], reps)
            b = np.repeat(x1[mask], reps)
            level = r0 + sign * level_no * threshold
            frac = (level - a) / (b - a)
            out_t.append((i + np.clip(frac, 0.0, 1.0)) * dt)
            out_s.append(np.repeat(smp_idx[mask], reps))
            out_c.append(2 * np.repeat(sig_idx[mask], reps) + offset)
        ref = ref + (up - down) * threshold
    if not out_t:
        z = np.zeros(0, dtype=np.int64)
        return z, z, np.zeros(0)
    return np.concatenate(out_s), np.concatenate(out_c), np.concatenate(out_t)


def read_braille_npz(path: str | os.PathLike) -> dict:
    """Arrays of ``braille_taxels.npz`` (see the module docstring).

    Raises
    ------
    ValueError
        If the file is empty, truncated or not an ``.npz`` archive, an array is missing or
        the shapes disagree (the message names the file).
    """
    path = Path(path)
    try:
        loaded = np.load(path, allow_pickle=False)
        if not hasattr(loaded, "files"):
            raise ValueError("holds one array, not the arrays of an .npz archive")
        with loaded as f:
            missing = {"taxels", "lengths", "letters"} - set(f.files)
            if missing:
                raise ValueError(f"missing arrays {sorted(missing)} (has {f.files})")
            out = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        reason = "empty file (0 bytes)" if path.stat().st_size == 0 else str(exc)
        raise ValueError(
            f"{path}: not a readable Braille .npz archive ({reason}); truncated or of "
            "another format?"
        ) from None
    if (
        out["taxels"].ndim != 3
        or len(out["lengths"]) != len(out["taxels"])
        or len(out["letters"]) != len(out["taxels"])
    ):
        raise ValueError(
            f"{path}: taxels {out['taxels'].shape}, lengths "
            f"{out['lengths'].shape} and letters {out['letters'].shape} disagree"
        )
    unknown = sorted(set(map(str, out["letters"])) - set(BRAILLE_CLASSES))
    if unknown:
        raise ValueError(f"{path}: unknown letters {unknown}")
    return out


def braille_events(
    split: str = "train", threshold: float = 1.0, path: str | None = None
) -> SpikeEvents:
    """One split of the Braille reading data as sigma-delta spikes.

    Parameters
    ----------
    split : {"train", "test"}
        See the module docstring (1080 / 270 samples).
    threshold : float
        Sigma-delta level step in sensor units (1 by default).
    path : str, optional
        The ``.npz`` file; default ``NEUROLEARN_DATA_DIR/braille/braille_taxels.npz``.

    Returns
    -------
    SpikeEvents
        24 channels, 27 classes (``BRAILLE_CLASSES``), times in seconds;
        ``extra["repetition"]``.
    """
    if split not in ("train", "test"):
        raise ValueError(f"Braille has splits 'train' and 'test', not {split!r}")
    if path is None:
        root = data_dir()
        if root is None or not (root / "braille" / "braille_taxels.npz").exists():
            raise DataNotFoundError(
                f"braille/braille_taxels.npz not found in "
                f"NEUROLEARN_DATA_DIR={root}. " + _HOW_TO_GET
            )
        path = root / "braille" / "braille_taxels.npz"
    d = read_braille_npz(path)
    reps = d.get("repetitions", np.arange(len(d["lengths"])) % 50)
    rate = float(d.get("sample_rate_hz", 40.0))
    test = (np.asarray(reps) % 5) == 4
    keep = np.flatnonzero(test if split == "test" else ~test)
    pressure = 255.0 - np.nan_to_num(d["taxels"][keep], nan=255.0)
    smp, ch, t = sigma_delta_encode(pressure, d["lengths"][keep], rate, threshold)
    order = np.lexsort((ch, t, smp))
    smp, ch, t = smp[order], ch[order], t[order]
    offsets = np.zeros(len(keep) + 1, dtype=np.int64)
    np.cumsum(np.bincount(smp, minlength=len(keep)), out=offsets[1:])
    labels = np.array([BRAILLE_CLASSES.index(str(c)) for c in d["letters"][keep]])
    return SpikeEvents(
        t,
        ch,
        offsets,
        labels,
        2 * d["taxels"].shape[2],
        class_names=BRAILLE_CLASSES,
        name="braille",
        extra={"repetition": np.asarray(reps)[keep]},
        meta={"threshold": threshold, "sample_rate_hz": rate, "path": str(path)},
    )


register_dataset(
    DatasetInfo(
        "braille",
        27,
        24,
        ("train", "test"),
        2000.0,
        "Braille letters (Mueller-Cleve et al. 2022), 12 taxels x "
        "{increase, decrease} sigma-delta spikes",
        loader=braille_events,
    )
)

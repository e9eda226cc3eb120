r"""The coincidence factor :math:`\Gamma` between spike trains.

Kistler, Gerstner & van Hemmen (1997) Neural Comput. 9:1015; Jolivet, Kobayashi, Rauch, Naud,
Shinomoto & Gerstner (2008) J. Neurosci. Methods 169:417 (eq. 1):

.. math::

    \Gamma = \frac{N_\mathrm{coinc} - \langle N_\mathrm{coinc}\rangle}
                  {\tfrac12 (N_\mathrm{data} + N_\mathrm{model})}\,\frac{1}{\mathcal N},
    \qquad \langle N_\mathrm{coinc}\rangle = 2\nu\Delta N_\mathrm{data},
    \qquad \mathcal N = 1 - 2\nu\Delta,

where :math:`N_\mathrm{coinc}` counts model spikes within :math:`\pm\Delta` of a data spike
(each spike used at most once), :math:`\nu = N_\mathrm{model}/T` is the model's rate and
:math:`\langle N_\mathrm{coinc}\rangle` the count expected from a Poisson train of that rate.
:math:`\Gamma = 1` for identical trains, about 0 for independent ones; Jolivet et al. use
:math:`\Delta = 4` ms.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["count_coincidences", "coincidence_factor", "intrinsic_reliability"]


def _seconds(x) -> np.ndarray:
    if hasattr(x, "dim"):
        from brian2 import second
        from brian2.units.fundamentalunits import fail_for_dimension_mismatch

        fail_for_dimension_mismatch(x, second, "spike times and windows must be times")
        return np.asarray(x / second, dtype=float)
    return np.asarray(x, dtype=float)


def count_coincidences(model, data, window) -> int:
    """Number of one-to-one pairs (model spike, data spike) at most ``window`` apart.

    Parameters
    ----------
    model, data : array [n_spikes] (s, or Quantity)
    window : float (s) or Quantity
        Half-width :math:`\\Delta` of the coincidence window.

    Returns
    -------
    int
    """
    a = np.sort(_seconds(model).ravel())
    b = np.sort(_seconds(data).ravel())
    w = float(_seconds(window)) * (1 + 1e-9)
    i = j = n = 0
    while i < len(a) and j < len(b):
        if abs(a[i] - b[j]) <= w:
            n += 1
            i += 1
            j += 1
        elif a[i] < b[j]:
            i += 1
        else:
            j += 1
    return n


def coincidence_factor(model, data, duration, window=0.004) -> float:
    """Coincidence factor :math:`\\Gamma` of a model spike train against a recorded one.

    Parameters
    ----------
    model, data : array [n_spikes]
        Spike times (s, or Quantity).
    duration : float (s) or Quantity
        Length :math:`T` of the recording (> 0).
    window : float (s) or Quantity
        :math:`\\Delta`, default 4 ms (Jolivet et al. 2008).

    Returns
    -------
    float
        :math:`\\Gamma` (1 for identical trains; NaN when both trains are empty).

    Raises
    ------
    ValueError
        If ``duration`` or ``window`` is not positive, a time is NaN, or
        :math:`2\\nu\\Delta \\ge 1` (window too wide for the rate).
    """
    m = _seconds(model).ravel()
    d = _seconds(data).ravel()
    T = float(_seconds(duration))
    w = float(_seconds(window))
    if not T > 0:
        raise ValueError(f"duration must be > 0, got {T} s")
    if not w > 0:
        raise ValueError(f"coincidence window must be > 0, got {w} s")
    if np.isnan(m).any() or np.isnan(d).any():
        raise ValueError("spike times contain NaN")
    if len(m) == 0 and len(d) == 0:
        return float("nan")
    nu = len(m) / T
    norm = 1.0 - 2.0 * nu * w
    if norm <= 0:
        raise ValueError(
            f"window {w * 1e3:g} ms too wide for a model rate of {nu:g} Hz "
            f"(2*rate*window must be < 1)"
        )
    expected = 2.0 * nu * w * len(d)
    n_coinc = count_coincidences(m, d, w)
    return float((n_coinc - expected) / (0.5 * (len(d) + len(m))) / norm)


def intrinsic_reliability(trials: Sequence, duration, window=0.004) -> float:
    """Mean :math:`\\Gamma` between all ordered pairs of recorded trials of one stimulus: the
    upper bound a model can reach on these data (Jolivet et al. 2008).

    Parameters
    ----------
    trials : sequence of arrays
        Spike times of each repeated trial (s, or Quantity); at least two.
    duration, window : see :func:`coincidence_factor`

    Raises
    ------
    ValueError
        With fewer than two trials.
    """
    trials = list(trials)
    if len(trials) < 2:
        raise ValueError(f"intrinsic reliability needs >= 2 repeated trials, got {len(trials)}")
    vals = [
        coincidence_factor(a, b, duration, window)
        for i, a in enumerate(trials)
        for j, b in enumerate(trials)
        if i != j
    ]
    return float(np.nanmean(vals))

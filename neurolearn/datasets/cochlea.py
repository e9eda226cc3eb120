r"""A cochlear model turning sound into spikes (used for Spiking FSDD).

Stages, per channel :math:`c` with centre frequency :math:`f_c`:

1. **Basilar membrane**: a 4th-order gammatone filter (Patterson et al. 1992; the digital
   8th-order implementation of Slaney 1993 as designed by ``brian2hears.Gammatone``, bandwidth
   :math:`1.019\,\mathrm{ERB}(f_c)` with :math:`\mathrm{ERB}(f) = 24.7 + f/9.26449` Hz,
   Glasberg & Moore 1990). Centre frequencies are equally spaced on the ERB scale between
   ``f_min_hz`` and ``f_max_hz`` (``brian2hears.erbspace``).
2. **Inner hair cell**: half-wave rectification and power-law compression,
   :math:`I_c(t) = g\,\max(y_c(t), 0)^{\alpha}` with :math:`\alpha = 1/3` by default (the
   cube-root compression of the brian2hears cochleagram example and of Stevens' power law).
3. **Spike generation**: ``units_per_channel`` (default 1) leaky integrate-and-fire units
   per channel, all driven by the same :math:`I_c`,
   :math:`\tau\,\mathrm{d}v/\mathrm{d}t = I_c(t) - v`, spike and reset to 0 when
   :math:`v > \theta_k`, refractory period ``refractory_ms`` during which :math:`v` is
   clamped, integrated exactly at the sound's sampling rate with :math:`I_c` held constant
   over a sample (the ``FilterbankGroup`` semantics of brian2hears: the filterbank output is
   written at the start of each time step, then the state is updated, then threshold and
   reset). The thresholds are spread geometrically, :math:`\theta_k = r^k` for
   :math:`k = 0 \dots K-1` with :math:`r` = ``threshold_ratio`` (:math:`\theta_0 = 1`: with
   one unit per channel this is the classic single-unit model).

Several units per channel code intensity by *which* units fire (range fractionation): in the
auditory nerve, each inner hair cell is contacted by 10-30 fibres whose thresholds differ by
up to 60 dB, so that together they cover a dynamic range no single fibre spans (Liberman
1978, J. Acoust. Soc. Am. 63:442; Sachs & Abbas 1974, J. Acoust. Soc. Am. 56:1835). In spike
encoders for neuromorphic audio this is multi-threshold (level-crossing) encoding: a
quantised spectrogram whose levels are the thresholds (cf. the threshold-crossing encoding
of the Braille data, :mod:`neurolearn.datasets.braille`). It matters when the spikes are
binned coarsely into 0/1 bins (``binary = true``): one unit firing at up to
``1000 / refractory_ms`` Hz saturates a 10-ms bin, while the units above it still tell soft
from loud. Output unit ``c * K + k`` is threshold ``k`` of channel ``c`` (units ordered by
centre frequency, then threshold), so a file has ``channels * units_per_channel`` inputs.

The input is first scaled to unit RMS, so spike counts do not depend on the recording level.

Three implementations give the same spikes (the tests check this):

* :func:`audio_to_spikes_brian2` builds the model literally from brian2hears objects
  (``Sound`` -> ``Gammatone`` -> ``FunctionFilterbank`` -> ``FilterbankGroup`` of LIF units
  run by Brian2): the reference, seconds per utterance at 700 channels.
* :func:`audio_to_spikes` with ``engine="compiled"`` (the default when it can be built): the
  brian2hears gammatone coefficients, the hair cell and the LIF units fused in one pass over
  the samples, compiled with Cython through Brian2's extension manager (the way brian2hears
  compiles its own ``LinearFilterbank``); about 20 ns of CPU per channel and sample.
* ``engine="numpy"``: the same coefficients applied through their exact frequency response
  with FFTs (zero-padded until every impulse response has decayed, so the result equals the
  recursive filter to rounding) and the LIF units vectorised over channels and utterances;
  the fallback without a compiler, 2-3x slower.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import numpy as np

from ..brian.backends import use_backend

__all__ = [
    "CochleaParams",
    "centre_frequencies",
    "gammatone_coefficients",
    "gammatone_filter",
    "hair_cell",
    "lif_spikes",
    "audio_to_spikes",
    "audio_to_spikes_batch",
    "audio_to_spikes_brian2",
    "normalise_rms",
    "compiled_kernel",
]


@dataclass(frozen=True)
class CochleaParams:
    """Parameters of the cochlear model (see the module docstring for the equations).

    Attributes
    ----------
    channels : int
        Number of channels (700 like SHD).
    f_min_hz, f_max_hz : float
        Lowest and highest centre frequency, Hz (``f_max_hz`` below the Nyquist frequency).
    bandwidth_factor : float
        Gammatone bandwidth in ERBs (1.019, Patterson et al. 1992).
    compression : float
        Exponent of the hair cell's power-law compression (1/3).
    gain : float
        Scale of the compressed signal driving the LIF units (threshold 1).
    tau_ms : float
        Membrane time constant of the LIF units, ms.
    refractory_ms : float
        Absolute refractory period, ms.
    units_per_channel : int
        Spike-generating LIF units per channel (K >= 1), with thresholds
        ``threshold_ratio ** k``, k = 0..K-1 (range fractionation, Liberman 1978; see the
        module docstring). The model has ``channels * units_per_channel`` outputs.
    threshold_ratio : float
        Ratio between successive thresholds (> 1); unused when ``units_per_channel`` is 1.
        The compressed drive grows as amplitude**compression, so with the default cube-root
        compression a ratio r is a step of ``60 * log10(r)`` dB in sound level (1.5: 10.6 dB).
    """

    channels: int = 700
    f_min_hz: float = 50.0
    f_max_hz: float = 3800.0
    bandwidth_factor: float = 1.019
    compression: float = 1.0 / 3.0
    gain: float = 2.5
    tau_ms: float = 1.0
    refractory_ms: float = 2.0
    units_per_channel: int = 1
    threshold_ratio: float = 1.5

    def __post_init__(self):
        if int(self.channels) < 2:
            raise ValueError(f"channels must be >= 2, got {self.channels}")
        if not 0 < self.f_min_hz < self.f_max_hz:
            raise ValueError(f"need 0 < f_min_hz < f_max_hz, got {self.f_min_hz}, {self.f_max_hz}")
        for key in ("bandwidth_factor", "compression", "gain", "tau_ms"):
            if not getattr(self, key) > 0:
                raise ValueError(f"{key} must be > 0, got {getattr(self, key)}")
        if self.refractory_ms < 0:
            raise ValueError(f"refractory_ms must be >= 0, got {self.refractory_ms}")
        if int(self.units_per_channel) != self.units_per_channel or self.units_per_channel < 1:
            raise ValueError(
                f"units_per_channel must be an integer >= 1, got {self.units_per_channel}"
            )
        if not self.threshold_ratio > 1:
            raise ValueError(f"threshold_ratio must be > 1, got {self.threshold_ratio}")

    @property
    def n_units(self) -> int:
        """Number of outputs, ``channels * units_per_channel``."""
        return int(self.channels) * int(self.units_per_channel)

    def thresholds(self) -> np.ndarray:
        """Thresholds of the units of one channel, ``threshold_ratio ** k``, shape
        ``(units_per_channel,)`` (dimensionless, in units of the drive)."""
        return float(self.threshold_ratio) ** np.arange(
            int(self.units_per_channel), dtype=np.float64
        )

    def unit_thresholds(self) -> np.ndarray:
        """Threshold of every output unit ``c * K + k``, shape ``(n_units,)``."""
        return np.tile(self.thresholds(), int(self.channels))

    def as_dict(self) -> dict:
        return asdict(self)


def centre_frequencies(params: CochleaParams) -> np.ndarray:
    """Centre frequencies in Hz, ERB-spaced and increasing, shape ``(channels,)``
    (``brian2hears.erbspace``)."""
    from brian2 import Hz
    from brian2hears import erbspace

    return np.asarray(
        erbspace(params.f_min_hz * Hz, params.f_max_hz * Hz, int(params.channels)) / Hz,
        dtype=np.float64,
    )


@functools.lru_cache(maxsize=8)
def _coefficients(params: CochleaParams, samplerate_hz: float):
    from brian2 import Hz
    from brian2hears import Gammatone, Sound

    cf = centre_frequencies(params)
    if cf[-1] >= samplerate_hz / 2:
        raise ValueError(
            f"f_max_hz={params.f_max_hz} must lie below the Nyquist frequency "
            f"{samplerate_hz / 2} Hz of the sound"
        )
    dummy = Sound(np.zeros((4, 1)), samplerate=samplerate_hz * Hz)
    gt = Gammatone(dummy, cf, b=params.bandwidth_factor)
    return np.array(gt.filt_b), np.array(gt.filt_a)


def gammatone_coefficients(
    params: CochleaParams, samplerate_hz: float
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients ``b, a`` of shape ``(channels, 3, 4)``: four cascaded biquads per channel,
    as designed by ``brian2hears.Gammatone`` (Slaney 1993)."""
    b, a = _coefficients(params, float(samplerate_hz))
    return b.copy(), a.copy()


def _pad_samples(params: CochleaParams, samplerate_hz: float, tol_exp: float = 30.0) -> int:
    # slowest decay: envelope t^3 exp(-B t), B = 2 pi b ERB(f_min); (t/t_peak)^3
    # exp(-B (t - t_peak)) is below exp(-tol_exp + 3 log(tol_exp/3) + 3) after tol_exp / B s:
    # 2e-8 of the peak for tol_exp = 30 (float32 resolution), 1e-13 for 45.
    erb = 24.7 + params.f_min_hz / 9.26449
    rate = 2 * np.pi * params.bandwidth_factor * erb
    return int(np.ceil(tol_exp / rate * samplerate_hz))


#: FFT lengths are rounded up to 1024 * k (k 5-smooth), so that sounds of similar length
#: share one cached frequency response.
_FFT_BLOCKS = (1, 2, 3, 4, 5, 6, 8, 9, 10, 12, 15, 16, 18, 20, 24, 25, 27, 30, 32)


def _fft_length(n: int) -> int:
    import scipy.fft

    for k in _FFT_BLOCKS:
        if 1024 * k >= n:
            return 1024 * k
    return scipy.fft.next_fast_len(n, real=True)


@functools.lru_cache(maxsize=4)
def _response(params: CochleaParams, samplerate_hz: float, n_fft: int, single: bool) -> np.ndarray:
    b, a = _coefficients(params, samplerate_hz)
    z1 = np.exp(-1j * 2 * np.pi * np.arange(n_fft // 2 + 1) / n_fft)  # z^-1 on the FFT bins
    z2 = z1 * z1
    h = np.ones((b.shape[0], len(z1)), dtype=np.complex128)
    for k in range(b.shape[2]):
        num = b[:, 0, k, None] + b[:, 1, k, None] * z1 + b[:, 2, k, None] * z2
        den = a[:, 0, k, None] + a[:, 1, k, None] * z1 + a[:, 2, k, None] * z2
        h *= num / den
    return h.astype(np.complex64) if single else h


def gammatone_filter(
    signal: np.ndarray, samplerate_hz: float, params: CochleaParams, dtype=np.float64
) -> np.ndarray:
    """Basilar-membrane output of one sound.

    The brian2hears gammatone coefficients are applied through their frequency response
    (FFT of the zero-padded sound, product, inverse FFT), which equals the recursive filter
    with zero initial state up to rounding because the padding outlasts every impulse
    response.

    Parameters
    ----------
    signal : array, shape (n_samples,)
    samplerate_hz : float
    params : CochleaParams
    dtype : numpy dtype
        float64 (agrees with ``brian2hears.Gammatone(...).process()`` to ~1e-13 relative) or
        float32 (about twice as fast, ~1e-6 relative).

    Returns
    -------
    ndarray, shape ``[time, channels]`` = (n_samples, channels)
    """
    import scipy.fft

    single = np.dtype(dtype) == np.float32
    x = np.asarray(signal, dtype=np.float32 if single else np.float64).ravel()
    n = len(x)
    n_fft = _fft_length(n + _pad_samples(params, samplerate_hz, 30.0 if single else 45.0))
    h = _response(params, float(samplerate_hz), n_fft, single)
    spec = scipy.fft.rfft(x, n_fft)
    y = scipy.fft.irfft(h * spec[None, :], n_fft, axis=1)[:, :n]
    return np.ascontiguousarray(y.T)


def hair_cell(y: np.ndarray, params: CochleaParams) -> np.ndarray:
    """Half-wave rectification, power-law compression and gain: ``gain * max(y, 0)**alpha``
    (same shape as ``y``)."""
    r = np.maximum(y, 0.0)
    if abs(params.compression - 1.0 / 3.0) < 1e-12:
        r = np.cbrt(r)
    else:
        r = r**params.compression
    return params.gain * r


def normalise_rms(signal: np.ndarray) -> np.ndarray:
    """``signal`` scaled to unit root-mean-square (float64; a silent signal stays zero)."""
    x = np.asarray(signal, dtype=np.float64).ravel()
    rms = np.sqrt(np.mean(x * x)) if len(x) else 0.0
    return x / rms if rms > 0 else x


def lif_spikes(
    drive: np.ndarray,
    dt_s: float,
    params: CochleaParams,
    lengths: np.ndarray | None = None,
    thresholds: np.ndarray | None = None,
):
    """Spikes of LIF units driven by ``drive`` (exact integration, piecewise-constant input).

    Parameters
    ----------
    drive : array, shape ``[time, units]``
        Input of each unit (dimensionless, threshold 1) at each sample.
    dt_s : float
        Sample interval in seconds.
    params : CochleaParams
        ``tau_ms`` and ``refractory_ms`` are used.
    lengths : int array, optional
        Only for bookkeeping by callers; ignored here.
    thresholds : array, shape ``(units,)``, optional
        Threshold of each unit (default 1 for all).

    Returns
    -------
    steps, units : int64 arrays
        Time step and unit of each spike, sorted by step (spike time = ``step * dt_s``).

    Notes
    -----
    Step ``n``: units that are not refractory (``n - last_spike >= round(refractory / dt)``)
    update ``v <- I + (v - I) * exp(-dt / tau)`` with ``I = drive[n]``; those with
    ``v > threshold`` spike at ``n * dt`` and reset to 0. This is the order of a Brian2
    ``NeuronGroup`` with ``method="exact"`` fed by a ``FilterbankGroup``.
    """
    del lengths
    drive = np.asarray(drive)
    n_steps, n_units = drive.shape
    decay = np.exp(-dt_s / (params.tau_ms * 1e-3))
    ref_steps = int(round(params.refractory_ms * 1e-3 / dt_s))
    theta = (
        np.ones(n_units, dtype=drive.dtype)
        if thresholds is None
        else np.asarray(thresholds, dtype=drive.dtype)
    )
    if theta.shape != (n_units,):
        raise ValueError(f"thresholds must have shape ({n_units},), got {theta.shape}")
    v = np.zeros(n_units, dtype=drive.dtype)
    last = np.full(n_units, -(10**9), dtype=np.int64)
    tmp = np.empty_like(v)
    out_steps, out_units = [], []
    for n in range(n_steps):
        i_n = drive[n]
        # v_new = I + (v - I) * decay, computed in place
        np.subtract(v, i_n, out=tmp)
        tmp *= decay
        tmp += i_n
        if ref_steps > 0:
            active = (n - last) >= ref_steps
            np.copyto(v, tmp, where=active)
            fired = np.flatnonzero((v > theta) & active)
        else:
            v, tmp = tmp, v
            fired = np.flatnonzero(v > theta)
        if len(fired):
            v[fired] = 0.0
            last[fired] = n
            out_steps.append(np.full(len(fired), n, dtype=np.int64))
            out_units.append(fired)
    if not out_steps:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(out_steps), np.concatenate(out_units).astype(np.int64)


def audio_to_spikes(
    signal: np.ndarray,
    samplerate_hz: float,
    params: CochleaParams = CochleaParams(),
    engine: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """Spikes of the cochlear model for one sound (fast implementation).

    Parameters
    ----------
    signal : array, shape (n_samples,)
        Sound pressure (any scale: it is normalised to unit RMS).
    samplerate_hz : float
    params : CochleaParams
    engine : {"auto", "compiled", "numpy"}
        See :func:`audio_to_spikes_batch`.

    Returns
    -------
    times_s : float64 array
        Spike times in seconds (multiples of ``1 / samplerate_hz``), sorted.
    channels : int64 array
        Unit of each spike: ``c * units_per_channel + k`` for threshold ``k`` of channel ``c``
        (with one unit per channel, the channel; 0 = lowest centre frequency).
    """
    return audio_to_spikes_batch([signal], samplerate_hz, params, engine)[0]


def audio_to_spikes_batch(
    signals, samplerate_hz: float, params: CochleaParams = CochleaParams(), engine: str = "auto"
) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`audio_to_spikes` for several sounds.

    Parameters
    ----------
    signals : sequence of 1-D arrays
    samplerate_hz : float
    params : CochleaParams
    engine : {"auto", "compiled", "numpy"}
        ``"compiled"``: the fused Cython kernel (recursive gammatone filter, hair cell and LIF
        in one pass; about 10x faster); ``"numpy"``: FFT filtering and a LIF loop vectorised
        over the channels of all sounds; ``"auto"``: compiled when it can be built.

    Returns
    -------
    list of (times_s, channels), one per sound
    """
    signals = [normalise_rms(s) for s in signals]
    kernel = compiled_kernel() if engine in ("auto", "compiled") else None
    if engine == "compiled" and kernel is None:
        raise RuntimeError("the compiled cochlear kernel is unavailable (Cython/compiler)")
    if kernel is not None:
        return [_kernel_spikes(kernel, s, samplerate_hz, params) for s in signals]
    lengths = np.array([len(s) for s in signals])
    n_ch = params.n_units
    k_units = int(params.units_per_channel)
    t_max = int(lengths.max()) if len(lengths) else 0
    drive = np.zeros((t_max, len(signals) * n_ch), dtype=np.float32)
    for j, s in enumerate(signals):
        if len(s):
            hc = hair_cell(gammatone_filter(s, samplerate_hz, params, np.float32), params)
            drive[: len(s), j * n_ch : (j + 1) * n_ch] = (
                np.repeat(hc, k_units, axis=1) if k_units > 1 else hc
            )
    steps, units = lif_spikes(
        drive,
        1.0 / samplerate_hz,
        params,
        thresholds=np.tile(params.unit_thresholds(), len(signals)),
    )
    out = []
    which = units // n_ch
    for j in range(len(signals)):
        sel = (which == j) & (steps < lengths[j])
        out.append((steps[sel] / float(samplerate_hz), units[sel] - j * n_ch))
    return out


# ---------------------------------------------------------------------------------------------
# Compiled kernel: gammatone cascade + hair cell + LIF fused in one pass over the samples.
# Compiled with Brian2's Cython extension manager (the mechanism brian2hears uses for its own
# LinearFilterbank); the biquads are the direct form II transposed of
# brian2hears.LinearFilterbank, so the filter output equals Gammatone(...).process().
# ---------------------------------------------------------------------------------------------
_KERNEL_CODE = """
#cython: language_level=3
#cython: boundscheck=False
#cython: wraparound=False
#cython: cdivision=True
import numpy as _np
from libc.math cimport cbrt, pow

def cochlea_lif(double[::1] x, double[:, :, ::1] b, double[:, :, ::1] a, double gain,
                double exponent, double decay, long long ref_steps, double[::1] theta):
    cdef Py_ssize_t n_t = x.shape[0]
    cdef Py_ssize_t n_k = b.shape[0]
    cdef Py_ssize_t n_c = b.shape[2]
    cdef double[:, :, ::1] z = _np.zeros((n_k, 2, n_c))
    cdef double[::1] y_arr = _np.zeros(n_c)
    cdef Py_ssize_t n_u = theta.shape[0]
    cdef double[::1] v_arr = _np.zeros(n_c * n_u)
    cdef long long[::1] last_arr = _np.full(n_c * n_u, -1000000000, dtype=_np.int64)
    cdef double* y = &y_arr[0]
    cdef double* v = &v_arr[0]
    cdef long long* last = &last_arr[0]
    cdef double* b0
    cdef double* b1
    cdef double* b2
    cdef double* a1
    cdef double* a2
    cdef double* z0
    cdef double* z1
    cdef Py_ssize_t cap = 4096
    cdef Py_ssize_t count = 0
    out_np = _np.empty((cap, 2), dtype=_np.int64)
    cdef long long[:, ::1] out = out_np
    cdef Py_ssize_t n, k, c, u, j
    cdef double xin, xc, yo, drive, vv
    cdef bint use_cbrt = abs(exponent - 1.0 / 3.0) < 1e-12
    for n in range(n_t):
        xin = x[n]
        for k in range(n_k):
            b0 = &b[k, 0, 0]
            b1 = &b[k, 1, 0]
            b2 = &b[k, 2, 0]
            a1 = &a[k, 1, 0]
            a2 = &a[k, 2, 0]
            z0 = &z[k, 0, 0]
            z1 = &z[k, 1, 0]
            if k == 0:
                for c in range(n_c):
                    yo = b0[c] * xin + z0[c]
                    z0[c] = b1[c] * xin + z1[c] - a1[c] * yo
                    z1[c] = b2[c] * xin - a2[c] * yo
                    y[c] = yo
            else:
                for c in range(n_c):
                    xc = y[c]
                    yo = b0[c] * xc + z0[c]
                    z0[c] = b1[c] * xc + z1[c] - a1[c] * yo
                    z1[c] = b2[c] * xc - a2[c] * yo
                    y[c] = yo
        for c in range(n_c):
            yo = y[c]
            if yo > 0:
                if use_cbrt:
                    drive = gain * cbrt(yo)
                else:
                    drive = gain * pow(yo, exponent)
            else:
                drive = 0.0
            for u in range(n_u):
                j = c * n_u + u
                if n - last[j] < ref_steps:
                    continue
                vv = drive + (v[j] - drive) * decay
                if vv > theta[u]:
                    if count == cap:
                        cap *= 2
                        grown = _np.empty((cap, 2), dtype=_np.int64)
                        grown[:count] = out_np[:count]
                        out_np = grown
                        out = out_np
                    out[count, 0] = n
                    out[count, 1] = j
                    count += 1
                    vv = 0.0
                    last[j] = n
                v[j] = vv
    return out_np[:count]
"""


@functools.lru_cache(maxsize=1)
def compiled_kernel():
    """The compiled fused kernel, or None when Cython or a C compiler is unavailable (then
    :func:`audio_to_spikes_batch` uses the numpy implementation)."""
    try:
        from brian2.codegen.cpp_prefs import get_compiler_and_args
        from brian2.codegen.runtime.cython_rt.extension_manager import cython_extension_manager

        compiler, args = get_compiler_and_args()
        module = cython_extension_manager.create_extension(
            _KERNEL_CODE,
            compiler=compiler,
            extra_compile_args=args,
            owner_name="neurolearn.datasets.cochlea",
        )
        return module.cochlea_lif
    except Exception as err:  # no Cython, no compiler, ...
        import warnings

        warnings.warn(
            f"neurolearn.datasets.cochlea: compiled kernel unavailable ({err}); "
            f"using the slower numpy implementation",
            RuntimeWarning,
            stacklevel=2,
        )
        return None


def _kernel_spikes(kernel, signal: np.ndarray, samplerate_hz: float, params: CochleaParams):
    b, a = _coefficients(params, float(samplerate_hz))
    # (channels, 3, cascade) -> (cascade, 3, channels), contiguous over channels
    bk = np.ascontiguousarray(np.transpose(b, (2, 1, 0)), dtype=np.float64)
    ak = np.ascontiguousarray(np.transpose(a, (2, 1, 0)), dtype=np.float64)
    dt_s = 1.0 / float(samplerate_hz)
    decay = float(np.exp(-dt_s / (params.tau_ms * 1e-3)))
    ref_steps = int(round(params.refractory_ms * 1e-3 / dt_s))
    out = kernel(
        np.ascontiguousarray(signal, dtype=np.float64),
        bk,
        ak,
        float(params.gain),
        float(params.compression),
        decay,
        ref_steps,
        params.thresholds(),
    )
    return out[:, 0] * dt_s, out[:, 1].astype(np.int64)


def audio_to_spikes_brian2(
    signal: np.ndarray, samplerate_hz: float, params: CochleaParams = CochleaParams()
) -> tuple[np.ndarray, np.ndarray]:
    """Reference implementation of the cochlear model with brian2hears and Brian2 (runtime
    ``numpy`` target); slow, for checking :func:`audio_to_spikes`.

    Returns
    -------
    times_s, channels : as :func:`audio_to_spikes`
    """
    import brian2 as b2
    from brian2hears import FilterbankGroup, FunctionFilterbank, Gammatone, Repeat, Sound

    x = normalise_rms(signal)
    cf = centre_frequencies(params)
    with use_backend("numpy") as backend:
        sound = Sound(x[:, None], samplerate=samplerate_hz * b2.Hz)
        gammatone = Gammatone(sound, cf, b=params.bandwidth_factor)
        ihc = FunctionFilterbank(gammatone, lambda y: hair_cell(y, params))
        if params.units_per_channel > 1:  # channels ABC -> AABBCC: the units of a channel
            ihc = Repeat(ihc, int(params.units_per_channel))
        eqs = "dv/dt = (I - v) / tau : 1 (unless refractory)\nI : 1\ntheta : 1 (constant)"
        group = FilterbankGroup(
            ihc,
            "I",
            eqs,
            threshold="v > theta",
            reset="v = 0",
            refractory=params.refractory_ms * b2.ms,
            method="exact",
            namespace={"tau": params.tau_ms * b2.ms},
        )
        group.theta = params.unit_thresholds()
        monitor = b2.SpikeMonitor(group)
        net = b2.Network(group, monitor)
        backend.run(net, len(x) / (samplerate_hz * b2.Hz))
        steps = np.round(np.asarray(monitor.t / b2.second) * samplerate_hz).astype(np.int64)
        units = np.asarray(monitor.i, dtype=np.int64)
    order = np.lexsort((units, steps))
    return steps[order] / float(samplerate_hz), units[order]

"""What a model is fitted to: targets with a stimulus protocol and a loss.

A target knows (1) the stimulus protocol (one current trace per sweep, simulated for every
candidate parameter set at once by :func:`neurolearn.fitting.simulate.simulate_batch`),
(2) what to record, and (3) how to score a simulation against the measurement. Four kinds:

* :class:`EphysFeatureTarget` -- electrophysiology features of an Allen cell
  (``ephys_features.csv``: ``tau`` ms, ``ri`` MOhm, ``vrest`` mV, ``threshold_i_long_square``
  pA, ``f_i_curve_slope`` Hz/pA), measured on simulated long-square sweeps the way the Allen
  pipeline measures them on recordings (Allen Cell Types Database, Electrophysiology
  technical white paper, 2017);
* :class:`FICurveTarget` -- f-I and steady-state I-V curves from per-sweep summaries
  (OpenSourceBrain ``*_analysis.json``: long-square amplitude in pA, mean spike frequency,
  mean voltage 1000-1200 ms);
* :class:`TraceTarget` -- membrane-potential traces (RMS error);
* :class:`SpikeTrainTarget` -- spike trains, scored with the coincidence factor Gamma
  (Kistler et al. 1997; Jolivet et al. 2008) with a chosen window.

Every loss is a float array ``[n_sets]``, finite (failed candidates get a large value), lower
is better.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis.coincidence import coincidence_factor
from ..sources.allen_api import read_nwb_sweep

__all__ = [
    "Target",
    "TraceTarget",
    "SpikeTrainTarget",
    "FICurveTarget",
    "EphysFeatureTarget",
    "FEATURE_COLUMNS",
    "BAD_LOSS",
]

#: Loss given to candidates whose features cannot be computed.
BAD_LOSS = 1e6

#: Columns of Allen's ``ephys_features.csv`` used by :class:`EphysFeatureTarget`.
FEATURE_COLUMNS = {
    "tau": "tau_ms",
    "ri": "ri_mohm",
    "vrest": "vrest_mv",
    "threshold_i_long_square": "rheobase_pa",
    "f_i_curve_slope": "fi_slope_hz_per_pa",
}


def _si(x, unit_name: str, what: str) -> np.ndarray:
    import brian2

    if hasattr(x, "dim"):
        unit = getattr(brian2, unit_name)
        from brian2.units.fundamentalunits import fail_for_dimension_mismatch

        fail_for_dimension_mismatch(x, unit, f"{what} must be in units of {unit_name}")
        return np.asarray(x / unit, dtype=float)
    return np.asarray(x, dtype=float)


def _check_finite(arr: np.ndarray, what: str, unit: str, dt: float | None = None):
    bad = np.argwhere(~np.isfinite(arr))
    if len(bad):
        where = ", ".join(str(tuple(int(i) for i in b)) for b in bad[:3])
        hint = f" (first at time {bad[0][0] * dt * 1e3:g} ms)" if dt and arr.ndim >= 1 else ""
        raise ValueError(
            f"{what} contains {len(bad)} NaN/infinite value(s) at index {where}"
            f"{hint}; remove or interpolate them (a recording must be complete "
            f"to be fitted), or pass nan_policy='omit' where supported [{unit}]"
        )


class Target(abc.ABC):
    """Base class of fitting targets.

    Attributes
    ----------
    dt : Quantity
        Simulation time step.
    stimuli : float array [time, n_sweeps]
        Injected current in A (or a dimensionless drive when ``stimulus_units`` is ``"1"``).
    record_v : bool
        Whether the loss needs the membrane potential.
    record_sweeps : list of int or None
        Sweeps whose voltage is recorded (None: all).
    record_dt : Quantity or None
    stimulus_units : str
        ``"amp"`` (current clamp) or ``"1"`` (a drive scaled by the fitted ``stimulus_gain``).
    """

    dt: Any
    stimuli: np.ndarray
    record_v: bool = False
    record_sweeps: list | None = None
    record_dt: Any = None
    spike_times_needed: bool = True
    stimulus_units: str = "amp"
    kind: str = "target"

    @abc.abstractmethod
    def loss(self, result) -> np.ndarray:
        """Loss of every simulated parameter set, array [n_sets]."""

    @abc.abstractmethod
    def predictions(self, result) -> dict:
        """What the loss compares, for every set: dict of name -> array [n_sets, ...]."""

    @abc.abstractmethod
    def measured(self) -> dict:
        """The measured counterparts of :meth:`predictions` (dict of name -> array)."""

    def describe(self) -> dict:
        """JSON-ready description (kind, protocol size, source)."""
        return {
            "kind": self.kind,
            "n_sweeps": int(self.stimuli.shape[1]),
            "duration_s": float(self.stimuli.shape[0] * float(self.dt)),
            "dt_s": float(self.dt),
        }


# ---------------------------------------------------------------------------------------------
class TraceTarget(Target):
    """Fit to membrane-potential traces (RMS error in mV).

    Parameters
    ----------
    voltage : Quantity or float array [time] or [time, n_sweeps] (V)
        Recorded membrane potential, sampled at ``dt`` (state after each step).
    stimulus : Quantity or float array, same shape (A)
        Injected current.
    dt : Quantity
    nan_policy : {"raise", "omit"}
        NaN samples in the recording (e.g. allensdk's spike cuts): an error, or left out of
        the RMS.

    Raises
    ------
    ValueError
        For mismatched shapes, NaN in the stimulus, or NaN in the recording with
        ``nan_policy="raise"`` (naming the sample).
    """

    kind = "trace"
    record_v = True
    spike_times_needed = False

    def __init__(self, voltage, stimulus, dt, nan_policy: str = "raise"):
        v = _si(voltage, "volt", "voltage")
        i = _si(stimulus, "amp", "stimulus")
        if v.ndim == 1:
            v = v[:, None]
        if i.ndim == 1:
            i = i[:, None]
        if v.shape != i.shape:
            raise ValueError(
                f"voltage {v.shape} and stimulus {i.shape} must have the same "
                f"shape [time, n_sweeps]"
            )
        if nan_policy not in ("raise", "omit"):
            raise ValueError(f"nan_policy must be 'raise' or 'omit', got {nan_policy!r}")
        _check_finite(i, "stimulus", "A", float(dt))
        if nan_policy == "raise":
            _check_finite(v, "voltage recording", "V", float(dt))
        if np.isnan(v).all():
            raise ValueError("voltage recording is entirely NaN")
        self.voltage = v
        self.stimuli = i
        self.dt = dt
        self.record_dt = dt

    @classmethod
    def from_allen_nwb(
        cls,
        path: str | Path,
        sweep_numbers: Sequence[int],
        dt=None,
        t_start: float = 0.0,
        t_stop: float | None = None,
        nan_policy: str = "raise",
    ) -> TraceTarget:
        """Voltage traces of Allen Cell Types sweeps (``ephys.nwb``, read with h5py as
        allensdk's ``NwbDataSet.get_sweep`` reads them, see
        :func:`neurolearn.sources.allen_api.read_nwb_sweep`; no allensdk needed; download with
        ``CellTypesCache.get_ephys_data``).

        Parameters
        ----------
        path : path
            The cell's NWB file.
        sweep_numbers : sequence of int
            Sweeps to fit (their experiment epoch, i.e. without the test pulse).
        dt : Quantity, optional
            Simulation step; the recording (200 kHz at Allen) is block-averaged to it.
            Default 0.1 ms; must be a multiple of the sampling interval.
        t_start, t_stop : float (s)
            Window from the start of the experiment epoch (default: all of it; sweeps of
            different length are cut to the shortest).
        nan_policy : {"raise", "omit"}

        Raises
        ------
        FileNotFoundError
            Missing file.
        ValueError
            Empty sweep list, a sweep missing from the file, ``dt`` not a multiple of the
            sampling interval, an empty window, or NaN (see the constructor).
        """
        from brian2 import ms, second

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"NWB file not found: {path}")
        if not len(sweep_numbers):
            raise ValueError("no sweep number given")
        dt = dt if dt is not None else 0.1 * ms
        vs, cs = [], []
        for number in sweep_numbers:
            sw = read_nwb_sweep(path, int(number))
            rate = float(sw["sampling_rate"])
            step = int(round(float(dt) * rate))
            if step < 1 or abs(step / rate - float(dt)) > 1e-9:
                raise ValueError(
                    f"{path}: dt = {float(dt) * 1e3:g} ms is not a multiple of the "
                    f"sampling interval {1e3 / rate:g} ms of sweep {number}"
                )
            i0, i1 = (int(x) for x in sw["index_range"])
            v = np.asarray(sw["response"], float)[i0 : i1 + 1]
            i = np.asarray(sw["stimulus"], float)[i0 : i1 + 1]
            a = int(round(t_start * rate))
            b = len(v) if t_stop is None else min(len(v), int(round(t_stop * rate)))
            n = (b - a) // step
            if n <= 0:
                raise ValueError(f"{path}: sweep {number} has no sample in [{t_start}, {t_stop}] s")
            vs.append(v[a : a + n * step].reshape(n, step).mean(axis=1))
            cs.append(i[a : a + n * step].reshape(n, step).mean(axis=1))
        n = min(len(v) for v in vs)
        target = cls(
            np.column_stack([v[:n] for v in vs]),
            np.column_stack([c[:n] for c in cs]),
            float(dt) * second,
            nan_policy=nan_policy,
        )
        target.source = {"file": str(path), "sweeps": [int(x) for x in sweep_numbers]}
        return target

    def loss(self, result):
        sim = result.v * 1e3  # [n_sets, n_sweeps, time], mV
        data = self.voltage.T[None] * 1e3
        n = min(sim.shape[-1], data.shape[-1])
        err = (sim[..., :n] - data[..., :n]) ** 2
        ok = np.isfinite(data[..., :n])
        mse = np.where(ok, err, 0.0).sum(axis=(1, 2)) / ok.sum()
        out = np.sqrt(mse)
        return np.where(np.isfinite(out), out, BAD_LOSS)

    def predictions(self, result):
        return {"v_mV": result.v.transpose(0, 2, 1) * 1e3}

    def measured(self):
        return {"v_mV": self.voltage * 1e3, "i_pA": self.stimuli * 1e12}


# ---------------------------------------------------------------------------------------------
class SpikeTrainTarget(Target):
    """Fit to spike trains with the coincidence factor: loss = 1 - mean Gamma.

    Parameters
    ----------
    spike_times : sequence (n_sweeps) of arrays, or of sequences of arrays (repeated trials)
        Recorded spike times of each sweep (s or Quantity), relative to the sweep start.
    stimulus : array [time] or [time, n_sweeps]
        Injected current (A) or, with ``stimulus_units="1"``, a dimensionless drive that the
        fit scales by ``stimulus_gain`` (amp) and shifts by ``stimulus_offset`` (amp).
    dt : Quantity
    window : Quantity or float (s)
        Coincidence window :math:`\\Delta` (default 4 ms).
    stimulus_units : {"amp", "1"}
    t_start : Quantity or float (s)
        Spikes before this time are ignored in both trains (transient of the initial state).

    Raises
    ------
    ValueError
        For a sweep count that does not match the stimulus, NaN spike times or stimulus.
    """

    kind = "spike_train"

    def __init__(
        self,
        spike_times: Sequence,
        stimulus,
        dt,
        window=0.004,
        stimulus_units: str = "amp",
        t_start=0.0,
    ):
        i = np.asarray(
            stimulus / _unit("amp") if hasattr(stimulus, "dim") else stimulus, dtype=float
        )
        if i.ndim == 1:
            i = i[:, None]
        _check_finite(i, "stimulus", stimulus_units, float(dt))
        trains = list(spike_times)
        if len(trains) != i.shape[1]:
            raise ValueError(f"{len(trains)} spike-time lists for {i.shape[1]} stimulus sweeps")
        self.trials = []
        for k, sweep in enumerate(trains):
            if len(sweep) and np.ndim(sweep[0]) >= 1 and not np.isscalar(sweep[0]):
                trials = [np.asarray(_si(tr, "second", "spike times"), float) for tr in sweep]
            else:
                trials = [np.asarray(_si(sweep, "second", "spike times"), float)]
            for tr in trials:
                if np.isnan(tr).any():
                    raise ValueError(f"spike times of sweep {k} contain NaN")
            self.trials.append(trials)
        if stimulus_units not in ("amp", "1"):
            raise ValueError(f"stimulus_units must be 'amp' or '1', got {stimulus_units!r}")
        self.stimuli = i
        self.dt = dt
        self.window = float(_si(window, "second", "window"))
        self.t_start = float(_si(t_start, "second", "t_start"))
        self.stimulus_units = stimulus_units
        self.duration = i.shape[0] * float(dt)

    def _gammas(self, result) -> np.ndarray:
        n_sets = result.counts.shape[0]
        out = np.zeros((n_sets, len(self.trials)))
        T = self.duration - self.t_start
        for s in range(n_sets):
            for w, trials in enumerate(self.trials):
                m = result.spike_times[s][w]
                m = m[m >= self.t_start]
                vals = []
                for tr in trials:
                    d = tr[tr >= self.t_start]
                    if 2 * len(m) / T * self.window >= 1:
                        vals.append(-1.0)  # absurd rate
                        continue
                    g = coincidence_factor(m, d, T, self.window)
                    vals.append(0.0 if np.isnan(g) else g)
                out[s, w] = np.mean(vals)
        return out

    def loss(self, result):
        return 1.0 - self._gammas(result).mean(axis=1)

    def predictions(self, result):
        return {"gamma": self._gammas(result), "rate_hz": result.counts / self.duration}

    def measured(self):
        return {
            "rate_hz": np.array(
                [np.mean([len(t) for t in tr]) / self.duration for tr in self.trials]
            )
        }

    def describe(self):
        d = super().describe()
        d.update(
            window_ms=self.window * 1e3,
            stimulus_units=self.stimulus_units,
            n_trials=[len(t) for t in self.trials],
        )
        return d


def _unit(name):
    import brian2

    return getattr(brian2, name)


# ---------------------------------------------------------------------------------------------
def _step_protocol(
    amplitudes_a: np.ndarray, onset: float, duration: float, after: float, dt: float
) -> np.ndarray:
    n = int(round((onset + duration + after) / dt))
    stim = np.zeros((n, len(amplitudes_a)))
    stim[int(round(onset / dt)) : int(round((onset + duration) / dt)), :] = amplitudes_a[None, :]
    return stim


def _isi_rate(times: np.ndarray, t0: float, t1: float) -> float:
    t = times[(times >= t0) & (times < t1)]
    if len(t) < 2:
        return 0.0
    return float(1.0 / np.mean(np.diff(t)))


class FICurveTarget(Target):
    """Fit to an f-I curve and a steady-state I-V curve measured with long current steps.

    Parameters
    ----------
    amplitudes : Quantity or float array [n] (A)
        Step amplitudes.
    rates : Quantity or float array [n] (Hz)
        Mean spike frequency of each step (1 / mean inter-spike interval, 0 with fewer than
        two spikes: pyelectro's ``mean_spike_frequency``, as in the OSB summaries).
    v_steady : Quantity or float array [n] (V), optional
        Mean voltage in ``iv_window`` for the steps without spikes (NaN elsewhere): the I-V
        curve. None: f-I curve only.
    dt : Quantity
        Default 0.1 ms.
    onset, duration : float (s)
        Step timing (Allen long squares: 1 s; onset 0.27 s in the OSB summaries).
    iv_window : (float, float) (s)
        Window of ``v_steady`` from the sweep start (OSB: 1.0-1.2 s).
    rate_scale_hz, v_scale_mv : float
        Errors are divided by these before squaring (weights of the two curves).

    Raises
    ------
    ValueError
        For mismatched lengths, NaN amplitudes/rates, or no amplitudes.
    """

    kind = "fi_curve"

    def __init__(
        self,
        amplitudes,
        rates,
        v_steady=None,
        dt=None,
        onset=0.27,
        duration=1.0,
        iv_window=(1.0, 1.2),
        rate_scale_hz=5.0,
        v_scale_mv=2.0,
    ):
        from brian2 import ms

        amps = _si(amplitudes, "amp", "amplitudes").ravel()
        f = _si(rates, "Hz", "rates").ravel()
        if len(amps) == 0:
            raise ValueError("an f-I target needs at least one step amplitude")
        if len(f) != len(amps):
            raise ValueError(f"{len(amps)} amplitudes but {len(f)} rates")
        _check_finite(amps, "step amplitudes", "A")
        _check_finite(f, "f-I rates", "Hz")
        self.amplitudes = amps
        self.rates = f
        self.v_steady = None
        if v_steady is not None:
            vs = _si(v_steady, "volt", "v_steady").ravel()
            if len(vs) != len(amps):
                raise ValueError(f"{len(amps)} amplitudes but {len(vs)} steady-state voltages")
            self.v_steady = vs
        self.dt = dt if dt is not None else 0.1 * ms
        self.onset, self.duration = float(onset), float(duration)
        self.iv_window = tuple(float(x) for x in iv_window)
        after = max(0.0, self.iv_window[1] - onset - duration) + 0.001
        self.stimuli = _step_protocol(amps, self.onset, self.duration, after, float(self.dt))
        self.rate_scale, self.v_scale = float(rate_scale_hz), float(v_scale_mv)
        self.record_v = self.v_steady is not None and np.isfinite(self.v_steady).any()
        self.record_sweeps = (
            list(np.flatnonzero(np.isfinite(self.v_steady))) if self.record_v else None
        )
        self.record_dt = 10 * self.dt
        self.source = None

    @classmethod
    def from_osb_json(cls, path: str | Path, **kwargs) -> FICurveTarget:
        """Read an OpenSourceBrain ``<specimen>_analysis.json`` (long-square sweeps).

        Duplicated amplitudes are averaged. ``v_steady`` is ``average_1000_1200`` of the
        sweeps without spikes.

        Raises
        ------
        FileNotFoundError, ValueError
            Missing file; no long-square sweep or a sweep without the needed fields (named).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"sweep summary not found: {path}")
        data = json.loads(path.read_text())
        rows = {}
        for key, sw in (data.get("sweeps") or {}).items():
            meta = sw.get("sweep_metadata", {})
            if meta.get("aibs_stimulus_name") != "Long Square":
                continue
            ana = {
                k.split(":", 1)[-1]: v for k, v in sw.get("pyelectro_iclamp_analysis", {}).items()
            }
            for need in ("max_peak_no", "average_1000_1200"):
                if need not in ana:
                    raise ValueError(
                        f"{path}: sweep {key} has no '{need}' in its pyelectro_iclamp_analysis"
                    )
            if "aibs_stimulus_amplitude_pa" not in meta:
                raise ValueError(f"{path}: sweep {key} has no aibs_stimulus_amplitude_pa")
            amp = round(float(meta["aibs_stimulus_amplitude_pa"]), 3)
            spiking = ana["max_peak_no"] > 0
            rate = float(ana.get("mean_spike_frequency", 0.0)) if ana["max_peak_no"] >= 2 else 0.0
            v = np.nan if spiking else float(ana["average_1000_1200"])
            rows.setdefault(amp, []).append((rate, v))
        if not rows:
            raise ValueError(f"{path}: no 'Long Square' sweep")
        amps = np.array(sorted(rows))
        rates = np.array([np.mean([r for r, _ in rows[a]]) for a in amps])
        vs = np.array(
            [
                np.nanmean([v for _, v in rows[a]])
                if not all(np.isnan([v for _, v in rows[a]]))
                else np.nan
                for a in amps
            ]
        )
        target = cls(amps * 1e-12, rates, vs * 1e-3, **kwargs)
        target.source = {
            "file": str(path),
            "specimen_id": data.get("data_set_id"),
            "cre_line": data.get("aibs_cre_line"),
            "dendrite_type": data.get("aibs_dendrite_type"),
        }
        return target

    def _model_curves(self, result):
        n_sets = result.counts.shape[0]
        t0, t1 = self.onset, self.onset + self.duration
        f = np.array(
            [
                [_isi_rate(result.spike_times[s][w], t0, t1) for w in range(len(self.amplitudes))]
                for s in range(n_sets)
            ]
        )
        v = None
        if self.record_v:
            t = result.t
            win = (t >= self.iv_window[0]) & (t < self.iv_window[1])
            v = np.full((n_sets, len(self.amplitudes)), np.nan)
            v[:, result.v_sweeps] = result.v[:, :, win].mean(axis=2)
            spiking = np.ones(len(self.amplitudes), bool)
            spiking[self.record_sweeps] = False
            v[:, spiking] = np.nan  # the I-V curve holds the sweeps without spikes
        return f, v

    def loss(self, result):
        f, v = self._model_curves(result)
        loss = np.mean(((f - self.rates[None]) / self.rate_scale) ** 2, axis=1)
        if v is not None:
            sel = self.record_sweeps
            err = ((v[:, sel] - self.v_steady[None, sel]) * 1e3 / self.v_scale) ** 2
            loss = loss + np.mean(np.where(np.isfinite(err), err, 100.0), axis=1)
        return np.where(np.isfinite(loss), loss, BAD_LOSS)

    def predictions(self, result):
        f, v = self._model_curves(result)
        out = {
            "amplitude_pA": np.broadcast_to(self.amplitudes * 1e12, f.shape).copy(),
            "rate_hz": f,
        }
        if v is not None:
            out["v_steady_mV"] = v * 1e3
        return out

    def measured(self):
        out = {"amplitude_pA": self.amplitudes * 1e12, "rate_hz": self.rates}
        if self.v_steady is not None:
            out["v_steady_mV"] = self.v_steady * 1e3
        return out

    def describe(self):
        d = super().describe()
        d.update(onset_s=self.onset, step_s=self.duration, source=self.source)
        return d


# ---------------------------------------------------------------------------------------------
class EphysFeatureTarget(Target):
    """Fit to Allen electrophysiology features measured on simulated long squares.

    Protocol (one group, ``2 + n_grid`` sweeps): a hyperpolarizing step (``i_hyper``) for the
    passive features, and long squares on a grid of ``grid_step`` around the measured rheobase
    (Allen increases long squares in 20 pA steps, so rheobase is known to that resolution).
    Features of the simulation, as the Allen pipeline defines them:

    * ``vrest`` -- mean potential before the step;
    * ``ri`` -- steady-state deflection / ``i_hyper`` (last 10 % of the step);
    * ``tau`` -- time to 63.2 % of that deflection (exact for a single exponential);
    * ``threshold_i_long_square`` (rheobase) -- smallest grid amplitude with a spike;
    * ``f_i_curve_slope`` -- least-squares slope of the rate (spikes / step duration) against
      amplitude over the grid steps at or above the model's rheobase.

    Loss: :math:`\\sum_k ((x_k^\\mathrm{model} - x_k)/s_k)^2` with scales ``scales``
    (default: 10 % of tau and ri, 1 mV, one grid step, 20 % of the slope + 0.01 Hz/pA).

    Parameters
    ----------
    features : mapping
        ``tau_ms``, ``ri_mohm``, ``vrest_mv``, ``rheobase_pa``, ``fi_slope_hz_per_pa``.
    dt : Quantity
        Default 0.1 ms.
    onset, duration : float (s)
        Baseline before the steps and step length (Allen: 1 s).
    i_hyper_pa, grid_step_pa : float
    n_grid : int
        Grid sweeps; the grid starts 2 steps below the measured rheobase.
    scales : mapping, optional
        Override the error scales (same keys as ``features``).

    Raises
    ------
    ValueError
        For a missing or non-finite feature (names it).
    """

    kind = "ephys_features"
    record_v = True
    spike_times_needed = False
    KEYS = ("tau_ms", "ri_mohm", "vrest_mv", "rheobase_pa", "fi_slope_hz_per_pa")

    def __init__(
        self,
        features: Mapping[str, float],
        dt=None,
        onset=0.1,
        duration=1.0,
        i_hyper_pa=-50.0,
        grid_step_pa=20.0,
        n_grid=9,
        scales=None,
    ):
        from brian2 import ms

        missing = [k for k in self.KEYS if k not in features]
        if missing:
            raise ValueError(
                f"ephys feature target needs {', '.join(self.KEYS)}; missing {', '.join(missing)}"
            )
        vals = {k: float(features[k]) for k in self.KEYS}
        bad = [k for k, v in vals.items() if not np.isfinite(v)]
        if bad:
            raise ValueError(
                f"feature(s) {', '.join(bad)} are NaN; this cell cannot be fitted on features"
            )
        self.features = vals
        self.dt = dt if dt is not None else 0.1 * ms
        self.onset, self.duration = float(onset), float(duration)
        self.i_hyper = float(i_hyper_pa) * 1e-12
        self.grid_step = float(grid_step_pa)
        start = max(self.grid_step, vals["rheobase_pa"] - 2 * self.grid_step)
        self.grid_pa = start + self.grid_step * np.arange(int(n_grid))
        amps = np.concatenate([[self.i_hyper], self.grid_pa * 1e-12])
        self.stimuli = _step_protocol(amps, self.onset, self.duration, 0.0, float(self.dt))
        self.record_sweeps = [0]
        self.record_dt = self.dt
        sc = {
            "tau_ms": 0.1 * abs(vals["tau_ms"]),
            "ri_mohm": 0.1 * abs(vals["ri_mohm"]),
            "vrest_mv": 1.0,
            "rheobase_pa": self.grid_step,
            "fi_slope_hz_per_pa": 0.2 * abs(vals["fi_slope_hz_per_pa"]) + 0.01,
        }
        sc.update(scales or {})
        self.scales = sc
        self.source = None

    @classmethod
    def from_allen(cls, table, specimen_id: int, **kwargs) -> EphysFeatureTarget:
        """Target of one cell of Allen's ``ephys_features.csv``.

        Parameters
        ----------
        table : pandas.DataFrame or path
            The feature table (or the CSV file).
        specimen_id : int

        Raises
        ------
        ValueError
            If a needed column is missing (named), the cell is absent, or a feature is NaN.
        """
        import pandas as pd

        if not isinstance(table, pd.DataFrame):
            path = Path(table)
            if not path.is_file():
                raise FileNotFoundError(f"feature table not found: {path}")
            table = pd.read_csv(path)
        missing = [c for c in list(FEATURE_COLUMNS) + ["specimen_id"] if c not in table.columns]
        if missing:
            raise ValueError(
                f"feature table lacks column(s) {', '.join(missing)} (needed: "
                f"specimen_id, {', '.join(FEATURE_COLUMNS)})"
            )
        rows = table[table["specimen_id"] == specimen_id]
        if rows.empty:
            raise ValueError(f"specimen {specimen_id} is not in the feature table")
        row = rows.iloc[0]
        target = cls({FEATURE_COLUMNS[c]: row[c] for c in FEATURE_COLUMNS}, **kwargs)
        target.source = {"specimen_id": int(specimen_id)}
        return target

    def model_features(self, result) -> dict:
        """Features of every simulated set: dict of name -> array [n_sets]."""
        v = result.v[:, 0, :]  # hyperpolarizing sweep, [n_sets, time]
        t = result.t
        pre = t < self.onset - float(self.dt)
        on = (t >= self.onset) & (t < self.onset + self.duration)
        tail = (t >= self.onset + 0.9 * self.duration) & (t < self.onset + self.duration)
        v0 = v[:, pre].mean(axis=1) if pre.any() else v[:, 0]
        vss = v[:, tail].mean(axis=1)
        defl = vss - v0
        ri = defl / self.i_hyper / 1e6
        frac = (v[:, on] - v0[:, None]) / np.where(defl == 0, np.nan, defl)[:, None]
        tt = t[on] - self.onset + float(self.dt)
        tau = np.full(len(v0), np.nan)
        for s in range(len(v0)):
            k = np.flatnonzero(frac[s] >= 1 - np.exp(-1))
            if len(k) and k[0] > 0:
                j = k[0]
                f0, f1 = frac[s, j - 1], frac[s, j]
                tau[s] = tt[j - 1] + (tt[j] - tt[j - 1]) * ((1 - np.exp(-1)) - f0) / (f1 - f0)
            elif len(k):
                tau[s] = tt[0]
        counts = result.counts[:, 1:]
        rate = counts / self.duration
        spk = counts > 0
        first = np.where(spk.any(axis=1), spk.argmax(axis=1), len(self.grid_pa))
        rheo = np.where(
            first < len(self.grid_pa),
            self.grid_pa[np.minimum(first, len(self.grid_pa) - 1)],
            self.grid_pa[-1] + self.grid_step,
        )
        slope = np.zeros(len(v0))
        for s in range(len(v0)):
            sel = np.arange(len(self.grid_pa)) >= first[s]
            if sel.sum() >= 2:
                slope[s] = np.polyfit(self.grid_pa[sel], rate[s, sel], 1)[0]
        return {
            "tau_ms": tau * 1e3,
            "ri_mohm": ri,
            "vrest_mv": v0 * 1e3,
            "rheobase_pa": rheo,
            "fi_slope_hz_per_pa": slope,
        }

    def loss(self, result):
        feats = self.model_features(result)
        total = np.zeros(result.counts.shape[0])
        for k in self.KEYS:
            total += ((feats[k] - self.features[k]) / self.scales[k]) ** 2
        return np.where(np.isfinite(total), total, BAD_LOSS)

    def predictions(self, result):
        return self.model_features(result)

    def measured(self):
        return dict(self.features)

    def describe(self):
        d = super().describe()
        d.update(features=self.features, grid_pa=self.grid_pa.tolist(), source=self.source)
        return d

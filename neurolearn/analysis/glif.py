"""GLIF models (Teeter et al. 2018, Nat. Commun. 9:709) simulated in Brian2 with the state
updater that reproduces allensdk (:func:`neurolearn.brian.glif.allen_glif_method`), against
allensdk's own reference simulator ``GlifNeuron``: spike times compared step for step and by the
coincidence factor (:mod:`neurolearn.analysis.coincidence`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..brian.backends import RUNTIME_BACKENDS, use_backend
from ..brian.build import make_neuron_group
from ..brian.glif import allen_glif_method
from ..extras import require
from ..sources.glif import GlifConfig

__all__ = [
    "simulate_glif",
    "simulate_glif_allensdk",
    "compare_glif",
    "glif_check_stimuli",
    "match_spikes",
]


# ---------------------------------------------------------------------------------------------
# Simulation
# ---------------------------------------------------------------------------------------------
def _as_amps(stimulus):
    from brian2 import amp

    if hasattr(stimulus, "dim"):
        from brian2.units.fundamentalunits import fail_for_dimension_mismatch

        fail_for_dimension_mismatch(stimulus, amp, "stimulus must be a current")
        return np.asarray(stimulus / amp, dtype=float)
    return np.asarray(stimulus, dtype=float)


def simulate_glif(
    configs: Sequence[GlifConfig],
    stimulus,
    dt=None,
    record_v: bool = True,
    allen_method: bool = True,
    target: str = "numpy",
) -> dict:
    """Simulate GLIF configs (all of one level) in Brian2, one neuron each.

    Parameters
    ----------
    configs : sequence of GlifConfig
        All of the same level.
    stimulus : array [time] or [time, n_configs]
        Injected current in A (plain floats) or a Brian2 current Quantity; one column per
        config, or one trace for all. Entry ``k`` drives the step from ``k*dt`` to ``(k+1)*dt``
        (allensdk's convention).
    dt : Quantity, optional
        Time step; default the configs' ``dt``.
    record_v : bool
        Record the membrane potential after every step.
    allen_method : bool
        Use :func:`allen_glif_method` (matches allensdk; the zoo files' ``"allen_glif"``);
        False integrates every variable with Brian2's forward Euler (``"euler"``), to show
        what the dedicated scheme changes.
    target : str
        Brian2 code-generation target for runtime mode (``"numpy"`` or ``"cython"``).

    Returns
    -------
    dict
        ``v``: array [time, n] in volt (state after step k, as allensdk's ``voltage``);
        ``spike_steps``: list of int arrays (step index of each spike, allensdk's
        ``spike_time_steps``); ``spike_times``: list of arrays in s; ``dt``: float s.

    Raises
    ------
    ValueError
        For mixed levels, a stimulus of the wrong shape, or NaN in the stimulus.
    """
    import brian2 as b2

    configs = list(configs)
    if not configs:
        raise ValueError("no GLIF config given")
    levels = {c.level for c in configs}
    if len(levels) != 1:
        raise ValueError(f"simulate_glif needs configs of one level, got levels {sorted(levels)}")
    n = len(configs)
    stim = _as_amps(stimulus)
    if stim.ndim == 1:
        stim = np.repeat(stim[:, None], n, axis=1)
    if stim.ndim != 2 or stim.shape[1] != n:
        raise ValueError(f"stimulus must have shape [time] or [time, {n}], got {stim.shape}")
    if not np.all(np.isfinite(stim)):
        raise ValueError("stimulus contains NaN or infinite values")
    dt = configs[0].dt if dt is None else dt
    spec = configs[0].spec
    params = {k: _stack([c.params[k] for c in configs]) for k in configs[0].params}
    initial = {k: _stack([c.initial[k] for c in configs]) for k in configs[0].initial}
    n_steps = stim.shape[0]
    if target not in RUNTIME_BACKENDS:
        raise ValueError(
            f"simulate_glif runs in Brian2's runtime mode: target must be "
            f"{' or '.join(repr(b) for b in RUNTIME_BACKENDS)}, got {target!r}"
        )
    with use_backend(target, dt=dt) as backend:
        group = make_neuron_group(
            spec,
            n,
            params=params,
            initial=initial,
            dt=dt,
            method=allen_glif_method() if allen_method else "euler",
        )
        ta = b2.TimedArray(stim * b2.amp, dt=dt, name="glif_stimulus")
        group.namespace["glif_stimulus"] = ta
        group.run_regularly("I_ext = glif_stimulus(t, i)", when="start")
        spikes = b2.SpikeMonitor(group)
        objs = [group, spikes]
        mon = None
        if record_v:
            mon = b2.StateMonitor(group, "v", record=True, when="end", dt=dt)
            objs.append(mon)
        net = b2.Network(*objs)
        backend.run(net, n_steps * dt, namespace={})
    dt_s = float(dt)
    trains = spikes.spike_trains()
    times = [np.asarray(trains[i] / b2.second) for i in range(n)]
    steps = [np.round(t / dt_s).astype(int) for t in times]
    out = {"spike_times": times, "spike_steps": steps, "dt": dt_s}
    if mon is not None:
        out["v"] = np.asarray(mon.v / b2.volt).T[:n_steps]
    return out


def _stack(values):
    from brian2 import Quantity

    if hasattr(values[0], "dim"):
        return Quantity(np.array([float(v) for v in values]), dim=values[0].dim)
    return np.array([float(v) for v in values])


def simulate_glif_allensdk(config: GlifConfig, stimulus) -> dict:
    """Run a config in allensdk's reference simulator ``GlifNeuron``.

    Parameters
    ----------
    config : GlifConfig
    stimulus : array [time]
        Injected current in A, at the config's ``dt``.

    Returns
    -------
    dict
        ``v``: array [time] in volt, absolute (NaN during spike cuts, as allensdk);
        ``spike_steps``: int array; ``spike_times``: array in s.

    Raises
    ------
    MissingExtraError
        If allensdk is not installed (``pip install 'neurolearn[allen]'``, Python <= 3.11
        only: allensdk 2.16 does not install on 3.12+, where this reference is unavailable).
    """
    require("allensdk", "the GLIF reference simulator GlifNeuron")
    from allensdk.model.glif.glif_neuron import GlifNeuron

    neuron = GlifNeuron.from_dict(config.raw)
    res = neuron.run(_as_amps(stimulus).astype(float))
    return {
        "v": np.asarray(res["voltage"]) + float(config.raw["El_reference"]),
        "spike_steps": np.asarray(res["spike_time_steps"], dtype=int),
        "spike_times": np.asarray(res["grid_spike_times"], dtype=float),
    }


def match_spikes(steps_a, steps_b, tolerance: int = 1) -> int:
    """Number of one-to-one pairs of spikes (given as step indices) at most ``tolerance``
    steps apart (greedy in time order; the coincidence count of
    :func:`neurolearn.fitting.gamma.count_coincidences` on the step grid)."""
    from .coincidence import count_coincidences

    return count_coincidences(
        np.asarray(steps_a, dtype=int), np.asarray(steps_b, dtype=int), tolerance
    )


def glif_check_stimuli(config: GlifConfig, duration=None, seed: int = 0) -> dict:
    """A long-square and a noise stimulus scaled to a config's threshold current.

    The threshold current is :math:`I_\\mathrm{th} = (\\theta_\\infty - E_L)/(R(1 - a_v/b_v))`
    (the steady-state rheobase without after-spike currents; :math:`a_v/b_v` is GLIF5's
    voltage-dependent threshold gain, capped at 0.8). The long square is 1.6
    :math:`I_\\mathrm{th}` from 10 % to 90 % of the duration; the noise is an
    Ornstein-Uhlenbeck current (correlation time 3 ms) with mean 1.2 and SD 0.5
    :math:`I_\\mathrm{th}`.

    Parameters
    ----------
    config : GlifConfig
    duration : Quantity, optional
        Default 1 s.
    seed : int

    Returns
    -------
    dict of str -> array [time]
        ``{"long_square": ..., "noise": ...}`` in A at ``config.dt``.
    """
    from brian2 import second

    dur = 1.0 if duration is None else float(duration / second)
    dt = float(config.dt)
    n = int(round(dur / dt))
    i_th = float((config.params["th_inf"] - config.params["E_L"]) / config.params["R_m"])
    if "a_v" in config.params:
        gain = float(config.params["a_v"] / config.params["b_v"])
        i_th /= max(1.0 - gain, 0.2)
    sq = np.zeros(n)
    sq[int(0.1 * n) : int(0.9 * n)] = 1.6 * i_th
    rng = np.random.default_rng(seed)
    tau = 3e-3
    a = np.exp(-dt / tau)
    x = np.empty(n)
    x[0] = 0.0
    noise = rng.standard_normal(n) * np.sqrt(1 - a * a)
    for k in range(1, n):
        x[k] = a * x[k - 1] + noise[k]
    return {"long_square": sq, "noise": i_th * (1.2 + 0.5 * x)}


def compare_glif(
    configs: Sequence[GlifConfig], stimuli: Sequence[np.ndarray] | np.ndarray, target: str = "numpy"
) -> list[dict]:
    """Brian2 vs allensdk ``GlifNeuron`` for configs of one level on the same stimuli.

    Parameters
    ----------
    configs : sequence of GlifConfig
    stimuli : array [time, n_configs] or list of arrays [time]
        One stimulus per config (A).
    target : str
        Brian2 code-generation target.

    Returns
    -------
    list of dict, one per config
        ``n_spikes_brian2``, ``n_spikes_allensdk``, ``matched`` (pairs within one step),
        ``fraction_matched`` (matched / max of the two counts; 1 when neither spikes),
        ``v_rms_mV`` and ``v_max_abs_mV`` (over the steps allensdk records, i.e. outside spike
        cuts), ``max_spike_shift_steps``.
    """
    if isinstance(stimuli, np.ndarray):
        stim = np.asarray(stimuli, float)
        stim = stim[:, None] if stim.ndim == 1 else stim
    else:
        stim = np.column_stack([np.asarray(s, float) for s in stimuli])
    if stim.shape[1] != len(configs):
        raise ValueError(f"{stim.shape[1]} stimuli for {len(configs)} configs")
    br = simulate_glif(configs, stim, target=target)
    out = []
    for k, cfg in enumerate(configs):
        ref = simulate_glif_allensdk(cfg, stim[:, k])
        ok = np.isfinite(ref["v"])
        diff = (br["v"][:, k] - ref["v"])[ok] * 1e3
        sb, sa = br["spike_steps"][k], ref["spike_steps"]
        matched = match_spikes(sb, sa, 1)
        denom = max(len(sb), len(sa))
        shift = 0
        if len(sb) and len(sa):
            shift = int(max(np.min(np.abs(sa - s)) for s in sb))
        out.append(
            {
                "config": str(cfg.path) if cfg.path else None,
                "level": cfg.level,
                "n_spikes_brian2": int(len(sb)),
                "n_spikes_allensdk": int(len(sa)),
                "matched": int(matched),
                "fraction_matched": 1.0 if denom == 0 else matched / denom,
                "v_rms_mV": float(np.sqrt(np.mean(diff**2))) if diff.size else 0.0,
                "v_max_abs_mV": float(np.max(np.abs(diff))) if diff.size else 0.0,
                "max_spike_shift_steps": shift,
            }
        )
    return out

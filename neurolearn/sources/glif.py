r"""Allen Institute GLIF models (GLIF1-GLIF5) in Brian2, loaded from allensdk ``neuron_config.json``.

Teeter et al. (2018, Nat. Commun. 9:709) fitted five generalized leaky integrate-and-fire models
to the Allen Cell Types recordings. Their reference simulator is
``allensdk.model.glif.glif_neuron.GlifNeuron``; the zoo files ``models/glif1.toml`` ..
``glif5.toml`` hold the same models as Brian2 equations (absolute voltages):

.. math::

    C\,\dot v &= I_\mathrm{ext} + \textstyle\sum_j I_j - (v - E_L)/R \\
    \dot I_j &= -I_j/\tau_j  \qquad\text{(GLIF3-5)}\\
    \dot\theta_s &= -b_s\,\theta_s \qquad\text{(GLIF2, 4, 5)}\\
    \dot\theta_v &= a_v (v - E_L) - b_v \theta_v \qquad\text{(GLIF5)}

with a spike when :math:`v > \theta_\infty + \theta_s + \theta_v`, then the reset rules
:math:`v \to E_L` (GLIF1, 3) or :math:`v \to E_L + a_r (v - E_L) + b_r` (GLIF2, 4, 5),
:math:`I_j \to A_j + r_j I_j e^{-t_\mathrm{cut}/\tau_j}`,
:math:`\theta_s \to \theta_s e^{-b_s t_\mathrm{cut}} + a_s`, and the state frozen during the
spike cut (``spike_cut_length`` steps).

Numerical method
----------------
allensdk integrates with a fixed discrete-time scheme (``glif_neuron_methods.py``): forward
Euler for ``v`` (``linear_forward_euler``), the exact exponential for the after-spike currents
and the spike component of the threshold, and for GLIF5 the exact solution of the linear
(v, theta_v) system with the currents held at their values at the start of the step
(``three_components_exact``); every right-hand side uses the state at the start of the step.
After a spike at step ``k`` the reset state is the state at ``k + spike_cut_length`` and
integration resumes at ``k + spike_cut_length + 1``. :func:`allen_glif_method` returns a Brian2
state updater generating exactly this code from the model equations, and the zoo files set
``refractory = "t_cut + dt"`` so Brian2 freezes the state for the cut; with it Brian2 and
allensdk agree to rounding error (see ``tests/test_glif.py`` and ``neurolearn glif check``).

Example
-------
>>> from neurolearn.sources.glif import load_glif_config, simulate_glif
>>> cfg = load_glif_config(".../313861677_Rorb-IRES2-Cre-D_GLIF5_neuron_config.json")
>>> out = simulate_glif([cfg], stimulus_amps, dt=cfg.dt)    # stimulus [time] in A
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..spec import ModelError, load_model

__all__ = ["GlifConfig", "AllenGlifStateUpdater", "allen_glif_method", "load_glif_config",
           "find_glif_configs", "simulate_glif", "simulate_glif_allensdk", "compare_glif",
           "glif_check_stimuli", "match_spikes"]

_LEVELS = {(False, False, False): 1, (False, True, False): 2, (True, False, False): 3,
           (True, True, False): 4, (True, True, True): 5}


# ---------------------------------------------------------------------------------------------
# State updater reproducing allensdk's scheme
# ---------------------------------------------------------------------------------------------
def _stateupdater_base():
    from brian2.stateupdaters.base import StateUpdateMethod

    return StateUpdateMethod


class AllenGlifStateUpdater(_stateupdater_base()):
    """Brian2 state updater reproducing allensdk ``GlifNeuron``'s discrete-time scheme.

    For the membrane potential (``voltage``, default ``"v"``) it writes a forward-Euler step;
    every other variable ``x`` whose right-hand side is linear, :math:`\\dot x = A x + B v + c`
    (``A``, ``B``, ``c`` independent of ``x`` and ``v``), gets the exact solution over one step
    with ``v`` following its own linear dynamics and all other variables frozen at their values
    at the start of the step. For the after-spike currents and the spike component of the
    threshold (``B = 0``) that is :math:`x\\,e^{A\\,dt}`; for GLIF5's voltage component it is
    the formula of allensdk's ``voltage_component_of_threshold_exact`` (Mihalas & Niebur 2009,
    eq. 2.1 solved analytically). All right-hand sides read the state at the start of the step.

    Refractoriness (``unless refractory``) is handled by Brian2's conditional writes.

    Parameters
    ----------
    voltage : str
        Name of the variable integrated with forward Euler.

    Raises
    ------
    brian2.stateupdaters.base.UnsupportedEquationsException
        If a non-voltage variable is not linear in itself and in ``voltage``, or the voltage
        equation is not linear in the voltage.
    """

    def __init__(self, voltage: str = "v"):
        self.voltage = voltage

    def __repr__(self):
        return f"AllenGlifStateUpdater(voltage={self.voltage!r})"

    def __call__(self, equations, variables=None, method_options=None):
        import sympy
        from brian2.parsing.sympytools import str_to_sympy, sympy_to_str
        from brian2.stateupdaters.base import UnsupportedEquationsException

        def strip_refractory(code: str) -> str:
            prefix = "int(not_refractory)*("
            if code.startswith(prefix) and code.endswith(")"):
                return code[len(prefix):-1]
            return code

        diff = {name: str_to_sympy(strip_refractory(eq.expr.code), variables)
                for name, eq in equations.items() if eq.type == "differential equation"}
        if any(eq.type == "subexpression" for eq in equations.values()):
            raise UnsupportedEquationsException("AllenGlifStateUpdater does not support "
                                                "subexpressions; write them into the equations")
        names = list(diff)
        syms = {n: sympy.Symbol(n, real=True) for n in names}
        vname = self.voltage
        if vname not in diff:
            raise UnsupportedEquationsException(f"no differential equation for '{vname}'")
        dt = sympy.Symbol("dt", real=True)
        lines, assign = [], []
        fv = diff[vname]
        av = sympy.diff(fv, syms[vname])
        cv = sympy.simplify(fv - av * syms[vname])
        if syms[vname] in av.free_symbols or syms[vname] in cv.free_symbols:
            raise UnsupportedEquationsException(f"the equation of '{vname}' is not linear in it")
        lines.append(f"_{vname} = {vname} + dt*({sympy_to_str(fv)})")
        for name in names:
            if name == vname:
                continue
            x = syms[name]
            f = diff[name]
            a = sympy.diff(f, x)
            b = sympy.diff(f, syms[vname])
            c = sympy.simplify(f - a * x - b * syms[vname])
            others = set(syms.values())
            if (a.free_symbols | b.free_symbols) & others or \
                    {x, syms[vname]} & c.free_symbols:
                raise UnsupportedEquationsException(
                    f"the equation of '{name}' is not linear in '{name}' and '{vname}' with "
                    f"coefficients independent of the state")
            if b == 0:
                if a == 0:
                    new = x + dt * c
                else:
                    x_inf = -c / a
                    new = x_inf + (x - x_inf) * sympy.exp(a * dt)
            else:
                if av == 0 or a == 0:
                    raise UnsupportedEquationsException(
                        f"'{name}' depends on '{vname}' but one of them has no leak")
                v_inf = -cv / av
                x_inf = -(b * v_inf + c) / a
                k = b * (syms[vname] - v_inf) / (av - a)
                new = x_inf + k * sympy.exp(av * dt) + (x - x_inf - k) * sympy.exp(a * dt)
            lines.append(f"_{name} = {sympy_to_str(new)}")
        for name in names:
            assign.append(f"{name} = _{name}")
        return "\n".join(lines + assign)


_METHOD = None


def allen_glif_method(voltage: str = "v") -> AllenGlifStateUpdater:
    """The state updater to pass as ``method=`` to reproduce allensdk (see
    :class:`AllenGlifStateUpdater`)."""
    global _METHOD
    if voltage != "v":
        return AllenGlifStateUpdater(voltage)
    if _METHOD is None:
        _METHOD = AllenGlifStateUpdater("v")
    return _METHOD


# ---------------------------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class GlifConfig:
    """One allensdk GLIF neuron config converted to a zoo model's parameters.

    Attributes
    ----------
    level : int
        1-5 (GLIF1 ... GLIF5), from the config's dynamics and reset methods.
    params : dict of str -> Quantity
        Values for the parameters of ``models/glif<level>.toml`` (coefficients applied,
        voltages absolute).
    initial : dict of str -> Quantity
        Initial state (``v``, after-spike currents).
    dt : Quantity
        The config's time step (allensdk simulates with it).
    spike_cut_length : int
        Time steps removed after each spike.
    raw : dict
        The config as read (SI units, voltages relative to ``El_reference``).
    path : Path or None
    specimen_id : int or None
        Allen specimen id, from the file name when it starts with one.
    """

    level: int
    params: dict
    initial: dict
    dt: Any
    spike_cut_length: int
    raw: dict
    path: Path | None = None
    specimen_id: int | None = None

    @property
    def model_name(self) -> str:
        """Zoo name of the model (``"glif3"``)."""
        return f"glif{self.level}"

    @property
    def spec(self):
        """The zoo :class:`~neurolearn.spec.NeuronModel` of this level."""
        return load_model(self.model_name)

    @property
    def El_reference(self):
        """Resting potential allensdk's relative voltages refer to (Quantity, volt)."""
        return self.params["E_L"]


def _method_name(cfg, key, where):
    try:
        return cfg[key]["name"], cfg[key].get("params", {}) or {}
    except (KeyError, TypeError):
        raise ModelError(f"{where}: missing or malformed '{key}' (expected "
                         f"{{'name': ..., 'params': {{...}}}})", where, parameter=key) from None


def load_glif_config(source: str | Path | Mapping) -> GlifConfig:
    """Read an allensdk GLIF ``neuron_config.json`` into zoo-model parameters.

    Parameters
    ----------
    source : path or mapping
        The file (``*_GLIF{1..5}_neuron_config.json``) or its parsed content. Units are SI
        (V, A, F, ohm, s), voltages relative to ``El_reference``, as allensdk writes them.

    Returns
    -------
    GlifConfig

    Raises
    ------
    ModelError
        For a missing field, an unknown or inconsistent combination of dynamics/reset methods
        (naming the file and the field), or a value outside the zoo model's range.
    FileNotFoundError
        If the file does not exist.
    """
    from brian2 import amp, farad, ohm, second, volt, Hz

    path = None
    if isinstance(source, Mapping):
        cfg = dict(source)
        where = "neuron config"
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"GLIF neuron config not found: {path}")
        try:
            cfg = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ModelError(f"not valid JSON: {exc}", path, exc.lineno) from None
        where = str(path)
    required = ("El_reference", "C", "R_input", "th_inf", "dt", "spike_cut_length",
                "asc_tau_array", "asc_amp_array", "init_voltage", "init_AScurrents", "coeffs")
    for key in required:
        if key not in cfg:
            raise ModelError(f"missing field '{key}' (is this an allensdk GLIF neuron config?)",
                             path, parameter=key)
    if cfg.get("El", 0.0) != 0.0:
        raise ModelError(f"El = {cfg['El']} V; neurolearn expects allensdk's convention El = 0 "
                         f"(voltages relative to El_reference)", path, parameter="El")
    vdyn, _ = _method_name(cfg, "voltage_dynamics_method", where)
    if vdyn != "linear_forward_euler":
        raise ModelError(f"voltage_dynamics_method '{vdyn}' is not supported (allensdk only "
                         f"implements 'linear_forward_euler')", path,
                         parameter="voltage_dynamics_method")
    ascd, _ = _method_name(cfg, "AScurrent_dynamics_method", where)
    ascr, ascr_p = _method_name(cfg, "AScurrent_reset_method", where)
    thd, thd_p = _method_name(cfg, "threshold_dynamics_method", where)
    thr, thr_p = _method_name(cfg, "threshold_reset_method", where)
    vr, vr_p = _method_name(cfg, "voltage_reset_method", where)
    has_asc = ascd == "exp"
    if has_asc != (ascr == "sum") or ascd not in ("exp", "none"):
        raise ModelError(f"after-spike current methods '{ascd}'/'{ascr}' are inconsistent "
                         f"(expected exp/sum or none/none)", path,
                         parameter="AScurrent_dynamics_method")
    if thd not in ("inf", "spike_component", "three_components_exact"):
        raise ModelError(f"unknown threshold_dynamics_method '{thd}'", path,
                         parameter="threshold_dynamics_method")
    reset_rules = thd != "inf"
    vthresh = thd == "three_components_exact"
    if reset_rules != (thr == "three_components") or reset_rules != (vr == "v_before"):
        raise ModelError(f"threshold dynamics '{thd}', threshold reset '{thr}' and voltage reset "
                         f"'{vr}' do not form a GLIF level (GLIF1/3: inf/inf/zero, GLIF2/4/5: "
                         f"spike_component or three_components_exact/three_components/v_before)",
                         path, parameter="threshold_reset_method")
    level = _LEVELS.get((has_asc, reset_rules, vthresh))
    if level is None:
        raise ModelError(f"this combination of methods is not a GLIF level: after-spike "
                         f"currents={has_asc}, reset rules={reset_rules}, voltage-dependent "
                         f"threshold={vthresh}", path, parameter="threshold_dynamics_method")
    coeffs = dict(cfg["coeffs"] or {})
    c = {k: coeffs.get(k, 1.0) for k in ("th_inf", "C", "G", "a", "b")}
    asc_c = np.asarray(coeffs.get("asc_amp_array", np.ones(len(cfg["asc_tau_array"]))), float)
    dt = float(cfg["dt"]) * second
    cut = int(cfg["spike_cut_length"])
    El = float(cfg["El_reference"]) * volt
    params = {
        "C_m": float(cfg["C"]) * c["C"] * farad,
        "R_m": float(cfg["R_input"]) / c["G"] * ohm,
        "E_L": El,
        "th_inf": El + float(cfg["th_inf"]) * c["th_inf"] * volt,
        "t_cut": cut * dt,
    }
    initial = {"v": El + float(cfg["init_voltage"]) * volt}
    if has_asc:
        taus = np.asarray(cfg["asc_tau_array"], float)
        amps = np.asarray(cfg["asc_amp_array"], float) * asc_c
        r = np.asarray(ascr_p.get("r", np.ones(len(taus))), float)
        if len(taus) != 2:
            raise ModelError(f"the zoo GLIF models have 2 after-spike currents, this config has "
                             f"{len(taus)}", path, parameter="asc_tau_array")
        init_asc = np.asarray(cfg["init_AScurrents"], float)
        for j in range(2):
            params[f"tau_asc{j + 1}"] = taus[j] * second
            params[f"A_asc{j + 1}"] = amps[j] * amp
            params[f"r_asc{j + 1}"] = float(r[j])
            initial[f"I_asc{j + 1}"] = init_asc[j] * amp
    if reset_rules:
        params["a_r"] = float(vr_p["a"])
        params["b_r"] = float(vr_p["b"]) * volt
        params["a_spike"] = float(thr_p["a_spike"]) * volt
        params["b_spike"] = float(thr_p["b_spike"]) * Hz
    if vthresh:
        params["a_v"] = float(thd_p["a_voltage"]) * c["a"] * Hz
        params["b_v"] = float(thd_p["b_voltage"]) * c["b"] * Hz
    spec = load_model(f"glif{level}")
    try:
        spec.resolve_parameters(params)
    except ModelError as exc:
        raise ModelError(str(exc), path, parameter=exc.parameter) from None
    sid = None
    if path is not None:
        m = re.match(r"(\d+)_", path.name)
        sid = int(m.group(1)) if m else None
    return GlifConfig(level, params, initial, dt, cut, cfg, path, sid)


def find_glif_configs(root: str | Path, level: int, species: str = "mouse",
                      limit: int | None = None) -> list[Path]:
    """Paths of the GLIF configs of one level in a Teeter et al. (2018) data folder.

    Parameters
    ----------
    root : path
        ``$NEUROLEARN_DATA_DIR/allen/glif_teeter2018`` (holding ``{mouse,human}_struc_data_dir``).
    level : int
        1-5.
    species : {"mouse", "human"}
    limit : int, optional
        Return at most this many (sorted by cell id, so the selection is reproducible).

    Raises
    ------
    FileNotFoundError
        If the species folder is missing.
    ValueError
        For a level outside 1-5 or an unknown species.
    """
    if level not in (1, 2, 3, 4, 5):
        raise ValueError(f"GLIF level must be 1-5, got {level!r}")
    if species not in ("mouse", "human"):
        raise ValueError(f"species must be 'mouse' or 'human', got {species!r}")
    folder = Path(root) / f"{species}_struc_data_dir"
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} not found (expected the Teeter et al. 2018 GLIF "
                                f"data layout)")
    paths = sorted(folder.glob(f"*/*_GLIF{level}_neuron_config.json"))
    return paths[:limit] if limit is not None else paths


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


def simulate_glif(configs: Sequence[GlifConfig], stimulus, dt=None, record_v: bool = True,
                  allen_method: bool = True, target: str = "numpy") -> dict:
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
        Use :func:`allen_glif_method` (matches allensdk); False uses the zoo file's method.
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

    from ..brian.build import make_neuron_group

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
    from ..brian.backends import use_backend

    if target not in ("numpy", "cython"):
        raise ValueError(f"simulate_glif runs in Brian2's runtime mode: target must be 'numpy' "
                         f"or 'cython', got {target!r}")
    with use_backend(target, dt=dt):
        group = make_neuron_group(spec, n, params=params, initial=initial, dt=dt,
                                  method=allen_glif_method() if allen_method else None)
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
        net.run(n_steps * dt, namespace={})
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
    """
    from allensdk.model.glif.glif_neuron import GlifNeuron

    neuron = GlifNeuron.from_dict(config.raw)
    res = neuron.run(_as_amps(stimulus).astype(float))
    return {"v": np.asarray(res["voltage"]) + float(config.raw["El_reference"]),
            "spike_steps": np.asarray(res["spike_time_steps"], dtype=int),
            "spike_times": np.asarray(res["grid_spike_times"], dtype=float)}


def match_spikes(steps_a, steps_b, tolerance: int = 1) -> int:
    """Number of one-to-one pairs of spikes (given as step indices) at most ``tolerance``
    steps apart (greedy in time order; the coincidence count of
    :func:`neurolearn.fitting.gamma.count_coincidences` on the step grid)."""
    from ..fitting.gamma import count_coincidences

    return count_coincidences(np.asarray(steps_a, dtype=int), np.asarray(steps_b, dtype=int),
                              tolerance)


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
    sq[int(0.1 * n):int(0.9 * n)] = 1.6 * i_th
    rng = np.random.default_rng(seed)
    tau = 3e-3
    a = np.exp(-dt / tau)
    x = np.empty(n)
    x[0] = 0.0
    noise = rng.standard_normal(n) * np.sqrt(1 - a * a)
    for k in range(1, n):
        x[k] = a * x[k - 1] + noise[k]
    return {"long_square": sq, "noise": i_th * (1.2 + 0.5 * x)}


def compare_glif(configs: Sequence[GlifConfig], stimuli: Sequence[np.ndarray] | np.ndarray,
                 target: str = "numpy") -> list[dict]:
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
        out.append({"config": str(cfg.path) if cfg.path else None, "level": cfg.level,
                    "n_spikes_brian2": int(len(sb)), "n_spikes_allensdk": int(len(sa)),
                    "matched": int(matched),
                    "fraction_matched": 1.0 if denom == 0 else matched / denom,
                    "v_rms_mV": float(np.sqrt(np.mean(diff ** 2))) if diff.size else 0.0,
                    "v_max_abs_mV": float(np.max(np.abs(diff))) if diff.size else 0.0,
                    "max_spike_shift_steps": shift})
    return out

r"""Allen Institute GLIF models (GLIF1-GLIF5): the fitted parameters of Teeter et al. (2018),
read from allensdk ``neuron_config.json`` files and converted to the zoo models' parameters.

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
integration resumes at ``k + spike_cut_length + 1``.
:func:`neurolearn.brian.glif.allen_glif_method` returns a Brian2 state updater generating
exactly this code from the model equations (registered with Brian2 as ``"allen_glif"``, the
``method`` of the GLIF zoo files), and the zoo files set ``refractory = "t_cut + dt"`` so Brian2
freezes the state for the cut; with it Brian2 and allensdk agree to rounding error (:mod:`neurolearn.analysis.glif`, ``neurolearn glif check``).

Example
-------
>>> from neurolearn.sources.glif import load_glif_config
>>> from neurolearn.analysis.glif import simulate_glif
>>> cfg = load_glif_config(".../313861677_Rorb-IRES2-Cre-D_GLIF5_neuron_config.json")
>>> out = simulate_glif([cfg], stimulus_amps, dt=cfg.dt)    # stimulus [time] in A
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..spec import ModelError, load_model

__all__ = ["GlifConfig", "load_glif_config", "find_glif_configs"]

_LEVELS = {
    (False, False, False): 1,
    (False, True, False): 2,
    (True, False, False): 3,
    (True, True, False): 4,
    (True, True, True): 5,
}


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
        raise ModelError(
            f"{where}: missing or malformed '{key}' (expected {{'name': ..., 'params': {{...}}}})",
            where,
            parameter=key,
        ) from None


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
    cfg, path, where = _read_config(source)
    level, flags, method_params = _glif_level(cfg, path, where)
    params, initial, dt, cut = _zoo_parameters(cfg, path, flags, method_params)
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


_REQUIRED = (
    "El_reference",
    "C",
    "R_input",
    "th_inf",
    "dt",
    "spike_cut_length",
    "asc_tau_array",
    "asc_amp_array",
    "init_voltage",
    "init_AScurrents",
    "coeffs",
)


def _read_config(source) -> tuple[dict, Path | None, str]:
    """(parsed config, its file or None, how to name it in messages), required fields
    checked."""
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
    for key in _REQUIRED:
        if key not in cfg:
            raise ModelError(
                f"missing field '{key}' (is this an allensdk GLIF neuron config?)",
                path,
                parameter=key,
            )
    if cfg.get("El", 0.0) != 0.0:
        raise ModelError(
            f"El = {cfg['El']} V; neurolearn expects allensdk's convention El = 0 "
            f"(voltages relative to El_reference)",
            path,
            parameter="El",
        )
    return cfg, path, where


def _glif_level(cfg, path, where) -> tuple[int, tuple[bool, bool, bool], dict]:
    """The GLIF level of a config's dynamics and reset methods, the flags (after-spike
    currents, reset rules, voltage-dependent threshold) and the methods' parameters."""
    vdyn, _ = _method_name(cfg, "voltage_dynamics_method", where)
    if vdyn != "linear_forward_euler":
        raise ModelError(
            f"voltage_dynamics_method '{vdyn}' is not supported (allensdk only "
            f"implements 'linear_forward_euler')",
            path,
            parameter="voltage_dynamics_method",
        )
    ascd, _ = _method_name(cfg, "AScurrent_dynamics_method", where)
    ascr, ascr_p = _method_name(cfg, "AScurrent_reset_method", where)
    thd, thd_p = _method_name(cfg, "threshold_dynamics_method", where)
    thr, thr_p = _method_name(cfg, "threshold_reset_method", where)
    vr, vr_p = _method_name(cfg, "voltage_reset_method", where)
    has_asc = ascd == "exp"
    if has_asc != (ascr == "sum") or ascd not in ("exp", "none"):
        raise ModelError(
            f"after-spike current methods '{ascd}'/'{ascr}' are inconsistent "
            f"(expected exp/sum or none/none)",
            path,
            parameter="AScurrent_dynamics_method",
        )
    if thd not in ("inf", "spike_component", "three_components_exact"):
        raise ModelError(
            f"unknown threshold_dynamics_method '{thd}'",
            path,
            parameter="threshold_dynamics_method",
        )
    reset_rules = thd != "inf"
    vthresh = thd == "three_components_exact"
    if reset_rules != (thr == "three_components") or reset_rules != (vr == "v_before"):
        raise ModelError(
            f"threshold dynamics '{thd}', threshold reset '{thr}' and voltage reset "
            f"'{vr}' do not form a GLIF level (GLIF1/3: inf/inf/zero, GLIF2/4/5: "
            f"spike_component or three_components_exact/three_components/v_before)",
            path,
            parameter="threshold_reset_method",
        )
    level = _LEVELS.get((has_asc, reset_rules, vthresh))
    if level is None:
        raise ModelError(
            f"this combination of methods is not a GLIF level: after-spike "
            f"currents={has_asc}, reset rules={reset_rules}, voltage-dependent "
            f"threshold={vthresh}",
            path,
            parameter="threshold_dynamics_method",
        )
    methods = {"asc_reset": ascr_p, "threshold": thd_p, "threshold_reset": thr_p, "reset": vr_p}
    return level, (has_asc, reset_rules, vthresh), methods


def _zoo_parameters(cfg, path, flags, methods) -> tuple[dict, dict, object, int]:
    """The zoo model's parameter values and initial values of a config (absolute voltages,
    allensdk's coefficients applied), its time step and spike cut length in steps."""
    from brian2 import Hz, amp, farad, ohm, second, volt

    has_asc, reset_rules, vthresh = flags
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
        r = np.asarray(methods["asc_reset"].get("r", np.ones(len(taus))), float)
        if len(taus) != 2:
            raise ModelError(
                f"the zoo GLIF models have 2 after-spike currents, this config has {len(taus)}",
                path,
                parameter="asc_tau_array",
            )
        init_asc = np.asarray(cfg["init_AScurrents"], float)
        for j in range(2):
            params[f"tau_asc{j + 1}"] = taus[j] * second
            params[f"A_asc{j + 1}"] = amps[j] * amp
            params[f"r_asc{j + 1}"] = float(r[j])
            initial[f"I_asc{j + 1}"] = init_asc[j] * amp
    if reset_rules:
        params["a_r"] = float(methods["reset"]["a"])
        params["b_r"] = float(methods["reset"]["b"]) * volt
        params["a_spike"] = float(methods["threshold_reset"]["a_spike"]) * volt
        params["b_spike"] = float(methods["threshold_reset"]["b_spike"]) * Hz
    if vthresh:
        params["a_v"] = float(methods["threshold"]["a_voltage"]) * c["a"] * Hz
        params["b_v"] = float(methods["threshold"]["b_voltage"]) * c["b"] * Hz
    return params, initial, dt, cut


def find_glif_configs(
    root: str | Path, level: int, species: str = "mouse", limit: int | None = None
) -> list[Path]:
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
        raise FileNotFoundError(
            f"{folder} not found (expected the Teeter et al. 2018 GLIF data layout)"
        )
    paths = sorted(folder.glob(f"*/*_GLIF{level}_neuron_config.json"))
    return paths[:limit] if limit is not None else paths

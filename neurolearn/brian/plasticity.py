"""Plasticity: STDP and reward-modulated STDP synapses, and the ways of delivering reward.

The rules themselves are zoo models (``models/stdp_*.toml``, ``models/rstdp.toml``), written as
Brian2 equations with pre- and postsynaptic traces (Morrison, Diesmann & Gerstner 2008, Biol.
Cybern. 98:459):

=================================  ===========================================================
``stdp_additive``                  Song, Miller & Abbott (2000), all-to-all pairing
``stdp_additive_nearest``          the same, nearest-spike pairing
``stdp_multiplicative``            Guetig et al. (2003) mu-family / van Rossum et al. (2000)
``stdp_multiplicative_nearest``    the same, nearest-spike pairing
``stdp_triplet``                   Pfister & Gerstner (2006), minimal visual-cortex model
``rstdp``                          Izhikevich (2007); Fremaux & Gerstner (2016): a three-factor
                                   rule, dw/dt = eta * c * dopamine
=================================  ===========================================================

This module builds plastic synapses from those files (:func:`make_plastic_synapses`, which
checks the initial weights against ``w_max``), gives the analytic STDP window and an
independent event-by-event reference of each pair/triplet rule (:func:`stdp_window`,
:func:`stdp_reference`); :mod:`neurolearn.brian.reward` (whose names are importable from here
too) delivers reward (dopamine) to reward-modulated synapses:

* :class:`RewardSchedule` + :func:`deliver_rewards`: precomputed reward times and amounts,
  played by a ``SpikeGeneratorGroup`` (every backend, including ``cpp_standalone`` and
  ``cuda_standalone``);
* :func:`reward_network_operation`: closed loop through a Python function of the network's
  state, called during the run (runtime backends ``numpy`` and ``cython`` only);
* :func:`pairing_reward`: closed loop written as equations inside the network (a critic neuron
  detecting a chosen pre -> post pairing and a bank of reward timers), so it runs in standalone
  mode and on the GPU too (Izhikevich 2007, "distal reward").

Dopamine lives in the *postsynaptic* neuron group as the variable ``dopamine`` (added to the
neuron model by ``rstdp``'s ``post_equations``: it relaxes to ``d_tonic`` with ``tau_d``); each
reward adds its amount to ``dopamine`` of every neuron of the target groups, so every plastic
synapse onto them sees the same, global, dopamine signal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..spec import ModelError, SynapseModel, load_model, parse_quantity
from .backends import use_backend
from .build import make_synapses
from .reward import (
    PairingReward,
    RewardSchedule,
    deliver_rewards,
    dopamine_targets,
    pairing_reward,
    reward_network_operation,
)

__all__ = [
    "post_group_values",
    "STDP_MODELS",
    "PAIRINGS",
    "stdp_model",
    "make_plastic_synapses",
    "stdp_window",
    "stdp_reference",
    "RewardSchedule",
    "deliver_rewards",
    "reward_network_operation",
    "PairingReward",
    "pairing_reward",
    "dopamine_targets",
    "simulate_stdp",
]

#: (weight dependence, pairing) -> zoo model name of the pair-based STDP rules.
STDP_MODELS = {
    ("additive", "all_to_all"): "stdp_additive",
    ("additive", "nearest"): "stdp_additive_nearest",
    ("multiplicative", "all_to_all"): "stdp_multiplicative",
    ("multiplicative", "nearest"): "stdp_multiplicative_nearest",
}
#: Pairing schemes of the pair-based rules (Morrison et al. 2008, sec. 4.1).
PAIRINGS = ("all_to_all", "nearest")

# zoo name -> (family, pairing) for the reference implementation
_RULES = {name: ("pair", pairing) for (dep, pairing), name in STDP_MODELS.items()}
_RULES["stdp_triplet"] = ("triplet", "all_to_all")


def stdp_model(weight_dependence: str = "additive", pairing: str = "all_to_all") -> SynapseModel:
    """The zoo's pair-based STDP model for a weight dependence and a pairing scheme.

    Parameters
    ----------
    weight_dependence : {"additive", "multiplicative"}
        ``"additive"``: Song, Miller & Abbott (2000), hard bounds; ``"multiplicative"``:
        Guetig et al. (2003) with mu = 1 (use ``.with_preset("van_rossum")`` for van Rossum
        et al. 2000).
    pairing : {"all_to_all", "nearest"}
        All pre/post spike pairs interact, or only nearest neighbours (trace reset to 1).

    Returns
    -------
    SynapseModel

    Raises
    ------
    ModelError
        For an unknown weight dependence or pairing (names the argument and the choices).
    """
    deps = sorted({d for d, _ in STDP_MODELS})
    if weight_dependence not in deps:
        raise ModelError(
            f"weight_dependence must be one of {', '.join(deps)}, got {weight_dependence!r}",
            parameter="weight_dependence",
        )
    if pairing not in PAIRINGS:
        raise ModelError(
            f"pairing must be one of {', '.join(PAIRINGS)}, got {pairing!r}", parameter="pairing"
        )
    return load_model(STDP_MODELS[(weight_dependence, pairing)])


def _as_spec(spec) -> SynapseModel:
    if isinstance(spec, str):
        spec = load_model(spec)
    if not isinstance(spec, SynapseModel):
        raise ModelError(
            f"'{getattr(spec, 'name', spec)}' is not a synapse model",
            getattr(spec, "path", None),
            parameter="synapse",
        )
    return spec


def _uses_dopamine(spec: SynapseModel) -> bool:
    return "dopamine" in spec.post_equations


def _check_dopamine_target(spec: SynapseModel, target, target_var) -> None:
    """A reward-modulated synapse model needs ``dopamine`` (and its parameters) in its
    target group."""
    missing = [
        v for v in ("dopamine", "tau_dopamine", "dopamine_tonic") if v not in target.variables
    ]
    if missing:
        raise ModelError(
            f"synapse model '{spec.name}' reads the postsynaptic dopamine, but "
            f"the target group '{target.name}' has no '{missing[0]}': build it "
            f"with make_neuron_group(..., synapse_models=[(spec, "
            f"'{target_var or spec.target}')])",
            spec.path,
            parameter="dopamine",
        )


def _check_initial_weights(spec: SynapseModel, w_init, w_max) -> None:
    """Numeric initial weights are in the units of ``w_max``, finite and in ``[0, w_max]``."""
    from brian2.units.fundamentalunits import fail_for_dimension_mismatch

    w_arr = np.asarray(w_init)
    try:
        fail_for_dimension_mismatch(w_init, w_max)
    except Exception:
        raise ModelError(
            f"w_init: expected weights in the units of w_max ({w_max}), got {w_init!r}",
            spec.path,
            parameter="w_init",
        ) from None
    if np.any(~np.isfinite(w_arr)) or np.any(w_arr < 0):
        raise ModelError(
            f"w_init: initial weights must be finite and >= 0 (min {float(np.nanmin(w_arr))!r})",
            spec.path,
            parameter="w_init",
        )
    if np.max(w_arr) > float(w_max) * (1 + 1e-12):
        raise ModelError(
            f"w_max ({w_max}) is below the largest initial weight w_init "
            f"({float(np.max(w_arr))!r} in SI units): raise w_max or lower w_init",
            spec.path,
            parameter="w_max",
        )


def make_plastic_synapses(
    spec,
    source,
    target,
    connect: Any = True,
    w_init=None,
    params: Mapping[str, Any] | None = None,
    target_var: str | None = None,
    name: str | None = None,
    delay=None,
    dt=None,
    method: str | None = None,
):
    """Brian2 ``Synapses`` of a plasticity model, connected, with checked initial weights.

    Parameters
    ----------
    spec : SynapseModel or str
        A plasticity model (zoo name such as ``"stdp_additive"`` or a loaded spec).
    source, target : Brian2 groups
        Presynaptic and postsynaptic groups. For ``rstdp`` the target must carry the
        ``dopamine`` variable: build it with
        ``make_neuron_group(..., synapse_models=[(spec, target_var)])``; this function sets
        the target's ``tau_dopamine`` and ``dopamine_tonic`` to the synapse model's ``tau_d``
        and ``d_tonic``.
    connect : bool, str, dict or (i, j) tuple
        Passed to ``Synapses.connect``: ``True`` (all to all), a condition string, a dict of
        keyword arguments (``{"p": 0.1}``), or a tuple of index arrays ``(i, j)``.
    w_init : Quantity, array of Quantity, or str, optional
        Initial weights (scalar, one per synapse in connection order, or a Brian2 expression
        such as ``"rand()*w_max"``). Default ``w_max / 2``. Numeric values are checked to lie
        in ``[0, w_max]``; expressions are not checked.
    params : mapping, optional
        Shared parameter values overriding the model's defaults (Quantities or strings).
    target_var : str, optional
        Postsynaptic variable driven by presynaptic spikes (default: the model's ``target``).
    name : str, optional
        Brian2 name of the Synapses object.
    delay : Quantity, optional
        Transmission delay of the presynaptic pathway.
    dt : Quantity, optional
        Time step of the synapses' clock-driven equations (``rstdp``: eligibility and weight;
        Izhikevich 2007 used 10 ms). Default: ``defaultclock.dt``.
    method : str, optional
        State updater (default: the model's).

    Returns
    -------
    brian2.Synapses

    Raises
    ------
    ModelError
        For a bad parameter (unit, range, a time constant <= 0, naming it), ``w_max`` below
        the largest initial weight (names ``w_max`` and ``w_init``), a negative initial
        weight, or an ``rstdp`` target without ``dopamine``.
    """
    spec = _as_spec(spec)
    values = spec.resolve_parameters(params)
    if _uses_dopamine(spec):
        _check_dopamine_target(spec, target, target_var)
    w_max = values.get("w_max")
    if w_init is None:
        w_init = w_max / 2 if w_max is not None else None
    if w_init is not None and not isinstance(w_init, str) and w_max is not None:
        _check_initial_weights(spec, w_init, w_max)
    if not isinstance(connect, (tuple, dict, str, bool)):
        raise ModelError(
            f"connect: expected True, a condition string, a dict or an (i, j) "
            f"tuple, got {type(connect).__name__}",
            parameter="connect",
        )
    syn = make_synapses(
        spec,
        source,
        target,
        target_var=target_var,
        params=params,
        name=name,
        method=method,
        delay=delay,
        dt=dt,
        connect=connect,
    )
    for var, value in spec.initial.items():
        if isinstance(value, str):
            try:
                value = parse_quantity(value, var)
            except ModelError:
                pass
        setattr(syn, var, value)
    if w_init is not None:
        syn.w = w_init
    for var, value in post_group_values(spec, values).items():
        setattr(target, var, value)
    return syn


def post_group_values(spec: SynapseModel, values: Mapping[str, Any]) -> dict:
    """Values the postsynaptic group of a multi-group rule takes from the synapse model's
    parameters: for ``rstdp``, ``tau_dopamine = tau_d``, ``dopamine_tonic = d_tonic`` and the
    initial ``dopamine = d_tonic`` (Izhikevich 2007: dopamine relaxes to its tonic level).

    Parameters
    ----------
    spec : SynapseModel
    values : mapping
        The synapse model's parameter values (:meth:`SynapseModel.resolve_parameters`).

    Returns
    -------
    dict of str -> Quantity
        Variable of the postsynaptic group -> value; empty for a one-group rule.
    """
    if not _uses_dopamine(spec):
        return {}
    return {
        "tau_dopamine": values["tau_d"],
        "dopamine_tonic": values["d_tonic"],
        "dopamine": values["d_tonic"],
    }


# ---------------------------------------------------------------------------------------------
# Analytic window and reference implementation
# ---------------------------------------------------------------------------------------------
def _values(spec: SynapseModel, params) -> dict:
    out = {}
    for k, v in spec.resolve_parameters(params).items():
        out[k] = float(v)
    return out


def stdp_window(spec, delta_t, w0=None, params: Mapping[str, Any] | None = None) -> np.ndarray:
    """Weight change caused by one isolated pre/post spike pair (the STDP window).

    Parameters
    ----------
    spec : SynapseModel or str
        ``stdp_additive``, ``stdp_multiplicative`` (either pairing) or ``stdp_triplet``.
    delta_t : array-like of Quantity or float (seconds), shape (n,)
        ``t_post - t_pre``; > 0: pre before post (potentiation), < 0: depression. ``0`` is
        treated as pre before post (Brian2 runs ``on_pre`` before ``on_post`` in a time step).
    w0 : Quantity, optional
        Weight before the pair (default ``w_max / 2``); matters for weight-dependent rules.
    params : mapping, optional
        Parameter overrides.

    Returns
    -------
    ndarray, shape (n,)
        Weight change in SI units of the weight (siemens for the zoo's STDP models), before
        clipping to ``[0, w_max]``.

    Notes
    -----
    Additive (Song et al. 2000): ``A+ w_max exp(-dt/tau+)`` and ``-A- w_max exp(dt/tau-)``.
    Weight-dependent (Guetig et al. 2003): the same times ``(1 - w0/w_max)**mu_plus`` and
    ``(w0/w_max)**mu_minus``. Triplet (Pfister & Gerstner 2006, eq. 3-4): for an isolated pair
    the triplet traces are zero, leaving ``A2+`` and ``A2-``.

    Raises
    ------
    ModelError
        For a model that is not a pair or triplet STDP rule.
    """
    spec = _as_spec(spec)
    if spec.name not in _RULES:
        raise ModelError(
            f"stdp_window knows the models {', '.join(sorted(_RULES))}, not '{spec.name}'",
            spec.path,
            parameter="spec",
        )
    p = _values(spec, params)
    dt = np.asarray(delta_t, dtype=float)
    w_max = p["w_max"]
    x = 0.5 if w0 is None else float(w0) / w_max
    if _RULES[spec.name][0] == "triplet":
        plus = w_max * p["A2_plus"] * np.exp(-np.abs(dt) / p["tau_plus"])
        minus = -w_max * p["A2_minus"] * np.exp(-np.abs(dt) / p["tau_minus"])
    else:
        f_plus = (1 - x) ** p.get("mu_plus", 0.0)
        f_minus = x ** p.get("mu_minus", 0.0)
        plus = p["A_plus"] * w_max * f_plus * np.exp(-np.abs(dt) / p["tau_plus"])
        minus = -p["A_minus"] * w_max * f_minus * np.exp(-np.abs(dt) / p["tau_minus"])
    return np.where(dt >= 0, plus, minus)


def stdp_reference(
    spec, pre_times, post_times, w0, params: Mapping[str, Any] | None = None
) -> float:
    """Final weight of one synapse after given pre- and postsynaptic spike trains, computed
    event by event in NumPy (an implementation independent of Brian2's code generation).

    Parameters
    ----------
    spec : SynapseModel or str
        A pair-based STDP model of :data:`STDP_MODELS` or ``stdp_triplet``.
    pre_times, post_times : array-like, seconds
        Spike times (any order; a pre and a post spike at the same time are processed pre
        first, as Brian2 does).
    w0 : Quantity or float (SI)
        Initial weight, in ``[0, w_max]``.
    params : mapping, optional
        Parameter overrides.

    Returns
    -------
    float
        Final weight in SI units (siemens for the zoo's models).

    Notes
    -----
    Traces decay exactly between events (``exp(-dt/tau)``); all-to-all pairing adds 1 to a
    trace at each of its spikes, nearest-spike pairing sets it to 1 (Morrison et al. 2008,
    sec. 4.1); after each update the weight is clipped to ``[0, w_max]``.
    """
    spec = _as_spec(spec)
    if spec.name not in _RULES:
        raise ModelError(
            f"stdp_reference knows the models {', '.join(sorted(_RULES))}, not '{spec.name}'",
            spec.path,
            parameter="spec",
        )
    family, pairing = _RULES[spec.name]
    p = _values(spec, params)
    w_max = p["w_max"]
    w = float(w0)
    events = sorted(
        [(float(t), 0) for t in np.asarray(pre_times, dtype=float)]
        + [(float(t), 1) for t in np.asarray(post_times, dtype=float)]
    )
    if family == "triplet":
        taus = {"r1": p["tau_plus"], "r2": p["tau_x"], "o1": p["tau_minus"], "o2": p["tau_y"]}
    else:
        taus = {"apre": p["tau_plus"], "apost": p["tau_minus"]}
    tr = {k: 0.0 for k in taus}
    last = None
    for t, kind in events:
        if last is not None:
            for k in tr:
                tr[k] *= np.exp(-(t - last) / taus[k])
        last = t
        if family == "triplet":
            if kind == 0:
                w = min(
                    max(w - w_max * tr["o1"] * (p["A2_minus"] + p["A3_minus"] * tr["r2"]), 0.0),
                    w_max,
                )
                tr["r1"] += 1
                tr["r2"] += 1
            else:
                w = min(
                    max(w + w_max * tr["r1"] * (p["A2_plus"] + p["A3_plus"] * tr["o2"]), 0.0), w_max
                )
                tr["o1"] += 1
                tr["o2"] += 1
            continue
        mu_p, mu_m = p.get("mu_plus", 0.0), p.get("mu_minus", 0.0)
        if kind == 0:
            tr["apre"] = 1.0 if pairing == "nearest" else tr["apre"] + 1
            w = min(max(w - p["A_minus"] * w_max * (w / w_max) ** mu_m * tr["apost"], 0.0), w_max)
        else:
            tr["apost"] = 1.0 if pairing == "nearest" else tr["apost"] + 1
            w = min(max(w + p["A_plus"] * w_max * (1 - w / w_max) ** mu_p * tr["apre"], 0.0), w_max)
    return w


def simulate_stdp(
    spec,
    pre_trains: Sequence,
    post_trains: Sequence,
    w0=None,
    params: Mapping[str, Any] | None = None,
    backend: str = "numpy",
    dt=None,
    duration=None,
    directory=None,
) -> np.ndarray:
    """Simulate independent synapses, each between one presynaptic and one postsynaptic
    neuron that fire at given times, and return the final weights.

    The spikes are imposed (spike generators), so the measured weight change is that of the
    plasticity rule alone, as in an STDP pairing experiment.

    Parameters
    ----------
    spec : SynapseModel or str
        A plasticity model with a weight ``w`` (not ``rstdp``, whose weight needs dopamine).
    pre_trains, post_trains : sequences of length n of arrays (seconds)
        Spike times of the presynaptic / postsynaptic neuron of each synapse. Times are
        rounded to the time step; postsynaptic times must be >= ``dt``.
    w0 : Quantity or array of Quantity, optional
        Initial weights (default ``w_max / 2``).
    params : mapping, optional
        Parameter overrides of the model.
    backend : str
        A backend of :mod:`neurolearn.brian.backends` (``"numpy"``, ``"cpp_standalone"``...).
    dt : Quantity, optional
        Time step (default 0.1 ms).
    duration : Quantity, optional
        Length of the run (default: last spike + 2 time steps).
    directory : path, optional
        Standalone project folder.

    Returns
    -------
    ndarray, shape (n,)
        Final weights in SI units.

    Raises
    ------
    ModelError
        Mismatched numbers of trains, a postsynaptic spike before ``dt``, or a bad parameter.
    """
    from brian2 import Network, NeuronGroup, SpikeGeneratorGroup, Synapses, ms, second

    spec = _as_spec(spec)
    if _uses_dopamine(spec):
        raise ModelError(
            f"simulate_stdp: '{spec.name}' needs dopamine; build its network "
            f"with make_plastic_synapses and a reward",
            parameter="spec",
        )
    if len(pre_trains) != len(post_trains) or not len(pre_trains):
        raise ModelError(
            f"simulate_stdp: {len(pre_trains)} presynaptic and {len(post_trains)} "
            f"postsynaptic trains; give one of each per synapse",
            parameter="post_trains",
        )
    dt = 0.1 * ms if dt is None else dt
    n = len(pre_trains)

    def flat(trains, shift):
        idx, times = [], []
        for k, tr in enumerate(trains):
            steps = np.round(np.asarray(tr, dtype=float) / float(dt)).astype(np.int64) - shift
            if steps.size and steps.min() < 0:
                raise ModelError(
                    "simulate_stdp: postsynaptic spikes must come at or after one time step",
                    parameter="post_trains",
                )
            idx.append(np.full(steps.size, k))
            times.append(steps)
        return np.concatenate(idx), np.concatenate(times)

    pre_i, pre_s = flat(pre_trains, 0)
    post_i, post_s = flat(post_trains, 1)
    last = max(pre_s.max(initial=0), post_s.max(initial=0) + 1)
    duration = (last + 2) * float(dt) * second if duration is None else duration
    w_dim = spec.brian2_equations()["w"].dim
    from brian2.units.fundamentalunits import get_unit

    unit = "1" if w_dim.is_dimensionless else repr(get_unit(w_dim))
    with use_backend(backend, dt=dt, directory=directory) as be:
        pre = SpikeGeneratorGroup(n, pre_i, pre_s * float(dt) * second, name="pre")
        driver = SpikeGeneratorGroup(n, post_i, post_s * float(dt) * second, name="post_driver")
        post = NeuronGroup(
            n,
            f"{spec.target} : {unit}\nfire : 1",
            threshold="fire > 0.5",
            reset="fire = 0",
            name="post",
            namespace={},
        )
        drive = Synapses(driver, post, on_pre="fire_post = 1", name="drive", namespace={})
        drive.connect(j="i")
        syn = make_plastic_synapses(
            spec, pre, post, connect={"j": "i"}, w_init=w0, params=params, name="plastic"
        )
        net = Network(pre, driver, post, drive, syn)
        be.run(net, duration)
        out = np.asarray(syn.w_[:], dtype=float).copy()
        if be.is_standalone:
            be.close()
    return out

"""Reproduction of Izhikevich (2007), "Solving the distal reward problem through linkage of STDP
and dopamine signaling", Cereb. Cortex 17:2443, Fig. 1.

A network of 1000 Izhikevich neurons (800 regular-spiking excitatory, 200 fast-spiking
inhibitory), each sending 100 synapses (inhibitory ones to excitatory neurons only), 1 ms
delays, driven by random "thalamic" input: as in the paper's published code (``daspnet.m``,
ModelDB 84167), every neuron receives a current drawn each millisecond uniformly from
[-6.5, 6.5] mV/ms (``I = 13*(rand(N,1)-0.5)``); ``thalamic="kicks"`` instead gives one random
neuron per millisecond a 20 mV kick (the input of ``spnet.m``, Izhikevich 2006). Excitatory
synapses follow reward-modulated STDP (zoo model ``rstdp``: eligibility trace with
tau_c = 1 s, dopamine with tau_d = 200 ms, weights in [0, 4 mV], updated every 10 ms);
inhibitory ones are fixed at -1 mV.

Constants checked against ``daspnet.m``: STDP traces decay by 0.95 per ms (tau ~ 20 ms) with
A+ = 0.1 mV and A- = 1.5 * 0.1 mV; eligibility ``sd`` decays by 0.99 every 10 ms
(tau_c ~ 1 s); dopamine decays by 0.995 per ms (tau_d ~ 200 ms), +0.5 per reward, tonic
level 0.002; weights ``s = clip(s + (0.002 + DA)*sd, 0, 4)`` every 10 ms (no activity-
independent +0.01 term: that belongs to ``spnet.m``); reward 1001-3000 ms after n2 fires
< 20 ms after n1; 1 ms delays. Differences that remain: the code lets a neuron target the same
neuron twice or itself (here: 100 distinct targets, no autapse); it sets a trace to 0.1 at
each spike instead of adding (the same at ~1 Hz firing); it integrates v in two 0.5 ms steps
and u in one 1 ms step (here both at 0.5 ms: our FS neurons fire ~20 % more, see README),
and resets a neuron only at the next 1 ms step,
so u is updated once with the overshooting v (~200 mV): ~1 mV (RS) and ~5 mV (FS) of extra
u per spike that this model, reset at 30 mV, does not have (it does not change the rates of a
port of the code; see README). One excitatory synapse n1 -> n2 is chosen (initial weight
0); every time n2 fires within 20 ms after n1, a reward (dopamine + 0.5) arrives 1-3 s later,
by which time many other pairings have happened. The reward detection runs inside the network
(:func:`neurolearn.brian.plasticity.pairing_reward`), so the whole hour runs in standalone mode.
Expected (paper, Fig. 1): the rewarded synapse grows to the maximum weight while the other
excitatory weights stay low. Measured (one hour, seed 1): the rewarded synapse reaches ~4 mV
within 10 min, the others' median stays ~0.3-0.5 mV, but their upper tail grows too and ~4 %
end at or above the rewarded one, in this script and in a step-by-step port of ``daspnet.m``
alike (README, Plasticity).

Run::

    python -m neurolearn.reproductions.izhikevich2007_distal_reward --out results/izhikevich2007 \
        --duration-s 3600 --backend cpp_standalone

writes ``izhikevich2007.json`` (rewarded weight and percentiles of the others over time,
reward times, wall times), ``izhikevich2007_weights.{pdf,svg,png}``. ``--backend
cuda_standalone --generate-only`` writes the CUDA project without compiling or running it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..figures import styled
from .base import add_common_arguments, check_generate_only, run_reproduction
from .registry import Reproduction, register

__all__ = [
    "connectivity",
    "build_and_run",
    "summarize",
    "plot",
    "add_arguments",
    "run",
    "REPRODUCTION",
    "main",
]

N_EXC, N_INH, N_SYN = 800, 200, 100


def connectivity(n_exc: int, n_inh: int, n_syn: int, rng: np.random.Generator):
    """Izhikevich (2007) wiring: each neuron sends ``n_syn`` synapses to distinct targets other
    than itself; excitatory neurons to any neuron, inhibitory neurons to excitatory ones only.

    Returns
    -------
    (i_exc, j_exc, i_inh, j_inh) : int arrays
        Source and target indices of the excitatory and inhibitory synapses, sorted by source.
    """
    n = n_exc + n_inh
    ii_e, jj_e, ii_i, jj_i = [], [], [], []
    for i in range(n):
        pool = np.arange(n) if i < n_exc else np.arange(n_exc)
        pool = pool[pool != i]
        targets = np.sort(rng.choice(pool, size=min(n_syn, pool.size), replace=False))
        (ii_e if i < n_exc else ii_i).append(np.full(targets.size, i))
        (jj_e if i < n_exc else jj_i).append(targets)
    return (np.concatenate(ii_e), np.concatenate(jj_e), np.concatenate(ii_i), np.concatenate(jj_i))


def build_and_run(
    backend: str = "cpp_standalone",
    duration_s: float = 3600.0,
    seed: int = 1,
    n_exc: int = N_EXC,
    n_inh: int = N_INH,
    n_syn: int = N_SYN,
    record_every_s: float = 10.0,
    n_record: int = 2000,
    directory=None,
    generate_only: bool = False,
    n2_extra_rate_hz: float = 0.0,
    input_rate_hz: float = 1.0,
    rstdp_params: dict | None = None,
    teacher_probability: float = 0.0,
    thalamic: str = "noise",
) -> dict:
    """Build the network of Izhikevich (2007, Fig. 1), run it, return raw results.

    Parameters
    ----------
    backend : str
        ``numpy``, ``cython``, ``cpp_standalone`` or ``cuda_standalone``.
    duration_s : float
        Simulated time in seconds (paper: 3600).
    seed : int
        Seed of the wiring, the thalamic kicks (drawn in NumPy, identical in every backend)
        and Brian2's generator (thalamic noise, reward delays).
    n_exc, n_inh, n_syn : int
        Network size (paper: 800, 200, 100).
    record_every_s : float
        Interval of the weight recordings in seconds.
    n_record : int
        Number of other excitatory synapses whose weights are recorded over time.
    generate_only : bool
        Standalone: write the project but do not compile or run it.
    n2_extra_rate_hz : float
        Extra Poisson-like input (20 mV kicks) to neuron n2, in Hz; 0 in the paper. Used by
        the shortened test to make pairings n1 -> n2 (and so rewards) frequent.
    thalamic : {"noise", "kicks"}
        ``"noise"`` (the paper's code): each neuron receives a current drawn every 1 ms
        uniformly from [-6.5, 6.5] mV/ms by Brian2's ``rand()`` (differs between backends);
        ``"kicks"``: 20 mV kicks at ``input_rate_hz`` per neuron, drawn in NumPy (identical in
        every backend).
    input_rate_hz : float
        ``thalamic="kicks"`` only: rate of the kicks per neuron (1 Hz: one neuron per ms).
    teacher_probability : float
        Probability that a spike of n1 is followed, 5 ms later, by a 20 mV kick to n2 (a
        "teacher" that makes the rewarded pairing frequent); 0 in the paper. The shortened
        test uses it to get the ~50 rewards of the hour-long experiment in a few minutes of
        simulated time; eligibility traces, dopamine and reward delays are unchanged.
    rstdp_params : dict, optional
        Overrides of the ``rstdp`` model's parameters (e.g. ``{"A_minus": "0.12 mV"}``).

    Returns
    -------
    dict
        Raw arrays (seconds, volts) and wall times; see :func:`summarize`.

    Raises
    ------
    ValueError
        ``generate_only`` without ``directory`` (:func:`~.base.check_generate_only`).
    """
    from brian2 import ms, second

    from neurolearn.brian.backends import use_backend

    check_generate_only(generate_only, directory)
    setup = _prepare(
        seed, n_exc, n_inh, n_syn, n_record, duration_s, thalamic, input_rate_hz, n2_extra_rate_hz
    )
    t0 = time.perf_counter()
    with use_backend(backend, seed=seed, dt=0.5 * ms, directory=directory) as be:
        net, exc, mon = _network(
            setup, record_every_s, rstdp_params, thalamic, teacher_probability, n2_extra_rate_hz
        )
        t_setup = time.perf_counter() - t0  # the network built (Brian2 objects created)
        if generate_only and be.is_standalone:
            be.run(net, duration_s * second, report=None, compile=False, execute=False)
            return {
                "generated": str(be.directory),
                "backend": backend,
                "generate_s": time.perf_counter() - t0,
            }
        be.run(net, duration_s * second, report=None)
        t_total = time.perf_counter() - t0
        out = {
            "backend": backend,
            "seed": seed,
            "duration_s": duration_s,
            "n_exc": n_exc,
            "n_inh": n_inh,
            "n_syn": n_syn,
            "n1": setup.n1,
            "n2": setup.n2,
            "thalamic": thalamic,
            "rewarded_index": setup.k_rew,
            "recorded_index": setup.rec,
            "record_t_s": np.asarray(mon["w_mon"].t_[:]).copy(),
            "w_recorded_v": np.asarray(mon["w_mon"].w_[:]).copy(),  # [synapse, time]
            "w_final_v": np.asarray(exc.w_[:]).copy(),
            "spike_counts": np.asarray(mon["counts"].count[:]).copy(),
            "pairing_t_s": np.asarray(mon["pairings"].t_[:]).copy(),
            "reward_t_s": np.asarray(mon["rewards"].t_[:]).copy(),
            "wall_total_s": t_total,
            "wall_setup_s": t_setup,
            "wall_build_s": be.timings.get("build_s"),
            "wall_run_s": be.timings.get("run_s"),
        }
        if be.is_standalone:
            be.close()
    return out


class _Setup(NamedTuple):
    """What :func:`build_and_run` prepares before the network is built."""

    n_exc: int
    n: int  # neurons, excitatory first
    wiring: tuple  # (i_exc, j_exc, i_inh, j_inh) of connectivity()
    n1: int  # source of the rewarded synapse
    n2: int  # its target
    k_rew: int  # index of the rewarded synapse among the excitatory ones
    rec: np.ndarray  # excitatory synapses whose weights are recorded, the rewarded one first
    kick_ms: np.ndarray  # times (ms) of the thalamic (and extra) kicks
    kick_i: np.ndarray  # their neurons (n: the extra source of n2)
    rstdp: object  # zoo model "rstdp"
    iz: object  # zoo model "izhikevich"
    params: dict  # per-neuron a, d of the RS (excitatory) and FS (inhibitory) neurons
    w0: object  # initial excitatory weights (volt), the rewarded one 0


def _prepare(
    seed, n_exc, n_inh, n_syn, n_record, duration_s, thalamic, input_rate_hz, n2_extra_rate_hz
) -> _Setup:
    """Everything NumPy draws (wiring, recorded synapses, kicks; one generator seeded with
    ``seed``, in that order), the models and the initial values.

    Raises
    ------
    ValueError
        For a ``thalamic`` other than "noise" or "kicks".
    """
    from brian2 import ms, mV

    from neurolearn import load_model

    rng = np.random.default_rng(seed)
    n = n_exc + n_inh
    i_e, j_e, i_i, j_i = connectivity(n_exc, n_inh, n_syn, rng)
    n1 = 1
    k_rew = int(np.flatnonzero((i_e == n1) & (j_e < n_exc))[0])  # first excitatory target of n1
    n2 = int(j_e[k_rew])
    others = np.setdiff1d(np.arange(i_e.size), [k_rew])
    rec = np.concatenate(
        [[k_rew], np.sort(rng.choice(others, size=min(n_record, others.size), replace=False))]
    )
    # thalamic kicks (thalamic="kicks"): rate input_rate_hz per neuron, on a 1 ms grid
    if thalamic not in ("noise", "kicks"):
        raise ValueError(f"thalamic must be 'noise' or 'kicks', got {thalamic!r}")
    n_ms = int(round(duration_s * 1000))
    if thalamic == "kicks":
        kick_ms, kick_i = _sparse_kicks(rng, n_ms, n, input_rate_hz * 1e-3)
    else:
        kick_ms, kick_i = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if n2_extra_rate_hz > 0:
        extra = np.flatnonzero(rng.random(n_ms) < n2_extra_rate_hz * 1e-3)
        kick_ms = np.concatenate([kick_ms, extra])
        kick_i = np.concatenate([kick_i, np.full(extra.size, n)])
    rstdp = load_model("rstdp")
    iz = load_model("izhikevich")
    a = np.r_[np.full(n_exc, 0.02), np.full(n_inh, 0.1)] / ms
    d = np.r_[np.full(n_exc, 8.0), np.full(n_inh, 2.0)] * mV
    w0 = np.full(i_e.size, 1.0) * mV
    w0[k_rew] = 0 * mV
    wiring = (i_e, j_e, i_i, j_i)
    return _Setup(
        n_exc, n, wiring, n1, n2, k_rew, rec, kick_ms, kick_i, rstdp, iz, {"a": a, "d": d}, w0
    )


def _network(setup: _Setup, record_every_s, rstdp_params, thalamic, teacher_probability, extra_hz):
    """The Brian2 network (inside :func:`neurolearn.brian.backends.use_backend`): neurons,
    plastic excitatory and fixed inhibitory synapses, thalamic input, teacher, reward and
    monitors. Returns (network, excitatory synapses, monitors by name: ``w_mon``, ``counts``,
    ``pairings``, ``rewards``)."""
    from brian2 import Network, SpikeMonitor, StateMonitor, Synapses, ms, mV, second

    from neurolearn.brian.build import make_neuron_group
    from neurolearn.brian.plasticity import make_plastic_synapses, pairing_reward

    i_e, j_e, i_i, j_i = setup.wiring
    rstdp, n1, n2 = setup.rstdp, setup.n1, setup.n2
    neurons = make_neuron_group(
        setup.iz, setup.n, params=setup.params, name="neurons", synapse_models=[(rstdp, "v")]
    )
    exc = make_plastic_synapses(
        rstdp,
        neurons,
        neurons,
        connect=(i_e, j_e),
        w_init=setup.w0,
        params=rstdp_params,
        target_var="v",
        delay=1 * ms,
        dt=10 * ms,
        name="exc",
    )
    inh = Synapses(
        neurons,
        neurons,
        "w : volt (constant)",
        on_pre="v_post += w",
        delay=1 * ms,
        name="inh",
        namespace={},
    )
    inh.connect(i=i_i, j=j_i)
    inh.w = -1 * mV
    objs_extra = _drive(setup, neurons, thalamic, teacher_probability, extra_hz)
    reward = pairing_reward(
        neurons,
        n1,
        neurons,
        n2,
        neurons,
        window=20 * ms,
        delay=(1 * second, 3 * second),
        amount=0.5,
    )
    mon = {
        "w_mon": StateMonitor(exc, "w", record=setup.rec, dt=record_every_s * second, name="w_mon"),
        "counts": SpikeMonitor(neurons, record=False, name="counts"),
        "pairings": SpikeMonitor(reward.critic, name="pairings"),
        "rewards": SpikeMonitor(reward.timers, name="rewards"),
    }
    objs = [neurons, exc, inh, *mon.values(), *reward.objects, *objs_extra]
    return Network(*[o for o in objs if o is not None]), exc, mon


def _drive(setup: _Setup, neurons, thalamic, teacher_probability, extra_hz) -> list:
    """The input objects: thalamic noise (``thalamic="noise"``), the kicks (a spike generator
    and its synapses) and the teacher n1 -> n2 (``teacher_probability`` > 0)."""
    from brian2 import SpikeGeneratorGroup, Synapses, ms

    n, n1, n2 = setup.n, setup.n1, setup.n2
    objs_extra = []
    if thalamic == "noise":  # daspnet.m: I = 13*(rand(N,1)-0.5), redrawn every ms
        objs_extra.append(
            neurons.run_regularly(
                "I_ext = 13*(rand() - 0.5)*mV/ms",
                dt=1 * ms,
                when="start",
                name="thalamic_noise",
            )
        )
    if setup.kick_i.size:
        n_sources = n + (1 if extra_hz > 0 else 0)
        thal = SpikeGeneratorGroup(n_sources, setup.kick_i, setup.kick_ms * ms, name="thalamus")
        kick = Synapses(thal, neurons, on_pre="v_post += 20*mV", name="kick", namespace={})
        kick.connect(
            i=np.r_[np.arange(n), [n] * (n_sources > n)].astype(int),
            j=np.r_[np.arange(n), [n2] * (n_sources > n)].astype(int),
        )
        objs_extra += [thal, kick]
    if teacher_probability > 0:
        teacher = Synapses(
            neurons,
            neurons,
            "p_teach : 1 (constant, shared)",
            on_pre="v_post += 20*mV*int(rand() < p_teach)",
            delay=5 * ms,
            name="teacher",
            namespace={},
        )
        teacher.connect(i=n1, j=n2)
        teacher.p_teach = teacher_probability
        objs_extra.append(teacher)
    return objs_extra


def _sparse_kicks(rng, n_ms, n, p):
    """(ms, neuron) pairs of Bernoulli(p) kicks without a dense [n_ms, n] array."""
    total = rng.binomial(n_ms * n, p)
    flat = np.unique(rng.integers(0, n_ms * n, size=total, dtype=np.int64))  # few duplicates
    return flat // n, flat % n


def summarize(raw: dict) -> dict:
    """Numbers of the reproduction: rewarded weight, percentiles of the others over time.

    Returns
    -------
    dict
        JSON-ready: weights in mV (``*_mv``), times in s (``*_s``), rates in Hz.
    """
    w_rec = raw["w_recorded_v"] * 1e3
    others_final = np.delete(raw["w_final_v"], raw["rewarded_index"]) * 1e3
    rewarded_final = float(raw["w_final_v"][raw["rewarded_index"]] * 1e3)
    pct = [50, 90, 99]
    over_time = {f"others_p{p}_mv": np.percentile(w_rec[1:], p, axis=0).tolist() for p in pct}
    over_time["others_mean_mv"] = w_rec[1:].mean(axis=0).tolist()
    dur = raw["duration_s"]
    return {
        "paper": "Izhikevich (2007) Cereb. Cortex 17:2443, Fig. 1",
        "backend": raw["backend"],
        "seed": raw["seed"],
        "simulated_s": dur,
        "network": {
            "n_exc": raw["n_exc"],
            "n_inh": raw["n_inh"],
            "synapses_per_neuron": raw["n_syn"],
            "n1": raw["n1"],
            "n2": raw["n2"],
            "thalamic_input": raw.get("thalamic", "noise"),
        },
        "rewarded_weight_final_mv": rewarded_final,
        "w_max_mv": 4.0,
        "others_final_percentiles_mv": {
            f"p{p}": float(np.percentile(others_final, p)) for p in (1, 10, 50, 90, 99)
        },
        "others_final_mean_mv": float(others_final.mean()),
        "others_fraction_above_rewarded": float(np.mean(others_final >= rewarded_final)),
        "rewarded_rank_percentile": float(100 * np.mean(others_final < rewarded_final)),
        "record_t_s": raw["record_t_s"].tolist(),
        "rewarded_weight_mv": w_rec[0].tolist(),
        **over_time,
        "n_pairings": int(raw["pairing_t_s"].size),
        "n_rewards": int(raw["reward_t_s"].size),
        "reward_t_s": raw["reward_t_s"].tolist(),
        "mean_rate_exc_hz": float(raw["spike_counts"][: raw["n_exc"]].mean() / dur),
        "mean_rate_inh_hz": float(raw["spike_counts"][raw["n_exc"] :].mean() / dur),
        "wall_total_s": raw["wall_total_s"],
        "wall_build_s": raw["wall_build_s"],
        "wall_run_s": raw["wall_run_s"],
    }


@styled
def plot(summary: dict, raw: dict, stem: Path) -> list:
    """Figure: rewarded weight and percentiles of the others over time; final histogram."""
    from neurolearn.figures import label, new_figure, save_figure

    fig, (ax1, ax2) = new_figure(1, 2, width=6.8, height=2.6)
    t_min = np.asarray(summary["record_t_s"]) / 60
    ax1.plot(t_min, summary["rewarded_weight_mv"], color="C3", label="rewarded synapse")
    ax1.plot(t_min, summary["others_p99_mv"], color="0.3", ls="--", label="others, 99th pct.")
    ax1.plot(t_min, summary["others_p50_mv"], color="0.5", label="others, median")
    for k, tr in enumerate(summary["reward_t_s"]):
        ax1.axvline(
            tr / 60, ymin=0, ymax=0.03, color="C0", lw=0.4, label="reward" if k == 0 else None
        )
    ax1.set_xlabel(label("time", "min"))
    ax1.set_ylabel(label("synaptic weight", "mV"))
    ax1.set_ylim(-0.1, 4.2)
    others = np.delete(raw["w_final_v"], raw["rewarded_index"]) * 1e3
    ax2.hist(others, bins=np.linspace(0, 4, 41), color="0.5")
    ax2.axvline(summary["rewarded_weight_final_mv"], color="C3")
    ax2.set_yscale("log")
    ax2.set_xlabel(label(f"weight at {summary['simulated_s']:g} s", "mV"))
    ax2.set_ylabel("excitatory synapses")
    # one legend below both panels, off the data (the weights fill the left panel's top)
    fig.legend(loc="outside lower center", ncols=4, frameon=False)
    return save_figure(fig, stem)


def add_arguments(parser) -> None:
    """Options of ``neurolearn reproduce izhikevich2007_distal_reward`` (the common ones of
    :func:`neurolearn.reproductions.base.add_common_arguments`; the paper's hour by default).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        Receives the options.
    """
    add_common_arguments(parser, duration_s=3600.0)


def run(args) -> dict:
    """Run with parsed options; writes ``izhikevich2007.json`` and the figure into
    ``args.out`` and returns the summary (:func:`summarize`).

    Parameters
    ----------
    args : argparse.Namespace
        The options of :func:`add_arguments`.

    Returns
    -------
    dict
        What was written as JSON (see above).

    Raises
    ------
    UsageError
        For ``--duration-s`` <= 0.
    """
    return run_reproduction(
        args,
        "izhikevich2007",
        build_and_run,
        summarize,
        plot,
        printed=lambda summary: {k: v for k, v in summary.items() if not isinstance(v, list)},
    )


REPRODUCTION = register(
    Reproduction(
        name="izhikevich2007_distal_reward",
        description="Reward-modulated STDP with eligibility traces and dopamine singles out "
        "the one rewarded synapse of a 1000-neuron network",
        reference="Izhikevich (2007) Cereb. Cortex 17:2443, Fig. 1",
        add_arguments=add_arguments,
        run=run,
    )
)


def main(argv=None) -> int:
    """Command line (``python -m neurolearn.reproductions.izhikevich2007_distal_reward``): see
    the module docstring; exit status 2 for bad options."""
    return REPRODUCTION.main(argv)


if __name__ == "__main__":
    sys.exit(main())

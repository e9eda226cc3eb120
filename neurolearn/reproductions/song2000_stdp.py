"""Reproduction of Song, Miller & Abbott (2000), "Competitive Hebbian learning through
spike-timing-dependent synaptic plasticity", Nat. Neurosci. 3:919, Fig. 2.

One conductance-based integrate-and-fire neuron (tau_m = 20 ms, V_rest = -70 mV, threshold
-54 mV, reset -60 mV, E_ex = 0 mV, E_in = -70 mV, tau_ex = tau_in = 5 ms) receives 1000
excitatory Poisson inputs with additive STDP (zoo model ``stdp_additive``: A+ = 0.005 g_max,
A-/A+ = 1.05, tau+ = tau- = 20 ms, weights in [0, g_max], g_max = 0.015 of the leak
conductance) and 200 fixed inhibitory Poisson inputs at 10 Hz (g_in = 0.05 of the leak
conductance). The paper's results checked here:

* the weight distribution becomes bimodal: nearly all weights near 0 or near g_max (we report
  the fraction within 10 % of either bound; with these parameters this takes several hundred
  seconds, not 100 s, see below);
* the output rate settles to a value that depends only weakly on the input rate, while with
  the same initial weights held fixed (no STDP) it rises steeply with the input rate.

One neuron per input rate (and one control neuron per rate, same inputs and initial weights,
STDP amplitudes set to 0) run side by side in one network, so one standalone project covers
the whole figure.

Time step and run length. Use dt = 0.1 ms (the default). A pre- and a postsynaptic spike in
the same step count as a causal pair (full A+), so a coarse step biases additive STDP towards
potentiation: at dt = 0.5 ms and ~50 Hz output, ~2.5 % of presynaptic spikes coincide with an
output spike, which cancels about half of the net depression (A+ tau+ - A- tau-) r_post per
presynaptic spike; a 100 s run at dt = 0.5 ms ended at 43-52 Hz output instead of the
17-21 Hz reached at dt = 0.1 ms.

Parameters checked. The paper's full text was not among the sources we could read; every value
above agrees with the implementations that cite it (Brian 1 ``examples/STDP1.py`` "adapted
from Song, Miller and Abbott (2000)": tau_m 20 ms, threshold -54, reset -60 mV, E_ex 0 mV,
tau_ex = tau_in = 5 ms, g_max = 0.015, g_in = 0.05, 200 inhibitory inputs at 10 Hz,
A+ = 0.005 g_max, A-/A+ = 1.05; the CAMP 2016 tutorial of Fig. 2a-c: the same with
V_rest = E_in = -70 mV and weights "initialised uniformly between 0 and g_max"; a PyNN /
sPyNNaker example "to reproduce the weight distributions found by Song, Miller and Abbott":
1000 excitatory and 200 inhibitory inputs at 10 Hz, A+ = 0.005, A-/A+ = 1.05). Conductances
are in units of the leak conductance (g_l = 10 nS, C_m = 200 pF: tau_m = 20 ms; g_max =
0.015 g_l), and the traces add 1 per spike, so a pair changes w by A+- g_max ``exp(-|dt|/20 ms)``
as the paper's P_a and M functions do (checked to 1e-9 in ``tests/test_plasticity.py``).
Starting all weights at g_max instead (``w_init="max"``) separates them more slowly: at 50 s
0.03 / 0.05 / 0.30 / 0.45 within 10 % of a bound, against 0.19 / 0.41 / 0.55 / 0.63 from
the uniform start.

Parameter sets (``--parameters``, :data:`PARAMETER_SETS`):

* ``paper`` (default): the values above.
* ``brian2-example``: Brian2's ``examples/synapses/STDP.py`` ("Adapted from Song, Miller and
  Abbott (2000) and Song and Abbott (2001)"; the version in the Brian2 2.5-2.9 docs):
  conductance ``ge*(Ee - v)`` in units of the leak, tau_m = 10 ms (C_m = 100 pF here),
  E_l = -74 mV, threshold -54 mV, reset -60 mV, tau_e = 5 ms, no inhibition, g_max = 0.01,
  A+ = 0.01 g_max, A-/A+ = 1.05, tau+ = tau- = 20 ms, uniform initial weights, 1000 inputs
  at 15 Hz for 100 s (run it with ``--rates-hz 10 15 20 30 40``). Older Brian2 versions of
  the example linearise the synaptic current (``ge*(Ee - vr)``); we use the current one.

Time scale. With A+ = 0.005 g_max the weights separate slowly. The fraction within 10 % of a
bound (10 / 20 / 30 / 40 Hz input) is 0.20 / 0.46 / 0.61 / 0.67 at 100 s, 0.27-0.79 at 300 s
and 0.58-0.82 at 1000 s (``fraction_within_10pct_of_bounds_at_s``); at 20-40 Hz it levels off
at ~0.8 after ~400 s. :func:`drift_diffusion` measures why (``weight_dynamics`` in the JSON):
the weights random-walk with D ~ 1e-4 g_max^2/s (steps of 0.5 % of g_max) under a
competitive drift of slope 0.004-0.008 /s, so the mean time for a weight to reach a bound from
the uniform start is ~230 / 160 / 110 s at 20 / 30 / 40 Hz, and ~1 h at 10 Hz (the neuron
starts at ~1 Hz output, so there are few pairings): 100 s is about one such time. A larger
A+ does not make 100 s suffice: drift scales with A+ but diffusion with A+^2, so the
stationary distribution broadens (A+ = 0.02 g_max plateaued at 0.34-0.45 by ~30 s; 0.05 g_max
ran away at 30-40 Hz). The ``brian2-example`` set (A+ = 0.01 g_max) moves faster (mean time
to a bound 118 / 76 / 47 / 29 s at 15 / 20 / 30 / 40 Hz) but ends broader: 0.18 / 0.42 /
0.48 / 0.55 / 0.63 at 10 / 15 / 20 / 30 / 40 Hz after 100 s (10 Hz: the neuron never fires),
and its output rate follows the input more (0 / 21 / 27 / 34 / 42 Hz, slope 1.2 Hz per Hz,
against 0.41 for ``paper`` and 22 with frozen weights). So neither sourced set gives "nearly all" weights at a bound
after 100 s; the default stays ``paper``, whose output rate is the one that depends only
weakly on the input rate. Run ``--duration-s 300`` or more to see the bimodal equilibrium
develop.

Run::

    python -m neurolearn.reproductions.song2000_stdp --out results/song2000 --duration-s 100
    python -m neurolearn.reproductions.song2000_stdp --out results/song2000 --parameters brian2-example --rates-hz 10 15 20 30 40

writes ``song2000.json`` and ``song2000_weights.{pdf,svg,png}`` (``song2000_<set>.json`` and
``song2000_<set>_weights.*`` for a set other than ``paper``); ``--backend cuda_standalone
--generate-only`` writes the CUDA project without compiling or running it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..figures import styled
from .base import add_common_arguments, check_generate_only, run_reproduction
from .registry import Reproduction, UsageError, register

__all__ = [
    "NEURON_PARAMS",
    "PARAMETER_SETS",
    "poisson_trains",
    "build_and_run",
    "bimodal_fraction",
    "drift_diffusion",
    "summarize",
    "plot",
    "add_arguments",
    "run",
    "REPRODUCTION",
    "main",
]

#: Song et al. (2000) neuron, as parameters of the zoo's ``lif_cond`` (g_l = 10 nS, C_m = 200 pF).
NEURON_PARAMS = {
    "C_m": "200 pF",
    "g_l": "10 nS",
    "v_rest": "-70 mV",
    "E_e": "0 mV",
    "E_i": "-70 mV",
    "tau_e": "5 ms",
    "tau_i": "5 ms",
    "v_th": "-54 mV",
    "v_reset": "-60 mV",
    "t_ref": "0 ms",
}
G_MAX_NS = 0.15  # 0.015 * g_l
G_INH_NS = 0.5  # 0.05 * g_l

#: Parameter sets selectable with ``--parameters``. Conductances in nS with g_l = 10 nS (the
#: sources give them in units of the leak conductance); ``A_plus``/``A_minus`` are fractions
#: of g_max. ``source`` says where every number comes from.
PARAMETER_SETS = {
    "paper": {
        "source": (
            "Song, Miller & Abbott (2000) as implemented by Brian 1 examples/STDP1.py "
            "and the CAMP 2016 tutorial of Fig. 2a-c (the paper's text was not "
            "readable here): tau_m 20 ms, V_rest = E_in = -70 mV, V_th -54 mV, "
            "V_reset -60 mV, E_ex 0 mV, tau_ex = tau_in = 5 ms, g_max 0.015 g_l, "
            "200 inhibitory inputs at 10 Hz of 0.05 g_l, A+ 0.005 g_max, "
            "A-/A+ 1.05"
        ),
        "neuron": NEURON_PARAMS,
        "g_max_ns": G_MAX_NS,
        "g_inh_ns": G_INH_NS,
        "n_inh": 200,
        "inh_rate_hz": 10.0,
        "A_plus": 0.005,
        "A_minus": 0.00525,  # A-/A+ = 1.05
    },
    "brian2-example": {
        "source": (
            "Brian2 examples/synapses/STDP.py ('Adapted from Song, Miller and Abbott "
            "(2000) and Song and Abbott (2001)'; Brian2 2.5-2.9 docs): taum 10 ms, "
            "El -74 mV, vt -54 mV, vr -60 mV, Ee 0 mV, taue 5 ms, conductance "
            "ge*(Ee - v) in units of the leak, no inhibition, gmax 0.01, "
            "dApre 0.01 gmax, dApost = -1.05 dApre, taupre = taupost = 20 ms, "
            "w = rand()*gmax, 1000 inputs at F = 15 Hz, 100 s"
        ),
        "neuron": {
            "C_m": "100 pF",
            "g_l": "10 nS",
            "v_rest": "-74 mV",
            "E_e": "0 mV",
            "E_i": "-70 mV",
            "tau_e": "5 ms",
            "tau_i": "5 ms",
            "v_th": "-54 mV",
            "v_reset": "-60 mV",
            "t_ref": "0 ms",
        },
        "g_max_ns": 0.1,
        "g_inh_ns": 0.0,
        "n_inh": 0,
        "inh_rate_hz": 10.0,
        "A_plus": 0.01,
        "A_minus": 0.0105,  # A-/A+ = 1.05
    },
}


def poisson_trains(rates_hz, duration_s: float, dt_s: float, rng: np.random.Generator):
    """Bernoulli-per-step Poisson spike trains drawn in NumPy (identical on every backend).

    Parameters
    ----------
    rates_hz : array, shape (n,)
        Rate of each source in Hz.
    duration_s, dt_s : float
        Length and time step in seconds.

    Returns
    -------
    (indices, times_s) : arrays, shape (n_spikes,)
        Source index and spike time (on the dt grid) of every spike, sorted by time.
    """
    rates = np.asarray(rates_hz, dtype=float)
    n_steps = int(round(duration_s / dt_s))
    idx, steps = [], []
    chunk = max(1, int(2e7 // max(rates.size, 1)))  # rows drawn per call (a prefix of a
    # longer run draws the same numbers: Generator.random fills row after row)
    for start in range(0, n_steps, chunk):
        stop = min(n_steps, start + chunk)
        s, i = np.nonzero(rng.random((stop - start, rates.size)) < rates * dt_s)
        steps.append(s + start)
        idx.append(i)
    return np.concatenate(idx), np.concatenate(steps) * dt_s


def build_and_run(
    backend: str = "cpp_standalone",
    rates_hz=(10.0, 20.0, 30.0, 40.0),
    duration_s: float = 100.0,
    seed: int = 1,
    dt_ms: float = 0.1,
    n_exc: int = 1000,
    n_inh: int | None = None,
    inputs: str = "poisson",
    controls: bool = True,
    record_every_s: float = 1.0,
    directory=None,
    generate_only: bool = False,
    weight_dependence: str = "additive",
    w_init="uniform",
    parameters: str = "paper",
) -> dict:
    """Build and run the Song et al. (2000) network, one neuron per input rate.

    Parameters
    ----------
    backend : str
        ``numpy``, ``cython``, ``cpp_standalone`` or ``cuda_standalone``.
    rates_hz : sequence of float
        Excitatory input rate of each neuron (Hz).
    duration_s : float
        Simulated time (paper: 100 s and more).
    seed : int
        Seed of the initial weights and of the inputs.
    dt_ms : float
        Time step in ms.
    n_exc, n_inh : int
        Excitatory (plastic) and inhibitory (fixed, 10 Hz) inputs per neuron; ``n_inh=None``
        takes the parameter set's (paper: 200; Brian2 example: 0).
    inputs : {"poisson", "generator"}
        ``"poisson"``: Brian2 ``PoissonGroup`` (drawn by the backend's generator);
        ``"generator"``: trains drawn in NumPy and replayed by a ``SpikeGeneratorGroup``, so
        that every backend sees the same spikes (used to compare backends).
    controls : bool
        Add one neuron per rate with the same inputs and initial weights and no plasticity.
    weight_dependence : {"additive", "multiplicative"}
        STDP model (additive: the paper).
    w_init : {"uniform", "max"} or float
        Initial excitatory weights: uniform in [0, g_max] (default), all at g_max, or all at
        the given fraction of g_max.
    parameters : {"paper", "brian2-example"}
        Parameter set of :data:`PARAMETER_SETS` (neuron, g_max, inhibition, A+ and A-).

    Raises
    ------
    ValueError
        For an unknown ``parameters``, ``inputs`` or ``w_init``; ``generate_only`` without
        ``directory`` (:func:`~.base.check_generate_only`).

    Returns
    -------
    dict
        Initial and final weights (siemens) ``[neuron, input]``, recorded weights
        ``[neuron, input, time]``, output spike times, wall times.
    """
    from brian2 import ms, second

    from neurolearn.brian.backends import use_backend

    check_generate_only(generate_only, directory)
    t0 = time.perf_counter()
    setup = _prepare(
        parameters, rates_hz, n_exc, n_inh, controls, seed, w_init, inputs, duration_s, dt_ms
    )
    with use_backend(backend, seed=seed, dt=dt_ms * ms, directory=directory) as be:
        net, plastic, w_mon, spikes = _network(
            setup, n_exc, weight_dependence, controls, record_every_s
        )
        if generate_only and be.is_standalone:
            be.run(
                net, duration_s * second, report=None, namespace={}, compile=False, execute=False
            )
            return {
                "generated": str(be.directory),
                "backend": backend,
                "generate_s": time.perf_counter() - t0,
            }
        be.run(net, duration_s * second, report=None, namespace={})  # nothing from this frame
        n_rates, pset = setup.rates.size, setup.pset
        out = {
            "backend": backend,
            "seed": seed,
            "rates_hz": setup.rates,
            "duration_s": duration_s,
            "dt_ms": dt_ms,
            "n_exc": n_exc,
            "n_inh": setup.n_inh,
            "inputs": inputs,
            "weight_dependence": weight_dependence,
            "w_max_s": pset["g_max_ns"] * 1e-9,
            "parameters": parameters,
            "A_plus": pset["A_plus"],
            "A_minus": pset["A_minus"],
            "tau_m_ms": _tau_m_ms(pset),
            "w_initial_s": setup.w0_ns * 1e-9,
            "w_final_s": np.asarray(plastic.w_[:]).reshape(n_rates, n_exc).copy(),
            "record_t_s": np.asarray(w_mon.t_[:]).copy(),
            "w_recorded_s": np.asarray(w_mon.w_[:]).reshape(n_rates, n_exc, -1).copy(),
            "spike_i": np.asarray(spikes.i[:]).copy(),
            "spike_t_s": np.asarray(spikes.t_[:]).copy(),
            "n_post": setup.n_post,
            "controls": controls,
            "wall_total_s": time.perf_counter() - t0,
            "wall_build_s": be.timings.get("build_s"),
            "wall_run_s": be.timings.get("run_s"),
        }
        if be.is_standalone:
            be.close()
    return out


class _Setup(NamedTuple):
    """What :func:`build_and_run` prepares before Brian2 is involved."""

    pset: dict  # the parameter set of PARAMETER_SETS
    n_inh: int  # inhibitory inputs per neuron
    rates: np.ndarray  # excitatory input rate of each neuron (Hz), shape (n_rates,)
    n_post: int  # neurons: one per rate, twice that with controls
    w0_ns: np.ndarray  # initial excitatory weights (nS), [neuron, input]
    exc_rate: np.ndarray  # rate of each excitatory source (Hz), shape (n_rates * n_exc,)
    trains: tuple | None  # ((exc_i, exc_t_s), (inh_i, inh_t_s)) drawn in NumPy, or None


def _prepare(
    parameters, rates_hz, n_exc, n_inh, controls, seed, w_init, inputs, duration_s, dt_ms
) -> _Setup:
    """Check the arguments of :func:`build_and_run` and draw what NumPy draws: the initial
    weights and, with ``inputs="generator"``, the input spike trains (separate streams, so
    that the first second of a longer run sees the same inputs as a 1 s run).

    Raises
    ------
    ValueError
        For an unknown ``parameters``, ``inputs`` or ``w_init``.
    """
    if parameters not in PARAMETER_SETS:
        raise ValueError(
            f"parameters must be one of {', '.join(PARAMETER_SETS)}, got {parameters!r}"
        )
    pset = PARAMETER_SETS[parameters]
    if n_inh is None:
        n_inh = pset["n_inh"]
    rates = np.asarray(rates_hz, dtype=float)
    n_rates = rates.size
    rng_w, rng_exc, rng_inh = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    w0_ns = _initial_weights_ns(rng_w, n_rates, n_exc, pset["g_max_ns"], w_init)
    exc_rate = np.repeat(rates, n_exc)  # source k*n_exc + m -> neuron k (and control)
    trains = None
    if inputs == "generator":
        trains = (
            poisson_trains(exc_rate, duration_s, dt_ms * 1e-3, rng_exc),
            poisson_trains(
                np.full(n_rates * n_inh, pset["inh_rate_hz"]), duration_s, dt_ms * 1e-3, rng_inh
            ),
        )
    elif inputs != "poisson":
        raise ValueError(f"inputs must be 'poisson' or 'generator', got {inputs!r}")
    n_post = n_rates * (2 if controls else 1)
    return _Setup(pset, n_inh, rates, n_post, w0_ns, exc_rate, trains)


def _network(setup: _Setup, n_exc, weight_dependence, controls, record_every_s):
    """The Brian2 network (inside :func:`neurolearn.brian.backends.use_backend`): neurons,
    inputs, synapses, a weight monitor (every ``record_every_s``) and a spike monitor.
    Returns (network, plastic synapses, weight monitor, spike monitor)."""
    from brian2 import Network, SpikeMonitor, StateMonitor, second

    from neurolearn import load_model
    from neurolearn.brian.build import make_neuron_group

    pset, n_rates = setup.pset, setup.rates.size
    neuron = make_neuron_group(
        load_model("lif_cond"), setup.n_post, params=pset["neuron"], name="neurons"
    )
    exc_src, inh_src = _input_groups(
        setup.exc_rate, n_rates * setup.n_inh, pset["inh_rate_hz"], setup.trains
    )
    plastic, objs = _synapses(
        exc_src,
        inh_src,
        neuron,
        n_rates,
        n_exc,
        setup.n_inh,
        pset,
        weight_dependence,
        setup.w0_ns,
        controls,
    )
    w_mon = StateMonitor(plastic, "w", record=True, dt=record_every_s * second, name="w_mon")
    spikes = SpikeMonitor(neuron, name="spikes")
    return Network(*objs, w_mon, spikes), plastic, w_mon, spikes


def _initial_weights_ns(rng, n_rates: int, n_exc: int, g_max_ns: float, w_init) -> np.ndarray:
    """Initial excitatory weights in nS, ``[neuron, input]``: uniform in [0, g_max] (drawn
    from ``rng`` whatever ``w_init``, so that the inputs' streams do not depend on it), all at
    g_max (``"max"``) or at a fraction of it.

    Raises
    ------
    ValueError
        For another string, or a fraction outside [0, 1].
    """
    w0_ns = rng.uniform(0, g_max_ns, size=(n_rates, n_exc))
    if w_init == "max":
        w0_ns = np.full_like(w0_ns, g_max_ns)
    elif not isinstance(w_init, str):
        if not 0 <= float(w_init) <= 1:
            raise ValueError(
                f"w_init must be 'uniform', 'max' or a fraction of g_max in [0, 1], got {w_init!r}"
            )
        w0_ns = np.full_like(w0_ns, float(w_init) * g_max_ns)
    elif w_init != "uniform":
        raise ValueError(f"w_init must be 'uniform', 'max' or a fraction of g_max, got {w_init!r}")
    return w0_ns


def _input_groups(exc_rate, n_inh_total: int, inh_rate_hz: float, trains):
    """The excitatory and inhibitory (None without any) input groups: ``PoissonGroup`` when
    ``trains`` is None, else ``SpikeGeneratorGroup`` replaying ``trains = ((exc_i, exc_t_s),
    (inh_i, inh_t_s))``."""
    from brian2 import Hz, PoissonGroup, SpikeGeneratorGroup, second

    n_exc_total = exc_rate.size
    if trains is None:
        exc_src = PoissonGroup(n_exc_total, rates=exc_rate * Hz, name="exc_inputs")
        inh_src = (
            PoissonGroup(n_inh_total, rates=inh_rate_hz * Hz, name="inh_inputs")
            if n_inh_total
            else None
        )
        return exc_src, inh_src
    (exc_i, exc_t), (inh_i, inh_t) = trains
    exc_src = SpikeGeneratorGroup(n_exc_total, exc_i, exc_t * second, name="exc_inputs")
    inh_src = (
        SpikeGeneratorGroup(n_inh_total, inh_i, inh_t * second, name="inh_inputs")
        if n_inh_total
        else None
    )
    return exc_src, inh_src


def _synapses(
    exc_src, inh_src, neuron, n_rates, n_exc, n_inh, pset, weight_dependence, w0_ns, controls
):
    """The plastic synapses (input k*n_exc + m -> neuron k), the frozen copies onto the
    control neurons, and the fixed inhibitory synapses; returns (plastic synapses, every
    object of the network but the monitors)."""
    from brian2 import nS

    from neurolearn import load_model
    from neurolearn.brian.build import make_synapses
    from neurolearn.brian.plasticity import make_plastic_synapses, stdp_model

    stdp = stdp_model(weight_dependence, "all_to_all")
    params = {"w_max": pset["g_max_ns"] * nS, "A_plus": pset["A_plus"], "A_minus": pset["A_minus"]}
    src = np.arange(n_rates * n_exc)
    plastic = make_plastic_synapses(
        stdp,
        exc_src,
        neuron,
        connect=(src, src // n_exc),
        w_init=w0_ns.ravel() * nS,
        params=params,
        name="plastic",
    )
    objs = [neuron, exc_src, plastic]
    if controls:
        fixed = make_plastic_synapses(
            stdp,
            exc_src,
            neuron,
            connect=(src, n_rates + src // n_exc),
            w_init=w0_ns.ravel() * nS,
            name="fixed",
            params={**params, "A_plus": 0, "A_minus": 0},
        )
        objs.append(fixed)
    if n_inh:
        inh_idx = np.arange(n_rates * n_inh)
        inh_post = np.concatenate(
            [inh_idx // n_inh] + ([n_rates + inh_idx // n_inh] if controls else [])
        )
        inh_pre = np.concatenate([inh_idx] * (2 if controls else 1))
        inh = make_synapses(
            load_model("static_conductance"),
            inh_src,
            neuron,
            target_var="g_i",
            name="inh",
            connect=(inh_pre, inh_post),
        )
        inh.w = pset["g_inh_ns"] * nS
        objs += [inh_src, inh]
    return plastic, objs


def _tau_m_ms(pset: dict) -> float:
    """Membrane time constant C_m / g_l of a parameter set, in ms."""
    from brian2 import ms

    from neurolearn.spec import parse_quantity

    return float(parse_quantity(pset["neuron"]["C_m"]) / parse_quantity(pset["neuron"]["g_l"]) / ms)


def bimodal_fraction(w, w_max, tol: float = 0.1) -> float:
    """Fraction of weights within ``tol * w_max`` of 0 or of ``w_max``."""
    w = np.asarray(w, dtype=float) / float(w_max)
    return float(np.mean((w <= tol) | (w >= 1 - tol)))


def drift_diffusion(w_t, t_s, t_from_s: float = 30.0, n_grid: int = 500) -> dict:
    """Drift and diffusion of the weights measured from the simulation, and the mean time a
    weight needs to reach a bound.

    One-second increments of the weights (as fractions of g_max) between 0.1 and 0.9 after
    ``t_from_s`` are fitted by a linear drift A(w) = a0 + a1 w (a1 > 0: the competitive
    instability of additive STDP) and a constant diffusion D (half the variance of the
    residuals per second), the Fokker-Planck description of additive STDP (van Rossum, Bi &
    Turrigiano 2000, J. Neurosci. 20:8812; Rubin, Lee & Sompolinsky 2001, Phys. Rev. Lett.
    86:364). The mean first-passage time T(w) to either bound solves D T'' + A T' = -1,
    T(0) = T(1) = 0 (Gardiner, Handbook of Stochastic Methods, sec. 5.2.7), averaged here
    over a uniform start.

    Parameters
    ----------
    w_t : array, shape (n_synapses, n_times)
        Weights / g_max recorded every second.
    t_s : array, shape (n_times,)
        Recording times (s).

    Returns
    -------
    dict
        ``drift_a0_per_s``, ``drift_a1_per_s``, ``diffusion_per_s`` (units of g_max^2 / s),
        ``mean_time_to_bound_s`` (uniform start), or NaNs when fewer than 100 increments.
    """
    from scipy.sparse import diags
    from scipy.sparse.linalg import spsolve

    w_t = np.asarray(w_t, dtype=float)
    k0 = int(np.searchsorted(np.asarray(t_s), t_from_s))
    x, dx = w_t[:, k0:-1], np.diff(w_t[:, k0:], axis=1)
    m = (x > 0.1) & (x < 0.9) & (x + dx > 0) & (x + dx < 1)
    nan = {
        "drift_a0_per_s": float("nan"),
        "drift_a1_per_s": float("nan"),
        "diffusion_per_s": float("nan"),
        "mean_time_to_bound_s": float("nan"),
    }
    if m.sum() < 100:
        return nan
    a1, a0 = np.polyfit(x[m], dx[m], 1)
    diff = float(np.var(dx[m] - (a0 + a1 * x[m])) / 2)
    h = 1.0 / n_grid
    xg = np.linspace(0, 1, n_grid + 1)[1:-1]
    drift = a0 + a1 * xg
    mat = diags(
        [
            diff / h**2 - drift[1:] / (2 * h),
            np.full(n_grid - 1, -2 * diff / h**2),
            diff / h**2 + drift[:-1] / (2 * h),
        ],
        [-1, 0, 1],
        format="csc",
    )
    t_exit = spsolve(mat, -np.ones(n_grid - 1))
    return {
        "drift_a0_per_s": float(a0),
        "drift_a1_per_s": float(a1),
        "diffusion_per_s": diff,
        "mean_time_to_bound_s": float(t_exit.mean()),
    }


def summarize(raw: dict, rate_window_s: float = 20.0) -> dict:
    """Numbers of the reproduction (JSON-ready; rates in Hz, weights as fractions of g_max).

    ``output_rate_hz``: rate of each plastic neuron in the last ``rate_window_s`` seconds;
    ``control_rate_hz``: the same for the control neurons (fixed initial weights);
    ``fraction_within_10pct_of_bounds_at_s``: ``{recorded time in s: [fraction per rate]}``
    every 50 s (needs weights recorded at least every second); ``weight_dynamics``: per rate,
    :func:`drift_diffusion` of the recorded weights.
    """
    rates = np.asarray(raw["rates_hz"], dtype=float)
    n_rates = rates.size
    dur = raw["duration_s"]
    win = min(rate_window_s, dur)
    late = raw["spike_t_s"] >= dur - win
    counts = np.bincount(raw["spike_i"][late], minlength=raw["n_post"]) / win
    w_max = raw["w_max_s"]
    frac = [bimodal_fraction(w, w_max) for w in raw["w_final_s"]]
    frac0 = [bimodal_fraction(w, w_max) for w in raw["w_initial_s"]]
    slope = np.polyfit(rates, counts[:n_rates], 1)[0] if n_rates > 1 else float("nan")
    # the same fraction every 50 s of the recording, keyed by the recorded time in s (how far
    # the run is from equilibrium)
    t_rec = np.asarray(raw["record_t_s"], dtype=float)
    frac_t = {}
    for t_check in np.arange(50.0, dur + 1e-9, 50.0):
        k = int(np.argmin(np.abs(t_rec - t_check))) if t_rec.size else -1
        if k >= 0 and abs(t_rec[k] - t_check) <= 1.0:
            frac_t[f"{t_rec[k]:g}"] = [
                bimodal_fraction(w[:, k], w_max) for w in raw["w_recorded_s"]
            ]
    out = {
        "paper": "Song, Miller & Abbott (2000) Nat. Neurosci. 3:919, Fig. 2",
        "backend": raw["backend"],
        "seed": raw["seed"],
        "simulated_s": dur,
        "dt_ms": raw["dt_ms"],
        "weight_dependence": raw["weight_dependence"],
        "parameters": raw.get("parameters", "paper"),
        "parameters_source": PARAMETER_SETS[raw.get("parameters", "paper")]["source"],
        "A_plus_over_g_max": raw.get("A_plus"),
        "A_minus_over_g_max": raw.get("A_minus"),
        "tau_m_ms": raw.get("tau_m_ms"),
        "n_inh": raw.get("n_inh"),
        "input_rate_hz": rates.tolist(),
        "fraction_within_10pct_of_bounds": frac,
        "fraction_within_10pct_of_bounds_initial": frac0,
        "fraction_within_10pct_of_bounds_at_s": frac_t,
        "fraction_near_w_max": [float(np.mean(w / w_max >= 0.9)) for w in raw["w_final_s"]],
        "weight_std_over_w_max": [float(np.std(w / w_max)) for w in raw["w_final_s"]],
        "weight_std_over_w_max_initial": [float(np.std(w / w_max)) for w in raw["w_initial_s"]],
        # measured drift/diffusion of the weights and the implied time to reach a bound
        "weight_dynamics": [drift_diffusion(w_rec / w_max, t_rec) for w_rec in raw["w_recorded_s"]],
        "output_rate_window_s": win,
        "output_rate_hz": counts[:n_rates].tolist(),
        "output_rate_slope_hz_per_hz": float(slope),
        "wall_total_s": raw["wall_total_s"],
        "wall_build_s": raw["wall_build_s"],
        "wall_run_s": raw["wall_run_s"],
    }
    if raw["controls"]:
        out["control_rate_hz"] = counts[n_rates:].tolist()
        out["control_rate_slope_hz_per_hz"] = (
            float(np.polyfit(rates, counts[n_rates:], 1)[0]) if n_rates > 1 else float("nan")
        )
    return out


@styled
def plot(summary: dict, raw: dict, stem: Path) -> list:
    """Figure: final weight histograms, weights over time, output rate vs input rate."""
    from neurolearn.figures import label, new_figure, save_figure

    fig, (ax1, ax2, ax3) = new_figure(1, 3, width=7.0, height=2.4)
    w_max = raw["w_max_s"]
    bins = np.linspace(0, 1, 26)
    for k, r in enumerate(summary["input_rate_hz"]):
        ax1.hist(raw["w_final_s"][k] / w_max, bins=bins, histtype="step", label=f"{r:g} Hz")
    ax1.set_xlabel(label("weight / g_max", None))
    ax1.set_ylabel("synapses")
    ax1.legend(
        title=f"after {summary['simulated_s']:g} s",
        loc="upper center",
        fontsize="x-small",
        title_fontsize="x-small",
        frameon=False,
    )
    k_mid = min(1, len(summary["input_rate_hz"]) - 1)
    w_t = raw["w_recorded_s"][k_mid] / w_max
    t = raw["record_t_s"]
    for q, ls in ((10, ":"), (50, "-"), (90, "--")):
        ax2.plot(t, np.percentile(w_t, q, axis=0), color="k", ls=ls, label=f"{q}th pct.")
    ax2.set_xlabel(label("time", "s"))
    ax2.set_ylabel(label("weight / g_max", None))
    ax2.set_title(f"input {summary['input_rate_hz'][k_mid]:g} Hz", fontsize="small")
    ax2.set_ylim(0, 1.22)  # the band above 1 holds the legend
    ax2.set_yticks([0, 0.25, 0.5, 0.75, 1])
    ax2.legend(
        loc="upper center",
        ncol=3,
        fontsize="x-small",
        frameon=False,
        handlelength=1.5,
        columnspacing=0.8,
    )
    ax3.plot(summary["input_rate_hz"], summary["output_rate_hz"], "o-", label="STDP")
    if "control_rate_hz" in summary:
        ax3.plot(
            summary["input_rate_hz"],
            summary["control_rate_hz"],
            "s--",
            color="0.5",
            label="fixed weights",
        )
    ax3.set_xlabel(label("input rate", "Hz"))
    ax3.set_ylabel(label("output rate", "Hz"))
    ax3.legend(fontsize="x-small", frameon=False)
    return save_figure(fig, stem)


def add_arguments(parser) -> None:
    """Options of ``neurolearn reproduce song2000_stdp`` (see the module docstring).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        Receives the options.
    """
    add_common_arguments(parser, duration_s=100.0)
    parser.add_argument("--rates-hz", type=float, nargs="+", default=[10, 20, 30, 40])
    parser.add_argument("--dt-ms", type=float, default=0.1)
    parser.add_argument(
        "--parameters",
        default="paper",
        choices=list(PARAMETER_SETS),
        help="parameter set: paper (Song et al. 2000 as implemented by "
        "Brian 1 / CAMP 2016, default) or brian2-example (Brian2's "
        "examples/synapses/STDP.py)",
    )
    parser.add_argument(
        "--w-init",
        default="uniform",
        help="initial weights: uniform (default), max, or a fraction of g_max",
    )


def run(args) -> dict:
    """Run with parsed options; writes ``song2000[_<set>].json`` and the figure into
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
        For a ``--w-init`` that is not uniform, max or a number, or ``--duration-s`` <= 0.
    """
    w_init = args.w_init
    if w_init not in ("uniform", "max"):
        try:
            w_init = float(w_init)
        except ValueError:
            raise UsageError(
                f"--w-init must be uniform, max or a number, got {args.w_init!r}"
            ) from None
    stem = "song2000" if args.parameters == "paper" else f"song2000_{args.parameters}"
    return run_reproduction(
        args,
        stem,
        build_and_run,
        summarize,
        plot,
        rates_hz=args.rates_hz,
        dt_ms=args.dt_ms,
        w_init=w_init,
        parameters=args.parameters,
    )


REPRODUCTION = register(
    Reproduction(
        name="song2000_stdp",
        description="Additive STDP makes the weights bimodal and the output rate nearly "
        "independent of the input rate",
        reference="Song, Miller & Abbott (2000) Nat. Neurosci. 3:919, Fig. 2",
        add_arguments=add_arguments,
        run=run,
    )
)


def main(argv=None) -> int:
    """Command line (``python -m neurolearn.reproductions.song2000_stdp``): see the module
    docstring; exit status 2 for bad options."""
    return REPRODUCTION.main(argv)


if __name__ == "__main__":
    sys.exit(main())

"""One population of a zoo neuron driven by a constant current or by Poisson input: the
experiment behind ``neurolearn simulate``, with its summary statistics and figure.

Drives
------
* constant current: the model's ``I_ext`` variable is set to the given value in every neuron
  (its unit is the model's: amp for the LIF models, volt/second for Izhikevich's, whose input
  is written in mV/ms as in Izhikevich 2003);
* Poisson input: every neuron receives ``n_inputs`` independent Poisson sources of the given
  rate through static synapses of weight ``weight`` onto its (first) synaptic target, the
  model file's ``roles.synaptic_targets`` (``I_syn``; ``g_e`` of the conductance-based
  models); a spike adds ``weight`` to that variable (Brette et al.
  2007, J. Comput. Neurosci. 23:349, CUBA/COBA). Default weights, by the unit of the target:
  25 pA (current), 0.5 nS (conductance), 1 mV/ms (Izhikevich-style input), 1 mV (voltage).
  With 100 inputs at 20 Hz these put the zoo neurons near their threshold; pass ``weight``
  for other models.

Summary (:func:`summarize`): spike count, mean firing rate per neuron, and the coefficient of
variation of the interspike intervals, CV = std(ISI)/mean(ISI) (Softky & Koch 1993,
J. Neurosci. 13:334; Dayan & Abbott 2001, ch. 1.4), averaged over neurons with >= 3 spikes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..spec import ModelError, ModelSpec, NeuronModel, load_model, parse_quantity
from .network import NetworkSpec
from .results import Results

__all__ = ["single_population", "summarize", "cv_isi", "plot_raster_voltage", "DEFAULT_N_INPUTS"]

#: Poisson sources per neuron when the drive is ``rate``.
DEFAULT_N_INPUTS = 100


def _check_time(value, what):
    from brian2 import second
    from brian2.units.fundamentalunits import have_same_dimensions

    q = parse_quantity(value, what)
    if not have_same_dimensions(q, second) or float(q) <= 0:
        raise ModelError(
            f"{what} must be a positive time such as '1 s', got {value!r}", parameter=what
        )
    return q


def _default_weight(dim):
    from brian2 import Quantity, ms, mV, nS, pA

    for default in (25 * pA, 0.5 * nS, 1 * mV / ms, 1 * mV):
        if Quantity(default).dim == dim:
            return default
    return None


def single_population(
    model,
    n: int = 10,
    duration="1 s",
    current=None,
    rate=None,
    n_inputs: int = DEFAULT_N_INPUTS,
    weight=None,
    params: Mapping[str, Any] | None = None,
    preset: str | None = None,
    backend: str = "numpy",
    seed: int | None = None,
    dt="0.1 ms",
    record: int = 3,
    directory=None,
) -> Results:
    """Simulate ``n`` neurons of one model driven by a constant current or Poisson input.

    Parameters
    ----------
    model : str, Path or NeuronModel
        Zoo name, model file or spec.
    n : int
        Number of neurons.
    duration : Quantity or str
        Simulated time (``"1 s"``).
    current : Quantity or str, optional
        Constant input written to ``I_ext`` (in the model's unit of ``I_ext``).
    rate : Quantity or str, optional
        Rate of each Poisson source (hertz). Give at most one of ``current`` and ``rate``;
        neither: the neurons are not driven.
    n_inputs : int
        Poisson sources per neuron.
    weight : Quantity or str, optional
        Weight of each Poisson synapse (default: see the module docstring).
    params : mapping, optional
        Model parameter values (``{"tau_m": "15 ms"}``).
    preset : str, optional
        Named parameter set of the model file.
    backend : str
        One of :data:`~neurolearn.brian.backends.BACKENDS`.
    seed : int, optional
    dt : Quantity or str
        Integration time step.
    record : int
        Number of neurons whose membrane potential (the model's threshold variable,
        ``roles.threshold_variable``) is recorded.
    directory : path, optional
        Standalone project folder.

    Returns
    -------
    Results
        ``spikes["neurons"]`` and ``states["neurons"]``: the threshold variable (``v``) of the
        first ``record`` neurons, ``[time, neurons]``.

    Raises
    ------
    ModelError
        Unknown model or preset, a non-neuron model, both drives given, a drive in the wrong
        unit or negative rate, a bad parameter (name, unit, range), a bad ``n``, duration or dt,
        or an unknown backend.
    """
    spec = load_model(model) if not isinstance(model, ModelSpec) else model
    if not isinstance(spec, NeuronModel):
        raise ModelError(
            f"'{spec.name}' is a {spec.kind} model; simulate needs a neuron model",
            spec.path,
            parameter="model",
        )
    if preset is not None:
        spec = spec.with_preset(preset)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ModelError(f"n must be a positive integer, got {n!r}", parameter="n")
    duration = _check_time(duration, "duration")
    dt = _check_time(dt, "dt")
    if current is not None and rate is not None:
        raise ModelError(
            "give either a constant current or a Poisson rate, not both", parameter="current"
        )
    net = NetworkSpec(dt=dt, name=f"{spec.name}_single")
    initial = {} if current is None else {"I_ext": _constant_current(spec, current)}
    net.add_population("neurons", spec, int(n), params=params, initial=initial)
    if rate is not None:
        _add_poisson_drive(net, spec, int(n), rate, n_inputs, weight)
    net.monitor_spikes("neurons")
    if record > 0:
        variable = spec.threshold_variable or spec.state_variables[0]
        net.monitor_state("neurons", [variable], record=list(range(min(int(record), int(n)))))
    return net.run(duration, backend=backend, seed=seed, directory=directory)


def _constant_current(spec: NeuronModel, current):
    """``current`` parsed and checked against the unit of the model's ``I_ext``."""
    from brian2 import Quantity
    from brian2.units.fundamentalunits import get_unit, have_same_dimensions

    eqs = spec.brian2_equations()
    current = parse_quantity(current, "current")
    if "I_ext" not in eqs.names:
        raise ModelError(
            f"model '{spec.name}' has no input variable 'I_ext'; drive it "
            f"with a Poisson rate instead",
            spec.path,
            parameter="current",
        )
    unit = Quantity(1.0, dim=eqs["I_ext"].dim)
    if not have_same_dimensions(current, unit):
        raise ModelError(
            f"current: model '{spec.name}' needs I_ext in units of "
            f"{get_unit(eqs['I_ext'].dim)!r}, got {current!r}",
            spec.path,
            parameter="current",
        )
    return current


def _add_poisson_drive(net: NetworkSpec, spec: NeuronModel, n: int, rate, n_inputs, weight):
    """``n_inputs`` Poisson sources per neuron onto the model's first synaptic target, through
    static synapses of weight ``weight`` (default by the target's unit, module docstring)."""
    from brian2 import Hz, Quantity
    from brian2.units.fundamentalunits import get_unit, have_same_dimensions

    rate = parse_quantity(rate, "rate")
    if not have_same_dimensions(rate, Hz) or float(rate) < 0:
        raise ModelError(
            f"rate must be a non-negative frequency such as '20 Hz', got {rate!r}",
            parameter="rate",
        )
    if not spec.synaptic_targets:
        raise ModelError(
            f"model '{spec.name}' has no synaptic variable (roles.synaptic_targets is empty) "
            f"for Poisson input; drive it with a current instead",
            spec.path,
            parameter="rate",
        )
    target = spec.synaptic_targets[0]
    dim = spec.brian2_equations()[target].dim
    if weight is None:
        weight = _default_weight(dim)
        if weight is None:
            raise ModelError(
                f"give a weight for the Poisson synapses onto '{target}' (unit {get_unit(dim)!r})",
                parameter="weight",
            )
    weight = parse_quantity(weight, "weight")
    if not have_same_dimensions(weight, Quantity(1.0, dim=dim)):
        raise ModelError(
            f"weight: '{target}' of model '{spec.name}' is in units of "
            f"{get_unit(dim)!r}, got {weight!r}",
            parameter="weight",
        )
    if isinstance(n_inputs, bool) or not isinstance(n_inputs, (int, np.integer)) or n_inputs <= 0:
        raise ModelError(
            f"n_inputs must be a positive integer, got {n_inputs!r}", parameter="n_inputs"
        )
    synapse = ModelSpec.from_dict(
        {
            "name": "static_drive",
            "kind": "synapse",
            "title": "static synapse adding w to the target variable",
            "reference": "Brette et al. (2007) J. Comput. Neurosci. 23:349 (CUBA/COBA)",
            "equations": f"w : {get_unit(dim)!r}" if not dim.is_dimensionless else "w : 1",
            "on_pre": "{target}_post += w",
            "target": target,
            "roles": {"time_constants": []},
        }
    )
    k = int(n_inputs)
    net.add_input("inputs", "poisson", n * k, rate=rate)
    src = np.arange(n * k, dtype=np.int64)
    net.connect("inputs", "neurons", synapse, i=src, j=src // k, weight=weight)


def cv_isi(trains) -> float:
    """Mean coefficient of variation of the interspike intervals.

    Parameters
    ----------
    trains : list of arrays
        Spike times of each neuron (any time unit).

    Returns
    -------
    float
        Mean over neurons with >= 3 spikes of std(ISI)/mean(ISI) (population std); NaN if no
        neuron has 3 spikes. Softky & Koch (1993), J. Neurosci. 13:334.
    """
    cvs = []
    for t in trains:
        isi = np.diff(np.sort(np.asarray(t, dtype=float)))
        if isi.size >= 2 and isi.mean() > 0:
            cvs.append(isi.std() / isi.mean())
    return float(np.mean(cvs)) if cvs else math.nan


def summarize(results: Results, population: str = "neurons") -> dict:
    """Summary of one population's spikes, JSON-ready with unit suffixes.

    Returns
    -------
    dict
        ``n_neurons``, ``n_spikes``, ``rate_hz`` (mean per neuron), ``cv_isi`` (None if no
        neuron fired 3 spikes), ``duration_s``, ``dt_ms``, ``backend``, ``seed``.
    """
    s = results.spikes[population]
    cv = cv_isi(s.trains())
    return {
        "n_neurons": int(s.n),
        "n_spikes": s.count,
        "rate_hz": float(s.mean_rate(results.duration)),
        "cv_isi": None if math.isnan(cv) else cv,
        "duration_s": float(results.duration),
        "dt_ms": float(results.dt) * 1e3,
        "backend": results.backend,
        "seed": results.seed,
    }


def plot_raster_voltage(results: Results, population: str = "neurons", title: str = ""):
    """Spike raster (top) and recorded membrane potential (bottom) of one population.

    Returns
    -------
    matplotlib Figure
    """
    from ..figures import style

    with style():
        return _plot_raster_voltage(results, population, title)


def _plot_raster_voltage(results, population, title):
    from matplotlib.ticker import MaxNLocator

    from ..figures import label, new_figure

    s = results.spikes[population]
    has_v = population in results.states
    fig, axes = new_figure(2 if has_v else 1, 1, height=3.6 if has_v else 2.0, sharex=True)
    axes = np.atleast_1d(axes)
    ax = axes[0]
    ax.plot(np.asarray(s.times), s.indices, "|", ms=3, color="k")
    ax.set_ylabel(label("neuron", None))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0, float(results.duration))
    if title:
        ax.set_title(title)
    if has_v:
        rec = results.states[population]
        var, values = next(iter(rec.values.items()))
        from brian2 import volt
        from brian2.units.fundamentalunits import get_dimensions

        scale, unit = (1e3, "mV") if get_dimensions(values) == volt.dim else (1.0, "")
        for k, nid in enumerate(rec.neurons):
            axes[1].plot(
                np.asarray(rec.t), np.asarray(values)[:, k] * scale, lw=0.6, label=f"neuron {nid}"
            )
        axes[1].set_ylabel(label(var, unit or None))
        axes[1].set_xlabel(label("time", "s"))
        if len(rec.neurons) > 1:
            # beside the axes, not on the traces (which fill the panel)
            axes[1].legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.set_xlabel(label("time", "s"))
    return fig

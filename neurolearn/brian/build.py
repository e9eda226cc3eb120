"""Brian2 objects from model specs: the one place where a spec becomes a NeuronGroup,
a PoissonGroup / SpikeGeneratorGroup, or Synapses.

Every parameter of a spec becomes a *constant state variable* of the group (per neuron when
the spec declares ``per_neuron = true``, else ``(constant, shared)``). Parameters are therefore
set after construction, can differ between neurons, and, in standalone mode, can be changed
between runs through Brian2's ``run_args`` without recompiling.

These functions create objects on whatever Brian2 device is active; choosing the device and
running is :mod:`neurolearn.brian.network`'s job.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..spec import InputModel, ModelError, NeuronModel, SynapseModel, parse_quantity
from ..spec.stateupdaters import register_state_updaters
from .exact import brian2_method

__all__ = [
    "check_integrable",
    "neuron_equations",
    "synapse_equations",
    "make_neuron_group",
    "make_input_group",
    "make_synapses",
    "set_parameters",
]


def _declaration(p, shared: bool) -> str:
    flags = "constant, shared" if shared else "constant"
    return f"{p.name} : {p.unit_name} ({flags})"


def neuron_equations(spec: NeuronModel, synapse_models: Sequence[tuple[SynapseModel, str]] = ()):
    """The Brian2 equations of a neuron group built from ``spec``.

    Parameters
    ----------
    spec : NeuronModel
    synapse_models : sequence of (SynapseModel, target variable)
        Incoming synapse models whose ``post_equations`` replace equations of the neuron model
        (e.g. an alpha kernel for ``I_syn``).

    Returns
    -------
    brian2.Equations
        The model's equations, plus one constant declaration per parameter.

    Raises
    ------
    ModelError
        If a synapse model replaces a variable the neuron does not have.
    """
    from brian2 import Equations

    eqs = spec.brian2_equations()
    replaced: set[str] = set()
    extra = []
    for syn, target in synapse_models:
        if not syn.post_equations:
            continue
        for var in syn.replaces:
            var = var.replace("I_syn", target) if var == syn.target else var
            if var not in eqs.names:
                raise ModelError(
                    f"synapse model '{syn.name}' replaces '{var}', which neuron "
                    f"model '{spec.name}' does not have (its variables: "
                    f"{', '.join(sorted(eqs.names))})",
                    syn.path,
                    parameter="replaces",
                )
            replaced.add(var)
        extra.append(syn.post_equations.replace("{target}", target))
    kept = [eq for name, eq in eqs.items() if name not in replaced]
    out = Equations(list(kept))
    for code in dict.fromkeys(extra):
        out = out + Equations(code)
    decl = "\n".join(
        _declaration(p, not p.per_neuron)
        for p in spec.parameters.values()
        if p.name not in out.names
    )
    return out + Equations(decl) if decl else out


def synapse_equations(spec: SynapseModel):
    """Per-synapse equations of ``spec`` plus one constant declaration per parameter."""
    from brian2 import Equations

    eqs = spec.brian2_equations()
    decl = "\n".join(
        _declaration(p, not p.per_neuron)
        for p in spec.parameters.values()
        if p.name not in eqs.names
    )
    return eqs + Equations(decl) if decl else eqs


def set_parameters(group, spec, values: Mapping[str, Any]) -> None:
    """Assign parameter values (scalars or one per element) to a group built from ``spec``.

    Raises
    ------
    ModelError
        Through :meth:`ModelSpec.resolve_parameters` for bad names, units or ranges.
    """
    resolved = spec.resolve_parameters(values, n=len(group) if len(group) else None)
    for name, value in resolved.items():
        if name in group.variables:
            setattr(group, name, value)


def _refractory(spec: NeuronModel):
    ref = spec.refractory.strip()
    if not ref:
        return False
    if ref in spec.parameters:
        return ref
    try:
        return parse_quantity(ref, "refractory")
    except ModelError:
        return ref  # a Brian2 condition


def make_neuron_group(
    spec: NeuronModel,
    n: int,
    params: Mapping[str, Any] | None = None,
    initial: Mapping[str, Any] | None = None,
    name: str | None = None,
    method: str | None = None,
    dt=None,
    synapse_models: Sequence[tuple[SynapseModel, str]] = (),
):
    """A Brian2 ``NeuronGroup`` of ``n`` neurons of model ``spec``.

    Parameters
    ----------
    spec : NeuronModel
    n : int
        Number of neurons (> 0).
    params : mapping, optional
        Parameter values overriding the defaults (scalar or one per neuron for ``per_neuron``
        parameters), as Quantities or strings such as ``"15 ms"``.
    initial : mapping, optional
        Initial values overriding the spec's ``[initial]`` table (Quantity, array, or a Brian2
        expression string).
    name : str, optional
        Brian2 name of the group.
    method : str or StateUpdateMethod, optional
        State updater (Brian2's names or neurolearn's, e.g. ``"allen_glif"``); defaults to
        the spec's ``method``. ``"exact"`` is integrated with its singular limits guarded
        (:mod:`neurolearn.brian.exact`), as the torch engine integrates it.
    dt : Quantity, optional
        Time step of the group's clock (default: ``defaultclock.dt``).
    synapse_models : sequence of (SynapseModel, target)
        See :func:`neuron_equations`.

    Returns
    -------
    brian2.NeuronGroup

    Raises
    ------
    ModelError
        For a bad ``n``, parameter or initial value, naming it.
    """
    from brian2 import NeuronGroup

    register_state_updaters()  # method may name one of neurolearn's ("allen_glif")
    if not isinstance(spec, NeuronModel):
        raise ModelError(
            f"'{getattr(spec, 'name', spec)}' is a {getattr(spec, 'kind', '?')} "
            f"model, not a neuron model",
            getattr(spec, "path", None),
            parameter="model",
        )
    if int(n) != n or n <= 0:
        raise ModelError(f"number of neurons must be a positive integer, got {n!r}", parameter="n")
    values = spec.resolve_parameters(params, n=int(n))
    kwargs = dict(
        model=neuron_equations(spec, synapse_models),
        threshold=spec.threshold or None,
        reset=spec.reset or None,
        refractory=_refractory(spec),
        method=brian2_method(method or spec.method),
        namespace={},
    )
    if name:
        kwargs["name"] = name
    if dt is not None:
        kwargs["dt"] = dt
    with _model_errors(spec):
        group = NeuronGroup(int(n), **kwargs)
    check_integrable(spec, group, method or spec.method)
    for pname, value in values.items():
        setattr(group, pname, value)
    init = dict(spec.initial)
    init.update(initial or {})
    for var, value in init.items():
        if var not in group.variables:
            raise ModelError(
                f"initial value for unknown variable '{var}' of model '{spec.name}'",
                spec.path,
                parameter=var,
            )
        if isinstance(value, str) and _looks_numeric(value):
            value = parse_quantity(value, var)
        setattr(group, var, value)
    return group


#: Brian2 methods suggested, in this order, for equations the chosen one cannot integrate.
_SUGGESTED = ("exponential_euler", "euler", "heun", "milstein", "rk4")


@contextlib.contextmanager
def _model_errors(spec, what: str = ""):
    """Brian2's errors creating an object of ``spec`` as a ModelError naming the file."""
    from brian2.equations.equations import EquationError
    from brian2.units.fundamentalunits import DimensionMismatchError

    try:
        yield
    except (DimensionMismatchError, EquationError, SyntaxError, KeyError, ValueError) as exc:
        if isinstance(exc, ModelError):
            raise
        text = " ".join(str(exc).split())
        raise spec.error(
            f"Brian2 cannot build the model{' ' + what if what else ''}: "
            f"{type(exc).__name__}: {text}"
        ) from exc


def check_integrable(spec, group, method) -> None:
    """The state updater of ``group`` (a NeuronGroup or Synapses of ``spec``) is derived now,
    at build time, as Brian2 would derive it at the start of the run.

    Raises
    ------
    ModelError
        If ``method`` cannot integrate the equations (non-linear or stochastic equations
        under ``exact``, complex eigenvalues, multiplicative noise under ``euler``...): names
        the file, the differential equations, the method, Brian2's reason and the methods
        that can integrate them.
    """
    from brian2.stateupdaters.base import StateUpdateMethod, UnsupportedEquationsException

    updater = getattr(group, "state_updater", None)
    if updater is None or not group.equations.diff_eq_names:
        return
    try:
        updater.update_abstract_code(run_namespace={})
    except Exception as exc:
        cause = exc
        while getattr(cause, "_brian_objname", None) is not None and cause.__cause__:
            cause = cause.__cause__
        if not isinstance(cause, (UnsupportedEquationsException, NotImplementedError)):
            return  # not the method's fault: Brian2 reports it when the network runs
        variables = updater.group.resolve_all(
            group.equations.identifiers | group.equations.names | {"dt"}, {}, user_identifiers=set()
        )
        able = []
        for name in _SUGGESTED:  # the first other method that integrates them
            if isinstance(method, str) and name in method:
                continue
            try:
                StateUpdateMethod.apply_stateupdater(group.equations, variables, name)
            except Exception:
                continue
            able.append(name)
            break
        eqs = [f"d{v}/dt" for v in group.equations.diff_eq_names]
        raise spec.error(
            f"the equations ({', '.join(sorted(eqs))}) cannot be integrated with method "
            f"'{method}': {' '.join(str(cause).split()).rstrip('. ')}; "
            + (f'try method = "{able[0]}"' if able else "no Brian2 method integrates them"),
            "method =",
            parameter="method",
        ) from exc


def _looks_numeric(text: str) -> bool:
    try:
        parse_quantity(text)
        return True
    except ModelError:
        return False


def make_input_group(
    spec: InputModel,
    n: int | None = None,
    params: Mapping[str, Any] | None = None,
    indices=None,
    times=None,
    name: str | None = None,
    dt=None,
):
    """A Brian2 input group: ``PoissonGroup`` or ``SpikeGeneratorGroup``.

    Parameters
    ----------
    spec : InputModel
    n : int
        Number of sources.
    params : mapping, optional
        ``{"rate": 20*Hz}`` (scalar or one per source) for Poisson inputs.
    indices, times : array-like, optional
        For a spike generator: source index and time (Quantity) of each spike.

    Raises
    ------
    ModelError
        For a missing or bad ``n``, rate, or spike list.
    """
    from brian2 import PoissonGroup, SpikeGeneratorGroup, second

    if n is None or int(n) != n or n <= 0:
        raise ModelError(
            f"number of input sources must be a positive integer, got {n!r}", parameter="n"
        )
    kwargs = {"name": name} if name else {}
    if spec.generator == "poisson":
        values = spec.resolve_parameters(params, n=int(n))
        if dt is not None:
            kwargs["dt"] = dt
        return PoissonGroup(int(n), rates=values["rate"], **kwargs)
    if indices is None or times is None:
        raise ModelError(
            "a spike generator needs 'indices' and 'times'", spec.path, parameter="times"
        )
    indices = np.asarray(indices, dtype=np.int64)
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        raise ModelError(
            f"spike generator indices must lie in [0, {int(n) - 1}]", parameter="indices"
        )
    if dt is not None:
        kwargs["dt"] = dt
    if not hasattr(times, "dim"):
        times = np.asarray(times, dtype=float) * second
    return SpikeGeneratorGroup(int(n), indices, times, **kwargs)


def make_synapses(
    spec: SynapseModel,
    source,
    target,
    target_var: str | None = None,
    params: Mapping[str, Any] | None = None,
    name: str | None = None,
    method: str | None = None,
    delay=None,
    dt=None,
    connect=None,
):
    """Brian2 ``Synapses`` of model ``spec`` from ``source`` to ``target`` (not yet connected).

    Parameters
    ----------
    spec : SynapseModel
    source, target : Brian2 groups
    target_var : str, optional
        Postsynaptic variable driven by presynaptic spikes (``{target}`` in ``on_pre``);
        default ``spec.target``.
    params : mapping, optional
        Synapse parameter values (shared ones, before ``connect``).
    delay : Quantity, optional
        Homogeneous delay of the ``pre`` pathway (heterogeneous delays: set ``S.delay`` after
        ``connect``).
    dt : Quantity, optional
        Time step of the synapses' own clock, on which their clock-driven equations are
        integrated (default: ``defaultclock.dt``). Spikes are still propagated on the clocks of
        the source (``on_pre``) and target (``on_post``) groups.
    connect : bool, str, dict or (i, j) tuple, optional
        If given, the synapses are connected (``True``: all to all; a condition string; a dict
        of ``Synapses.connect`` keyword arguments; index arrays ``(i, j)``) before the
        parameter values are set. Brian2 refuses to set synaptic variables, shared ones
        included, before ``connect``: pass ``connect`` for models that have parameters.

    Raises
    ------
    ModelError
        If ``target_var`` is not a variable of the target group.
    """
    from brian2 import Synapses

    register_state_updaters()
    if not isinstance(spec, SynapseModel):
        raise ModelError(
            f"'{getattr(spec, 'name', spec)}' is not a synapse model",
            getattr(spec, "path", None),
            parameter="synapse",
        )
    tv = target_var or spec.target
    if tv and tv not in target.variables:
        raise ModelError(
            f"synapse model '{spec.name}' drives '{tv}', which the target group "
            f"'{target.name}' does not have",
            spec.path,
            parameter="target",
        )
    kwargs = dict(
        model=synapse_equations(spec), method=brian2_method(method or spec.method), namespace={}
    )
    if spec.on_pre:
        kwargs["on_pre"] = spec.on_pre.replace("{target}", tv)
    if spec.on_post:
        kwargs["on_post"] = spec.on_post.replace("{target}", tv)
    if name:
        kwargs["name"] = name
    if delay is not None:
        kwargs["delay"] = delay
    if dt is not None:
        kwargs["dt"] = dt
    with _model_errors(spec, f"connecting '{source.name}' to '{target.name}'"):
        syn = Synapses(source, target, **kwargs)
    check_integrable(spec, syn, method or spec.method)
    if connect is not None:
        if isinstance(connect, tuple):
            syn.connect(i=np.asarray(connect[0]), j=np.asarray(connect[1]))
        elif isinstance(connect, dict):
            syn.connect(**connect)
        elif isinstance(connect, str):
            syn.connect(connect)
        else:
            syn.connect(condition=bool(connect))
    shared = {
        k: v
        for k, v in spec.resolve_parameters(params).items()
        if not spec.parameters[k].per_neuron
    }
    for pname, value in shared.items():
        setattr(syn, pname, value)
    return syn

"""Equal and nearly equal time constants in both engines (issue 14, item 1).

The exact solution of coupled linear equations divides by a difference of time constants
(``1/(tau_m - tau_syn)`` in the current-based LIF). Brian2's ``exact`` state updater printed it
as it is (NaN at equality, 1 % wrong at a relative difference of 1e-12); neurolearn's Brian2
engine now integrates ``exact`` with the model IR's guarded series
(:mod:`neurolearn.brian.exact`), as the torch engine does.

For every zoo neuron model whose exact update has such a denominator (found from the model IR,
not listed by hand), neurons whose two time constants are equal, equal to 1e-12 relative,
inside the guard band and far apart are simulated by Brian2 ``numpy``, ``cython``,
``cpp_standalone`` and by the torch engine (float64); every state variable at every step agrees
to 1e-9 relative with a 50-digit mpmath reference (the matrix exponential of the linear system
Brian2 reads off the equations, with Brian2's step order, refractoriness, threshold and reset),
and the spikes are identical. A trained network whose time constants were clamped to the same
bound is exported by ``to_brian2`` with torch's spikes.
"""

import re

import numpy as np
import pytest
import sympy

torch = pytest.importorskip("torch", reason="needs torch: pip install 'neurolearn[torch]'")
from brian2 import ms, nA, second
from brian2.parsing.sympytools import str_to_sympy
from brian2.stateupdaters.exact import get_linear_system

from neurolearn import ModelError, list_models, load_model, parse_quantity
from neurolearn.brian import NetworkSpec
from neurolearn.brian.exact import guarded_exact
from neurolearn.bridge import spike_agreement, to_brian2
from neurolearn.codegen import SingularGuard, abstract_update_code, model_ir
from neurolearn.torch import SpikingLayer, SpikingNetwork

mpmath = pytest.importorskip("mpmath")
pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]

DT = 0.1 * ms
STEPS = 600
#: relative offsets of the second time constant from the first, one neuron each: equal, 1e-12
#: above and below, inside the guard band (1e-4), and far apart
OFFSETS = (0.0, 1e-12, -1e-12, 3e-5, 0.5)
TAU = 10 * ms
WEIGHT = 0.4 * nA
INPUT_STEPS = np.arange(20, STEPS, 25)
FAST_COMPILE = {"codegen.cpp.extra_compile_args_gcc": ["-w", "-O0"]}


def _singular_pair(name):
    """The two time constants of the first guarded coefficient of the model's IR, or None."""
    ir = model_ir(name)
    for c in ir.coefficients:
        if isinstance(c.program, SingularGuard):
            return tuple(sorted(s.name for s in c.program.difference.free_symbols))
    return None


SINGULAR = [s.name for s in list_models("neuron") if s.method == "exact" and _singular_pair(s.name)]


def test_the_zoo_has_models_with_singular_limits():
    assert {"lif", "alif", "srm0"} <= set(SINGULAR)


def _params(name) -> dict:
    first, second_ = _singular_pair(name)
    taus = np.array([float(TAU) * (1 + r) for r in OFFSETS])
    return {first: np.full(len(OFFSETS), float(TAU)) * second, second_: taus * second}


# ---------------------------------------------------------------------------------------------
# 50-digit reference
# ---------------------------------------------------------------------------------------------
def _mp_function(expr, names):
    syms = {s.name: s for s in expr.free_symbols}
    args = [syms.get(n, sympy.Symbol(n)) for n in names]
    return sympy.lambdify(args, expr, modules="mpmath")


def reference(spec, params: dict, n: int):
    """State of every variable after each step ``[time, neurons]`` and the spikes, computed
    at 50 digits: ``X(t + dt) = expm(A dt) X(t)`` for the augmented linear system ``A = [[M,
    B], [0, 0]]`` Brian2 reads off the equations (``get_linear_system``), with the rows of
    ``(unless refractory)`` variables zeroed while refractory, then the threshold (not while
    refractory), the synaptic input, the reset (Brian2's schedule)."""
    mpmath.mp.dps = 50
    eqs = spec.brian2_equations()
    names, M, B = get_linear_system(eqs, {})
    k = len(names)
    flagged = [i for i, v in enumerate(names) if "unless refractory" in eqs[v].flags]
    pnames = sorted(spec.parameters) + ["I_ext"]
    fM, fB = _mp_function(M, pnames), _mp_function(B, pnames)
    subexprs = {v: eqs[v].expr.code for v in eqs.subexpr_names}
    thr = str_to_sympy(spec.threshold)
    for v, code in subexprs.items():
        thr = thr.xreplace({s: str_to_sympy(code) for s in thr.free_symbols if s.name == v})
    f_thr = _mp_function(thr, names + pnames)
    resets = []
    for line in filter(None, (x.strip() for x in spec.reset.splitlines())):
        var, op, rhs = re.match(r"^(\w+)\s*(=|\+=|-=)\s*(.+)$", line).groups()
        resets.append((names.index(var), op, _mp_function(str_to_sympy(rhs), names + pnames)))
    ref = spec.refractory.strip()
    ref_steps = (
        int((float(spec.parameters[ref].value) + 1e-3 * float(DT)) / float(DT)) if ref else 0
    )
    dt = mpmath.mpf(float(DT))
    target = names.index(spec.synaptic_targets[0])
    out = np.zeros((STEPS, n, k))
    spikes = []
    for j in range(n):
        p = {
            name: mpmath.mpf(float(np.asarray(params[name])[j]))
            if name in params
            else mpmath.mpf(float(spec.parameters[name].value))
            for name in spec.parameters
        }
        p["I_ext"] = mpmath.mpf(0)
        pv = [p[q] for q in pnames]
        Mj, Bj = mpmath.matrix(fM(*pv).tolist()), mpmath.matrix(fB(*pv).tolist())
        props = []
        for refractory in (False, True):
            A = mpmath.zeros(k + 1, k + 1)
            for r in range(k):
                if refractory and r in flagged:
                    continue
                for c in range(k):
                    A[r, c] = Mj[r, c]
                A[r, k] = Bj[r]
            props.append(mpmath.expm(A * dt))
        x = mpmath.matrix([_initial(spec, v, p) for v in names] + [1])
        last = None
        for step in range(STEPS):
            active = last is None or step - last >= ref_steps
            x = props[0 if active else 1] * x
            state = [x[i] for i in range(k)]
            if active and f_thr(*state, *pv):
                spikes.append((step, j))
                last = step
            if step in INPUT_STEPS:
                x[target] += mpmath.mpf(float(WEIGHT))
            if spikes and spikes[-1] == (step, j):
                for i, op, f in resets:
                    value = f(*[x[q] for q in range(k)], *pv)
                    x[i] = value if op == "=" else x[i] + value if op == "+=" else x[i] - value
            out[step, j] = [float(x[i]) for i in range(k)]
    return names, out, sorted(spikes)


def _initial(spec, var, p):
    """Initial value of ``var``: a quantity (``"0 nA"``) or an expression of parameters."""
    text = spec.initial.get(var)
    if text is None:
        return mpmath.mpf(0)
    try:
        return mpmath.mpf(float(parse_quantity(text)))
    except ModelError:
        names = sorted(spec.parameters)
        return _mp_function(str_to_sympy(text), names)(*[p[q] for q in names])


# ---------------------------------------------------------------------------------------------
# The engines
# ---------------------------------------------------------------------------------------------
def _network() -> NetworkSpec:
    net = NetworkSpec(dt=DT, name="singular")
    n = len(OFFSETS)
    net.add_input(
        "drive",
        "spike_generator",
        1,
        indices=np.zeros(INPUT_STEPS.size, dtype=np.int64),
        times=INPUT_STEPS * DT,
    )
    for name in SINGULAR:
        spec = load_model(name)
        net.add_population(name, spec, n, params=_params(name))
        net.connect(
            "drive", name, "static_current", i=np.zeros(n, int), j=np.arange(n), weight=WEIGHT
        )
        net.monitor_spikes(name)
        net.monitor_state(name, spec.state_variables)
    return net


def _brian(results, name):
    """(states [time, neurons, variables] after each step, spikes) of one population."""
    spec = load_model(name)
    rec = results.states[name]
    values = np.stack([np.asarray(rec.values[v]) for v in spec.state_variables], -1)
    # the monitor records at the start of each step: the state after the step before
    after = values[1:]
    s = results.spikes[name]
    steps = np.round(np.asarray(s.times) / float(DT)).astype(int)
    keep = steps < STEPS
    return after, sorted(zip(steps[keep].tolist(), s.indices[keep].tolist()))


def _torch(name):
    spec = load_model(name)
    layer = SpikingLayer(
        spec, 1, len(OFFSETS), dt=float(DT), params=_params(name), dtype=torch.float64
    )
    with torch.no_grad():
        layer.W_in.fill_(float(WEIGHT) / layer.weight_unit)
        x = torch.zeros(STEPS, 1, 1, dtype=torch.float64)
        x[INPUT_STEPS] = 1.0
        spikes, traces = layer(x, record=spec.state_variables)
    values = np.stack([traces[v][:, 0].numpy() for v in spec.state_variables], -1)
    steps, idx = np.nonzero(spikes[:, 0].numpy())
    return values, sorted(zip(steps.tolist(), idx.tolist()))


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    out = {}
    net = _network()
    out["numpy"] = net.run(STEPS * DT + DT, backend="numpy")
    out["cython"] = net.run(STEPS * DT + DT, backend="cython", prefs=FAST_COMPILE)
    out["cpp_standalone"] = net.run(
        STEPS * DT + DT,
        backend="cpp_standalone",
        directory=tmp_path_factory.mktemp("singular_cpp"),
        prefs=FAST_COMPILE,
    )
    return out


@pytest.mark.parametrize("name", SINGULAR)
def test_equal_time_constants_agree_with_a_50_digit_reference(engines, name):
    spec = load_model(name)
    names, ref, ref_spikes = reference(spec, _params(name), len(OFFSETS))
    order = [names.index(v) for v in spec.state_variables]
    ref = ref[:, :, order]
    assert len(ref_spikes) >= 2 * len(OFFSETS), f"{name}: the drive makes too few spikes"
    scale = np.max(np.abs(ref), axis=0)  # [neurons, variables]
    runs = {b: _brian(r, name) for b, r in engines.items()}
    runs["torch"] = _torch(name)
    for engine, (values, spikes) in runs.items():
        values = values[:STEPS]
        assert np.all(np.isfinite(values)), (name, engine)
        err = np.max(np.abs(values - ref), axis=0)
        assert np.all(err <= 1e-9 * scale), (name, engine, err / np.maximum(scale, 1e-300))
        assert spikes == ref_spikes, (name, engine)


def test_guarded_code_replaces_brian2s_only_where_a_limit_is_singular():
    """The guarded form is emitted for the LIF (coupled I_syn -> v) and not for a model whose
    exact solution divides by no difference (its code stays Brian2's)."""
    lif = load_model("lif")
    code = abstract_update_code(lif)
    body = "\n".join(line for line in code.splitlines() if not line.startswith("not_refractory"))
    guarded = guarded_exact(body)
    assert guarded is not None and "int(abs(" in guarded
    decay = "_x = x*exp(-dt/tau)\nx = _x"
    assert guarded_exact(decay) is None


# ---------------------------------------------------------------------------------------------
# to_brian2 of a trained network whose time constants met at a bound
# ---------------------------------------------------------------------------------------------
def test_to_brian2_of_a_trained_network_with_clamped_equal_time_constants():
    g = torch.Generator().manual_seed(3)
    net = SpikingNetwork.build(
        8,
        [10],
        2,
        model="lif",
        dt="1 ms",
        heterogeneity="het_init_het_train",
        generator=g,
        dtype=torch.float64,
        weight_gain=4.0,
    )
    x = (torch.rand(60, 2, 8, generator=g) < 0.2).double()
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    for _ in range(2):
        opt.zero_grad()
        out = net(x)
        out.sum().backward()
        opt.step()
    layer = net.layers[0]
    # time constants clamped to one bound: every neuron has tau_m == tau_syn == 8 ms
    layer.param_bounds["tau_m"] = (8.0, 8.0)
    layer.param_bounds["tau_syn"] = (8.0, 8.0)
    layer.project_parameters_()
    assert np.array_equal(layer.parameter_si("tau_m"), layer.parameter_si("tau_syn"))
    with torch.no_grad():
        net(x)
    spikes = net.spikes[0].numpy()
    assert spikes.sum() > 10
    export = to_brian2(net, x, backend="numpy")
    agreement = spike_agreement(spikes, export.spikes[0])
    assert agreement["identical"], agreement

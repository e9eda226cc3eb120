"""The named steps that build the model IR (:mod:`neurolearn.codegen.steps`): prepare
(``not_refractory = 1``, SI values of unit names, unsupported constructs named), hoisting
(the hoisted update with its coefficients is the update Brian2 derived), the singular-limit
guard (finite values and gradients at ``tau_m == tau_syn``, equal to 50-digit mpmath
references), threshold, resets, initial values and refractoriness."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs torch: pip install 'neurolearn[torch]'")
import sympy

from neurolearn.codegen import ModelIR, Plain, SingularGuard, check_supported, model_ir
from neurolearn.codegen.steps import hoist
from neurolearn.spec import ModelError, ModelSpec, list_models
from neurolearn.torch import compile_model

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]

COMPILING = ["lif", "alif", "lif_cond", "lif_adaptive_threshold", "adex", "izhikevich", "srm0"]


def _spec(equations, threshold="v > 1", reset="v = 0", refractory="", method="euler", **kw):
    data = {
        "name": "x",
        "kind": "neuron",
        "method": method,
        "equations": equations,
        "threshold": threshold,
        "reset": reset,
        "refractory": refractory,
        "parameters": {"tau": {"value": "10 ms"}, "tau2": {"value": "20 ms"}},
    }
    data.update(kw)
    return ModelSpec.from_dict(data)


def _values(ir: ModelIR, seed):
    """Random state and parameter values (SI) of a model, by name."""
    rng = np.random.default_rng(seed)
    spec = next(s for s in list_models("neuron") if s.name == ir.name)
    vals = {n: float(p.value) * (1 + 0.2 * rng.random()) for n, p in spec.parameters.items()}
    vals.update({n: 0.3 * rng.standard_normal() * 1e-9 for n in ir.externals})
    init = {
        "v": -0.06,
        "u": -0.013,
        "w": 1e-10,
        "a": 0.5,
        "theta": -0.05,
        "I_syn": 2e-10,
        "g_e": 1e-9,
        "g_i": 2e-9,
        "h": 0.004,
        "eta": -0.002,
    }
    vals.update({v: init[v] * (1 + 0.5 * rng.standard_normal()) for v in ir.states})
    vals["dt"] = 1e-4
    return vals


def _eval(expr, vals, digits=30):
    return expr.evalf(digits, subs={s: vals[s.name] for s in expr.free_symbols})


@pytest.mark.parametrize("name", COMPILING)
def test_hoisting_keeps_the_update(name):
    """The hoisted update with each ``C__c<k>`` replaced by its coefficient and ``P__<name>``
    by the parameter is Brian2's update (30 digits); the compiled coefficients and update in
    float64 agree with it to rounding."""
    ir = model_ir(name)
    back = {c.symbol: c.expr for c in ir.coefficients}
    for seed in range(2):
        vals = _values(ir, seed)
        for v in ir.states:
            if ir.update[v] is None:
                continue
            ref = _eval(ir.update[v], vals)
            h = ir.hoisted[v]
            h = h.xreplace(back)
            h = h.xreplace(
                {s: sympy.Symbol(s.name[3:]) for s in h.free_symbols if s.name[:3] == "P__"}
            )
            assert abs(_eval(h, vals) - ref) <= 1e-25 * abs(ref) + 1e-300, v
            # no parameter left outside the coefficients
            assert all(
                s.name in ir.states or s.name == "t" or s.name[:3] in ("C__", "P__")
                for s in ir.hoisted[v].free_symbols
            )
        cm = compile_model(name, vals["dt"])
        P = {n: torch.tensor(vals[n], dtype=torch.float64) for n in ir.params + ir.externals}
        C = cm.coefficients(P)
        for c in ir.coefficients:
            ref = float(_eval(c.expr, vals))
            assert float(C[c.name]) == pytest.approx(ref, rel=1e-12, abs=1e-300), c.name
        S = {v: torch.tensor([[vals[v]]], dtype=torch.float64) for v in ir.states}
        new = cm.update(S, C)
        for v in ir.states:
            ref = float(_eval(ir.update[v], vals)) if ir.update[v] is not None else vals[v]
            assert float(new[v]) == pytest.approx(ref, rel=1e-11, abs=1e-300), v


def test_hoist_splits_sums_and_products_and_shares_coefficients():
    v, dt, tau, v_rest = sympy.symbols("v dt tau v_rest", real=True)
    decay = sympy.exp(-dt / tau)
    hoisted, coeffs = hoist(
        {"v": v * decay + v_rest * (1 - decay), "w": decay * v + v_rest},
        {"dt", "tau", "v_rest"},
    )
    assert coeffs == [("c0", decay), ("c1", v_rest * (1 - decay))]
    c0, c1 = sympy.Symbol("C__c0"), sympy.Symbol("C__c1")
    assert sympy.expand(hoisted["v"]) == v * c0 + c1
    # shared, and a lone parameter
    assert sympy.expand(hoisted["w"]) == v * c0 + sympy.Symbol("P__v_rest")


def test_prepare_not_refractory_and_si_units():
    # Brian2 multiplies the (unless refractory) right-hand side by int(not_refractory)
    ir = model_ir("lif")
    assert "int(not_refractory)" in ir.abstract_code
    assert all(s.name != "not_refractory" for s in ir.update["v"].free_symbols)
    assert ir.clamped == ("v",)
    # Izhikevich's mV and ms become SI values: dv = dt*(0.04 v^2/mV + 5 v + 140 mV - u)/ms
    ir = model_ir("izhikevich")
    assert {s.name for s in ir.update["v"].free_symbols} == {"v", "u", "dt", "I_syn", "I_ext"}
    vals = {"v": -0.06, "u": -0.012, "dt": 1e-4, "I_syn": 0.5, "I_ext": 0.25}
    mV, ms = 1e-3, 1e-3
    ref = vals["v"] + vals["dt"] * (
        (0.04 * vals["v"] ** 2 / mV + 5 * vals["v"] + 140 * mV - vals["u"]) / ms
        + vals["I_syn"]
        + vals["I_ext"]
    )
    assert float(_eval(ir.update["v"], vals)) == pytest.approx(ref, rel=1e-14)


def test_prepare_names_unsupported_constructs():
    cond = _spec("dv/dt = (int(v > 0.5) - v)/tau : 1")
    with pytest.raises(ModelError, match=r"construct 'int\(v > 0.5\)'.*dv/dt = \(int"):
        model_ir(cond)
    x = sympy.Symbol("x")
    with pytest.raises(ModelError, match=r"complex constant .* in eq"):
        check_supported(x + sympy.I, "eq")
    with pytest.raises(ModelError, match=r"function 'erf' has no PyTorch equivalent.*\(eq\)"):
        check_supported(sympy.exp(x) + sympy.erf(x), "eq")
    with pytest.raises(ModelError, match=r"construct 'x > 0' \(StrictGreaterThan\) is not"):
        check_supported(sympy.StrictGreaterThan(x, 0), "eq")
    with pytest.raises(ModelError, match=r"construct 'Max\(0, x\)' \(Max\) is not"):
        check_supported(sympy.Max(x, 0), "eq")
    check_supported(sympy.sqrt(x) * sympy.Abs(x) ** 3 / sympy.log(x) + sympy.ceiling(x), "eq")


def _lif_coupling(cm, tau_m, tau_s, dtype):
    """The coefficient of I_syn in the exact LIF update of v and d/dtau_m of it."""
    ir = cm.ir
    guarded = [c for c in ir.coefficients if isinstance(c.program, SingularGuard)]
    assert [str(c.program.difference) for c in guarded] == ["tau_m - tau_syn"]
    assert isinstance(guarded[0].program.exact, Plain)
    P = {
        n: torch.tensor(float(np.asarray(p.value)), dtype=dtype)
        for n, p in cm.spec.parameters.items()
    }
    P["I_ext"] = torch.tensor(0.0, dtype=dtype)
    P["tau_m"] = torch.tensor(tau_m, dtype=dtype, requires_grad=True)
    P["tau_syn"] = torch.tensor(tau_s, dtype=dtype)
    c = cm.coefficients(P)[guarded[0].name]
    (grad,) = torch.autograd.grad(c, P["tau_m"])
    return guarded[0].expr, float(c.detach()), float(grad)


def test_singular_guard_at_equal_time_constants():
    """c(tau_m) = R tau_syn (e^{-dt/tau_m} - e^{-dt/tau_syn})/(tau_m - tau_syn) is 0/0 at
    tau_m = tau_syn: the guarded coefficient and its derivative there, and near it, against
    the IR's own expression evaluated with 50-digit mpmath (at equality: its limit)."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    dt, tau_s = 1e-3, 5e-3
    cm = compile_model("lif", dt)
    for rel in [0.0, 1e-12, -1e-9, 1e-7, 1e-5, 1e-4, 2e-4, -3e-4, 1e-2]:
        tm = tau_s * (1 + rel)
        expr, value, grad = _lif_coupling(cm, tm, tau_s, torch.float64)
        syms = sorted(expr.free_symbols, key=lambda s: s.name)
        f = sympy.lambdify(syms, expr, "mpmath")
        fixed = {"dt": dt, "tau_syn": tau_s, "R_m": float(cm.spec.parameters["R_m"].value)}

        def ref(x, f=f, syms=syms, fixed=fixed):
            return f(*[x if s.name == "tau_m" else mpmath.mpf(fixed[s.name]) for s in syms])

        x = mpmath.mpf(tm) * (1 + mpmath.mpf("1e-30") if rel == 0 else 1)
        assert math.isfinite(value) and math.isfinite(grad)
        assert value == pytest.approx(float(ref(x)), rel=1e-9), rel
        # the series branch (|d| < 1e-4 scale) is a Taylor polynomial to d**2: its
        # derivative is exact at d = 0 and within O(d**2) of the reference elsewhere
        assert grad == pytest.approx(float(mpmath.diff(ref, x)), rel=1e-9 if rel == 0 else 1e-6)
    # float32: tol = 1e-2, still finite at equality
    _, value, grad = _lif_coupling(compile_model("lif", dt), tau_s, tau_s, torch.float32)
    assert math.isfinite(value) and math.isfinite(grad)
    assert value == pytest.approx(1e8 * dt / tau_s * math.exp(-dt / tau_s), rel=1e-5)


def test_threshold_resets_initial_and_refractoriness():
    ir = model_ir(
        _spec(
            "dv/dt = -v/tau : 1\ndw/dt = (v - w)/tau2 : 1",
            threshold="v < -1",
            reset="v *= -0.5\nw -= 1",
            refractory="3 ms",
            initial={"v": "-0.5", "w": "tau2/tau"},
        )
    )
    v, w, tau, tau2 = (sympy.Symbol(n, real=True) for n in ("v", "w", "tau", "tau2"))
    thr = ir.threshold
    assert (thr.strict, thr.variable) == (True, "v")
    assert thr.distance == -1 - v and thr.affine.c == ((0, -1),)
    assert [r.target for r in ir.resets] == ["v", "w"]
    assert [str(r.value) for r in ir.resets] == ["-0.5*v", "w - 1.0"]
    assert all(r.constant is None for r in ir.resets)
    assert float(ir.initial["v"]) == -0.5 and ir.initial["w"] == tau2 / tau
    assert ir.refractory == pytest.approx(3e-3)
    assert model_ir("izhikevich").threshold.strict is False  # v >= v_peak
    assert model_ir("lif").refractory == "t_ref"
    # a condition on a subexpression: the first state variable it depends on
    assert model_ir("srm0").threshold.variable == "h"
    for kw, match in [
        ({"threshold": "v > 1 and v < 2"}, "must be a single comparison"),
        ({"reset": "v = 0\ntau = 1*ms"}, "assigns 'tau', which is not a state variable"),
        ({"initial": {"v": "2*w"}}, "refers to another state variable"),
        ({"refractory": "v > 0.5"}, "refractory condition 'v > 0.5' is not supported"),
    ]:
        with pytest.raises(ModelError, match=match):
            model_ir(_spec("dv/dt = -v/tau : 1\ndw/dt = -w/tau2 : 1", **kw))


def test_a_limit_beyond_sympy_is_a_model_error_naming_file_and_method():
    # GLIF5 under exact: four coupled time constants; sympy cannot expand one coefficient's
    # singular limit. The user gets a ModelError naming the file and the method with another
    # method to use, not sympy's bare NotImplementedError.
    from neurolearn import ModelError, load_model
    from neurolearn.codegen import build_ir

    spec = load_model("glif5")
    with pytest.raises(ModelError, match="method 'exact'.*allen_glif") as exc:
        build_ir(spec, method="exact")
    assert exc.value.path == str(spec.path) and exc.value.parameter == "method"

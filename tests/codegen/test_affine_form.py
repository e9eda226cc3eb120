"""The affine form ``S' = A S + b`` derived symbolically at compile time
(:attr:`neurolearn.torch.CompiledModel.affine`), which decides the layers' fused path
(``_ModelLayer._linear_plan``), against the compiled functions probed numerically (the
update at the zero state and one display unit away along each variable, as the fused path did
before the symbolic form existed): the expected models qualify and are refused, and ``A``,
``b``, the threshold form and the reset constants agree to float64 rounding, for every zoo
neuron model and the leaky readout."""

import pytest

torch = pytest.importorskip("torch", reason="needs torch: pip install 'neurolearn[torch]'")
import sympy

from neurolearn.codegen import model_ir
from neurolearn.codegen.affine import affine_threshold, affine_update
from neurolearn.spec import ModelError, list_models
from neurolearn.torch import LeakyReadout, SpikingLayer, compile_model
from neurolearn.torch.init import display_unit

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]

ZOO = [spec.name for spec in list_models("neuron")]

#: Which part of the step is not affine: "update" (quadratic, exponential or conductance
#: terms), "reset" (a reset that depends on the state, ``a += 1``), or None (fused path).
EXPECTED = {
    "lif": None,
    "alif": "reset",
    "srm0": "reset",
    "lif_adaptive_threshold": "reset",
    "lif_cond": "update",
    "adex": "update",
    "izhikevich": "update",
    "leaky_readout": None,
}


def _layer(name):
    g = torch.Generator().manual_seed(7)
    if name == "leaky_readout":
        return LeakyReadout(
            5,
            6,
            dt="0.5 ms",
            heterogeneity={
                "tau_m": {"distribution": "gamma"},
                "tau_syn": {"distribution": "gamma"},
            },
            dtype=torch.float64,
            generator=g,
        )
    spec = next(s for s in list_models("neuron") if s.name == name)
    het = {
        p.name: {"distribution": "gamma"}
        for p in spec.parameters.values()
        if p.is_time_constant and p.per_neuron
    }
    layer = SpikingLayer(
        spec, 5, 6, dt="0.5 ms", heterogeneity=het, dtype=torch.float64, generator=g
    )
    # probe one synaptic target (the fused loop takes one; lif_cond has two)
    layer.targets = layer.targets[:1]
    return layer


def _full(x, n):
    return torch.broadcast_to(torch.as_tensor(x, dtype=torch.float64), (1, n))


def _numeric_probe(layer, P, C):
    """``(A_idx, A, b, x0, c, resets)`` of the compiled functions measured at the zero state
    and one display unit along each state variable (``A_ij`` where a NaN in ``j`` reaches
    the update of ``i``)."""
    cm, n, names = layer.cm, layer.n, list(layer.cm.state_names)
    scales = [display_unit(cm.units[v])[1] for v in names]

    def state(**vals):
        return {v: vals.get(v, torch.zeros(1, n, dtype=torch.float64)) for v in names}

    def filled(value):
        return torch.full((1, n), value, dtype=torch.float64)

    def upd(S):
        out = cm.update(S, C, 0.0)
        return [_full(out[v], n) for v in names]

    with torch.no_grad():
        b = upd(state())
        A_idx, A = [], []
        for j, v in enumerate(names):
            nan = upd(state(**{v: filled(float("nan"))}))
            out = upd(state(**{v: filled(scales[j])}))
            for i in range(len(names)):
                if not bool(torch.isfinite(nan[i]).all()):
                    A_idx.append((i, j))
                    A.append((out[i] - b[i]) / scales[j])
        x0, c, resets = None, {}, []
        if layer.spiking:
            x0 = _full(cm.threshold(state(), P), n)
            for j, v in enumerate(names):
                xj = _full(cm.threshold(state(**{v: filled(scales[j])}), P), n)
                c[j] = (xj - x0) / scales[j]
            resets = [_full(cm.reset(i, state(), P), n) for i in range(len(cm.reset_targets))]
    return A_idx, A, b, x0, c, resets


def _close(a, b, n):
    a, b = _full(a, n), _full(b, n)
    return torch.allclose(a, b, rtol=1e-12, atol=1e-12 * float(b.abs().max()) + 1e-300)


@pytest.mark.parametrize("name", ZOO + ["leaky_readout"])
def test_symbolic_affine_form_agrees_with_numeric_probe(name):
    try:
        layer = _layer(name)
    except ModelError as err:  # the GLIF models' refractoriness is a condition
        assert name.startswith("glif") and "refractory condition" in str(err)
        with pytest.raises(ModelError, match="refractory condition"):
            compile_model(name, "0.5 ms")
        return
    cm, n = layer.cm, layer.n
    P = layer.effective_parameters()
    C = cm.coefficients(P)
    plan = layer._linear_plan(P, C)
    aff = cm.affine
    refused = None
    if aff is None:
        refused = "update"
    elif layer.spiking and aff.threshold_form(P) is None:
        refused = "threshold"
    elif layer.spiking and aff.reset_constants(P) is None:
        refused = "reset"
    assert (plan is None) == (refused is not None), (name, refused)
    if name in EXPECTED:
        assert refused == EXPECTED[name]
    if aff is None:
        return
    # the symbolic form holds for the compiled update at random states
    g = torch.Generator().manual_seed(0)
    names = cm.state_names
    A, b = aff.matrices(C)
    assert len(A) == len(aff.A_idx) and len(b) == len(names)
    S = {
        v: torch.randn(2, n, generator=g, dtype=torch.float64) * float(_full(bi, n).abs().max() + 1)
        for v, bi in zip(names, b)
    }
    new = cm.update(S, C)
    for i, v in enumerate(names):
        pred = b[i] + sum(A[k] * S[names[j]] for k, (i2, j) in enumerate(aff.A_idx) if i2 == i)
        assert torch.allclose(new[v], pred, rtol=1e-12, atol=1e-12 * float(new[v].abs().max()))
    if plan is None:
        return
    assert plan[0].A_idx == list(aff.A_idx)
    A_idx, A_num, b_num, x0_num, c_num, r_num = _numeric_probe(layer, P, C)
    assert A_idx == list(aff.A_idx)
    for a_sym, a_num in zip(A, A_num):
        assert _close(a_sym, a_num, n)
    for b_sym, b_n in zip(b, b_num):
        assert _close(b_sym, b_n, n)
    if not layer.spiking:
        return
    c, x0 = aff.threshold_form(P)
    assert _close(x0, x0_num, n)
    for j, cj in dict(c).items():
        assert _close(cj, c_num[j], n)
    for j, cj in c_num.items():  # slopes the symbolic form omits are zero
        if j not in dict(c):
            assert not bool(cj.any())
    for r_sym, r_n in zip(aff.reset_constants(P), r_num):
        assert torch.equal(_full(r_sym, n), r_n)


def test_affine_forms_of_the_lif_step():
    """The exact LIF update: v' = c0 v + c1 I_syn + c2, I_syn' = c3 I_syn; threshold
    x = v - v_th; reset v = v_reset (constant)."""
    ir = model_ir("lif")
    v, I = ir.states.index("v"), ir.states.index("I_syn")
    assert ir.affine.A_idx == ((v, v), (v, I), (I, I))
    c = {co.name: co.symbol for co in ir.coefficients}
    assert ir.affine.A == (c["c0"], c["c1"], c["c3"])
    assert ir.affine.b == (c["c2"], 0)
    thr = ir.threshold.affine
    assert thr.c == ((v, 1),) and thr.x0 == -sympy.Symbol("v_th", real=True)
    assert [r.constant for r in ir.resets] == [sympy.Symbol("v_reset", real=True)]


def test_affine_refusals():
    v, w, t = sympy.symbols("v w t", real=True)
    a = sympy.Symbol("P__a")
    assert affine_update({"v": a * v + w, "w": w}, ["v", "w"]).A_idx == ((0, 0), (0, 1), (1, 1))
    assert affine_update({"v": a * v**2, "w": w}, ["v", "w"]) is None  # quadratic
    assert affine_update({"v": sympy.exp(v), "w": w}, ["v", "w"]) is None  # exponential
    assert affine_update({"v": v * w, "w": w}, ["v", "w"]) is None  # bilinear
    assert affine_update({"v": v + sympy.sin(t), "w": w}, ["v", "w"]) is None  # uses t
    assert affine_update({"v": sympy.Max(v, 0), "w": w}, ["v", "w"]) is None
    # a variable the update leaves unchanged: A_ii = 1, b_i = 0
    form = affine_update({"v": a * v, "w": None}, ["v", "w"])
    assert form.A_idx == ((0, 0), (1, 1)) and form.A == (a, 1) and form.b == (0, 0)
    assert affine_threshold(v - a * w, ["v", "w"]).c == ((0, 1), (1, -a))
    assert affine_threshold(v * w - a, ["v", "w"]) is None
    assert affine_threshold(v - t, ["v", "w"]) is None

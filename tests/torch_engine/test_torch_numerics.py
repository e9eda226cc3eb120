"""Numerics of the torch bridge: gradients against finite differences, the tau_m -> tau_syn
limit of the exact LIF solution, NaN detection, clamping, surrogates, initialisations, errors."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs torch: pip install 'neurolearn[torch]'")

from neurolearn.spec import ModelError, ModelSpec
from neurolearn.torch import (
    PEREZ_NIEVES_CONFIGS,
    NonFiniteError,
    SmoothSigmoid,
    SpikingLayer,
    SpikingNetwork,
    Surrogate,
    compile_model,
    init_parameter,
    perez_nieves_config,
    rate_regulariser,
    readout_loss,
)

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]


def _smooth_net(model, params, seed=0):
    g = torch.Generator().manual_seed(seed)
    net = SpikingNetwork.build(
        6,
        [8],
        2,
        model=model,
        dt="0.5 ms",
        params=params,
        heterogeneity="het_init_het_train",
        generator=g,
        dtype=torch.float64,
        surrogate="smooth_sigmoid",
        weight_gain=3.0,
        check_finite=False,
    )
    x = (torch.rand(60, 2, 6, generator=g) < 0.15).double()
    return net, x


def _loss(net, x):
    out = net(x)
    return (out**2).mean() + net.spikes[0].mean()


@pytest.mark.parametrize(
    "model, params",
    [
        ("lif", {"t_ref": "0 ms"}),
        ("alif", {"t_ref": "0 ms"}),
        ("lif_cond", {"t_ref": "0 ms"}),
        ("adex", {}),
    ],
)
def test_gradients_match_finite_differences(model, params):
    """Directional derivatives along random directions of every trainable tensor (weights and
    each tau) agree with central finite differences of the smooth network to 1e-5."""
    net, x = _smooth_net(model, params)
    assert isinstance(net.layers[0].surrogate, SmoothSigmoid)
    loss = _loss(net, x)
    loss.backward()
    g = torch.Generator().manual_seed(1)
    checked = []
    for name, p in net.named_parameters():
        d = torch.randn(p.shape, generator=g, dtype=torch.float64)
        analytic = float((p.grad * d).sum())
        scale = float(p.detach().abs().mean())
        fd = []
        for h in (2e-6 * scale, 1e-6 * scale):
            with torch.no_grad():
                p += h * d
                up = float(_loss(net, x))
                p -= 2 * h * d
                down = float(_loss(net, x))
                p += h * d
            fd.append((up - down) / (2 * h))
        numeric = (4 * fd[1] - fd[0]) / 3  # Richardson extrapolation: O(h**4) error
        assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-12), name
        checked.append(name)
    assert any("tau_m" in c or "tau_e" in c or "tau_w" in c for c in checked)
    assert any("W_rec" in c for c in checked)


def test_tau_m_near_tau_syn_finite_and_correct():
    """The I_syn -> v coupling of the exact LIF solution, c(tau_m, tau_syn) =
    R tau_syn (e^{-dt/tau_m} - e^{-dt/tau_syn})/(tau_m - tau_syn), and its derivative in tau_m,
    near and at tau_m = tau_syn, against 50-digit mpmath evaluations."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    dt, tau_s, R = 1e-3, 5e-3, 1e8
    cm = compile_model("lif", dt)

    def exact(tm):
        tm, ts = mpmath.mpf(tm), mpmath.mpf(tau_s)
        if tm == ts:
            return R * dt / ts * mpmath.exp(-dt / ts)
        return R * ts * (mpmath.exp(-dt / tm) - mpmath.exp(-dt / ts)) / (tm - ts)

    P0 = {
        n: torch.tensor(float(np.asarray(p.value)), dtype=torch.float64)
        for n, p in cm.spec.parameters.items()
    }
    P0["I_ext"] = torch.tensor(0.0, dtype=torch.float64)
    for rel in [0.0, 1e-12, 1e-9, -1e-7, 1e-5, 5e-5, 2e-4, 1e-2, 0.5]:
        tm = tau_s * (1 + rel)
        P = dict(
            P0,
            tau_m=torch.tensor(tm, dtype=torch.float64, requires_grad=True),
            tau_syn=torch.tensor(tau_s, dtype=torch.float64),
        )
        C = cm.coefficients(P)
        # find the coefficient multiplying I_syn in the v update
        S = {"v": torch.zeros(()), "I_syn": torch.ones((), dtype=torch.float64)}
        S0 = {
            "v": torch.zeros((), dtype=torch.float64),
            "I_syn": torch.zeros((), dtype=torch.float64),
        }
        c = cm.update(S, C)["v"] - cm.update(S0, C)["v"]
        (grad,) = torch.autograd.grad(c, P["tau_m"])
        ref = float(exact(tm))
        dref = (
            float(mpmath.diff(exact, mpmath.mpf(tm)))
            if rel != 0
            else float(mpmath.diff(exact, mpmath.mpf(tm) * (1 + mpmath.mpf("1e-30"))))
        )
        c = c.detach()
        assert math.isfinite(float(c)) and math.isfinite(float(grad))
        assert float(c) == pytest.approx(ref, rel=1e-9), rel
        assert float(grad) == pytest.approx(dref, rel=1e-6), rel


def test_nan_detection_names_layer_variable_and_step():
    g = torch.Generator().manual_seed(0)
    layer = SpikingLayer("lif", 4, 5, dt="1 ms", generator=g, name="hidden_x", dtype=torch.float64)
    with torch.no_grad():
        layer.W_in[2, :] = float("inf")
    x = torch.zeros(30, 1, 4, dtype=torch.float64)
    x[7, 0, 2] = 1.0
    with pytest.raises(NonFiniteError) as info:
        layer(x)
    err = info.value
    assert (err.layer, err.step) == ("hidden_x", 7)
    assert "I_syn" in err.variable
    assert "hidden_x" in str(err) and "time step 7" in str(err)

    # a state that overflows inside the recurrence: v = R_m * I_syn with an absurd R_m
    layer = SpikingLayer(
        "lif",
        1,
        1,
        dt="1 ms",
        params={"R_m": "1e300 ohm"},
        weight_std=1.0,
        name="lif_x",
        dtype=torch.float64,
    )
    with torch.no_grad():
        layer.W_in.fill_(1e20)
    x = torch.zeros(20, 1, 1, dtype=torch.float64)
    x[7] = 1.0  # I_syn jumps at step 7, v integrates it from step 8 on
    with pytest.raises(NonFiniteError) as info:
        layer(x)
    assert (info.value.layer, info.value.variable, info.value.step) == ("lif_x", "v", 8)


def test_tau_clamped_and_counted():
    layer = SpikingLayer("lif", 3, 4, dt="1 ms", trainable=("tau_m",), dtype=torch.float64)
    lo, hi = layer.param_bounds["tau_m"]
    assert (lo, hi) == pytest.approx((0.1, 10_000.0))  # ms, from the zoo file's range
    with torch.no_grad():
        layer.raw["tau_m"][:2] = -3.0
        layer.raw["tau_m"][3] = 1e9
    P = layer.effective_parameters()  # the forward pass clamps and counts
    assert layer.clamp_counts["tau_m"] == 3
    assert float(P["tau_m"].min()) == pytest.approx(1e-4)
    assert float(P["tau_m"].max()) == pytest.approx(10.0)
    assert layer.project_parameters_() == 3
    assert layer.clamp_counts["tau_m"] == 6
    assert float(layer.raw["tau_m"].min()) == pytest.approx(0.1)
    assert layer.project_parameters_() == 0


def test_input_shape_error_names_expected_shape():
    net = SpikingNetwork.build(5, [4], 2, model="lif")
    with pytest.raises(ValueError, match=r"expected \[time, batch, channels\] = \[T, B, 5\]"):
        net(torch.zeros(10, 5))
    with pytest.raises(ValueError, match=r"\[time, batch, channels\]"):
        net(torch.zeros(10, 2, 6))


def test_unsupported_constructs_are_named():
    from neurolearn.spec import NeuronModel, Parameter, parse_quantity

    # built directly (the spec's own validation may reject xi before the bridge sees it)
    noisy = NeuronModel(
        name="noisy",
        kind="neuron",
        method="euler",
        equations="dv/dt = -v/tau + sigma*xi*tau**-0.5 : 1",
        threshold="v > 1",
        reset="v = 0",
        parameters={
            "tau": Parameter("tau", parse_quantity("10 ms")),
            "sigma": Parameter("sigma", 0.1),
        },
    )
    with pytest.raises(ModelError, match=r"stochastic term.*xi.*dv/dt = -v/tau"):
        compile_model(noisy, "1 ms")
    clipped = ModelSpec.from_dict(
        {
            "name": "clipped",
            "kind": "neuron",
            "method": "euler",
            "equations": "dv/dt = (clip(v, 0, 2) - v)/tau + 1/tau : 1",
            "threshold": "v > 1",
            "reset": "v = 0",
            "parameters": {"tau": {"value": "10 ms"}},
        }
    )
    with pytest.raises(ModelError, match=r"function 'clip'.*dv/dt"):
        compile_model(clipped, "1 ms")


def test_surrogates():
    x = torch.linspace(-2, 2, 401, dtype=torch.float64, requires_grad=True)
    for shape, peak in [
        ("fast_sigmoid", 1.0),
        ("sigmoid", 0.25),
        ("arctan", 0.5),
        ("triangle", 1.0),
    ]:
        s = Surrogate(shape, steepness=5.0)
        out = s(x)
        assert torch.equal(out, (x > 0).double())  # exact step forward
        (grad,) = torch.autograd.grad(out.sum(), x)
        assert float(grad.max()) == pytest.approx(peak)
        assert float(grad[200]) == pytest.approx(peak)  # peak at threshold
        normed = Surrogate(shape, steepness=5.0, normalize_peak=True, scale=0.3)
        (grad,) = torch.autograd.grad(normed(x).sum(), x)
        assert float(grad.max()) == pytest.approx(0.3)
    # SuperSpike's shape: 1/(1 + beta|x|)^2
    s = Surrogate("fast_sigmoid", steepness=10.0)
    (grad,) = torch.autograd.grad(s(x).sum(), x)
    assert float(grad[250]) == pytest.approx(1 / (1 + 10 * 0.5) ** 2)
    # the >= convention of Izhikevich's threshold
    assert float(s(torch.zeros(1), strict=False)) == 1.0 and float(s(torch.zeros(1))) == 0.0
    custom = Surrogate(lambda u: torch.exp(-u * u), steepness=1.0)
    (grad,) = torch.autograd.grad(custom(x).sum(), x)
    assert float(grad[300]) == pytest.approx(math.exp(-1.0))
    with pytest.raises(ValueError, match="unknown surrogate 'nope'"):
        Surrogate("nope")


def test_initial_distributions_and_perez_nieves_configs():
    g = torch.Generator().manual_seed(0)
    x = init_parameter(20.0, 40_000, "gamma", k=3.0, generator=g)
    assert float(x.mean()) == pytest.approx(20.0, rel=0.02)
    assert float(x.std() / x.mean()) == pytest.approx(1 / math.sqrt(3), rel=0.03)
    x = init_parameter(20.0, 40_000, "lognormal", cv=0.5, generator=g)
    assert float(x.mean()) == pytest.approx(20.0, rel=0.02)
    assert float(x.std() / x.mean()) == pytest.approx(0.5, rel=0.05)
    x = init_parameter(20.0, 40_000, "uniform", width=0.5, generator=g)
    assert float(x.min()) >= 10.0 and float(x.max()) <= 30.0
    assert torch.equal(init_parameter(20.0, 3), torch.full((3,), 20.0, dtype=torch.float64))
    with pytest.raises(ValueError, match="unknown distribution"):
        init_parameter(1.0, 3, "cauchy")
    assert set(PEREZ_NIEVES_CONFIGS) == {
        "hom_init_std_train",
        "het_init_std_train",
        "hom_init_het_train",
        "het_init_het_train",
    }
    for name, cfg in PEREZ_NIEVES_CONFIGS.items():
        het, train = cfg.heterogeneous_init, cfg.trained
        net = SpikingNetwork.build(3, [50], 2, model="lif", heterogeneity=name, generator=g)
        layer = net.layers[0]
        tau = layer.parameter_si("tau_m")
        assert (np.std(tau) > 0) == het, name
        assert (("tau_m" in layer.raw) and ("tau_syn" in layer.raw)) == train, name
        assert (len(net.time_constant_parameters()) > 0) == train
    with pytest.raises(ValueError, match="unknown heterogeneity configuration"):
        perez_nieves_config("het")


def test_losses_and_regulariser():
    readout = torch.zeros(5, 2, 3)
    readout[2, 0, 1] = 4.0
    readout[4, 1, 2] = 1.0
    labels = torch.tensor([1, 2])
    ce = float(readout_loss(readout, labels, "max"))
    expected = (-math.log(math.exp(4) / (math.exp(4) + 2)) - math.log(math.e / (math.e + 2))) / 2
    assert ce == pytest.approx(expected, rel=1e-6)
    assert float(readout_loss(readout, labels, "last")) == pytest.approx(
        (math.log(3) - math.log(math.e / (math.e + 2))) / 2, rel=1e-6
    )
    spikes = torch.zeros(100, 1, 2)
    spikes[::2, 0, 0] = 1.0  # 500 Hz at dt = 1 ms; neuron 1 silent
    reg = float(rate_regulariser(spikes, 1e-3, upper_hz=100.0, lower_hz=300.0))
    # upper: mean over neurons of relu(r - 100)^2 = (400^2 + 0)/2; lower: relu(300 - 250)^2
    assert reg == pytest.approx(400.0**2 / 2 + 50.0**2)


def test_fused_reset_and_spike_matmul_match_plain_autograd(monkeypatch):
    """The memory-saving autograd functions give the same gradients as the plain formula
    ``where(spiked, target, old) + (s - s.detach()) (target - old)`` and ``s @ W``."""
    import neurolearn.torch.step as layers

    g = torch.Generator().manual_seed(0)
    net = SpikingNetwork.build(
        10,
        [16],
        3,
        model="alif",
        dt="1 ms",
        generator=g,
        heterogeneity="het_init_het_train",
        dtype=torch.float64,
        weight_gain=3.0,
    )
    x = (torch.rand(80, 4, 10, generator=g) < 0.1).double()
    y = torch.tensor([0, 1, 2, 0])

    def grads():
        net.zero_grad()
        readout_loss(net(x), y).backward()
        return {n: p.grad.clone() for n, p in net.named_parameters()}

    fused = grads()
    assert float(net.spikes[0].mean()) > 0.02

    class PlainReset:
        @staticmethod
        def apply(old, target, s, hard):
            return torch.where(hard, target, old) + (s - s.detach()) * (target - old)

    class PlainMatmul:
        @staticmethod
        def apply(s, W, mode=None):  # mode: sparse_spikes (the product's form)
            return s @ W

    monkeypatch.setattr(layers, "_HardReset", PlainReset)
    monkeypatch.setattr(layers, "_SpikeMatmul", PlainMatmul)
    plain = grads()
    for name in fused:
        assert torch.allclose(fused[name], plain[name], rtol=1e-12, atol=0), name
        assert float(plain[name].abs().max()) > 0, name

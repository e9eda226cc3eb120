"""The fused time loop of linear-update layers (``_FusedLinearLoop``) against the
step-by-step autograd path: same spikes bit for bit, same gradients to float64 rounding."""

import pytest

torch = pytest.importorskip("torch", reason="needs torch: pip install 'neurolearn[torch]'")
pytestmark = pytest.mark.torch

from neurolearn.torch import SpikingLayer


def _layer(fused, t_ref, detach_reset, recompute=True):
    g = torch.Generator().manual_seed(3)
    return SpikingLayer(
        "lif",
        30,
        40,
        dt="1 ms",
        recurrent=True,
        trainable=("tau_m", "tau_syn"),
        heterogeneity={"tau_m": {"distribution": "gamma"}, "tau_syn": {"distribution": "gamma"}},
        params={"t_ref": t_ref},
        detach_reset=detach_reset,
        dtype=torch.float64,
        generator=g,
        fused=fused,
        weight_std=2.0,
        recurrent_std=1.8,
        fused_recompute=recompute,
    )


@pytest.mark.parametrize(
    "t_ref,detach_reset,sparse",
    [("2 ms", False, True), ("0 ms", True, True), ("3 ms", False, False)],
)
def test_fused_matches_step_by_step(t_ref, detach_reset, sparse):
    g = torch.Generator().manual_seed(1)
    x0 = (torch.rand(60, 5, 30, generator=g, dtype=torch.float64) < 0.05).double()
    if detach_reset:  # sparse input with values other than 1
        x0 = x0 * (0.5 + torch.rand(60, 5, 30, generator=g, dtype=torch.float64))
    w = torch.randn(60, 5, 40, generator=g, dtype=torch.float64)
    res = []
    # fused with the membrane recomputed per chunk, fused with it stored, step by step
    for fused, recompute in ((None, True), (None, False), (False, True)):
        layer = _layer(fused, t_ref, detach_reset, recompute)
        # a dense input that needs a gradient (as for a second layer) or sparse spikes
        x = x0.clone() if sparse else x0.clone().requires_grad_(True)
        out = layer(x)
        (out * w).sum().backward()
        res.append(
            [
                out.detach(),
                layer.W_in.grad,
                layer.W_rec.grad,
                layer.raw["tau_m"].grad,
                layer.raw["tau_syn"].grad,
            ]
            + ([] if sparse else [x.grad])
        )
        assert layer._fusable is (True if fused is None else None)
    (out_f, *g_f), (out_s, *g_s), (out_u, *g_u) = res
    assert torch.equal(out_f, out_u) and torch.equal(out_s, out_u)
    rate = float(out_f.mean())
    assert 0.02 < rate < 0.6  # the network spikes, so the reset/threshold paths are used
    for a, a_s, b in zip(g_f, g_s, g_u):
        assert float(b.abs().max()) > 0
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12 * float(b.abs().max()))
        assert torch.allclose(a_s, b, rtol=1e-10, atol=1e-12 * float(b.abs().max()))


def test_fused_path_only_where_it_applies():
    x = torch.zeros(3, 2, 5)
    lif = SpikingLayer("lif", 5, 6, dt="1 ms", recurrent=True)
    lif(x)
    assert lif._fusable is True
    # ALIF resets by incrementing its adaptation (state-dependent)
    alif = SpikingLayer("alif", 5, 6, dt="1 ms", recurrent=True)
    alif(x)
    assert alif._fusable is False
    # a trainable threshold is not handled by the fused loop: fall back
    vth = SpikingLayer("lif", 5, 6, dt="1 ms", trainable=("v_th",))
    assert (
        vth._linear_plan(
            vth.effective_parameters(), vth.cm.coefficients(vth.effective_parameters())
        )
        is None
    )
    # fused=True with a model it cannot handle is an error naming the layer
    with pytest.raises(ValueError, match="alif"):
        SpikingLayer("alif", 5, 6, dt="1 ms", fused=True)(x)


@pytest.mark.parametrize("penalty", ["none", "spikes", "counts"])
def test_network_with_fused_readout_projection_matches_step_by_step(penalty):
    """The last hidden layer hands its spikes to the readout as ``spikes @ W_out`` (no float
    spikes materialised): readout, spikes and every gradient (also through ``net.spikes``
    and ``net.spike_counts`` in a rate regulariser) equal the step-by-step network's."""
    from neurolearn.torch import SpikingNetwork, rate_regulariser, readout_loss

    g = torch.Generator().manual_seed(2)
    x = (torch.rand(70, 6, 30, generator=g, dtype=torch.float64) < 0.05).double()
    y = torch.arange(6) % 4
    weight = torch.linspace(0.0, 1.0, 70, dtype=torch.float64)[:, None, None]
    res = []
    for fused in (None, False):
        net = SpikingNetwork.build(
            30,
            [40],
            4,
            model="lif",
            dt="1 ms",
            recurrent=True,
            params={"t_ref": "2 ms"},
            heterogeneity="het_init_het_train",
            fused=fused,
            dtype=torch.float64,
            weight_gain=3.0,
            generator=torch.Generator().manual_seed(1),
        )
        out = net(x)
        loss = readout_loss(out, y, "max")
        if penalty == "spikes":  # a time-weighted term: a gradient per step and neuron
            loss = (
                loss
                + 0.01 * (net.spikes[0] * weight).sum()
                + rate_regulariser(net.spikes[0], net.dt_s, lower_hz=50.0)
            )
        elif penalty == "counts":
            loss = loss + rate_regulariser(net.spike_counts[0], net.dt_s, n_steps=70, lower_hz=50.0)
        loss.backward()
        res.append(
            (out.detach(), net.spikes[0].detach(), {n: p.grad for n, p in net.named_parameters()})
        )
    (out_f, s_f, g_f), (out_u, s_u, g_u) = res
    assert torch.equal(s_f, s_u)
    assert 0.02 < float(s_f.mean()) < 0.6
    assert torch.allclose(out_f, out_u, rtol=1e-12, atol=0)
    assert set(g_f) == set(g_u)
    for name, b in g_u.items():
        assert float(b.abs().max()) > 0, name
        assert torch.allclose(g_f[name], b, rtol=1e-10, atol=1e-12 * float(b.abs().max())), name


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("mode", ["sparse", "mixed"])
def test_sparse_spike_products_keep_paths_bit_identical(monkeypatch, dtype, mode):
    """The recurrent input ``spikes[t] @ W_rec`` summed over the rows of the neurons that
    spiked (``sparse_spikes``): the fused loop (with the readout projection and weight
    gradients from the same spike indices) and the step-by-step path give the same spikes
    bit for bit, in float64 and float32, also when the automatic rule switches between the
    sparse and the dense product from one step to the next; gradients agree to rounding."""
    from neurolearn.torch import SpikingNetwork, readout_loss
    from neurolearn.torch import sparse as L

    g = torch.Generator().manual_seed(5)
    x = (torch.rand(60, 6, 30, generator=g, dtype=torch.float64) < 0.05).to(dtype)
    y = torch.arange(6) % 4

    products = []  # every recurrent product of the run, bit for bit
    spike_product = L._spike_product

    def recording(s, W, mode=None, out=None):
        res = spike_product(s, W, mode, out)
        products.append(res[0].clone())
        return res

    monkeypatch.setattr(L, "_spike_product", recording)

    def run(fused, sparse):
        products.clear()
        # 256 neurons: there a dense float32 matmul sums in another order than the sparse
        # product, so a path that used the other product would show in the products
        net = SpikingNetwork.build(
            30,
            [256],
            4,
            model="lif",
            dt="1 ms",
            recurrent=True,
            params={"t_ref": "2 ms"},
            heterogeneity="het_init_het_train",
            fused=fused,
            dtype=dtype,
            weight_gain=3.0,
            sparse_spikes=sparse,
            generator=torch.Generator().manual_seed(1),
        )
        out = net(x)
        readout_loss(out, y, "max").backward()
        return (
            out.detach(),
            net.spikes[0].detach(),
            {n: p.grad for n, p in net.named_parameters()},
            list(products),
        )

    if mode == "mixed":  # automatic rule at this size, a threshold inside the densities
        # of this network's steps (0 to 0.16 of [batch, neurons])
        monkeypatch.setattr(L, "_SPARSE_SPIKE_MIN_WORK", 0)
        monkeypatch.setattr(L, "_SPARSE_SPIKE_DENSITY", 0.135)
        sparse = None
    else:
        sparse = True
    (out_f, s_f, g_f, p_f), (out_u, s_u, g_u, p_u) = run(None, sparse), run(False, sparse)
    assert torch.equal(s_f, s_u)
    assert len(p_f) == len(p_u) == x.shape[0]
    assert all(torch.equal(a, b) for a, b in zip(p_f, p_u))
    assert 0.02 < float(s_f.mean()) < 0.6
    if mode == "mixed":  # both products were used, also after the first steps
        d = s_f.mean((1, 2))[10:]
        assert (
            int((d > L._SPARSE_SPIKE_DENSITY).sum()) >= 5
            and int((d <= L._SPARSE_SPIKE_DENSITY).sum()) >= 5
        )
    rtol = 1e-10 if dtype == torch.float64 else 1e-4
    assert torch.allclose(out_f, out_u, rtol=rtol, atol=rtol * float(out_u.abs().max()))
    for name, b in g_u.items():
        assert float(b.abs().max()) > 0, name
        assert torch.allclose(g_f[name], b, rtol=rtol, atol=rtol * float(b.abs().max())), name


def test_sparse_spike_product_equals_dense_sum():
    """``_spike_product``: rows of the weights summed per sample, equal to the dense matmul
    to rounding, exact for a single spike; empty rows give zeros; the automatic rule falls
    back to the dense product above the density threshold."""
    from neurolearn.torch import sparse as L

    g = torch.Generator().manual_seed(0)
    W = torch.randn(50, 7, generator=g, dtype=torch.float64)
    s = (torch.rand(9, 50, generator=g, dtype=torch.float64) < 0.05).double()
    s[3] = 0.0
    s[4] = 0.0
    s[4, 17] = 1.0
    p, lin = L._spike_product(s, W, True)
    assert torch.equal(lin, s.reshape(-1).nonzero().squeeze(1))
    assert torch.allclose(p, s @ W, rtol=1e-13, atol=1e-13)
    assert torch.equal(p[3], torch.zeros(7, dtype=torch.float64)) and torch.equal(p[4], W[17])
    dense = torch.ones(9, 50, dtype=torch.float64)
    assert L._spike_product(dense, W, None)[1] is None  # automatic: dense above 1/16
    assert L._spike_product(s, W, False)[1] is None


@pytest.mark.parametrize("shape", ["fast_sigmoid", "sigmoid", "arctan", "triangle", "custom"])
def test_in_place_surrogate_derivative_matches(shape):
    from neurolearn.torch import Surrogate

    sur = Surrogate(
        (lambda u: torch.exp(-u * u)) if shape == "custom" else shape,
        steepness=7.0,
        scale=1.3,
        normalize_peak=True,
    )
    x = torch.linspace(-3, 3, 601, dtype=torch.float64)
    ref = 0.25 * sur.derivative(0.5 * x)
    got = sur.derivative_(x.clone(), 0.25, 0.5)
    assert float(ref.abs().max()) > 0.1
    assert torch.allclose(got, ref, rtol=1e-14, atol=1e-15)

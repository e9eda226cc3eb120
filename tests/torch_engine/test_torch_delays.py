"""Learnable synaptic delays (neurolearn.torch.delays): gradients of the Gaussian delay
kernels against finite differences, whole-step delays against shifted inputs, fused against
step-by-step paths, streaming, bounds, and a task that needs a delay."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs torch: pip install 'neurolearn[torch]'")

from neurolearn.torch import LeakyReadout, SpikingLayer
from neurolearn.torch.delays import (
    DCLS_FINAL_SIGMA,
    DelayedRecurrence,
    SynapticDelays,
    sigma_schedule,
)
from neurolearn.torch.options import DelayOptions

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]

MODES = ["per_synapse", "per_presynaptic", "per_connection"]


def _delays(mode, n_pre=4, n_post=3, K=6, min_steps=0, sigma=1.5, seed=0):
    g = torch.Generator().manual_seed(seed)
    d = SynapticDelays(
        mode,
        n_pre,
        n_post,
        dt_s=0.5e-3,
        max_steps=K,
        min_steps=min_steps,
        sigma=sigma,
        dtype=torch.float64,
        generator=g,
    )
    return d, g


@pytest.mark.parametrize("mode", MODES)
def test_kernel_gradients_match_finite_differences(mode):
    """d(drive)/d(delay) of the smoothed (Gaussian-kernel) connection equals central finite
    differences (torch.autograd.gradcheck, float64)."""
    d, g = _delays(mode)
    T, B = 9, 2
    xh = (torch.rand(d.max_steps + T, B, 4, generator=g, dtype=torch.float64) < 0.4).double()
    W = torch.randn(4, 3, generator=g, dtype=torch.float64)
    # interior delays (the clamp at the bounds is not differentiable)
    with torch.no_grad():
        d.delay.copy_(0.5 + 2.0 * torch.rand(d.delay.shape, generator=g, dtype=torch.float64))

    x0 = d.delay.detach().clone().requires_grad_(True)

    def wrapped(delay):
        saved = d.delay
        try:
            d._parameters["delay"] = delay  # the function of the delays, not of the Parameter
            return (
                d.synaptic_drive(xh, W, T) if mode == "per_synapse" else d.delayed_input(xh, T) @ W
            )
        finally:
            d._parameters["delay"] = saved

    assert torch.autograd.gradcheck(wrapped, (x0,), eps=1e-6, atol=1e-7, rtol=1e-5)
    # and the gradient is not trivially zero
    out = wrapped(x0)
    (grad,) = torch.autograd.grad(out.sum(), x0)
    assert float(grad.abs().sum()) > 1e-3


@pytest.mark.parametrize("mode", MODES)
def test_recurrent_kernel_gradients_match_finite_differences(mode):
    d, g = _delays(mode, n_pre=3, n_post=3, K=4, min_steps=1)
    hist = (torch.rand(4, 2, 3, generator=g, dtype=torch.float64) < 0.5).double()
    W = [torch.randn(3, 3, generator=g, dtype=torch.float64)]
    with torch.no_grad():
        d.delay.copy_(0.75 + 1.2 * torch.rand(d.delay.shape, generator=g, dtype=torch.float64))
    x0 = d.delay.detach().clone().requires_grad_(True)

    def wrapped(delay):
        saved = d.delay
        try:
            d._parameters["delay"] = delay
            return DelayedRecurrence(d, W, hist).inputs()[0]
        finally:
            d._parameters["delay"] = saved

    assert torch.autograd.gradcheck(wrapped, (x0,), eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_readout_delay_gradient_matches_finite_differences_through_the_engine(mode):
    """The whole time loop of a layer with smoothed input delays (the leaky readout's fused
    scan: no spikes, so the model is differentiable): autograd gradient of a loss w.r.t.
    every delay equals central finite differences."""
    g = torch.Generator().manual_seed(1)
    opts = DelayOptions(mode, max_delay="3 ms")
    layer = LeakyReadout(4, 3, dt="0.5 ms", dtype=torch.float64, generator=g, options=opts)
    layer.set_delay_sigma(1.2)
    with torch.no_grad():
        d = layer.delay_in.delay
        d.copy_(0.4 + 2.2 * torch.rand(d.shape, generator=g, dtype=torch.float64))
    x = (torch.rand(30, 2, 4, generator=g) < 0.3).double()
    R = torch.randn(30, 2, 3, generator=g, dtype=torch.float64)

    def loss():
        return (layer(x) * R).sum()

    d = layer.delay_in.delay
    (grad,) = torch.autograd.grad(loss(), d)
    eps = 1e-6
    fd = torch.zeros_like(d)
    flat, fdf = d.data.view(-1), fd.view(-1)
    with torch.no_grad():
        for i in range(flat.numel()):
            v = float(flat[i])
            flat[i] = v + eps
            up = float(loss())
            flat[i] = v - eps
            down = float(loss())
            flat[i] = v
            fdf[i] = (up - down) / (2 * eps)
    assert float(fd.abs().max()) > 1e-3
    assert torch.allclose(grad, fd, rtol=1e-5, atol=1e-8 * float(fd.abs().max()))


def test_sigma_schedule_narrows_to_the_final_width():
    s = [sigma_schedule(e, 10, 4.0) for e in range(10)]
    assert s[0] == 4.0
    assert all(a > b for a, b in zip(s[:5], s[1:6]))
    assert s[5:] == [DCLS_FINAL_SIGMA] * 5
    assert np.isclose(s[1], 4.0 * (DCLS_FINAL_SIGMA / 4.0) ** 0.2)
    # a narrow kernel at a whole step is one tap
    d, _ = _delays("per_connection", sigma=DCLS_FINAL_SIGMA)
    with torch.no_grad():
        d.delay.fill_(3 * d.dt_ms)
    w = d.tap_weights().detach()
    assert float(w[3]) > 1 - 2e-4


@pytest.mark.parametrize("mode", MODES)
def test_rounded_delays_shift_the_input(mode):
    """At sigma = 0 a layer with delays D runs exactly like the layer without delays on the
    input shifted by D steps (per synapse: one shifted copy of the input per synapse)."""
    g = torch.Generator().manual_seed(2)
    kw = dict(dt="1 ms", dtype=torch.float64, recurrent=False, weight_gain=3.0)
    layer = SpikingLayer("lif", 5, 4, generator=g, delays=mode, max_delay="6 ms", **kw)
    layer.round_delays_()
    x = (torch.rand(60, 2, 5, generator=g) < 0.2).double()
    D = layer.delay_in.rounded_numpy()  # [5, 4]
    assert D.min() >= 0 and D.max() <= 6 and len(np.unique(D)) > 1 or mode == "per_connection"
    plain = SpikingLayer("lif", 5, 4, **kw)
    with torch.no_grad():
        plain.W_in.copy_(layer.W_in)
        out = layer(x)
        ref = torch.zeros_like(out)
        # the input current of neuron j: sum_i W[i, j] x[n - D[i, j], i]; run the plain layer
        # with each neuron's own shifted input (one neuron at a time)
        for j in range(4):
            xs = torch.zeros_like(x)
            for i in range(5):
                Dij = int(D[i, j])
                xs[Dij:, :, i] = x[: x.shape[0] - Dij, :, i]
            mask = torch.zeros(5, 4, dtype=torch.float64)
            mask[:, j] = 1
            plain.W_in.copy_(layer.W_in * mask)
            ref[:, :, j] = plain(xs)[:, :, j]
    assert int(out.sum()) > 5
    assert torch.equal(out, ref)


@pytest.mark.parametrize(
    "model,mode,recurrent",
    [
        ("lif", "per_synapse", "per_synapse"),
        ("lif_cond", "per_presynaptic", "per_presynaptic"),
        ("alif", "per_synapse", "per_connection"),
        ("izhikevich", "per_connection", "none"),
    ],
)
def test_fused_stepwise_and_streaming_agree(model, mode, recurrent):
    """With delays, the fused loop, the step-by-step loop and streaming in pieces give the
    same spikes (the delayed input and the spikes in transit are handed on in the state)."""
    g = torch.Generator().manual_seed(3)
    gain = {"izhikevich": 0.5}.get(model, 3.0)
    kw = dict(
        dt="0.5 ms",
        dtype=torch.float64,
        recurrent=recurrent != "none",
        delays=mode,
        recurrent_delays=recurrent,
        max_delay="4 ms",
        weight_gain=gain,
    )
    layer = SpikingLayer(model, 6, 8, generator=g, **kw)
    x = (torch.rand(80, 2, 6, generator=g) < 0.15).double()
    out = layer(x)
    out.sum().backward()
    assert all(
        p.grad is not None and float(p.grad.abs().sum()) > 0 for p in layer.delay_parameters()
    )
    with torch.no_grad():
        ref = layer(x)
        slow = SpikingLayer(
            model, 6, 8, generator=torch.Generator().manual_seed(3), fused=False, **kw
        )
        assert torch.equal(slow(x), ref)
        state, pieces = None, []
        for a, b in ((0, 7), (7, 40), (40, 80)):
            piece, state = layer.run(x[a:b], state)
            pieces.append(piece)
        assert torch.equal(torch.cat(pieces), ref)
        layer.round_delays_()
        ref = layer(x)
        state, pieces = None, []
        for a, b in ((0, 3), (3, 50), (50, 80)):
            piece, state = layer.run(x[a:b], state)
            pieces.append(piece)
        assert torch.equal(torch.cat(pieces), ref)
    assert int(ref.sum()) > 10


def test_recurrent_delays_are_at_least_one_step_and_bounded():
    g = torch.Generator().manual_seed(4)
    layer = SpikingLayer(
        "lif",
        3,
        5,
        dt="1 ms",
        recurrent=True,
        recurrent_delays="per_synapse",
        delays="per_presynaptic",
        max_delay="5 ms",
        delay_init=1.0,
        generator=g,
    )
    assert layer.delay_in.bounds == (0.0, 5.0) and layer.delay_rec.bounds == (1.0, 5.0)
    assert int(layer.delay_rec.rounded().min()) == 1 and int(layer.delay_in.rounded().max()) == 1
    with pytest.raises(ValueError, match="outside the allowed"):  # 0 ms: recurrent >= 1 step
        SpikingLayer(
            "lif",
            3,
            5,
            dt="1 ms",
            recurrent=True,
            recurrent_delays="per_synapse",
            max_delay="5 ms",
            delay_init=0.0,
        )
    with torch.no_grad():
        layer.delay_rec.delay.fill_(-3.0)
        layer.delay_in.delay.fill_(9.0)
    assert layer.project_parameters_() == 25 + 3
    assert float(layer.delay_rec.delay.min()) == 1.0 and float(layer.delay_in.delay.max()) == 5.0
    assert layer.clamp_counts == {"delay_in": 3, "delay_rec": 25}


def test_delay_option_errors():
    with pytest.raises(ValueError, match="max_delay"):
        SpikingLayer("lif", 3, 4, dt="1 ms", delays="per_synapse")
    with pytest.raises(ValueError, match="delays must be one of"):
        SpikingLayer("lif", 3, 4, dt="1 ms", delays="per_axon", max_delay="5 ms")
    with pytest.raises(ValueError, match="recurrent layer"):
        SpikingLayer(
            "lif", 3, 4, dt="1 ms", recurrent=False, recurrent_delays="per_synapse", max_delay=5e-3
        )
    with pytest.raises(ValueError, match="delay_init"):
        SpikingLayer("lif", 3, 4, dt="1 ms", delays="per_synapse", max_delay=5e-3, delay_init=9)
    with pytest.raises(ValueError, match="shortest delay"):
        SpikingLayer(
            "lif", 3, 4, dt="1 ms", recurrent=True, recurrent_delays="per_synapse", max_delay=0.0
        )


# ---------------------------------------------------------------------------------------------
# A task that needs a delay
# ---------------------------------------------------------------------------------------------
DELAY_MS = 12  # the output must fire when input A arrives 12 ms after input B
# intervals A - B of the trials (None: A alone); positives at three different onsets
INTERVALS = [12, 12, 12, 0, 4, 20, 28, -12, None]


def _interval_task():
    T = 50
    x = torch.zeros(T, len(INTERVALS), 2)
    y = torch.zeros(len(INTERVALS))
    for b, iv in enumerate(INTERVALS):
        tb = 5 + 3 * (b % 3) + (12 if iv is not None and iv < 0 else 0)
        if iv is None:
            x[tb + 10, b, 0] = 1
            continue
        x[tb, b, 1] = 1  # B
        x[tb + iv, b, 0] = 1  # A
        y[b] = float(iv == DELAY_MS)
    return x, y


def _train_interval(delays: bool, iters=40):
    g = torch.Generator().manual_seed(0)
    kw = dict(delays="per_synapse", max_delay="16 ms", delay_init=8.0) if delays else {}
    layer = SpikingLayer(
        "lif",
        2,
        1,
        dt="1 ms",
        recurrent=False,
        params={"tau_m": "4 ms", "tau_syn": "2 ms"},
        generator=g,
        **kw,
    )
    with torch.no_grad():  # A or B alone stays below threshold, both together fire
        layer.W_in.fill_(0.75 * math.sqrt(2) * layer._auto_weight_std(2))
    x, y = _interval_task()
    groups = [{"params": layer.weight_parameters(), "lr": 0.05}]
    if delays:
        groups.append({"params": layer.delay_parameters(), "lr": 0.5})
    opt = torch.optim.Adam(groups)
    for it in range(iters):
        if delays:
            layer.set_delay_sigma(sigma_schedule(it, iters, 16 / 3))
        counts = layer(x)[:, :, 0].sum(0)
        loss = ((counts - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        layer.project_parameters_()
    if delays:
        layer.round_delays_()
    with torch.no_grad():
        counts = layer(x)[:, :, 0].sum(0)
    return float(((counts > 0).float() == y).float().mean()), layer


def test_task_needing_a_delay_is_solved_with_delays_only():
    """Fire iff A arrives 12 ms after B: a LIF neuron with learnable delays learns to delay B
    by about 12 ms against A (coincidence detection); without delays the response grows or
    falls monotonically with the interval (tau_m 4 ms, tau_syn 2 ms), so no weights can fire
    for 12 ms but not for 4 and 20 ms."""
    acc, layer = _train_interval(True)
    assert acc == 1.0
    D = layer.delay_in.rounded_numpy()[:, 0]  # [A, B] in steps of 1 ms
    assert abs(int(D[1] - D[0]) - DELAY_MS) <= 3  # the negatives nearest are 8 ms away
    acc_plain, _ = _train_interval(False)
    assert acc_plain < 1.0

"""Streaming: ``run(x, state) -> (output, state)``. Running T steps at once equals running
them in pieces with the state handed on (spikes bit for bit, on the fused and the
step-by-step paths); gradients flow through a handed-on state unless it is detached."""

import pytest

torch = pytest.importorskip("torch", reason="needs torch: pip install 'neurolearn[torch]'")
pytestmark = pytest.mark.torch

from neurolearn.torch import LeakyReadout, SpikingLayer, SpikingNetwork, readout_loss
from neurolearn.torch.step import LayerState

T, CUT = 60, 23  # a cut inside a chunk of 16 steps of the fused loop


def _input(n_in=12, batch=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, batch, n_in, generator=g, dtype=torch.float64) < 0.15).double()


def _pieces(module, x, cuts):
    outs, state = [], None
    for a, b in zip((0,) + cuts, cuts + (x.shape[0],)):
        out, state = module.run(x[a:b], state)
        outs.append(out)
    return torch.cat(outs, 0), state


@pytest.mark.parametrize(
    "model,fused", [("lif", None), ("lif", False), ("alif", None), ("alif", False)]
)
def test_layer_run_in_pieces_equals_one_run(model, fused):
    layer = SpikingLayer(
        model,
        12,
        20,
        dt="1 ms",
        recurrent=True,
        params={"t_ref": "3 ms"},
        heterogeneity={"tau_m": {"distribution": "gamma"}},
        dtype=torch.float64,
        weight_gain=3.0,
        fused=fused,
        generator=torch.Generator().manual_seed(1),
    )
    x = _input()
    whole = layer(x)
    ref, end = layer.run(x)
    assert torch.equal(whole, ref)
    # the path taken: the fused loop for the LIF, step by step for ALIF or fused=False
    assert layer._fusable is {("lif", None): True, ("alif", None): False}.get((model, fused))
    assert end.step == T and set(end.variables) == set(layer.cm.state_names)
    assert 0.03 < float(whole.mean()) < 0.5  # spiking, so refractoriness and resets matter
    for cuts in ((CUT,), (1, 16, 17, 40)):
        got, state = _pieces(layer, x, cuts)
        assert torch.equal(got, whole), cuts
        assert state.step == T
        assert torch.equal(state.last_spike, end.last_spike)
        for name, v in end.variables.items():
            assert torch.equal(state.variables[name], v), name


@pytest.mark.parametrize("fused", [None, False])
def test_readout_run_in_pieces_equals_one_run(fused):
    readout = LeakyReadout(
        12,
        3,
        dt="1 ms",
        dtype=torch.float64,
        fused=fused,
        generator=torch.Generator().manual_seed(2),
    )
    x = _input()
    whole = readout(x)
    got, state = _pieces(readout, x, (CUT,))
    assert float(whole.abs().max()) > 0
    assert torch.equal(got, whole)
    assert state.step == T


@pytest.mark.parametrize("fused", [None, False])
def test_network_run_in_pieces_equals_one_run_with_gradients(fused):
    def build():
        return SpikingNetwork.build(
            12,
            [24],
            3,
            model="lif",
            dt="1 ms",
            params={"t_ref": "2 ms"},
            heterogeneity="het_init_het_train",
            weight_gain=3.0,
            fused=fused,
            dtype=torch.float64,
            generator=torch.Generator().manual_seed(3),
        )

    x = _input()
    y = torch.tensor([0, 1, 2, 0])
    net = build()
    whole = net(x)
    spikes = net.spikes[0].detach()
    readout_loss(whole, y, "mean").backward()
    g_whole = {n: p.grad.clone() for n, p in net.named_parameters()}

    net = build()
    out1, state = net.run(x[:CUT])
    s1 = net.spikes[0].detach()
    out2, state = net.run(x[CUT:], state)  # not detached: BPTT through the boundary
    got = torch.cat([out1, out2], 0)
    assert torch.equal(torch.cat([s1, net.spikes[0].detach()], 0), spikes)
    assert torch.allclose(got, whole, rtol=1e-12, atol=0)
    readout_loss(got, y, "mean").backward()
    for name, g in g_whole.items():
        p = dict(net.named_parameters())[name]
        assert float(g.abs().max()) > 0, name
        assert torch.allclose(p.grad, g, rtol=1e-9, atol=1e-12 * float(g.abs().max())), name


@pytest.mark.parametrize("fused", [None, False])
def test_detached_state_truncates_bptt(fused):
    layer = SpikingLayer(
        "lif",
        12,
        20,
        dt="1 ms",
        recurrent=True,
        dtype=torch.float64,
        weight_gain=3.0,
        fused=fused,
        generator=torch.Generator().manual_seed(1),
    )
    x = _input().requires_grad_(True)
    _, state = layer.run(x[:CUT])
    out, _ = layer.run(x[CUT:], state.detach())
    out.sum().backward()
    # the second piece's loss reaches its own input, not the first piece's
    assert float(x.grad[CUT:].abs().sum()) > 0
    assert float(x.grad[:CUT].abs().sum()) == 0.0
    x.grad = None
    _, state = layer.run(x[:CUT])
    out, _ = layer.run(x[CUT:], state)
    out.sum().backward()
    assert float(x.grad[:CUT].abs().sum()) > 0  # through the handed-on state


def test_bad_state_is_named():
    layer = SpikingLayer("lif", 12, 20, dt="1 ms", dtype=torch.float64)
    x = _input()
    _, state = layer.run(x[:10])
    with pytest.raises(ValueError, match=r"expected \[batch, neurons\] = \[2, 20\]"):
        layer.run(x[10:, :2], state)
    with pytest.raises(ValueError, match="LayerState"):
        layer.run(x[10:], dict(state.variables))
    other = LayerState({"v": state.variables["v"]}, state.last_spike, 10)
    with pytest.raises(ValueError, match="variables"):
        layer.run(x[10:], other)

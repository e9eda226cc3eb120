"""The torch bridge on an NVIDIA GPU (marked ``gpu``: run with ``-m gpu`` on a machine that has
one). A network moved to CUDA gives the CPU's spikes and gradients, for the fused loop and the
step-by-step path, and its Brian2 export on ``cuda_standalone`` (brian2cuda) reproduces the
torch spikes."""

import pytest

torch = pytest.importorskip("torch", reason="needs torch: pip install 'neurolearn[torch]'")

from neurolearn.bridge import spike_agreement, to_brian2
from neurolearn.torch import SpikingLayer, SpikingNetwork

pytestmark = [
    pytest.mark.torch,
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
]


def _layer(fused, device):
    g = torch.Generator().manual_seed(3)
    layer = SpikingLayer(
        "lif",
        30,
        40,
        dt="1 ms",
        recurrent=True,
        trainable=("tau_m", "tau_syn"),
        heterogeneity={"tau_m": {"distribution": "gamma"}, "tau_syn": {"distribution": "gamma"}},
        params={"t_ref": "2 ms"},
        dtype=torch.float64,
        generator=g,
        fused=fused,
        weight_std=2.0,
        recurrent_std=1.8,
    )
    return layer.to(device)


@pytest.mark.parametrize("fused", [None, False])
def test_layer_on_cuda_matches_cpu(fused):
    """float64: the same spikes on CPU and GPU (the GPU sums in another order, so a spike
    could move only if v lands within rounding of v_th: none does here), gradients to 1e-9."""
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(60, 5, 30, generator=g, dtype=torch.float64) < 0.05).double()
    w = torch.randn(60, 5, 40, generator=g, dtype=torch.float64)
    res = []
    for device in ("cpu", "cuda"):
        layer = _layer(fused, device)
        out = layer(x.to(device))
        (out * w.to(device)).sum().backward()
        res.append(
            [
                t.detach().cpu()
                for t in (
                    out,
                    layer.W_in.grad,
                    layer.W_rec.grad,
                    layer.raw["tau_m"].grad,
                    layer.raw["tau_syn"].grad,
                )
            ]
        )
        assert layer._fusable is (True if fused is None else None)
    (out_c, *g_c), (out_g, *g_g) = res
    assert 0.02 < float(out_c.mean()) < 0.6
    assert torch.equal(out_c, out_g)
    for a, b in zip(g_c, g_g):
        assert float(a.abs().max()) > 0
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12 * float(a.abs().max()))


def _network(model, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    net = SpikingNetwork.build(
        12,
        [40],
        3,
        model=model,
        dt="0.1 ms",
        heterogeneity="het_init_het_train",
        generator=g,
        dtype=torch.float64,
        weight_gain=3.0,
    )
    x = (torch.rand(300, 4, 12, generator=g) < 0.08).double()
    return net.to(device), x


@pytest.mark.parametrize("model", ["lif", "alif"])
def test_network_trains_on_cuda(model):
    """One BPTT step on the GPU: finite loss, gradients for weights and every trained tau,
    and the forward pass equals the CPU's spike for spike (float64)."""
    net_c, x = _network(model, "cpu")
    net_g, _ = _network(model, "cuda")
    with torch.no_grad():
        ref = net_c(x)
    out = net_g(x.cuda())
    assert torch.equal(net_c.spikes[0], net_g.spikes[0].cpu())
    assert torch.allclose(out.detach().cpu(), ref, rtol=1e-9, atol=1e-12)
    loss = out.pow(2).mean()
    loss.backward()
    grads = {n: p.grad for n, p in net_g.named_parameters() if p.requires_grad}
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert any("tau_m" in n for n in grads)


@pytest.mark.parametrize("model", ["lif", "alif"])
def test_export_to_cuda_standalone_reproduces_torch(model, tmp_path):
    """A torch network's Brian2 export compiled by brian2cuda and run on the GPU. brian2cuda
    compiles with ``-use_fast_math`` (approximate exp/division) and sums synaptic input with
    atomics, so identity is not guaranteed as on the numpy target: we require >= 99 % of the
    spikes in the same step (coincidence factor with zero tolerance) and print the result."""
    net, x = _network(model, "cpu", seed=2)
    with torch.no_grad():
        net(x)
    spikes = net.spikes[0].numpy()
    export = to_brian2(net, x, backend="cuda_standalone", directory=str(tmp_path / "cuda"))
    agreement = spike_agreement(spikes, export.spikes[0])
    print(model, agreement)
    assert agreement["n_a"] > 50
    assert agreement["coincidence"] >= 0.99, agreement

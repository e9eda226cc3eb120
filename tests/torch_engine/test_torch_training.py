"""A small recurrent spiking network (LSNN: recurrent ALIF, Bellec et al. 2018) trained with
surrogate gradients learns a delayed XOR that a network without memory cannot solve."""

import pytest

torch = pytest.importorskip("torch", reason="needs torch: pip install 'neurolearn[torch]'")

from neurolearn.torch import SpikingNetwork, readout_loss

CUE1, CUE2, T, C = (0, 10), (100, 110), 120, 20


pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]


def delayed_xor(n, g):
    """Two cues 90 ms apart, each a 10 ms burst (p = 0.4 per step) on one of two channel
    groups (bit 0 or 1); the label is bit1 XOR bit2, read out after the second cue."""
    bits = torch.randint(0, 2, (n, 2), generator=g)
    x = torch.zeros(T, n, C)
    for k, (a, b) in enumerate((CUE1, CUE2)):
        chan = bits[:, k] * (C // 2)
        for c in range(C // 2):
            x[a:b, torch.arange(n), chan + c] = (torch.rand(b - a, n, generator=g) < 0.4).float()
    return x, bits[:, 0] ^ bits[:, 1]


def _train(model, recurrent, iterations=60, **kwargs):
    g = torch.Generator().manual_seed(0)
    net = SpikingNetwork.build(
        C, [30], 2, model=model, dt="1 ms", recurrent=recurrent, generator=g, **kwargs
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(iterations):
        x, y = delayed_xor(32, g)
        loss = readout_loss(net(x)[CUE2[0] :], y, "max")
        opt.zero_grad()
        loss.backward()
        opt.step()
        net.project_parameters_()
    with torch.no_grad():
        x, y = delayed_xor(256, torch.Generator().manual_seed(99))
        logits = net(x)[CUE2[0] :].max(0).values
    return float((logits.argmax(1) == y).float().mean())


def test_recurrent_alif_learns_delayed_xor_memoryless_network_cannot():
    # 90 ms between the cues is 4.5 membrane time constants: only the adaptation variable
    # (tau_a = 700 ms) and the recurrence can carry the first bit
    acc_lsnn = _train("alif", True, params={"beta": "5 mV"})
    acc_ff = _train("lif", False)
    assert acc_lsnn >= 0.85
    assert acc_ff <= 0.65  # chance is 0.5

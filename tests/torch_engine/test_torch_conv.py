"""Spiking 1D convolution over channels and time (neurolearn.torch.conv): the input current
equals the sum over temporal taps of the delayed input times the expanded shared weights,
streaming in pieces equals one run, and bad sizes are named."""

import pytest

torch = pytest.importorskip("torch", reason="needs torch: pip install 'neurolearn[torch]'")

from neurolearn.torch import SpikingConv1d

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]


@pytest.mark.parametrize("model", ["lif", "lif_cond"])
def test_conv_current_is_expanded_weights_on_delayed_input(model):
    g = torch.Generator().manual_seed(0)
    conv = SpikingConv1d(
        model,
        9,
        2,
        3,
        dt="1 ms",
        stride=3,
        time_kernel=4,
        time_dilation=2,
        generator=g,
        dtype=torch.float64,
    )
    assert conv.positions == 3 and conv.n == 6 and conv.input_history == 6
    assert conv.W_in.shape == (2, 3, 4)
    x = (torch.rand(30, 2, 9, generator=g) < 0.3).double()
    xh = torch.cat([x.new_zeros(6, 2, 9), x])
    with torch.no_grad():
        _, drive = conv._delayed(xh, 30)
    # reference: every tap k as a dense [9, 6] matrix on the input delayed by 2k steps
    W = [conv.weight_matrix(k) * conv.weight_unit for k in range(4)]
    parts = [W] if model == "lif" else [[w.clamp(min=0) for w in W], [(-w).clamp(min=0) for w in W]]
    for d, Ws in zip(drive, parts):
        ref = sum(xh[6 - 2 * k : 36 - 2 * k] @ Ws[k] for k in range(4))
        assert torch.allclose(d, ref, rtol=1e-12, atol=1e-12 * float(ref.detach().abs().max()))
    # weight sharing: neuron (o, p) sees channels 3p..3p+2 with map o's kernel
    Wm = conv.weight_matrix(1)
    assert torch.equal(Wm[3:6, 0 * 3 + 1], conv.W_in[0, :, 1])
    assert torch.equal(Wm[6:9, 1 * 3 + 2], conv.W_in[1, :, 1])
    assert int((Wm != 0).sum()) == 2 * 3 * 3


def test_conv_streaming_and_gradient():
    g = torch.Generator().manual_seed(1)
    conv = SpikingConv1d(
        "lif",
        8,
        3,
        4,
        dt="1 ms",
        time_kernel=3,
        time_dilation=3,
        generator=g,
        dtype=torch.float64,
        weight_gain=2.0,
    )
    x = (torch.rand(60, 2, 8, generator=g) < 0.2).double()
    out = conv(x)
    out.sum().backward()
    assert float(conv.W_in.grad.abs().sum()) > 0
    assert int(out.sum()) > 10
    with torch.no_grad():
        state, pieces = None, []
        for a, b in ((0, 4), (4, 33), (33, 60)):
            piece, state = conv.run(x[a:b], state)
            pieces.append(piece)
        assert torch.equal(torch.cat(pieces), conv(x))


def test_conv_errors():
    with pytest.raises(ValueError, match="kernel_size 5 exceeds in_channels 4"):
        SpikingConv1d("lif", 4, 2, 5, dt="1 ms")
    with pytest.raises(ValueError, match="time_kernel must be a positive integer"):
        SpikingConv1d("lif", 4, 2, 2, dt="1 ms", time_kernel=0)
    with pytest.raises(ValueError, match="time_kernel and time_dilation instead"):
        SpikingConv1d("lif", 4, 2, 2, dt="1 ms", delays="per_synapse", max_delay="3 ms")

"""Make the README's figure, ``docs/_static/readme_figure.png``: a small recurrent LIF network
with heterogeneous, trained time constants (the task of tutorial 2), its hidden spikes in
PyTorch and in Brian2 after training, and its tau_m before and after training. About a
minute on a laptop CPU::

    python docs/make_readme_figure.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from neurolearn.bridge import spike_agreement, to_brian2  # noqa: E402
from neurolearn.torch import SpikingNetwork, readout_loss  # noqa: E402

OUT = Path(__file__).resolve().parent / "_static" / "readme_figure.png"
T, C = 100, 30


def make_batch(n: int, g: torch.Generator):
    """Three classes of channel sweeps with Poisson noise: ``[time, batch, channels]``."""
    labels = torch.randint(0, 3, (n,), generator=g)
    t, ch = torch.arange(T).view(T, 1, 1), torch.arange(C).view(1, 1, C)
    lab = labels.view(1, n, 1)
    phase = torch.where(lab == 0, ch * 3, torch.where(lab == 1, (C - 1 - ch) * 3, ch * 1.5))
    rate = 0.02 + 0.5 * torch.exp(-0.5 * ((t - 5 - phase) / 4.0) ** 2)
    return (torch.rand(T, n, C, generator=g) < rate).double(), labels


def main() -> int:
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    x, y = make_batch(256, g)
    net = SpikingNetwork.build(
        C, [40], 3, model="lif", dt="1 ms", heterogeneity="het_init_het_train",
        dtype=torch.float64, generator=g,
    )  # fmt: skip
    tau0 = net.layers[0].parameter_si("tau_m") * 1e3
    taus = net.time_constant_parameters()
    others = [p for p in net.parameters() if all(p is not q for q in taus)]
    opt = torch.optim.Adam([{"params": others, "lr": 5e-3}, {"params": taus, "lr": 0.2}])
    for _ in range(10):
        for batch in torch.randperm(256, generator=g).split(32):
            opt.zero_grad()
            readout_loss(net(x[:, batch]), y[batch], "mean", logit_scale=20).backward()
            opt.step()
            net.project_parameters_()
    tau1 = net.layers[0].parameter_si("tau_m") * 1e3
    sample = x[:, :4]
    with torch.no_grad():
        net(sample)
    spikes = net.spikes[0].numpy()
    export = to_brian2(net, sample)
    agreement = spike_agreement(spikes, export.spikes[0])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.2), gridspec_kw={"width_ratios": [1.6, 1]})
    t, n = spikes[:, 0].nonzero()
    ax1.plot(t, n, "o", mfc="none", ms=6, color="C0", label="PyTorch")
    t, n = export.spikes[0][:, 0].nonzero()
    ax1.plot(t, n, "k.", ms=3, label="Brian2")
    ax1.set_xlabel("time (ms)")
    ax1.set_ylabel("hidden neuron")
    ax1.set_title(f"trained network: {agreement['n_a']} spikes, identical in Brian2")
    ax1.legend(loc="upper right", fontsize=8)
    bins = np.linspace(0, max(tau0.max(), tau1.max()) * 1.02, 25)
    ax2.hist(tau0, bins, alpha=0.6, label="initial (gamma, k = 3)")
    ax2.hist(tau1, bins, alpha=0.6, label="trained")
    ax2.set_xlabel("membrane time constant tau_m (ms)")
    ax2.set_ylabel("neurons")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    OUT.parent.mkdir(exist_ok=True)
    fig.savefig(OUT, dpi=110)
    print(OUT, agreement)
    return 0 if agreement["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())

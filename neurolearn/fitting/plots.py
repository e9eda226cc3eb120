"""Figures of a fit: measured vs fitted f-I and I-V curves, overlaid voltage traces, features,
spike trains. Plain arrays in, :func:`neurolearn.figures.save_figure` out (PDF, SVG, PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..figures import styled

__all__ = ["plot_fit"]


@styled
def plot_fit(result, stem: str | Path) -> list[Path]:
    """Figure of a :class:`~neurolearn.fitting.FitResult`, by target kind.

    * ``fi_curve``: f-I curve (Hz vs pA) and steady-state I-V curve (mV vs pA), measured
      (points) and fitted (line);
    * ``trace``: measured and fitted membrane potential (mV vs ms) of every sweep;
    * ``ephys_features``: each feature, measured vs fitted;
    * ``spike_train``: loss history and Gamma per sweep.

    All panels also get the loss history.

    Returns
    -------
    list of Path
        The written files.
    """
    from ..figures import label, new_figure, save_figure

    kind = result.target.get("kind")
    m, p = result.measured, result.predictions
    if not p:  # the replay of the fitted model failed: only the loss history
        kind = "none"
    fig, axes = new_figure(1, 3, width=10, height=3.2)
    a0, a1, a2 = axes
    if kind == "fi_curve":
        a0.plot(m["amplitude_pA"], m["rate_hz"], "ko", ms=4, label="measured")
        a0.plot(p["amplitude_pA"], p["rate_hz"], "C3-", label=f"fitted {result.model}")
        a0.set_xlabel(label("step current", "pA"))
        a0.set_ylabel(label("firing rate", "Hz"))
        a0.legend(frameon=False, fontsize=8)
        if "v_steady_mV" in m:
            a1.plot(m["amplitude_pA"], m["v_steady_mV"], "ko", ms=4)
            if "v_steady_mV" in p:
                a1.plot(p["amplitude_pA"], p["v_steady_mV"], "C3-")
        a1.set_xlabel(label("step current", "pA"))
        a1.set_ylabel(label("steady-state potential", "mV"))
    elif kind == "trace":
        v = np.asarray(m["v_mV"])
        t = np.arange(v.shape[0]) * result.target["dt_s"] * 1e3
        fv = np.asarray(p["v_mV"])
        for k in range(min(v.shape[1], 3)):
            a0.plot(t, v[:, k] + 0 * k, "k", lw=0.8, label="measured" if k == 0 else None)
            a0.plot(
                t[: fv.shape[0]],
                fv[:, k],
                "C3",
                lw=0.8,
                ls="--",
                label=f"fitted {result.model}" if k == 0 else None,
            )
        a0.set_xlabel(label("time", "ms"))
        a0.set_ylabel(label("membrane potential", "mV"))
        a0.legend(frameon=False, fontsize=8)
        a1.plot(t, np.asarray(m["i_pA"])[:, 0], "k", lw=0.8)
        a1.set_xlabel(label("time", "ms"))
        a1.set_ylabel(label("injected current", "pA"))
    elif kind == "ephys_features":
        keys = [k for k in m if k in p]
        rel = [float(np.ravel(p[k])[0]) / float(m[k]) if float(m[k]) else np.nan for k in keys]
        a0.bar(range(len(keys)), rel, color="C3")
        a0.axhline(1, color="k", lw=0.8)
        a0.set_xticks(range(len(keys)))
        a0.set_xticklabels(keys, rotation=45, ha="right", fontsize=7)
        a0.set_ylabel("fitted / measured (1)")
        a1.axis("off")
    elif kind == "spike_train":
        g = np.ravel(p.get("gamma", []))
        a0.bar(range(len(g)), g, color="C3")
        a0.set_xlabel("sweep")
        a0.set_ylabel("coincidence factor (1)")
        rates = np.ravel(p.get("rate_hz", []))
        a1.plot(np.ravel(m.get("rate_hz", [])), "ko", label="measured")
        a1.plot(rates, "C3s", label="fitted")
        a1.set_xlabel("sweep")
        a1.set_ylabel(label("firing rate", "Hz"))
        a1.legend(frameon=False, fontsize=8)
    else:
        a0.axis("off")
        a1.axis("off")
    a2.semilogy(
        np.arange(1, len(result.loss_history) + 1), np.maximum(result.loss_history, 1e-12), "k.-"
    )
    a2.set_xlabel("generation / step")
    a2.set_ylabel("best loss")
    fig.suptitle(f"{result.model}: {kind} fit ({result.status})", fontsize=10)
    return save_figure(fig, stem)

"""Figures: text that overlaps after drawing is found (:func:`neurolearn.figures.overlapping_text`),
and the main job's figures, drawn from synthetic results of five configurations, have none
(their drawing refuses to save a figure with overlapping text)."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("pandas")

from neurolearn.figures import new_figure, overlapping_text
from neurolearn.reproductions.heterogeneity_figures import draw_figures
from neurolearn.reproductions.heterogeneity_results import (
    ALL_CONFIGURATIONS,
    _configuration_entry,
    _robustness,
)


def test_overlapping_text_is_found():
    fig, ax = new_figure()
    ax.text(0.5, 0.5, "first label", transform=ax.transAxes)
    ax.text(0.52, 0.5, "second label", transform=ax.transAxes)
    clashes = overlapping_text(fig)
    assert ("first label", "second label") in clashes


def test_crowded_tick_labels_are_found_and_a_clean_figure_passes():
    fig, ax = new_figure(width=2.0, height=2.0)
    ax.set_xticks(range(12))
    ax.set_xticklabels([f"configuration {i}" for i in range(12)])
    assert overlapping_text(fig)
    fig, ax = new_figure()
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("clean")
    assert overlapping_text(fig) == []


def test_main_job_figures_have_no_overlapping_text(tmp_path):
    rng = np.random.default_rng(0)
    scales = [0.25, 0.5, 0.75, 1.0, 1.5, 2.0]
    all_runs = {}
    for k, name in enumerate(ALL_CONFIGURATIONS):
        all_runs[name] = {
            s: {
                "accuracy": 0.7 + 0.02 * k + 0.01 * rng.standard_normal(),
                "evaluation": None,
                "robustness": {
                    "time_scales": scales,
                    "accuracies": list(0.7 - 0.2 * np.abs(np.log2(scales)) + 0.01 * s),
                },
                "tau_m": np.full(32, 20.0) if k == 0 else rng.gamma(3.0, 7.0, 32),
                "tau_syn": np.full(32, 10.0) if k == 0 else rng.gamma(3.0, 3.0, 32),
            }
            for s in range(6)
        }
    results = {
        "dataset": "toy",
        "configurations": {n: _configuration_entry(n, r) for n, r in all_runs.items()},
        "robustness": _robustness(all_runs),
    }
    assert results["configurations"]["hom_init_std_train"]["tau_m_fit"] is None
    fit = results["configurations"]["het_init_het_train"]["tau_m_fit"]
    assert (
        1.5 < fit["gamma"]["shape"] < 6
        and 10 < fit["gamma"]["scale_ms"] * fit["gamma"]["shape"] < 30
    )
    named = {"mouse_visp_l4_spiny": rng.lognormal(np.log(20), 0.5, 290)}
    draw_figures(results, all_runs, named, tmp_path)
    for stem in ("accuracy_per_configuration", "robustness", "tau_histograms"):
        for ext in ("pdf", "svg", "png"):
            assert (tmp_path / f"{stem}.{ext}").is_file(), (stem, ext)


def test_text_added_after_the_figure_is_made_follows_the_style():
    """matplotlib reads the font size of a title or legend from the rc settings when it is
    made: outside the style a figure's legend came out at 10 pt and its title at 12 pt next to
    8 pt axis labels. A function decorated with styled draws them at the style's sizes."""
    import matplotlib.pyplot as plt

    from neurolearn import figures

    def draw():
        fig, ax = new_figure()
        ax.plot([0, 1], [0, 1], label="model")
        ax.set_title("title")
        ax.legend()
        return fig, ax

    fig, ax = draw()  # outside the style: matplotlib's defaults
    assert ax.title.get_fontsize() == pytest.approx(12.0)
    fig, ax = figures.styled(draw)()
    assert ax.title.get_fontsize() == pytest.approx(figures.STYLE["axes.titlesize"])
    legend_size = ax.get_legend().get_texts()[0].get_fontsize()
    assert legend_size == pytest.approx(figures.STYLE["legend.fontsize"])
    plt.close("all")


@pytest.mark.torch
def test_learning_curves_legend_and_title_follow_the_style(tmp_path, monkeypatch):
    """A figure function of the package: the learning curves' shared legend and title."""
    pytest.importorskip("torch")
    import matplotlib.pyplot as plt

    from neurolearn import figures
    from neurolearn.training import outputs

    kept = {}
    monkeypatch.setattr(outputs, "save_figure", lambda fig, stem: kept.setdefault("fig", fig))
    rows = [
        {
            "epoch": e,
            "train_loss": 1 / e,
            "val_loss": 1.1 / e,
            "train_accuracy": 0.5,
            "val_accuracy": 0.4,
        }
        for e in (1, 2, 3)
    ]
    outputs.plot_learning_curves(rows, tmp_path / "curves", title="run")
    fig = kept["fig"]
    legend_size = fig.legends[0].get_texts()[0].get_fontsize()
    assert legend_size == pytest.approx(figures.STYLE["legend.fontsize"])
    assert fig._suptitle.get_fontsize() <= figures.STYLE["font.size"] * 1.2 + 1e-9
    plt.close("all")

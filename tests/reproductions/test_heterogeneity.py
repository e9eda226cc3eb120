"""The main job's smoke path: ``neurolearn run heterogeneity --quick`` on a tiny dataset
writes results.json with the documented keys, a Markdown table and figures, and skips
completed runs when run again."""

import json

import pytest

pytest.importorskip("torch", reason="needs torch: pip install 'neurolearn[torch]'")
pytestmark = pytest.mark.torch

from neurolearn.reproductions.heterogeneity import (
    ALL_CONFIGURATIONS,
    experiment_config,
    run_heterogeneity,
)

TINY = {
    "data": {
        "dt_ms": 20.0,
        "duration_ms": 1000.0,
        "max_train_samples": 54,
        "max_test_samples": 27,
        "validation_fraction": 0.2,
    },
    "network": {"hidden": [12]},
    "training": {"epochs": 1, "batch_size": 27},
}


def test_experiment_config_sets_configuration_and_seed():
    cfg = experiment_config("fsdd", "hom_init_het_train", seed=2)
    assert cfg["heterogeneity"]["configuration"] == "hom_init_het_train"
    assert cfg["training"]["seed"] == 2 and cfg["network"]["hidden"] == [128]
    assert cfg["data"]["options"]["channels"] == 64
    quick = experiment_config("fsdd", "het_init_std_train", quick=True)
    assert quick["training"]["epochs"] < cfg["training"]["epochs"]
    with pytest.raises(ValueError, match="unknown configuration"):
        experiment_config("fsdd", "heterogeneous")
    with pytest.raises(ValueError, match="unknown dataset"):
        experiment_config("mnist")


def test_per_dataset_defaults_stay_per_dataset():
    # Braille clips the gradient norm (long BPTT fell silent without it) and uses the readout's
    # mean over time (the maximum over time underfits, README), N-MNIST trains 10 epochs;
    # neither change may leak into the shared block or the other datasets
    braille = experiment_config("braille")
    assert braille["optimizer"]["grad_clip"] == 1.0 and braille["training"]["epochs"] == 10
    assert braille["loss"]["name"] == "mean_over_time" and braille["loss"]["logit_scale"] == 20
    assert experiment_config("nmnist")["loss"]["name"] == "max_over_time"
    assert braille["optimizer"]["lr_weights"] == 5e-3
    assert experiment_config("nmnist")["training"]["epochs"] == 10
    for name in ("fsdd", "nmnist", "shd", "ssc"):
        assert experiment_config(name)["optimizer"]["grad_clip"] is None, name
    assert experiment_config("fsdd")["training"]["epochs"] == 20
    # Spiking FSDD: adaptive LIF neurons and input spike deletion (README); others keep LIF
    fsdd = experiment_config("fsdd")
    assert fsdd["network"]["model"] == "alif" and fsdd["training"]["input_dropout"] == 0.2
    for name in ("braille", "nmnist", "shd", "ssc"):
        cfg = experiment_config(name)
        assert cfg["network"]["model"] == "lif" and cfg["training"]["input_dropout"] == 0, name
    assert experiment_config("braille", quick=True)["optimizer"]["grad_clip"] == 1.0


def test_quick_run_writes_results(tmp_path, data_dir, capsys):
    out = tmp_path / "het"
    run_heterogeneity("braille", quick=True, out=out, jobs=1, progress=False, overrides=TINY)
    written = json.loads((out / "results.json").read_text())
    # the paper's four configurations and the one started from Allen cells
    assert set(written["configurations"]) == set(ALL_CONFIGURATIONS)
    for name, entry in written["configurations"].items():
        for key in (
            "accuracy_mean",
            "accuracy_sd",
            "brian2_agreement",
            "tau_m_ms",
            "allen_comparison",
            "n_runs",
        ):
            assert key in entry, (name, key)
        assert entry["n_runs"] == 1 and 0 <= entry["accuracy_mean"] <= 1
        assert entry["brian2_agreement"] >= 0.995
        assert entry["tau_m_ms"]["n"] == 12
    # homogeneous initialisation without tau training keeps every tau_m at the default
    hom = written["configurations"]["hom_init_std_train"]["tau_m_ms"]
    assert hom["min"] == pytest.approx(20.0) and hom["max"] == pytest.approx(20.0)
    het = written["configurations"]["het_init_std_train"]["tau_m_ms"]
    assert het["sd"] > 3.0
    assert written["allen"]["available"] is True and written["allen"]["n_cells"] > 1000
    assert written["configurations"]["het_init_het_train"]["allen_comparison"]
    # results.json schema (issue 21, item 8)
    for entry in written["configurations"].values():
        assert len(entry["accuracy_ci95"]) == 2 and len(entry["accuracies"]) == 1
        assert entry["accuracy_ci95"][0] <= entry["accuracy_mean"] <= entry["accuracy_ci95"][1]
        assert "tau_m_fit" in entry and "tau_syn_fit" in entry
    assert written["configurations"]["hom_init_std_train"]["tau_m_fit"] is None
    fit = written["configurations"]["het_init_std_train"]["tau_m_fit"]
    assert set(fit) == {"gamma", "lognorm"} and fit["gamma"]["shape"] > 0
    assert {"shape", "scale_ms"} <= set(fit["gamma"]) and {"sigma", "scale_ms"} <= set(
        fit["lognorm"]
    )
    assert isinstance(written["paired_differences"], list)  # one seed: no pairs to test
    rob = written["robustness"]
    assert rob["time_scales"][0] == 0.25 and rob["time_scales"][-1] == 2.0
    for name in ALL_CONFIGURATIONS:
        per_seed = rob["configurations"][name]["accuracies"]["0"]
        assert len(per_seed) == len(rob["time_scales"])
        assert all(0 <= a <= 1 for a in per_seed)
    # the Allen start draws tau_m from the measured cells: heterogeneous
    assert written["configurations"]["allen_init_het_train"]["tau_m_ms"]["sd"] > 3.0
    for stem in ("accuracy_per_configuration", "tau_histograms", "robustness"):
        for ext in ("pdf", "svg", "png"):
            assert (out / f"{stem}.{ext}").is_file()
    table = (out / "results.md").read_text()
    assert "heterogeneous init, weights + tau trained" in table
    # rerun: every run is complete, nothing is retrained
    mtimes = {p: p.stat().st_mtime for p in out.glob("runs/*/seed0/network.h5")}
    again = run_heterogeneity(
        "braille", quick=True, out=out, jobs=1, progress=False, overrides=TINY
    )
    assert {p: p.stat().st_mtime for p in out.glob("runs/*/seed0/network.h5")} == mtimes
    assert (
        again["configurations"]["het_init_het_train"]["accuracies"]
        == written["configurations"]["het_init_het_train"]["accuracies"]
    )
    with pytest.raises(ValueError, match="other settings"):
        run_heterogeneity("fsdd", quick=True, out=out, jobs=1, progress=False, overrides=TINY)

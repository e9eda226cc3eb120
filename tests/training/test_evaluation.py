"""Brian2 evaluation of a trained network: the test set simulated in Brian2 (samples as
independent copies in one network) gives the same predictions as torch."""

import json

import pytest

pytest.importorskip("torch", reason="needs torch: pip install 'neurolearn[torch]'")
pytestmark = pytest.mark.torch

from neurolearn.training import config_from_dict, train_from_config
from neurolearn.training.evaluation import compare_predictions, default_chunk_size, evaluate_run

SMALL = {
    "data": {
        "dataset": "braille",
        "dt_ms": 20.0,
        "duration_ms": 1000.0,
        "max_train_samples": 108,
        "max_test_samples": 40,
        "validation_fraction": 0.2,
    },
    "network": {"hidden": [24], "recurrent": True},
    "heterogeneity": {"configuration": "het_init_het_train"},
    "loss": {"logit_scale": 5.0},
    "optimizer": {"lr_weights": 1e-2},
    "training": {"epochs": 2, "batch_size": 16, "seed": 0, "threads": 1},
}


def test_compare_predictions():
    out = compare_predictions([0, 1, 2, 2], [0, 1, 1, 2], [0, 1, 2, 0])
    assert out == {
        "torch_accuracy": 0.75,
        "brian2_accuracy": 0.5,
        "agreement": 0.75,
        "n_samples": 4,
    }
    with pytest.raises(ValueError, match="equally long"):
        compare_predictions([0], [0, 1], [0])


def test_chunk_size_fits_budget():
    assert default_chunk_size(200, 1_000, budget_bytes=1e9) == 512
    assert default_chunk_size(1000, 1_000_000, budget_bytes=1e9) == 4


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("trained")
    summary = train_from_config(config_from_dict(SMALL), out, progress=False)
    return out, summary


def test_train_writes_outputs(trained_run):
    import pandas as pd

    out, summary = trained_run
    for name in (
        "config.toml",
        "metrics.csv",
        "checkpoint.pt",
        "network.h5",
        "parameters.csv",
        "summary.json",
        "learning_curves.pdf",
        "learning_curves.svg",
        "learning_curves.png",
    ):
        assert (out / name).is_file(), name
    params = pd.read_csv(out / "parameters.csv")
    hidden = params[params["layer"] == "hidden0"]
    assert len(hidden) == 24 and list(hidden["neuron"]) == list(range(24))
    assert {"tau_m_ms", "tau_syn_ms", "v_th_mV"} <= set(params.columns)
    # heterogeneous initialisation: gamma(k=3) around 20 ms, so clearly spread
    assert hidden["tau_m_ms"].std() > 3.0
    assert 0 <= summary["test_accuracy"] <= 1 and summary["epochs"] == 2


def test_brian2_agrees_with_torch(trained_run):
    out, summary = trained_run
    result = evaluate_run(out, backend="numpy", chunk_size=16, progress=False)
    assert result["n_samples"] == summary["n_test"] >= 27
    assert result["agreement"] >= 0.995
    assert result["brian2_accuracy"] == pytest.approx(result["torch_accuracy"], abs=0.005)
    # float64 torch evaluation of the float32-trained network matches the training summary
    assert result["torch_accuracy"] == pytest.approx(summary["test_accuracy"], abs=0.05)
    written = json.loads((out / "evaluation_numpy.json").read_text())
    assert written["agreement"] == result["agreement"]


def test_cli_evaluate_json(trained_run, capsys):
    from neurolearn.cli import main

    out, _ = trained_run
    assert main(["evaluate", str(out), "--json", "--max-samples", "8"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"torch_accuracy", "brian2_accuracy", "agreement"}
    assert printed["agreement"] >= 0.995


def test_evaluate_missing_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="no trained network"):
        evaluate_run(tmp_path)

"""``neurolearn allen compare`` compares the hidden layers by default, as the main job does
(not the readout's integrators), and handles a population without spread: its fits are
skipped with a note, everything else is computed."""

import json

import numpy as np
import pandas as pd
import pytest

from neurolearn.cli import main


@pytest.fixture
def run(tmp_path):
    """A run folder whose 64 hidden neurons all have tau_m = 20 ms (a homogeneous run) and
    whose readout has 10 spread time constants."""
    rng = np.random.default_rng(3)
    table = pd.concat(
        [
            pd.DataFrame({"layer": "hidden0", "neuron": np.arange(64), "tau_m_ms": 20.0}),
            pd.DataFrame(
                {"layer": "readout", "neuron": np.arange(10), "tau_m_ms": rng.gamma(3, 7, 10)}
            ),
        ]
    )
    folder = tmp_path / "run"
    folder.mkdir()
    table.to_csv(folder / "parameters.csv", index=False)
    return folder


def _compare(run, out, cache, *extra):
    return main(
        ["allen", "compare", str(run), "--species", "mouse", "--out", str(out)]
        + ["--boot", "20", "--perm", "20", "--cache", str(cache), *extra]
    )


def test_compare_defaults_to_hidden_layers_and_skips_fits_without_spread(
    run, tmp_path, data_dir, monkeypatch, capsys
):
    monkeypatch.setenv("NEUROLEARN_DATA_DIR", str(data_dir))
    cache = tmp_path / "cache"
    out = tmp_path / "cmp"
    assert _compare(run, out, cache) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "no spread" in err and "64 values are 20 ms" in err
    raw = pd.read_csv(out / "tau_comparison.csv").set_index("scale").loc["raw"]
    assert raw["n_learned"] == 64  # the hidden neurons, not 74
    assert raw["median_learned"] == 20.0
    summary = json.loads((out / "tau_comparison.json").read_text())
    assert "gamma" not in summary["learned"] and "no spread" in summary["learned"]["note"]
    assert summary["measured"]["gamma"]["shape"] > 0  # the Allen cells are still fitted
    fits = pd.read_csv(out / "tau_fits.csv")
    assert set(fits["sample"]) == {"Allen (species=mouse)"}
    for stem in ("tau_learned_vs_measured", "tau_qq"):
        assert (out / f"{stem}.png").stat().st_size > 1000

    every = tmp_path / "every"
    assert _compare(run, every, cache, "--run-layer", "all") == 0
    raw = pd.read_csv(every / "tau_comparison.csv").set_index("scale").loc["raw"]
    assert raw["n_learned"] == 74


def test_failed_compare_leaves_no_output_folder(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["allen", "compare", str(tmp_path / "nothing"), "--out", str(out)]) == 2
    assert "parameters.csv" in capsys.readouterr().err
    assert not out.exists()

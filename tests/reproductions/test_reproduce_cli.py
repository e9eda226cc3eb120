"""``neurolearn reproduce``: every module of neurolearn.reproductions that reproduces a paper is
registered and listed; each one's options parse from the CLI (the run function replaced by a
recorder); bad values end with exit status 2 and one line; the cheap ones run end to end."""

import dataclasses
import importlib
import json
import pkgutil
from pathlib import Path

import pytest

from neurolearn.cli import main

#: Every reproduction the package must hold (a module that forgets to register fails here).
EXPECTED = {
    "allen_tau",
    "fsdd_variants",
    "glif_population_fit",
    "grasshopper_fit",
    "heterogeneity",
    "izhikevich2007_distal_reward",
    "song2000_stdp",
    "stdp_window",
}


def _listed(capsys) -> list[dict]:
    capsys.readouterr()
    assert main(["reproduce", "--list", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_list_names_every_registered_module(capsys):
    import neurolearn.reproductions as package

    listed = _listed(capsys)
    names = [r["name"] for r in listed]
    assert names == sorted(EXPECTED)
    # each module that defines a REPRODUCTION is listed under its own name, with a one-line
    # description and a reference that gives a year
    modules = {
        info.name: importlib.import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
    }
    registering = {n for n, m in modules.items() if hasattr(m, "REPRODUCTION")}
    assert registering == EXPECTED
    for r in listed:
        assert modules[r["name"]].REPRODUCTION.name == r["name"]
        assert r["description"] and "\n" not in r["description"]
        assert any(f"({year})" in r["reference"] for year in range(1990, 2030)), r
    assert main(["reproduce", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(EXPECTED)
    assert lines[-1].startswith("stdp_window ") and "Pfister & Gerstner (2006)" in lines[-1]


#: name -> (options, expected values of the parsed namespace)
PARSING = {
    "allen_tau": (
        ["--out", "o", "--boot", "50", "--run", "r"],
        {"out": Path("o"), "boot": 50, "run": "r", "seed": 0, "cache": None},
    ),
    "fsdd_variants": (
        ["--out", "o", "--only", "lif", "alif_gain35", "--seeds", "4", "--gru"],
        {"out": Path("o"), "only": ["lif", "alif_gain35"], "seeds": [4], "gru": True},
    ),
    "glif_population_fit": (
        ["--out", "o", "--model", "glif1", "--limit", "3", "--glif1-cells-only"],
        {"model": "glif1", "limit": 3, "glif1_cells_only": True, "backend": "cython"},
    ),
    "grasshopper_fit": (
        ["--out", "o", "--filter", "lowpass", "--window-ms", "4"],
        {"filter": "lowpass", "window_ms": 4.0, "maxiter": 15, "popsize": 8},
    ),
    "heterogeneity": (
        ["--dataset", "braille", "--seeds", "2", "--quick", "--jobs", "1", "--no-progress"],
        {"dataset": "braille", "seeds": 2, "quick": True, "jobs": 1, "no_progress": True},
    ),
    "izhikevich2007_distal_reward": (
        ["--out", "o", "--backend", "cython", "--duration-s", "5"],
        {"backend": "cython", "duration_s": 5.0, "seed": 1, "generate_only": False},
    ),
    "song2000_stdp": (
        ["--out", "o", "--rates-hz", "10", "20", "--parameters", "brian2-example"],
        {"rates_hz": [10.0, 20.0], "parameters": "brian2-example", "duration_s": 100.0},
    ),
    "stdp_window": (
        ["--out", "o", "--models", "stdp_triplet", "--step-ms", "5"],
        {"models": ["stdp_triplet"], "step_ms": 5.0, "max_dt_ms": 100.0, "backend": "numpy"},
    ),
}


def test_parsing_table_covers_every_reproduction():
    assert set(PARSING) == EXPECTED


def _recording(monkeypatch, name):
    from neurolearn.reproductions.registry import REPRODUCTIONS, get_reproduction

    seen = []
    reproduction = get_reproduction(name)
    monkeypatch.setitem(
        REPRODUCTIONS, name, dataclasses.replace(reproduction, run=lambda args: seen.append(args))
    )
    return seen


@pytest.mark.parametrize("name", sorted(PARSING))
def test_options_parse_from_the_cli(name, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)  # the command writes provenance.json into --out o
    argv, expected = PARSING[name]
    seen = _recording(monkeypatch, name)
    assert main(["reproduce", name, *argv]) == 0
    (args,) = seen
    assert {k: getattr(args, k) for k in expected} == expected
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", name, "--help"])
    assert exc.value.code == 0
    assert f"usage: neurolearn reproduce {name}" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", name, *argv, "--no-such-option"])
    assert exc.value.code == 2
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err


@pytest.mark.torch  # neurolearn run heterogeneity needs neurolearn[torch]
def test_run_heterogeneity_is_the_reproduction(monkeypatch):
    """``neurolearn run heterogeneity`` keeps its options and runs the registered reproduction."""
    seen = _recording(monkeypatch, "heterogeneity")
    argv, expected = PARSING["heterogeneity"]
    assert main(["run", "heterogeneity", *argv]) == 0
    assert {k: getattr(seen[0], k) for k in expected} == expected
    assert seen[0].out == "results/heterogeneity" and seen[0].backend == "numpy"
    with pytest.raises(SystemExit) as exc:
        main(["run", "heterogeneity", "--dataset", "mnist"])
    assert exc.value.code == 2


def test_bad_input_exits_2_with_one_line(tmp_path, capsys):
    capsys.readouterr()
    assert main(["reproduce", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "unknown reproduction 'nope'; known: allen_tau, fsdd_variants" in err
    out = tmp_path / "song"
    assert main(["reproduce", "song2000_stdp", "--out", str(out), "--duration-s", "0"]) == 2
    assert capsys.readouterr().err == (
        "neurolearn reproduce: error: --duration-s must be > 0, got 0\n"
    )
    assert not out.exists()
    assert main(["reproduce", "fsdd_variants", "--only", "nope"]) == 2
    assert "--out is required" in capsys.readouterr().err
    assert main(["reproduce", "fsdd_variants", "--out", str(tmp_path), "--only", "nope"]) == 2
    assert "--only: unknown variant(s) nope" in capsys.readouterr().err
    assert main(["reproduce"]) == 2
    assert "give --list" in capsys.readouterr().err
    assert main(["reproduce", "--list", "song2000_stdp"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "stdp_window"])
    assert exc.value.code == 2
    assert "the following arguments are required: --out" in capsys.readouterr().err


def test_fsdd_variants_list_runs_from_the_cli(capsys):
    from neurolearn.reproductions.fsdd_variants import VARIANTS

    capsys.readouterr()
    assert main(["reproduce", "fsdd_variants", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(VARIANTS)
    assert lines[0] == (
        "lif                    LIF (the v3 defaults) [hom_init_het_train, seeds 0, 1, 2]"
    )


def test_stdp_window_smoke_run_matches_the_analytic_rule(tmp_path, capsys):
    """Two models, five pairs and two frequencies on numpy: the simulated weight changes agree
    with the analytic window and the event-by-event reference to rounding."""
    out = tmp_path / "stdp"
    argv = ["--out", str(out), "--models", "stdp_additive", "stdp_triplet"]
    argv += ["--max-dt-ms", "20", "--step-ms", "10", "--freqs-hz", "5", "50"]
    assert main(["reproduce", "stdp_window", *argv]) == 0
    written = json.loads((out / "stdp_window.json").read_text())
    assert written["backend"] == "numpy"
    assert set(written["models"]) == {"stdp_additive", "stdp_triplet"}
    for model, r in written["models"].items():
        assert r["delta_t_ms"] == [-20.0, -10.0, 10.0, 20.0], model
        assert r["window_max_abs_error_over_w_max"] < 1e-9, model
        assert r["frequency_max_abs_error_over_w_max"] < 1e-9, model
        dw = r["dw_over_w_max"]
        assert dw[0] < 0 < dw[3] < dw[2], model  # depression before, potentiation after
    for ext in ("pdf", "svg", "png"):
        assert (out / f"stdp_window.{ext}").is_file()


def test_glif_population_fit_smoke_run(tmp_path, data_dir, capsys):
    """Two cells that have an Allen GLIF1 model, one generation of two candidates on numpy:
    the table, the comparison JSON and both figures are written."""
    out = tmp_path / "pop"
    argv = ["--out", str(out), "--limit", "2", "--maxiter", "1", "--popsize", "2"]
    argv += ["--backend", "numpy", "--glif1-cells-only"]
    assert main(["reproduce", "glif_population_fit", *argv]) == 0
    written = json.loads((out / "lif_vs_glif1.json").read_text())
    assert written["model"] == "lif" and written["n_cells"] == 2 and written["n_fitted"] == 2
    for q in ("R_mohm", "C_pf", "tau_ms", "threshold_mv"):
        assert abs(written[q]["pearson_r"]) == pytest.approx(1.0)  # two points on a line
    assert (out / "lif_population.csv").read_text().count("\n") == 3  # header and two cells
    for stem in ("lif_parameters_by_class", "lif_vs_glif1"):
        assert (out / f"{stem}.png").is_file()


@pytest.mark.slow
def test_grasshopper_fit_smoke_run(tmp_path, data_dir, capsys):
    """One generation of two candidates on numpy (about a minute on two cores): the fitted LIF
    predicts held-out spikes better than chance, which the two recorded trials give."""
    out = tmp_path / "grass"
    argv = ["--out", str(out), "--maxiter", "1", "--popsize", "2", "--backend", "numpy"]
    assert main(["reproduce", "grasshopper_fit", *argv]) == 0
    written = json.loads((out / "grasshopper_fit.json").read_text())
    chance = written["gamma_between_recorded_trials_different_stimuli"]
    assert abs(chance) < 0.1
    assert written["gamma_heldout_stimulus1_7_10s"] > chance + 0.3
    assert written["rate_hz"]["data_stimulus1"] == pytest.approx(92.9)


@pytest.mark.parametrize("module", ["song2000_stdp", "izhikevich2007_distal_reward"])
def test_generate_only_without_a_project_folder_is_refused(module):
    # a temporary project is removed when the backend is released: the returned path would
    # point nowhere; the CLI gives --out/<name>_project, the Python API must name a folder
    mod = importlib.import_module(f"neurolearn.reproductions.{module}")
    with pytest.raises(ValueError, match="generate_only=True needs directory="):
        mod.build_and_run("cpp_standalone", duration_s=0.1, generate_only=True)

"""Allen Cell Types Database (neurolearn.sources.allen) and ``neurolearn allen``, through
allensdk where it is installed and through the direct reader (no allensdk) everywhere.

Reference values are computed here independently from the snapshot's ``cells.json`` and
``ephys_features.csv`` with plain json/pandas/numpy.
"""

import json
import os
import socket
import urllib.error

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special

from neurolearn.analysis import allen as allen_stats
from neurolearn.cli import main
from neurolearn.paths import DataNotFoundError
from neurolearn.sources import allen

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def snapshot(data_dir):
    folder = data_dir / "allen" / "cell_types"
    if not all((folder / f).is_file() for f in allen.CELL_TYPES_FILES):
        if os.environ.get("NEUROLEARN_REQUIRE_DATA") == "1":
            pytest.fail(f"{folder} lacks {allen.CELL_TYPES_FILES}")
        pytest.skip(f"{folder} lacks {allen.CELL_TYPES_FILES}")
    return folder


@pytest.fixture(scope="module")
def reference(snapshot):
    """Independent tidy table: cells.json + ephys_features.csv joined with plain pandas."""
    cells = pd.DataFrame(json.loads((snapshot / "cells.json").read_text()))
    feats = pd.read_csv(snapshot / "ephys_features.csv")
    return cells.merge(feats, left_on="specimen__id", right_on="specimen_id")


@pytest.fixture(scope="module")
def cache(snapshot, tmp_path_factory):
    return tmp_path_factory.mktemp("allen_cache")


@pytest.fixture(scope="module")
def table(cache, snapshot, data_dir):
    mp = pytest.MonkeyPatch()
    mp.setenv("NEUROLEARN_DATA_DIR", str(data_dir))
    try:
        return allen.load_cells(cache, download=False)
    finally:
        mp.undo()


def test_snapshot_loads_through_allensdk_without_network(snapshot, data_dir, tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setenv("NEUROLEARN_DATA_DIR", str(data_dir))
    cache = tmp_path / "ctc"
    t = allen.load_cells(cache)  # download allowed: it must not be needed
    assert len(t) == 2333
    assert t["species"].value_counts().to_dict() == {"mouse": 1920, "human": 413}
    assert t["specimen_id"].is_unique
    # allensdk wrote its manifest next to the copies, not into the read-only data folder
    assert (cache / "manifest.json").is_file() and (cache / "cells.json").is_file()
    assert not (snapshot / "manifest.json").exists()


@pytest.mark.allensdk
def test_direct_reader_gives_allensdks_tables(snapshot, data_dir, tmp_path, monkeypatch):
    """Where allensdk is installed, the direct reader (no allensdk) and allensdk's
    CellTypesCache give identical tables for all 2333 cells: the raw rows of cells.json, the
    ephys features frame, and the tidy table of load_cells (values, dtypes, column order)."""
    pytest.importorskip("allensdk", reason="needs allensdk (Python <= 3.11)")
    from neurolearn.sources import allen_api

    monkeypatch.setenv("NEUROLEARN_DATA_DIR", str(data_dir))
    ctc = allen.cell_types_cache(tmp_path / "sdk", download=False)
    paths = allen.cell_types_files(tmp_path / "direct", download=False)
    assert allen_api.read_cells(paths["CELLS"]) == ctc.get_cells(simple=False)
    pd.testing.assert_frame_equal(
        allen_api.read_ephys_features(paths["EPHYS_FEATURES"]),
        pd.DataFrame(ctc.get_ephys_features()),
        check_exact=True,
    )
    sdk = allen.load_cells(tmp_path / "sdk", download=False, reader="allensdk")
    direct = allen.load_cells(tmp_path / "direct", download=False, reader="direct")
    assert len(sdk) == len(direct) == 2333
    pd.testing.assert_frame_equal(direct, sdk, check_exact=True)
    # both wrote the same manifest
    assert (tmp_path / "direct" / "manifest.json").read_bytes() == (
        tmp_path / "sdk" / "manifest.json"
    ).read_bytes()


def test_tidy_columns_carry_units(table, reference):
    for col in (
        "specimen_id",
        "species",
        "area",
        "layer",
        "dendrite_type",
        "transgenic_line",
        "reporter_status",
        "tau_ms",
        "ri_mohm",
        "vrest_mv",
        "rheobase_pa",
        "fi_slope_hz_per_pa",
        "threshold_v_mv",
        "latency_s",
        "peak_v_long_square_mv",
    ):
        assert col in table.columns, col
    row = table.set_index("specimen_id").loc[525011903]
    ref = reference.set_index("specimen_id").loc[525011903]
    assert (row["species"], row["area"], row["layer"], row["dendrite_type"]) == (
        "human",
        ref["structure_parent__acronym"],
        ref["structure__layer"],
        ref["tag__dendrite_type"],
    )
    assert row["tau_ms"] == ref["tau"] and row["rheobase_pa"] == ref["threshold_i_long_square"]
    assert row["fi_slope_hz_per_pa"] == ref["f_i_curve_slope"]
    assert row["threshold_v_mv"] == ref["threshold_v_long_square"]


SELECTIONS = [
    ({"species": "mouse"}, {"donor__species": ["Mus musculus"]}),
    (
        {"species": "human", "layer": "3"},
        {"donor__species": ["Homo Sapiens"], "structure__layer": ["3"]},
    ),
    (
        {"species": "mouse", "area": "VISp", "layer": "4", "dendrite": "spiny"},
        {
            "donor__species": ["Mus musculus"],
            "structure_parent__acronym": ["VISp"],
            "structure__layer": ["4"],
            "tag__dendrite_type": ["spiny"],
        },
    ),
    ({"line": "Pvalb-IRES-Cre"}, {"line_name": ["Pvalb-IRES-Cre"]}),
    (
        {"dendrite": ["aspiny", "sparsely spiny"], "reporter": "positive"},
        {"tag__dendrite_type": ["aspiny", "sparsely spiny"], "cell_reporter_status": ["positive"]},
    ),
]


@pytest.mark.parametrize("filters,raw", SELECTIONS)
def test_summary_equals_independent_pandas(table, reference, filters, raw):
    ref = reference
    for col, values in raw.items():
        ref = ref[ref[col].isin(values)]
    tau = ref["tau"].dropna().to_numpy(float)
    s = allen_stats.tau_summary(allen.select(table, **filters), n_boot=0)
    assert s["n"] == len(tau) > 20
    t = s["tau_ms"]
    assert t["mean"] == pytest.approx(tau.mean(), rel=1e-12)
    assert t["median"] == pytest.approx(np.median(tau), rel=1e-12)
    assert t["sd"] == pytest.approx(ref["tau"].std(), rel=1e-10)  # pandas: ddof=1
    assert (t["q25"], t["q75"]) == pytest.approx(tuple(ref["tau"].quantile([0.25, 0.75])))
    # ML fits: log-normal in closed form, gamma from its score equation
    logt = np.log(tau)
    assert s["lognorm"]["sigma"] == pytest.approx(logt.std(), rel=1e-6)
    assert s["lognorm"]["scale_ms"] == pytest.approx(np.exp(logt.mean()), rel=1e-6)
    target = np.log(tau.mean()) - logt.mean()
    k = optimize.brentq(lambda a: np.log(a) - special.digamma(a) - target, 1e-3, 1e4)
    assert s["gamma"]["shape"] == pytest.approx(k, rel=1e-4)
    assert s["gamma"]["scale_ms"] == pytest.approx(tau.mean() / k, rel=1e-4)


def test_bad_filters_list_valid_values(table):
    with pytest.raises(ValueError, match="unknown species 'martian'; valid values: human, mouse"):
        allen.select(table, species="martian")
    with pytest.raises(ValueError, match=r"unknown layer '7'.*2/3.*6a"):
        allen.select(table, layer=7)
    with pytest.raises(ValueError, match="unknown dendrite_type 'spiky'.*sparsely spiny"):
        allen.select(table, dendrite="spiky")
    with pytest.raises(ValueError, match="cannot filter by 'brain'.*tau_ms"):
        allen.select(table, brain="cortex")
    # case and the Latin species names are accepted
    assert len(allen.select(table, species="Homo Sapiens", area="mtg")) == 309
    assert len(allen.select(table, tau_ms=(None, 10.0))) == int((table["tau_ms"] <= 10).sum())


def test_empty_selection_is_an_error(table):
    with pytest.raises(
        ValueError,
        match=r"no cell matches species=human, "
        r"transgenic_line=Pvalb-IRES-Cre .*413 cells.*217 cells",
    ):
        allen.select(table, species="human", line="Pvalb-IRES-Cre")


def test_missing_cache_says_how_to_get_the_data(tmp_path, monkeypatch):
    monkeypatch.delenv("NEUROLEARN_DATA_DIR", raising=False)
    empty = tmp_path / "empty"
    with pytest.raises(DataNotFoundError, match="downloading is switched off") as info:
        allen.load_cells(empty, download=False)
    for hint in ("api.brain-map.org", "--cache", "NEUROLEARN_DATA_DIR"):
        assert hint in str(info.value)


@pytest.mark.allensdk
def test_allensdk_download_failure_says_how_to_get_the_data(tmp_path, monkeypatch):
    """Through allensdk, download allowed but the network fails: the same instructions,
    nothing half-written (the direct reader's downloader: tests/sources/test_allen_api.py)."""
    pytest.importorskip("allensdk", reason="needs allensdk (Python <= 3.11)")
    from allensdk.api.queries.cell_types_api import CellTypesApi

    monkeypatch.delenv("NEUROLEARN_DATA_DIR", raising=False)
    empty = tmp_path / "empty"

    def offline(*args, **kwargs):
        (empty / "cells.json").write_text("[{")  # a partial file, as a cut download
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(CellTypesApi, "list_cells_api", offline)
    with pytest.raises(DataNotFoundError, match="could not download.*URLError.*NEUROLEARN_DATA"):
        allen.load_cells(empty, reader="allensdk")
    assert not (empty / "cells.json").exists()


def test_patchseq_table(data_dir, require_data):
    path = require_data("allen", "patchseq_gouwens2020", "SpecimenMetadata.csv")
    t = allen.load_patchseq()
    raw = pd.read_csv(path)
    assert len(t) == len(raw) == 4284
    assert t["tau_ms"].median() == pytest.approx(raw["tau"].median())
    assert set(t["species"]) == {"mouse"}
    sst = allen.select(t, t_type_subclass="Sst interneuron", layer="5")
    assert len(sst) == int(
        ((raw["T type sub-class"] == "Sst interneuron") & (raw["Cortical layer"] == "5")).sum()
    )
    row = t.set_index("specimen_id").loc[888317699]
    assert row["transgenic_line"] == "Calb2-IRES-Cre|Sst-IRES-FlpO"


def test_cli_summary_patchseq(data_dir, require_data, monkeypatch, capsys):
    path = require_data("allen", "patchseq_gouwens2020", "SpecimenMetadata.csv")
    monkeypatch.setenv("NEUROLEARN_DATA_DIR", str(data_dir))
    assert (
        main(
            [
                "allen",
                "summary",
                "--patchseq",
                "--subclass",
                "Pvalb interneuron",
                "--layer",
                "4",
                "--json",
                "--boot",
                "0",
            ]
        )
        == 0
    )
    obj = json.loads(capsys.readouterr().out)
    raw = pd.read_csv(path)
    tau = raw.loc[
        (raw["T type sub-class"] == "Pvalb interneuron") & (raw["Cortical layer"] == "4"), "tau"
    ].dropna()
    assert obj["n"] == len(tau) and obj["tau_ms"]["median"] == pytest.approx(tau.median())


def test_cli_summary_json(cache, data_dir, monkeypatch, capsys):
    monkeypatch.setenv("NEUROLEARN_DATA_DIR", str(data_dir))
    assert (
        main(
            [
                "allen",
                "summary",
                "--species",
                "human",
                "--dendrite",
                "spiny",
                "--json",
                "--boot",
                "60",
                "--cache",
                str(cache),
                "--no-download",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    obj = json.loads(out)  # exactly one JSON object, nothing else
    ref = pd.read_csv(data_dir / "allen" / "cell_types" / "ephys_features.csv")
    cells = pd.DataFrame(json.loads((data_dir / "allen" / "cell_types" / "cells.json").read_text()))
    ids = cells.loc[
        (cells["donor__species"] == "Homo Sapiens") & (cells["tag__dendrite_type"] == "spiny"),
        "specimen__id",
    ]
    tau = ref.loc[ref["specimen_id"].isin(ids), "tau"]
    assert obj["n"] == len(tau) == 321
    assert obj["tau_ms"]["median"] == pytest.approx(tau.median())
    assert obj["tau_ms"]["mean"] == pytest.approx(tau.mean())
    assert obj["tau_ms"]["sd"] == pytest.approx(tau.std())
    lo, hi = obj["gamma"]["shape_ci"]
    assert lo < obj["gamma"]["shape"] < hi
    assert set(obj["lognorm"]) >= {"sigma", "scale_ms", "sigma_ci", "chi2_p", "ks_p"}


def test_cli_summary_text_and_errors(cache, data_dir, reference, monkeypatch, capsys):
    monkeypatch.setenv("NEUROLEARN_DATA_DIR", str(data_dir))
    assert (
        main(
            [
                "allen",
                "summary",
                "--species",
                "mouse",
                "--layer",
                "4",
                "--boot",
                "0",
                "--cache",
                str(cache),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    ref = reference[
        (reference["donor__species"] == "Mus musculus") & (reference["structure__layer"] == "4")
    ]["tau"]
    assert f"species=mouse, layer=4: n = {len(ref)} cells" in out
    assert f"median {ref.median():.2f}" in out and f"SD {ref.std():.2f}" in out
    assert "gamma fit" in out and "log-normal fit" in out and "(ms)" in out
    assert main(["allen", "summary", "--dendrite", "spiky", "--cache", str(cache)]) == 2
    assert "unknown dendrite_type 'spiky'" in capsys.readouterr().err
    assert (
        main(
            [
                "allen",
                "summary",
                "--species",
                "human",
                "--line",
                "Sst-IRES-Cre",
                "--cache",
                str(cache),
            ]
        )
        == 2
    )
    assert "no cell matches" in capsys.readouterr().err


def test_cli_compare_run(cache, data_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NEUROLEARN_DATA_DIR", str(data_dir))
    rng = np.random.default_rng(0)
    learned = rng.gamma(3.0, 6.0, 64)
    run = tmp_path / "run"
    run.mkdir()
    pd.DataFrame({"layer": "hidden", "neuron": np.arange(64), "tau_m_ms": learned}).to_csv(
        run / "parameters.csv", index=False
    )
    out = tmp_path / "cmp"
    assert (
        main(
            [
                "allen",
                "compare",
                str(run),
                "--species",
                "mouse",
                "--out",
                str(out),
                "--boot",
                "50",
                "--perm",
                "50",
                "--cache",
                str(cache),
            ]
        )
        == 0
    )
    table = pd.read_csv(out / "tau_comparison.csv")
    mouse = pd.read_csv(data_dir / "allen" / "cell_types" / "ephys_features.csv")
    cells = json.loads((data_dir / "allen" / "cell_types" / "cells.json").read_text())
    ids = {c["specimen__id"] for c in cells if c["donor__species"] == "Mus musculus"}
    tau = mouse.loc[mouse["specimen_id"].isin(ids), "tau"].to_numpy()
    from scipy import stats

    raw = table.set_index("scale").loc["raw"]
    assert raw["n_learned"] == 64 and raw["n_measured"] == 1920
    assert raw["ks_statistic"] == pytest.approx(stats.ks_2samp(learned, tau).statistic)
    assert raw["wasserstein"] == pytest.approx(stats.wasserstein_distance(learned, tau))
    for stem in ("tau_learned_vs_measured", "tau_qq"):
        for ext in ("pdf", "svg", "png"):
            assert (out / f"{stem}.{ext}").stat().st_size > 1000
    capsys.readouterr()
    # the contract's column is named in the error when missing
    pd.DataFrame({"layer": ["h"], "neuron": [0], "tau_syn_ms": [5.0]}).to_csv(
        run / "parameters.csv", index=False
    )
    assert main(["allen", "compare", str(run), "--out", str(out), "--cache", str(cache)]) == 2
    assert "missing column 'tau_m_ms'" in capsys.readouterr().err


def test_cli_figures(cache, data_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NEUROLEARN_DATA_DIR", str(data_dir))
    out = tmp_path / "figs"
    assert (
        main(
            [
                "allen",
                "figures",
                "--area",
                "VISp",
                "--out",
                str(out),
                "--boot",
                "0",
                "--cache",
                str(cache),
            ]
        )
        == 0
    )
    for stem in ("tau_histogram", "tau_qq_fit", "tau_species_dendrite"):
        for ext in ("pdf", "svg", "png"):
            assert (out / f"{stem}.{ext}").is_file()
    summary = json.loads((out / "tau_summary.json").read_text())
    assert summary["groups"]["mouse (area=VISp)"]["n"] == 1585

"""The Allen Cell Types Database without allensdk (neurolearn.sources.allen_api): the cache
layout (manifest, cells.json, ephys_features.csv) and the downloader of allensdk's RMA queries.

Downloads are tested against a local HTTP server that answers the two queries with RMA
envelopes built from the snapshot's rows (``NEUROLEARN_DATA_DIR/allen/cell_types``); where
allensdk is installed, allensdk downloads from the same server and writes the same bytes.
"""

import json
import math
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest

from neurolearn.paths import DataNotFoundError
from neurolearn.sources import allen, allen_api


def _plain(value):
    """A value of a pandas row as the API's JSON has it (None for NaN, Python scalars)."""
    if isinstance(value, np.generic):
        value = value.item()
    return None if isinstance(value, float) and math.isnan(value) else value


@pytest.fixture(scope="module")
def api_rows(data_dir):
    folder = data_dir / "allen" / "cell_types"
    cells = json.loads((folder / "cells.json").read_text())
    features = pd.read_csv(folder / "ephys_features.csv")
    rows = [{k: _plain(v) for k, v in r.items()} for r in features.to_dict("records")]
    return {"ApiCellTypesSpecimenDetail": cells, "EphysFeature": rows}


@pytest.fixture
def server(api_rows):
    """A local Allen API: ``/api/v2/data/query.json?q=model::<Model>,...`` answers with every
    row of the model (or, with ``server.truncate``, an incomplete page). ``server.requests``
    lists the request paths as received (still quoted)."""
    state = {"requests": [], "truncate": False}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state["requests"].append(self.path)
            if not self.path.startswith("/api/v2/data/query.json?q="):
                self.send_error(404)
                return
            query = urllib.parse.unquote(self.path.partition("?q=")[2])
            model = query.partition(",")[0].removeprefix("model::")
            rows = api_rows.get(model)
            if rows is None:
                self.send_error(404)
                return
            total = len(rows)
            if state["truncate"]:
                rows = rows[:50]
            body = json.dumps(
                {
                    "success": True,
                    "id": 0,
                    "start_row": 0,
                    "num_rows": len(rows),
                    "total_rows": total,
                    "msg": rows,
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()

    class Server:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        requests = state["requests"]

        @staticmethod
        def set_truncate(value):
            state["truncate"] = value

    yield Server
    httpd.shutdown()
    httpd.server_close()


def test_query_urls_are_allensdks():
    assert allen_api.query_url(allen_api.CELLS_QUERY, "http://api.brain-map.org") == (
        "http://api.brain-map.org/api/v2/data/query.json?q=model::ApiCellTypesSpecimenDetail,"
        "rma::options%5Bnum_rows$eq%27all%27%5D"
    )
    assert allen_api.query_url(allen_api.EPHYS_FEATURES_QUERY) == (
        "https://api.brain-map.org/api/v2/data/query.json?q=model::EphysFeature,rma::criteria,"
        "specimen%28ephys_result%5Bfailed$eqfalse%5D%29,rma::options%5Bnum_rows$eq%27all%27%5D"
    )


@pytest.mark.allensdk
def test_query_urls_equal_allensdks_own():
    """allensdk builds and quotes the same URLs (CellTypesApi.list_cells_api and
    get_ephys_features through RmaApi.model_query and Api.retrieve_parsed_json_over_http)."""
    pytest.importorskip("allensdk", reason="needs allensdk (Python <= 3.11)")
    import requests
    from allensdk.api.queries.cell_types_api import CellTypesApi

    api = CellTypesApi()
    for query, stage in (
        (allen_api.CELLS_QUERY, api.model_stage("ApiCellTypesSpecimenDetail", num_rows="all")),
        (
            allen_api.EPHYS_FEATURES_QUERY,
            api.model_stage(
                "EphysFeature",
                criteria="specimen(ephys_result[failed$eqfalse])",
                num_rows="all",
            ),
        ),
    ):
        theirs = requests.utils.quote(api.build_query_url(stage), ";/?:@&=+$,")
        assert allen_api.query_url(query, "http://api.brain-map.org") == theirs


def test_manifest_is_allensdks_and_locates_the_files(tmp_path):
    path = allen_api.write_manifest(tmp_path)
    entries = json.loads(path.read_text())["manifest"]
    assert entries[0] == {"type": "manifest_version", "value": "1.1"}
    assert entries[1] == {"key": "BASEDIR", "type": "dir", "spec": "."}
    assert [e["key"] for e in entries[2:]] == [
        "CELLS",
        "EPHYS_DATA",
        "EPHYS_FEATURES",
        "MORPHOLOGY_FEATURES",
        "RECONSTRUCTION",
        "MARKER",
        "EPHYS_SWEEPS",
    ]
    paths = allen_api.cache_paths(tmp_path)
    assert paths["CELLS"] == tmp_path / "." / "cells.json"
    assert paths["EPHYS_DATA"] == tmp_path / "." / "specimen_%d/ephys.nwb"
    # a manifest whose BASEDIR is elsewhere is followed, as allensdk's Manifest does
    other = json.loads(path.read_text())
    other["manifest"][1]["spec"] = "data"
    path.write_text(json.dumps(other))
    assert allen_api.cache_paths(tmp_path)["EPHYS_FEATURES"] == (
        tmp_path / "data" / "ephys_features.csv"
    )
    other["manifest"][0]["value"] = "1.0"
    path.write_text(json.dumps(other))
    with pytest.raises(ValueError, match=r"manifest.json: manifest version '1.0'.*'1.1'"):
        allen_api.cache_paths(tmp_path)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="manifest.json: not an allensdk manifest"):
        allen_api.cache_paths(tmp_path)


@pytest.mark.allensdk
def test_manifest_equals_the_one_allensdk_writes(tmp_path):
    pytest.importorskip("allensdk", reason="needs allensdk (Python <= 3.11)")
    from allensdk.core.cell_types_cache import CellTypesCache

    CellTypesCache(manifest_file=str(tmp_path / "sdk" / "manifest.json"))
    ours = allen_api.write_manifest(tmp_path / "ours")
    assert ours.read_bytes() == (tmp_path / "sdk" / "manifest.json").read_bytes()


@pytest.mark.data
def test_download_writes_a_cache_both_readers_load(server, data_dir, tmp_path, monkeypatch):
    """The downloader asks the server the two queries allensdk asks, writes cells.json,
    ephys_features.csv and the manifest, and load_cells reads the folder into the table of the
    snapshot (all 2333 cells)."""
    monkeypatch.delenv("NEUROLEARN_DATA_DIR", raising=False)
    folder = tmp_path / "dl"
    paths = allen.cell_types_files(folder, api=server.url)
    assert sorted(urllib.parse.unquote(r.partition("?q=")[2]) for r in server.requests) == sorted(
        [allen_api.CELLS_QUERY, allen_api.EPHYS_FEATURES_QUERY]
    )
    assert all(r.startswith("/api/v2/data/query.json?q=model::") for r in server.requests)
    assert paths["CELLS"].is_file() and paths["EPHYS_FEATURES"].is_file()
    assert sorted(p.name for p in folder.iterdir()) == [
        "cells.json",
        "ephys_features.csv",
        "manifest.json",
    ]
    assert paths["EPHYS_FEATURES"].read_bytes().startswith(b'"adaptation","avg_isi",')
    assert b'"\r\n"' in paths["EPHYS_FEATURES"].read_bytes()  # allensdk's CRLF, every field quoted
    got = allen.load_cells(folder, download=False, reader="direct")
    monkeypatch.setenv("NEUROLEARN_DATA_DIR", str(data_dir))
    ref = allen.load_cells(tmp_path / "ref", download=False, reader="direct")
    assert len(got) == 2333
    pd.testing.assert_frame_equal(got, ref, check_exact=False, rtol=1e-15)
    # nothing is asked again once the files are there
    n = len(server.requests)
    allen.cell_types_files(folder, api=server.url)
    assert len(server.requests) == n


@pytest.mark.data
@pytest.mark.allensdk
def test_download_writes_the_bytes_allensdk_writes(server, tmp_path):
    """allensdk's CellTypesCache, pointed at the same server, writes the same two files."""
    pytest.importorskip("allensdk", reason="needs allensdk (Python <= 3.11)")
    from allensdk.core.cell_types_cache import CellTypesCache

    ctc = CellTypesCache(manifest_file=str(tmp_path / "sdk" / "manifest.json"), base_uri=server.url)
    ctc.get_cells()
    ctc.get_ephys_features()
    allen_api.download_cell_types(tmp_path / "ours", api=server.url)
    for name in ("cells.json", "ephys_features.csv", "manifest.json"):
        assert (tmp_path / "ours" / name).read_bytes() == (tmp_path / "sdk" / name).read_bytes()


@pytest.mark.data
def test_incomplete_or_failed_download_is_a_clear_error(server, tmp_path, monkeypatch):
    monkeypatch.delenv("NEUROLEARN_DATA_DIR", raising=False)
    server.set_truncate(True)
    with pytest.raises(DataNotFoundError, match=r"incomplete answer: rows 0\.\.50 of 2333"):
        allen.cell_types_files(tmp_path / "a", api=server.url)
    assert not (tmp_path / "a" / "cells.json").exists()
    server.set_truncate(False)
    with pytest.raises(allen_api.AllenDownloadError, match=r"\(HTTPError: 404 .*\)$") as info:
        allen_api.download_cell_types(tmp_path / "b", api=server.url + "/nothing/here")
    assert "offline" not in str(info.value)  # an HTTP error is not a missing network


def test_offline_says_how_to_get_the_data(tmp_path, monkeypatch):
    """A server that cannot be reached (nothing listens on the port): the error says that
    the download failed, suggests being offline, and gives the three ways to get the data;
    nothing is left behind."""
    import socket

    monkeypatch.delenv("NEUROLEARN_DATA_DIR", raising=False)
    with socket.socket() as s:  # a free port, closed again: connections are refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tmp_path / "off"
    with pytest.raises(DataNotFoundError) as info:
        allen.cell_types_files(folder, api=f"http://127.0.0.1:{port}")
    message = str(info.value)
    assert "cells.json, ephys_features.csv not in the Allen cache folder" in message
    assert "could not be downloaded" in message and "ConnectionError" in message
    assert "offline" in message
    for hint in ("api.brain-map.org", "--cache", "NEUROLEARN_DATA_DIR"):
        assert hint in message
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json"]


def test_readers_refuse_other_files(tmp_path):
    (tmp_path / "cells.json").write_text('{"a": 1}')
    with pytest.raises(ValueError, match=r"cells.json: expected a list of cells, got dict"):
        allen_api.read_cells(tmp_path / "cells.json")
    (tmp_path / "cells.json").write_text("[{")
    with pytest.raises(ValueError, match=r"cells.json: not JSON"):
        allen_api.read_cells(tmp_path / "cells.json")
    (tmp_path / "cells.json").write_text("")
    assert allen_api.read_cells(tmp_path / "cells.json") == []  # as allensdk: an empty table
    with pytest.raises(ValueError, match="no ephys feature rows"):
        allen_api.write_ephys_features(tmp_path / "f.csv", [])
    with pytest.raises(ValueError, match="reader must be one of auto, allensdk, direct"):
        allen.load_cells(tmp_path, reader="sdk")


def _write_nwb(path, sweeps=(3, 4), rate=20000.0, n_pulse=100, n=400, experiment=(3,)):
    """An Allen ephys.nwb (NWB 1) layout: pipeline version 1.1 in general/generated_by (as
    bytes, as the Allen files hold it), data with a ``conversion`` of 1e-3 that allensdk
    does not apply under h5py 3; experiment epochs after a test pulse for ``experiment``."""
    import h5py

    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f["general/generated_by"] = np.array([b"version", b"1.1", b"program", b"ivscc"])
        for number in sweeps:
            v = -0.07 + 0.001 * rng.standard_normal(n_pulse + n)
            i = np.where(np.arange(n_pulse + n) >= n_pulse, 1e-10 * number, 0.0)
            g = f.create_group(f"epochs/Sweep_{number}")
            for kind, data, unit in (
                ("stimulus", i, np.bytes_(b"Amps")),
                ("response", v, np.bytes_(b"Volts")),
            ):
                g[f"{kind}/idx_start"] = 0
                g[f"{kind}/count"] = n_pulse + n
                g[f"{kind}/timeseries/data"] = data
                g[f"{kind}/timeseries/data"].attrs["conversion"] = 1e-3
                g[f"{kind}/timeseries/data"].attrs["unit"] = unit
                g[f"{kind}/timeseries/starting_time"] = 0.0
                g[f"{kind}/timeseries/starting_time"].attrs["rate"] = rate
            if number in experiment:
                for kind in ("stimulus", "response"):
                    f[f"epochs/Experiment_{number}/{kind}/idx_start"] = n_pulse
                    f[f"epochs/Experiment_{number}/{kind}/count"] = n - 10
    return path


def test_nwb_sweep_reads_the_allen_layout(tmp_path):
    import h5py

    path = _write_nwb(tmp_path / "ephys.nwb")
    sweep = allen_api.read_nwb_sweep(path, 3)
    with h5py.File(path, "r") as f:
        stored = f["epochs/Sweep_3/response/timeseries/data"][()]
    assert np.array_equal(sweep["response"], stored)  # no conversion, as allensdk under h5py 3
    assert sweep["stimulus"][100] == 3e-10 and sweep["stimulus"][99] == 0.0
    assert sweep["index_range"] == (100, 489) and sweep["sampling_rate"] == 20000.0
    assert allen_api.read_nwb_sweep(path, 4)["index_range"] == (0, 499)  # no experiment epoch
    with pytest.raises(ValueError, match=r"ephys.nwb: sweep 7: no epochs/Sweep_7"):
        allen_api.read_nwb_sweep(path, 7)
    (tmp_path / "bad.nwb").write_text("not hdf5")
    with pytest.raises(ValueError, match=r"bad.nwb: not an HDF5/NWB file"):
        allen_api.read_nwb_sweep(tmp_path / "bad.nwb", 3)
    with pytest.raises(FileNotFoundError, match="NWB file not found"):
        allen_api.read_nwb_sweep(tmp_path / "none.nwb", 3)


@pytest.mark.allensdk
def test_nwb_sweep_equals_allensdks(tmp_path):
    """allensdk's NwbDataSet.get_sweep returns the same arrays, index range and rate."""
    pytest.importorskip("allensdk", reason="needs allensdk (Python <= 3.11)")
    from allensdk.core.nwb_data_set import NwbDataSet

    path = _write_nwb(tmp_path / "ephys.nwb")
    for number in (3, 4):
        ours, theirs = (
            allen_api.read_nwb_sweep(path, number),
            NwbDataSet(str(path)).get_sweep(number),
        )
        for key in ("stimulus", "response"):
            assert np.array_equal(ours[key], theirs[key]), key
        assert ours["index_range"] == tuple(int(x) for x in theirs["index_range"])
        assert ours["sampling_rate"] == theirs["sampling_rate"]

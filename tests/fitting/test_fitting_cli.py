"""``neurolearn fit`` and ``neurolearn glif check`` end to end."""

import json

import numpy as np
import pytest

from neurolearn.cli import main


@pytest.mark.allensdk
def test_glif_check_json(data_dir, capsys):
    from neurolearn.sources.glif import find_glif_configs

    path = find_glif_configs(data_dir / "allen" / "glif_teeter2018", 3, limit=1)[0]
    rc = main(["glif", "check", str(path), "--json", "--duration", "0.15"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["passed"] and out["level"] == 3
    assert {r["stimulus"] for r in out["results"]} == {"long_square", "noise"}
    assert all(r["v_rms_mV"] < 1e-6 for r in out["results"])


def test_glif_check_bad_config(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"El_reference": -0.07}))
    assert main(["glif", "check", str(bad)]) == 2
    assert "missing field" in capsys.readouterr().err


def _trace_file(tmp_path):
    from brian2 import ms

    from neurolearn import load_model
    from neurolearn.fitting import simulate_batch

    i = np.zeros(300)
    i[50:250] = 0.12e-9
    out = simulate_batch(
        load_model("lif"), {"tau_m": [12.0] * ms}, i, 0.1 * ms, n_sets=1, record_v=True
    )
    f = tmp_path / "trace.npz"
    np.savez(f, v=out.v[0, 0], i=i, dt_s=1e-4)
    return f


def test_fit_cli_trace(tmp_path, capsys):
    f = _trace_file(tmp_path)
    cfg = tmp_path / "fit.toml"
    cfg.write_text(f"""
model = "lif"
[target]
kind = "trace"
file = "{f.name}"
[optimizer]
name = "differential_evolution"
popsize = 5
maxiter = 4
atol = 0.01
[bounds]
tau_m = ["5 ms", "30 ms"]
""")
    rc = main(["fit", str(cfg), "--out", str(tmp_path / "out"), "--no-progress"])
    assert rc in (0, 3)
    res = json.loads((tmp_path / "out" / "fit.json").read_text())
    assert res["params_si"]["tau_m"] == pytest.approx(0.012, rel=0.05)
    for ext in ("pdf", "svg", "png"):
        assert (tmp_path / "out" / f"fit.{ext}").is_file()


def test_fit_cli_bad_config(tmp_path, capsys):
    cfg = tmp_path / "fit.toml"
    cfg.write_text('model = "lif"\nwhatever = 1\n[target]\nkind = "trace"\n[bounds]\n')
    assert main(["fit", str(cfg), "--out", str(tmp_path / "o")]) == 2
    assert "unknown key 'whatever'" in capsys.readouterr().err
    cfg.write_text(
        'model = "lif"\n[target]\nkind = "fi_curve"\nfile = "nope.json"\n'
        '[bounds]\ntau_m = ["5 ms", "30 ms"]\n'
    )
    assert main(["fit", str(cfg), "--out", str(tmp_path / "o")]) == 2
    assert "not found" in capsys.readouterr().err

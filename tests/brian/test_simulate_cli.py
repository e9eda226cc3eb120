"""``neurolearn simulate``: output, files, and every bad input with its message."""

import json
import math

import pytest

from neurolearn.brian import load_results
from neurolearn.cli import main


def run_cli(capsys, *argv):
    code = main(["simulate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_simulate_json_matches_lif_theory(capsys, tmp_path):
    out_dir = tmp_path / "run1"
    code, out, err = run_cli(
        capsys,
        "lif",
        "--n",
        "2",
        "--duration",
        "0.5s",
        "--current",
        "0.4nA",
        "--dt",
        "0.05ms",
        "--param",
        "t_ref=3ms",
        "--out",
        str(out_dir),
        "--json",
    )
    assert code == 0, err
    summary = json.loads(out)
    # analytic LIF rate with t_ref = 3 ms: 1/(3 ms + 20 ms * ln 2)
    rate = 1 / (3e-3 + 20e-3 * math.log(2))
    assert summary["rate_hz"] == pytest.approx(rate, abs=1 / 0.5 + 0.01 * rate)
    assert summary["n_spikes"] == pytest.approx(2 * 0.5 * rate, abs=2)
    assert summary["backend"] == "numpy" and summary["n_neurons"] == 2
    assert summary["cv_isi"] < 0.01  # constant current: regular
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "raster.pdf",
        "raster.png",
        "raster.svg",
        "results.h5",
        "summary.json",
    ]
    res = load_results(out_dir / "results.h5")
    assert res.spikes["neurons"].count == summary["n_spikes"]
    assert res.network["populations"]["neurons"]["params"]["t_ref"] == "3ms"
    assert json.loads((out_dir / "summary.json").read_text())["n_spikes"] == summary["n_spikes"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    # the figure's title names the model, its drive and the --param values
    svg = (out_dir / "raster.svg").read_text()
    assert "current 0.4nA" in svg and "t_ref = 3ms" in svg


def test_simulate_poisson_and_text_summary(capsys):
    code, out, err = run_cli(
        capsys,
        "lif_cond",
        "--n",
        "4",
        "--duration",
        "300 ms",
        "--rate",
        "20Hz",
        "--n-inputs",
        "50",
        "--weight",
        "1nS",
        "--seed",
        "3",
    )
    assert code == 0, err
    assert "spikes" in out and "rate" in out and "CV of ISIs" in out
    code2, out2, _ = run_cli(
        capsys,
        "lif_cond",
        "--n",
        "4",
        "--duration",
        "300 ms",
        "--rate",
        "20Hz",
        "--n-inputs",
        "50",
        "--weight",
        "1nS",
        "--seed",
        "3",
    )
    assert out2 == out  # same seed, same spikes


def test_simulate_izhikevich_preset_bursts(capsys):
    code, out, err = run_cli(
        capsys,
        "izhikevich",
        "--preset",
        "ch",
        "--n",
        "1",
        "--current",
        "10 mV/ms",
        "--duration",
        "300ms",
        "--json",
    )
    assert code == 0, err
    s = json.loads(out)
    assert s["cv_isi"] > 1.0  # bursts: very irregular ISIs
    assert s["preset"] == "ch"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["nosuchmodel"], "unknown model 'nosuchmodel'; the zoo has:"),
        (["static_current"], "'static_current' is a synapse model; simulate needs a neuron model"),
        (
            ["lif", "--backend", "gpu"],
            "unknown backend 'gpu'; choose one of: numpy, cython, cpp_standalone, cuda_standalone",
        ),
        (["lif", "--param", "tau_m"], "--param expects NAME=VALUE"),
        (["lif", "--param", "tau_x=3ms"], "unknown parameter 'tau_x'"),
        (
            ["lif", "--param", "tau_m=0ms"],
            "parameter 'tau_m' of model 'lif': a time constant must be > 0",
        ),
        (
            ["lif", "--param", "tau_m=3mV"],
            "parameter 'tau_m' of model 'lif': expected a value in units of second",
        ),
        (["lif", "--param", "v_th=500mV"], "is above the valid range"),
        (["lif", "--current", "0.5 mV"], "current: model 'lif' needs I_ext in units of amp"),
        (["lif", "--current", "abc"], "current: cannot read 'abc' as a quantity"),
        (["lif", "--rate=-3Hz"], "rate must be a non-negative frequency"),
        (
            ["lif", "--rate", "20Hz", "--weight", "1 nS"],
            "weight: 'I_syn' of model 'lif' is in units of amp",
        ),
        (["lif", "--duration=-1s"], "duration must be a positive time"),
        (["lif", "--duration", "5 mV"], "duration must be a positive time"),
        (["lif", "--dt", "0ms"], "dt must be a positive time"),
        (["lif", "--n", "0"], "n must be a positive integer"),
        (["izhikevich", "--preset", "xx"], "unknown preset 'xx'; available: ch, fs, ib, rs"),
        (["lif", "--record", "-1"], "--record must be >= 0"),
        (["lif", "--n", "2", "--record", "3"], "--record 3 is more than the 2 simulated neurons"),
        (
            ["lif", "--current", "1nA", "--weight", "1nA"],
            "--weight is the weight of the Poisson synapses and needs --rate",
        ),
    ],
)
def test_bad_input_exits_nonzero_with_message_and_writes_nothing(capsys, tmp_path, argv, message):
    out_dir = tmp_path / "out"
    code, out, err = run_cli(capsys, *argv, "--out", str(out_dir))
    assert code == 2
    assert message in err
    assert out == ""
    assert list(tmp_path.iterdir()) == []  # no folder, no temporary


def test_argparse_errors_exit_nonzero(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "lif", "--current", "1nA", "--rate", "20Hz"])
    assert exc.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["simulate", "lif", "--n", "ten"])
    assert "invalid int value: 'ten'" in capsys.readouterr().err


def test_failed_run_keeps_existing_output_folder_untouched(capsys, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "mine.txt").write_text("keep")
    code, _, err = run_cli(capsys, "lif", "--param", "tau_m=-1ms", "--out", str(out_dir))
    assert code == 2 and "time constant must be > 0" in err
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert [p.name for p in out_dir.iterdir()] == ["mine.txt"]


def test_cuda_backend_without_gpu_says_so_before_compiling(capsys, tmp_path, monkeypatch):
    cuda = pytest.importorskip("neurolearn.brian.cuda")
    pytest.importorskip("brian2cuda")
    monkeypatch.setattr(cuda, "gpu_available", lambda: False)
    code, out, err = run_cli(
        capsys, "lif", "--backend", "cuda_standalone", "--out", str(tmp_path / "out")
    )
    assert code == 2
    assert "no NVIDIA GPU" in err and "cpp_standalone" in err
    assert list(tmp_path.iterdir()) == []

"""Training pipeline: configuration validation, determinism, checkpoints and resumption.

The loop is generic over any torch module mapping ``[time, batch, channels]`` to a readout
``[time, batch, classes]``; these tests use a tiny leaky-integrator network on a synthetic
temporal task so that they run in seconds.
"""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs torch: pip install 'neurolearn[torch]'")
pytestmark = pytest.mark.torch

from neurolearn.training import (
    ConfigError,
    load_config,
    read_metrics,
    write_parameters_csv,
)

ROOT = Path(__file__).resolve().parents[2]

TINY_SOURCE = '''
import numpy as np
import torch


class TinyLeaky(torch.nn.Module):
    """Linear input -> leaky integrator with a per-unit trainable decay -> linear readout."""

    def __init__(self, n_in=6, n_hidden=12, n_out=3):
        super().__init__()
        self.w_in = torch.nn.Linear(n_in, n_hidden)
        self.w_out = torch.nn.Linear(n_hidden, n_out)
        self.log_tau = torch.nn.Parameter(torch.full((n_hidden,), 1.5))

    def forward(self, x):
        alpha = torch.exp(-1.0 / torch.exp(self.log_tau))
        h = torch.zeros(x.shape[1], self.w_in.out_features, dtype=x.dtype)
        out = []
        for t in range(x.shape[0]):
            h = alpha * h + torch.tanh(self.w_in(x[t]))
            out.append(self.w_out(h))
        return torch.stack(out)


class TemporalSet(torch.utils.data.Dataset):
    """Class c: channel 2c fires before channel 2c+1 (time order matters), plus noise."""

    def __init__(self, n, seed, steps=12, channels=6):
        rng = np.random.default_rng(seed)
        self.labels = rng.integers(0, 3, n)
        self.x = (rng.random((n, steps, channels)) < 0.01).astype(np.float32)
        for i, c in enumerate(self.labels):
            t0 = rng.integers(0, steps // 2)
            self.x[i, t0, 2 * c] = 1
            self.x[i, t0 + steps // 3, 2 * c + 1] = 1

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return torch.from_numpy(self.x[i]), int(self.labels[i])


def run(out, epochs=3, resume=False, after_batch=None, seed=0, progress=False):
    torch.manual_seed(seed)
    model = TinyLeaky()
    return __import__("neurolearn.training", fromlist=["train_network"]).train_network(
        model, TemporalSet(96, 1), TemporalSet(24, 2), out, epochs=epochs, batch_size=16,
        seed=seed, lr_weights=5e-2, lr_tau=5e-2, tau_parameters=[model.log_tau],
        schedule="cosine", resume=resume, progress=progress, after_batch=after_batch,
        epoch_stats=lambda m: {"tau_mean": float(torch.exp(m.log_tau).mean())})
'''

ns: dict = {}
exec(TINY_SOURCE, ns)
run = ns["run"]


def _write(tmp_path, text, name="cfg.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# --- configuration --------------------------------------------------------------------------
def test_config_defaults_and_roundtrip(tmp_path):
    path = _write(
        tmp_path,
        """
        [data]
        dataset = "fsdd"
        dt_ms = 5
        [training]
        epochs = 3
    """,
    )
    cfg = load_config(path)
    assert cfg["data"]["dt_ms"] == 5.0 and isinstance(cfg["data"]["dt_ms"], float)
    assert cfg["training"]["epochs"] == 3
    assert cfg["network"]["model"] == "lif" and cfg["network"]["hidden"] == [128]
    again = load_config(_write(tmp_path, cfg.to_toml(), "copy.toml"))
    assert again.sections == cfg.sections


@pytest.mark.parametrize(
    "text, needles",
    [
        (
            "[data]\ndataset='fsdd'\n[training]\nepoch = 3\n",
            ["[training] epoch", "unknown key", "epochs"],
        ),
        ("[data]\ndataset='fsdd'\n[optimiser]\nlr_tau = 1\n", ["unknown section [optimiser]"]),
        ("[data]\ndataset='mnist'\n", ["[data] dataset", "'mnist'", "fsdd"]),
        ("[training]\nepochs=2\n", ["[data] dataset", "missing required key"]),
        (
            "[data]\ndataset='fsdd'\n[optimizer]\nlr_tau = -0.1\n",
            ["[optimizer] lr_tau", "> 0", "-0.1"],
        ),
        (
            "[data]\ndataset='fsdd'\n[training]\nbatch_size = 'big'\n",
            ["[training] batch_size", "integer"],
        ),
        ("[data]\ndataset='fsdd'\n[network]\nhidden = [128, 0]\n", ["[network] hidden", ">= 1"]),
        (
            "[data]\ndataset='fsdd'\n[network]\nmodel = 'no_such_model'\n",
            ["[network] model", "no_such_model"],
        ),
        (
            "[data]\ndataset='fsdd'\n[network]\nparameters = {tau_m = '3 mV'}\n",
            ["[network] parameters", "tau_m"],
        ),
        (
            "[data]\ndataset='fsdd'\n[heterogeneity]\nparameters = ['t_ref']\n",
            ["[heterogeneity] parameters", "t_ref", "per-neuron"],
        ),
        (
            "[data]\ndataset='fsdd'\n[heterogeneity]\nconfiguration = 'hetero'\n",
            ["[heterogeneity] configuration", "het_init_het_train"],
        ),
        ("[data]\ndataset = \n", ["not valid TOML"]),
    ],
)
def test_config_errors_name_file_and_key(tmp_path, text, needles):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    for needle in needles:
        assert needle in message


def test_cli_train_reports_bad_config(tmp_path, capsys):
    from neurolearn.cli import main

    path = _write(tmp_path, "[data]\ndataset='fsdd'\n[training]\nepochs = 0\n")
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "[training] epochs" in err and str(path) in err
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_cli_train_refuses_existing_run(tmp_path, capsys):
    from neurolearn.cli import main
    from neurolearn.training import load_config

    path = _write(tmp_path, "[data]\ndataset='fsdd'\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text(load_config(path).to_toml())
    assert main(["train", str(path), "--out", str(run)]) == 2
    assert "--resume" in capsys.readouterr().err


# --- the loop -------------------------------------------------------------------------------
def test_fit_learns_and_is_deterministic(tmp_path):
    a = run(tmp_path / "a", epochs=4)
    b = run(tmp_path / "b", epochs=4, progress=True)  # progress bars change nothing
    assert read_metrics(tmp_path / "a" / "metrics.csv") == read_metrics(
        tmp_path / "b" / "metrics.csv"
    )
    assert [r["train_loss"] for r in a.metrics] == [r["train_loss"] for r in b.metrics]
    # it learns: the loss falls and validation beats chance (1/3) clearly
    assert a.metrics[-1]["train_loss"] < a.metrics[0]["train_loss"]
    assert a.metrics[-1]["val_accuracy"] > 0.6
    c = run(tmp_path / "c", epochs=1, seed=1)
    assert c.metrics[0]["train_loss"] != a.metrics[0]["train_loss"]
    # separate learning rates: the tau group has its own (cosine-annealed) rate
    assert a.metrics[0]["lr_tau"] == pytest.approx(5e-2)
    assert a.metrics[-1]["lr_weights"] == pytest.approx(5e-2 * 0.05)


def test_resume_after_exception_reproduces_metrics(tmp_path):
    full = run(tmp_path / "full", epochs=3)

    class Stop(Exception):
        pass

    def interrupt(epoch, batch):
        if epoch == 1 and batch == 2:
            raise Stop

    with pytest.raises(Stop):
        run(tmp_path / "cut", epochs=3, after_batch=interrupt)
    assert len(read_metrics(tmp_path / "cut" / "metrics.csv")) == 1  # epoch 2 lost, not 1
    with pytest.raises(FileExistsError, match="--resume"):
        run(tmp_path / "cut", epochs=3)
    resumed = run(tmp_path / "cut", epochs=3, resume=True)
    assert resumed.resumed_from == 1
    assert read_metrics(tmp_path / "cut" / "metrics.csv") == read_metrics(
        tmp_path / "full" / "metrics.csv"
    )
    for p, q in zip(resumed.model.state_dict().values(), full.model.state_dict().values()):
        assert torch.equal(p, q)


def test_resume_after_sigkill(tmp_path):
    """A process killed with SIGKILL in the middle of epoch 2 leaves a readable checkpoint of
    epoch 1; resuming gives exactly the uninterrupted run's metrics."""
    script = tmp_path / "job.py"
    script.write_text(
        TINY_SOURCE
        + textwrap.dedent("""
        import os, signal, sys
        def die(epoch, batch):
            if epoch == 1 and batch == 3:
                os.kill(os.getpid(), signal.SIGKILL)
        run(sys.argv[1], epochs=3, after_batch=die)
    """)
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "killed")],
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL
    leftovers = [p.name for p in (tmp_path / "killed").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    assert len(read_metrics(tmp_path / "killed" / "metrics.csv")) == 1
    run(tmp_path / "killed", epochs=3, resume=True)
    run(tmp_path / "straight", epochs=3)
    assert read_metrics(tmp_path / "killed" / "metrics.csv") == read_metrics(
        tmp_path / "straight" / "metrics.csv"
    )


def test_resume_with_other_settings_is_refused(tmp_path):
    run(tmp_path / "r", epochs=1)
    with pytest.raises(ValueError, match="other settings"):
        run(tmp_path / "r", epochs=2, resume=True, seed=3)


def test_parameters_csv_units(tmp_path):
    import pandas as pd
    from brian2 import ms, mV

    path = write_parameters_csv(
        tmp_path / "p.csv",
        [
            ("hidden0", {"tau_m": np.array([10.0, 20.0, 30.0]) * ms, "v_th": -50 * mV}),
            ("readout", {"tau_m": np.array([20.0, 20.0]) * ms}),
        ],
    )
    table = pd.read_csv(path)
    assert list(table.columns) == ["layer", "neuron", "tau_m_ms", "v_th_mV"]
    assert table["tau_m_ms"].tolist() == [10.0, 20.0, 30.0, 20.0, 20.0]
    assert table["v_th_mV"].iloc[:3].tolist() == [-50.0] * 3
    assert table["neuron"].tolist() == [0, 1, 2, 0, 1]


def test_cli_train_reports_non_finite_values(tmp_path, capsys, monkeypatch):
    """NaN/inf in a forward pass (NonFiniteError, naming layer, variable and time step) is a
    clear exit-2 error of the CLI, not a traceback."""
    import neurolearn.training
    from neurolearn.cli import main
    from neurolearn.torch.layers import NonFiniteError

    def blow_up(*args, **kwargs):
        raise NonFiniteError("hidden0", "v", 7, float("nan"))

    monkeypatch.setattr(neurolearn.training, "train_from_config", blow_up)
    path = _write(tmp_path, "[data]\ndataset='fsdd'\n")
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "hidden0" in err and "step 7" in err, err

"""Run folders a lab can rely on: a failed start leaves the folder as it was and a fixed retry
works, relative paths resolve against the configuration file, a run folder is self-contained
(evaluates and resumes after being moved, its model file gone), a finished run can be extended
and then equals a run trained for the longer schedule from the start."""

import json
import shutil
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neurolearn import bridge
from neurolearn.cli import main
from neurolearn.spec import load_model
from neurolearn.training import ConfigError, load_config, read_metrics, train_from_config
from neurolearn.training.evaluation import evaluate_run
from neurolearn.training.trainer import extension_refusal

CONFIG = """
[data]
dataset = "braille"
dt_ms = 20.0
max_train_samples = 60
max_test_samples = 12
validation_fraction = 0.2
{options}
[network]
model = "{model}"
hidden = [16]

[optimizer]
lr_weights = 0.01
schedule = "{schedule}"

[training]
epochs = {epochs}
batch_size = 16
seed = {seed}
threads = 1
"""


def write_config(path, model="lif", schedule="constant", epochs=1, seed=0, options=""):
    path.parent.mkdir(parents=True, exist_ok=True)
    text = CONFIG.format(model=model, schedule=schedule, epochs=epochs, seed=seed, options=options)
    path.write_text(textwrap.dedent(text))
    return path


def test_failed_start_leaves_the_folder_and_a_fixed_retry_works(tmp_path, capsys, data_dir):
    bad = write_config(tmp_path / "bad.toml", options="[data.options]\ntreshold = 1.0\n")
    run = tmp_path / "runs" / "braille"
    assert main(["train", str(bad), "--out", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "[data.options] treshold" in err, err
    assert not (tmp_path / "runs").exists()  # created folders removed again
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    assert main(["train", str(bad), "--out", str(kept), "--quiet"]) == 2
    assert [p.name for p in kept.iterdir()] == ["notes.txt"]
    capsys.readouterr()

    good = write_config(tmp_path / "good.toml", options="[data.options]\nthreshold = 1.0\n")
    assert main(["train", str(good), "--out", str(run), "--quiet"]) == 0, capsys.readouterr().err
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs"] == 1
    assert main(["train", str(good), "--out", str(kept), "--quiet"]) == 0
    assert (kept / "notes.txt").read_text() == "mine"


def test_output_folder_is_checked_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cfg = write_config(tmp_path / "c.toml")
    assert main(["train", str(cfg), "--out", str(blocker / "run")]) == 2
    err = capsys.readouterr().err
    assert str(blocker / "run") in err and "not a folder" in err, err
    assert main(["train", str(cfg), "--out", str(blocker)]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err


def test_relative_paths_and_a_moved_run(tmp_path, monkeypatch, data_dir):
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(load_model("lif").path, models / "mylif.toml")
    cfg = write_config(tmp_path / "configs" / "cfg.toml", model="../models/mylif.toml")
    assert load_config(cfg)["network"]["model"] == str((models / "mylif.toml").resolve())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the model path is relative to the config, not to here
    summary = train_from_config(cfg, "run", progress=False)
    run = elsewhere / "run"
    for name in ("config.toml", "model.toml", "versions.json", "network.h5"):
        assert (run / name).is_file(), name
    assert (run / "model.toml").read_text() == (models / "mylif.toml").read_text()
    versions = json.loads((run / "versions.json").read_text())
    assert versions["brian2"] and versions["torch"] and versions["python"]

    moved = tmp_path / "archive" / "run-2024"
    moved.parent.mkdir()
    shutil.move(str(run), moved)
    (models / "mylif.toml").unlink()  # the model file is gone: the run folder has its copy
    monkeypatch.chdir(tmp_path)
    result = evaluate_run(moved, max_samples=6, chunk_size=6, progress=False)
    assert result["n_samples"] == 6 and result["agreement"] == 1.0
    # resuming the moved, finished run returns its summary
    again = train_from_config(moved / "config.toml", moved, resume=True, progress=False)
    assert again == summary


def _parameters(path):
    net = bridge.load_network(path)
    return {k: v.clone() for k, v in net.state_dict().items()}


def test_extended_run_equals_the_longer_run(tmp_path, data_dir):
    short = write_config(tmp_path / "short.toml", epochs=1)
    long = write_config(tmp_path / "long.toml", epochs=2)
    extended, straight = tmp_path / "extended", tmp_path / "straight"
    train_from_config(short, extended, progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        train_from_config(long, extended, progress=False)
    summary = train_from_config(long, extended, resume=True, progress=False)
    assert summary["epochs"] == 2 and summary["resumed_from_epoch"] == 1
    reference = train_from_config(long, straight, progress=False)
    assert read_metrics(extended / "metrics.csv") == read_metrics(straight / "metrics.csv")
    a, b = _parameters(extended / "network.h5"), _parameters(straight / "network.h5")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert summary["test_accuracy"] == reference["test_accuracy"]
    assert load_config(extended / "config.toml")["training"]["epochs"] == 2

    other = write_config(tmp_path / "other.toml", epochs=3, seed=1)
    with pytest.raises(ConfigError) as info:
        train_from_config(other, extended, resume=True, progress=False)
    message = str(info.value)
    assert "[training] seed: 0 -> 1" in message and str(other) in message
    assert "epochs" not in message.split("differ")[1].split(".")[0]  # epochs may change


def test_extension_refusals():
    assert extension_refusal({"epochs": 4}, {"epochs": 6}, 4) == ""
    cosine = extension_refusal(
        {"epochs": 2, "schedule": "cosine"}, {"epochs": 3, "schedule": "cosine"}, 2
    )
    assert "cosine" in cosine and "constant" in cosine
    # one finished epoch of a cosine schedule has factor 1 whatever the length
    assert (
        extension_refusal(
            {"epochs": 1, "schedule": "cosine"}, {"epochs": 3, "schedule": "cosine"}, 1
        )
        == ""
    )
    assert "already trained" in extension_refusal({"epochs": 4}, {"epochs": 2}, 4)
    assert "seed: 0 -> 1" in extension_refusal(
        {"epochs": 4, "seed": 0}, {"epochs": 6, "seed": 1}, 4
    )


def test_checkpoint_reader_names_the_file(tmp_path):
    from neurolearn.training.trainer import read_checkpoint

    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.pt is empty"):
        read_checkpoint(empty)
    state = {"epoch": 1, "model": {"w": torch.ones(3)}, "optimizer": {}, "rng": {}}
    state.update(metrics=[], settings={})
    full = tmp_path / "full.pt"
    torch.save(state, full)
    assert read_checkpoint(full)["epoch"] == 1
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated.pt cannot be read"):
        read_checkpoint(truncated)
    wrong = tmp_path / "wrong.pt"
    wrong.write_text("[data]\nx = 1\n")
    with pytest.raises(ValueError, match="wrong.pt cannot be read"):
        read_checkpoint(wrong)
    partial = tmp_path / "partial.pt"
    torch.save({"model": {}}, partial)
    with pytest.raises(ValueError, match="partial.pt lacks epoch"):
        read_checkpoint(partial)
    np.testing.assert_equal(read_checkpoint(full)["model"]["w"].numpy(), np.ones(3))


def test_config_reader_names_the_file(tmp_path):
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="empty.toml: the file is empty"):
        load_config(empty)
    good = write_config(tmp_path / "good.toml")
    cut = tmp_path / "cut.toml"
    cut.write_text(good.read_text()[: good.read_text().index("[network]") + 5])
    with pytest.raises(ConfigError, match="cut.toml: not valid TOML"):
        load_config(cut)
    binary = tmp_path / "network.toml"
    binary.write_bytes(b"\x89HDF\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(ConfigError, match="network.toml: not a text file"):
        load_config(binary)

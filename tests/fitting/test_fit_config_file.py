"""The fit config reader names the file and what is wrong with it (empty, truncated, not
text), and errors of its [target] table name the file and the section."""

import pytest

from neurolearn.cli import main
from neurolearn.commands.fit import load_fit_config

GOOD = """model = "lif"
[target]
kind = "trace"
file = "trace.npz"
[bounds]
tau_m = ["5 ms", "60 ms"]
"""


def test_fit_config_files(tmp_path):
    empty = tmp_path / "empty.toml"
    empty.write_text("  \n")
    with pytest.raises(ValueError, match="empty.toml: the file is empty"):
        load_fit_config(empty)
    cut = tmp_path / "cut.toml"
    cut.write_text(GOOD[: GOOD.index("[bounds]") + 4])
    with pytest.raises(ValueError, match="cut.toml: malformed TOML"):
        load_fit_config(cut)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\x89HDF\r\n\x1a\n\xff\xfe")
    with pytest.raises(ValueError, match="bin.toml: not a text file"):
        load_fit_config(binary)


def test_fit_target_errors_name_file_and_section(tmp_path, capsys):
    cfg = tmp_path / "fit.toml"
    cfg.write_text(GOOD.replace('kind = "trace"', 'kind = "voltage"'))
    out = tmp_path / "out"
    assert main(["fit", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(cfg) in err and "[target]" in err and "voltage" in err, err
    assert not out.exists()

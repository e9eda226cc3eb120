"""Progress on the command line: Brian2's report of the simulation (and status lines of
compilations) on stderr by default, nothing with --quiet; the library itself stays silent."""

from brian2 import ms

from neurolearn.brian import NetworkSpec, progress
from neurolearn.cli import main


def test_simulate_reports_progress_unless_quiet(capsys):
    assert main(["simulate", "lif", "--n", "2", "--duration", "50ms"]) == 0
    err = capsys.readouterr().err
    assert "Starting simulation at t=0. s for a duration of 50. ms" in err
    assert "50. ms (100%) simulated" in err
    assert main(["simulate", "lif", "--n", "2", "--duration", "50ms", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_library_is_silent_and_status_lines_only_when_on(capsys):
    net = NetworkSpec()
    net.add_population("exc", "lif", 2)
    net.monitor_spikes("exc")
    net.run(5 * ms, backend="numpy")
    assert capsys.readouterr().err == ""
    progress.status("compiling")
    with progress.show_progress():
        progress.status("compiling the project")
        assert progress.report() == "stderr"
    assert progress.report() is None
    assert capsys.readouterr().err == "neurolearn: compiling the project\n"

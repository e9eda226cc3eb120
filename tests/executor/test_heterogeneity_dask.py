"""The quick heterogeneity experiment on a real Dask scheduler with two worker processes on
localhost (``--scheduler``): the same results.json numbers as the run in this process, also
when a worker is SIGKILLed mid-job; a run failing for a real reason fails the job with its own
message."""

import json
import os
import signal
import threading
import time

import pytest

pytest.importorskip("torch")
distributed = pytest.importorskip("distributed")

from neurolearn.executor import TaskFailed  # noqa: E402
from neurolearn.reproductions.heterogeneity import CONFIGURATIONS, run_heterogeneity  # noqa: E402

# the fixture of tests/reproductions/test_heterogeneity.py, smaller (2 cores shared)
TINY = {
    "data": {
        "dt_ms": 20.0,
        "duration_ms": 1000.0,
        "max_train_samples": 27,
        "max_test_samples": 18,
        "validation_fraction": 0.2,
    },
    "network": {"hidden": [8]},
    "training": {"epochs": 1, "batch_size": 27},
}


def _numbers(out):
    """The per-run numbers of results.json (what must not depend on where runs ran)."""
    written = json.loads((out / "results.json").read_text())
    assert set(written["configurations"]) == set(CONFIGURATIONS)
    return {
        name: (
            e["accuracies"],
            e["brian2_accuracy_mean"],
            e["brian2_agreement"],
            e["tau_m_ms"],
            e["tau_syn_ms"],
        )
        for name, e in written["configurations"].items()
    }


@pytest.fixture(scope="module")
def local_numbers(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("local") / "het"
    run_heterogeneity(
        "braille",
        quick=True,
        out=out,
        jobs=1,
        progress=False,
        overrides=TINY,
        configurations=CONFIGURATIONS,
    )
    return _numbers(out)


@pytest.fixture
def cluster():
    """A scheduler and two worker processes (nannies restart a killed worker)."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as c:
        yield c


def test_scheduler_gives_the_local_numbers(tmp_path, cluster, local_numbers):
    out = tmp_path / "het"
    run_heterogeneity(
        "braille",
        quick=True,
        out=out,
        progress=False,
        overrides=TINY,
        configurations=CONFIGURATIONS,
        scheduler=cluster.scheduler_address,
    )
    assert _numbers(out) == local_numbers
    # the run folders hold what a local run writes (files shipped back from the workers)
    for name in CONFIGURATIONS:
        run = out / "runs" / name / "seed0"
        for f in ("summary.json", "evaluation_numpy.json", "network.h5", "parameters.csv"):
            assert (run / f).is_file(), (name, f)
    # rerun: nothing is redone (no task reaches the scheduler)
    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/seed0/*")}
    with distributed.Client(cluster.scheduler_address) as client:
        before = len(client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.task_groups))
        run_heterogeneity(
            "braille",
            quick=True,
            out=out,
            progress=False,
            overrides=TINY,
            configurations=CONFIGURATIONS,
            scheduler=cluster.scheduler_address,
        )
        after = len(client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.task_groups))
    assert after == before
    assert {p: p.stat().st_mtime_ns for p in out.glob("runs/*/seed0/*")} == mtimes


def test_killed_worker_gives_the_same_numbers(tmp_path, cluster, local_numbers):
    out = tmp_path / "het"
    killed = {}

    def kill_a_busy_worker():
        with distributed.Client(cluster.scheduler_address) as client:
            pids = client.run(os.getpid)
            deadline = time.time() + 300
            while time.time() < deadline and not killed:
                busy = [w for w, tasks in client.processing().items() if tasks]
                if busy:
                    time.sleep(2.0)  # into the training
                    still = client.processing().get(busy[0])
                    if still:
                        os.kill(pids[busy[0]], signal.SIGKILL)
                        killed[busy[0]] = still
                time.sleep(0.2)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    try:
        run_heterogeneity(
            "braille",
            quick=True,
            out=out,
            progress=False,
            overrides=TINY,
            configurations=CONFIGURATIONS,
            scheduler=cluster.scheduler_address,
        )
    finally:
        killer.join()
    assert killed, "no worker was killed mid-task"
    assert _numbers(out) == local_numbers


def test_failing_run_fails_the_job_with_its_message(tmp_path, cluster):
    # valid everywhere, failing where it runs: the workers have no CUDA device
    bad = dict(TINY, training=dict(TINY["training"], device="cuda"))
    with pytest.raises(TaskFailed, match=r"task \w+/seed0 failed: ConfigError: .*no CUDA device"):
        run_heterogeneity(
            "braille",
            quick=True,
            out=tmp_path / "het",
            progress=False,
            overrides=bad,
            scheduler=cluster.scheduler_address,
        )


def test_fsdd_variants_run_on_two_workers_with_the_same_numbers(tmp_path, data_dir, monkeypatch):
    # fsdd_variants' runs go through the executor: one process and two local workers give
    # the same variants.json (the variants' own settings on a tiny Braille setup, for time)
    import argparse

    from neurolearn.reproductions import fsdd_variants as fv
    from neurolearn.reproductions.heterogeneity import experiment_config

    variants = {
        "lif": fv.VARIANTS["lif"],
        "alif_input_dropout02": fv.VARIANTS["alif_input_dropout02"],
    }
    monkeypatch.setattr(fv, "VARIANTS", variants)

    def tiny(name, seed, configuration=None):
        own = variants[name][3]
        over = {**TINY, "training": {**TINY["training"], "input_dropout": 0.2 * (name != "lif")}}
        return experiment_config("braille", configuration or own, seed, overrides=over)

    monkeypatch.setattr(fv, "variant_config", tiny)

    def run(out, workers):
        args = argparse.Namespace(
            list=False,
            out=out,
            only=None,
            seeds=[0, 1],
            configuration=None,
            gru=False,
            workers=workers,
            scheduler=None,
            no_progress=True,
        )
        fv.run(args)
        return json.loads((out / "variants.json").read_text())

    one, two = run(tmp_path / "one", 1), run(tmp_path / "two", 2)
    key = ("variant", "configuration", "seed", "val_accuracy", "test_accuracy")
    assert [[r[k] for k in key] for r in one["runs"]] == [[r[k] for k in key] for r in two["runs"]]
    assert [r["seed"] for r in one["runs"]] == [0, 1, 0, 1]
    assert one["summary"] == two["summary"]
    assert len(list((tmp_path / "two" / "runs").rglob("summary.json"))) == 4
    # finished runs are read back, not trained again
    again = run(tmp_path / "one", 1)
    assert [r["test_accuracy"] for r in again["runs"]] == [r["test_accuracy"] for r in one["runs"]]
    assert all(r["cpu_s"] < 5 for r in again["runs"])

"""Fits on several workers: a differential-evolution fit with each generation split over two
Dask workers, and the Allen population fit with one chunk of cells per task, give the numbers
of the fit in one process (the candidates are independent neurons; seeds belong to the fit)."""

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from neurolearn import load_model  # noqa: E402
from neurolearn.executor import Executor  # noqa: E402
from neurolearn.fitting import SpikeTrainTarget, fit, simulate_batch  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as c:
        yield c


def _target():
    from brian2 import Mohm, ms

    rng = np.random.default_rng(4)
    x = np.stack(
        [np.convolve(rng.standard_normal(600), np.ones(30) / np.sqrt(30), "same") for _ in "ab"],
        axis=1,
    )
    drive = 0.25e-9 + 0.3e-9 * x
    data = simulate_batch(load_model("lif"), {"R_m": np.array([120.0]) * Mohm}, drive, 0.1 * ms)
    return SpikeTrainTarget(data.spike_times[0], drive, 0.1 * ms, window=1 * ms)


def test_generation_over_two_workers_gives_the_same_fit(cluster, monkeypatch):
    target = _target()
    kwargs = dict(
        bounds={"R_m": ("60 Mohm", "240 Mohm")},
        start={"R_m": "100 Mohm"},
        progress=False,
        optimizer_options=dict(popsize=5, maxiter=3, tol=0),
    )
    local = fit("lif", target, **kwargs)
    batches = []
    original = Executor.map

    def counting_map(self, fn, tasks, **kw):
        tasks = list(tasks)
        batches.append([len(t["U"]) for t in tasks])
        return original(self, fn, tasks, **kw)

    monkeypatch.setattr(Executor, "map", counting_map)
    remote = fit("lif", target, scheduler=cluster.scheduler_address, **kwargs)
    # 5 candidates per generation: two batches of 3 (the second padded), one per worker
    assert batches and all(b == [3, 3] for b in batches)
    assert remote.loss_history == local.loss_history
    assert float(remote.params["R_m"]) == float(local.params["R_m"])


def test_population_fit_chunks_on_two_workers(cluster, data_dir, tmp_path):
    import pandas as pd

    from neurolearn.fitting.population import complete_feature_cells, fit_population

    feats = pd.read_csv(data_dir / "allen" / "cell_types" / "ephys_features.csv")
    ids = complete_feature_cells(feats)["specimen_id"].astype(int).tolist()[:2]
    kwargs = dict(specimen_ids=ids, chunk_size=1, popsize=2, maxiter=1, step_duration=0.2)
    local = fit_population(feats, "lif", progress=False, **kwargs)
    out = tmp_path / "pop.csv"
    remote = fit_population(
        feats, "lif", out=out, progress=False, scheduler=cluster.scheduler_address, **kwargs
    )
    pd.testing.assert_frame_equal(remote, local)
    pd.testing.assert_frame_equal(pd.read_csv(out), local, check_dtype=False)

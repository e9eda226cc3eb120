"""Events container, binning and the torch Dataset/DataLoader."""

import numpy as np
import pytest

from neurolearn.datasets import (
    DenseSpikeDataset,
    SpikeDataset,
    SpikeEvents,
    bin_events,
    n_time_steps,
    stratified_split,
    time_major_loader,
)

try:  # the Dataset/DataLoader tests (marked torch) need neurolearn[torch]
    import torch
except ModuleNotFoundError:
    torch = None


def _events(n=20, n_channels=50, seed=0, t_max=0.9):
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 300, n)
    times = [rng.uniform(0, t_max, c) for c in counts]
    units = [rng.integers(0, n_channels, c) for c in counts]
    return SpikeEvents.from_lists(
        times,
        units,
        rng.integers(0, 4, n),
        n_channels,
        class_names=("a", "b", "c", "d"),
        name="toy",
    )


@pytest.mark.parametrize("dt_ms", [0.5, 1.0, 7.0, 50.0])
def test_binning_conserves_spike_counts(dt_ms):
    ev = _events()
    n_steps = n_time_steps(1000.0, dt_ms)
    for i in range(len(ev)):
        t, u = ev.sample(i)
        x = bin_events(t, u, ev.n_channels, dt_ms, n_steps)
        assert x.shape == (n_steps, ev.n_channels)
        assert x.sum() == len(t)  # every spike lies before 0.9 s < 1 s: none lost
        np.testing.assert_array_equal(x.sum(axis=0), np.bincount(u, minlength=ev.n_channels))
        # each spike in bin floor(t / dt)
        expected = np.bincount(
            np.floor(t.astype(np.float64) / (dt_ms * 1e-3)).astype(int), minlength=n_steps
        )
        np.testing.assert_array_equal(x.sum(axis=1), expected)


def test_binning_truncates_and_binarises():
    t = np.array([0.0, 0.0005, 0.001, 0.0099, 0.010, 0.0125, -0.001])
    u = np.array([0, 0, 1, 2, 2, 2, 0])
    x = bin_events(t, u, 3, dt_ms=1.0, n_steps=10)
    # 0.010 (bin 10), 0.0125 (bin 12) and the negative time fall outside [0, 10 ms)
    assert x.sum() == 4
    assert x[0, 0] == 2 and x[1, 1] == 1 and x[9, 2] == 1
    xb = bin_events(t, u, 3, dt_ms=1.0, n_steps=10, binary=True)
    assert xb[0, 0] == 1 and xb.sum() == 3
    # an event exactly at k * dt lands in bin k despite float rounding (0.003 / 0.001 = 2.9999..)
    assert bin_events(np.array([0.003]), np.array([0]), 1, 1.0, 5)[3, 0] == 1


def test_n_time_steps():
    assert n_time_steps(1000.0, 1.0) == 1000
    assert n_time_steps(1000.0, 3.0) == 334
    assert n_time_steps(0.3, 0.1) == 3
    with pytest.raises(ValueError, match="dt_ms"):
        n_time_steps(10.0, 0.0)


@pytest.mark.torch
def test_dataset_and_loader_time_major():
    ev = _events(n=10)
    ds = SpikeDataset(ev, dt_ms=5.0, duration_ms=1000.0)
    assert len(ds) == 10 and ds.n_steps == 200 and ds.n_classes == 4
    x, y = ds[2]
    assert x.shape == (200, 50) and x.dtype == torch.float32 and y.dtype == torch.long
    batches = list(ds.loader(batch_size=4, shuffle=True, seed=1))
    assert [b[0].shape for b in batches] == [(200, 4, 50), (200, 4, 50), (200, 2, 50)]
    seen = torch.cat([b[1] for b in batches])
    assert sorted(seen.tolist()) == sorted(ev.labels.tolist())
    # same seed, same order; spikes conserved through the loader
    again = list(ds.loader(batch_size=4, shuffle=True, seed=1))
    assert all(torch.equal(a[1], b[1]) for a, b in zip(batches, again))
    assert sum(float(b[0].sum()) for b in batches) == ev.counts().sum()
    xd, yd = ds.dense([2, 0])
    assert (
        xd.shape == (200, 2, 50)
        and torch.equal(xd[:, 0], x)
        and yd.tolist() == [ev.labels[2], ev.labels[0]]
    )


@pytest.mark.torch
def test_dense_dataset_and_batch_transform():
    ds = SpikeDataset(_events(n=10), dt_ms=5.0, duration_ms=1000.0)
    dense = DenseSpikeDataset(ds)
    assert len(dense) == 10 and dense.shape == ds.shape == (200, 50) and dense.n_classes == 4
    assert np.array_equal(dense.labels, ds.labels)
    # binned once, the same samples and, with the same seed, the same batches in the same order
    for (x, y), (u, v) in zip(
        ds.loader(4, shuffle=True, seed=1), dense.loader(4, shuffle=True, seed=1)
    ):
        assert torch.equal(x, u) and torch.equal(y, v)
    # a batch transform receives every collated batch [time, batch, channels] and its labels
    seen = []

    def flip(x, y):
        seen.append((tuple(x.shape), y.tolist()))
        return 1 - x, y

    flipped = list(time_major_loader(dense, batch_size=4, transform=flip))
    plain = list(time_major_loader(dense, batch_size=4))
    assert [s[0] for s in seen] == [(200, 4, 50), (200, 4, 50), (200, 2, 50)]
    assert [s[1] for s in seen] == [b[1].tolist() for b in plain]
    assert all(torch.equal(a[0], 1 - b[0]) for a, b in zip(flipped, plain))


def test_subset_and_concatenate():
    ev = _events(n=12)
    sub = ev.subset([5, 1, 5])
    for j, i in enumerate([5, 1, 5]):
        np.testing.assert_array_equal(sub.sample(j)[0], ev.sample(i)[0])
        np.testing.assert_array_equal(sub.sample(j)[1], ev.sample(i)[1])
    both = SpikeEvents.concatenate([ev, sub])
    assert len(both) == 15 and both.counts().sum() == ev.counts().sum() + sub.counts().sum()
    np.testing.assert_array_equal(both.sample(13)[0], ev.sample(1)[0])


def test_events_validation():
    with pytest.raises(ValueError, match=r"channel indices must lie in \[0, 4\)"):
        SpikeEvents.from_lists([np.array([0.1])], [np.array([4])], [0], 4)
    with pytest.raises(ValueError, match="sample 0: 2 times but 1 units"):
        SpikeEvents.from_lists([np.array([0.1, 0.2])], [np.array([1])], [0], 4)


def test_stratified_split_keeps_class_proportions():
    labels = np.repeat(np.arange(5), [10, 20, 30, 40, 50])
    a, b = stratified_split(labels, 0.1, seed=0)
    assert len(np.intersect1d(a, b)) == 0 and len(a) + len(b) == 150
    np.testing.assert_array_equal(np.bincount(labels[b]), [1, 2, 3, 4, 5])
    a2, b2 = stratified_split(labels, 0.1, seed=0)
    np.testing.assert_array_equal(b, b2)
    assert not np.array_equal(b, stratified_split(labels, 0.1, seed=1)[1])

"""Paired statistics of the heterogeneity experiment on inputs with known answers: exact
sign-flip p-values (2 / 2**n when every difference has one sign), bootstrap intervals of the
mean, Holm's adjustment."""

import numpy as np
import pytest

from neurolearn.analysis.paired import holm, mean_interval, paired_difference, paired_differences


def test_mean_interval_brackets_the_mean_within_the_range():
    v = [0.80, 0.82, 0.85, 0.90, 0.88]
    r = mean_interval(v, seed=1)
    assert r["mean"] == pytest.approx(0.85)
    assert r["sd"] == pytest.approx(np.std(v, ddof=1))
    lo, hi = r["ci95"]
    assert 0.80 < lo < 0.85 < hi < 0.90
    # the 95 % interval of a mean of 5 values is narrower than +- 2 SD / sqrt(n) * 1.5
    assert hi - lo < 1.5 * 2 * 1.96 * r["sd"] / np.sqrt(5)
    assert mean_interval([0.5, 0.5, 0.5])["ci95"] == [0.5, 0.5]
    with pytest.raises(ValueError, match="finite"):
        mean_interval([0.5, float("nan")])


def test_exact_sign_flip_p_values():
    a = np.array([0.80, 0.82, 0.85, 0.90, 0.88, 0.70])
    # every difference positive: only the observed pattern and its mirror image are as extreme
    r6 = paired_difference(a, a + [0.05, 0.04, 0.05, 0.05, 0.02, 0.05])
    assert r6["p_value"] == pytest.approx(2 / 64)
    assert r6["mean"] == pytest.approx(0.26 / 6)
    assert r6["ci95"][0] > 0
    r5 = paired_difference(a[:5], a[:5] + 1.0)
    assert r5["p_value"] == pytest.approx(2 / 32)  # 5 seeds can never reach p < 0.05
    assert r5["ci95"] == pytest.approx([1.0, 1.0])
    # differences +1, -1, +1, -1: mean 0, every sign pattern's mean at least as far: p = 1
    assert paired_difference([0, 0, 0, 0], [1, -1, 1, -1])["p_value"] == pytest.approx(1.0)
    assert paired_difference([1, 2], [1, 2])["p_value"] == 1.0
    with pytest.raises(ValueError, match="pairs needed"):
        paired_difference([1, 2, 3], [1, 2])


def test_holm_adjustment():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5]
    assert holm([0.4, 0.6]) == pytest.approx([0.8, 0.8])


def test_paired_differences_use_common_seeds_and_flag_significance():
    values = {
        "x": {0: 0.5, 1: 0.6, 2: 0.55, 3: 0.52, 4: 0.58, 5: 0.61},
        "y": {0: 0.6, 1: 0.7, 2: 0.65, 3: 0.62, 4: 0.68, 5: 0.71, 6: 0.9},
        "z": {0: 0.5},
    }
    out = paired_differences(values, [("x", "y"), ("x", "z"), ("x", "missing")])
    assert len(out) == 1
    e = out[0]
    assert (e["a"], e["b"], e["seeds"]) == ("x", "y", [0, 1, 2, 3, 4, 5])
    assert e["mean"] == pytest.approx(0.1)
    assert e["p_value"] == pytest.approx(2 / 64) and e["significant"]
    assert e["p_holm"] == pytest.approx(2 / 64) and e["significant_holm"]

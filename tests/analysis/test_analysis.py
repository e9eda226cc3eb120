"""Distribution fits, goodness of fit and two-sample statistics (neurolearn.analysis) on
synthetic samples with known answers."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special, stats

from neurolearn.analysis import (
    chisquare_equal_count,
    compare_samples,
    compare_tau,
    describe,
    fit_distribution,
    learned_tau_ms,
    write_tau_comparison,
)


def _gamma_mle_shape(x):
    """ML shape of a gamma with loc 0, solved from log(k) - digamma(k) = log(mean) - mean(log)
    (Choi & Wette 1969), independently of scipy.stats.gamma.fit."""
    s = np.log(x.mean()) - np.log(x).mean()
    return optimize.brentq(lambda k: np.log(k) - special.digamma(k) - s, 1e-3, 1e4)


def test_describe_matches_numpy():
    x = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])
    d = describe(x)
    assert d["n"] == 8 and d["mean"] == pytest.approx(3.875)
    assert d["median"] == pytest.approx(3.5)
    assert d["sd"] == pytest.approx(np.std(x, ddof=1))
    assert (d["q25"], d["q75"]) == pytest.approx((1.75, 5.25))


@pytest.mark.parametrize(
    "name,true,sampler",
    [
        ("gamma", {"shape": 3.0, "scale": 6.0}, lambda rng, n: rng.gamma(3.0, 6.0, n)),
        (
            "lognorm",
            {"sigma": 0.5, "scale": 15.0},
            lambda rng, n: 15.0 * np.exp(0.5 * rng.standard_normal(n)),
        ),
    ],
)
def test_fit_recovers_parameters_within_bootstrap_interval(name, true, sampler):
    rng = np.random.default_rng(12)
    x = sampler(rng, 1500)
    fit = fit_distribution(x, name, n_boot=300, method="percentile", seed=3)
    for param, value in true.items():
        lo, hi = fit.ci[param]
        assert lo < value < hi, (param, value, fit.ci)
        assert lo < fit.params[param] < hi
        assert hi - lo < 0.25 * value  # a real interval, not (0, inf)
    if name == "gamma":
        assert fit.params["shape"] == pytest.approx(_gamma_mle_shape(x), rel=1e-4)
        assert fit.params["shape"] * fit.params["scale"] == pytest.approx(x.mean(), rel=1e-4)
    else:  # closed-form ML of the log-normal
        assert fit.params["sigma"] == pytest.approx(np.log(x).std(), rel=1e-6)
        assert fit.params["scale"] == pytest.approx(np.exp(np.log(x).mean()), rel=1e-6)
    # the true family fits: goodness-of-fit tests do not reject
    assert fit.gof["chi2_p"] > 0.01 and fit.gof["ks_p"] > 0.01
    d = fit.to_dict(unit="ms")
    assert d["scale_ms"] == fit.params["scale"] and d["scale_ms_ci"] == list(fit.ci["scale"])


def test_bootstrap_interval_coverage_of_gamma_shape():
    """Percentile intervals of the gamma shape cover the true value about 95 % of the time."""
    rng = np.random.default_rng(5)
    hits = 0
    reps = 60
    for i in range(reps):
        fit = fit_distribution(
            rng.gamma(2.5, 4.0, 200), "gamma", n_boot=150, method="percentile", seed=i
        )
        hits += fit.ci["shape"][0] < 2.5 < fit.ci["shape"][1]
    assert 0.83 <= hits / reps <= 1.0


def test_goodness_of_fit_rejects_wrong_family():
    rng = np.random.default_rng(7)
    x = 15.0 * np.exp(1.0 * rng.standard_normal(5000))  # heavy-tailed log-normal
    gamma = fit_distribution(x, "gamma", n_boot=0, n_mc=49, seed=0)
    lognorm = fit_distribution(x, "lognorm", n_boot=0, n_mc=49, seed=0)
    assert gamma.gof["chi2_p"] < 1e-6 and gamma.gof["ks_p"] < 1e-6
    assert lognorm.gof["chi2_p"] > 0.01
    # parametric bootstrap (refitting each Monte Carlo sample): smallest p is 1/(49+1)
    assert gamma.gof["ks_p_mc"] == pytest.approx(1 / 50)
    assert lognorm.gof["ks_p_mc"] > 0.05
    assert lognorm.aic < gamma.aic


def test_chisquare_equal_count_bins():
    rng = np.random.default_rng(0)
    x = rng.gamma(3.0, 5.0, 1003)
    frozen = stats.gamma(3.0, scale=5.0)
    res = chisquare_equal_count(x, frozen, n_params=2, min_per_bin=20)
    assert res["chi2_bins"] == 1003 // 20 and res["chi2_dof"] == 50 - 3
    # independent statistic: counts between empirical quantiles, expected from the cdf
    edges = np.quantile(x, np.arange(1, 50) / 50)
    obs = np.array(
        [np.sum(x < edges[0])]
        + [np.sum((x >= a) & (x < b)) for a, b in zip(edges[:-1], edges[1:])]
        + [np.sum(x >= edges[-1])]
    )
    assert obs.min() >= 20
    exp = 1003 * np.diff(frozen.cdf(np.concatenate([[0], edges, [np.inf]])))
    assert res["chi2"] == pytest.approx(np.sum((obs - exp) ** 2 / exp), rel=1e-9)
    assert res["chi2_p"] == pytest.approx(stats.chi2.sf(res["chi2"], 47), rel=1e-9)
    small = chisquare_equal_count(x[:70], frozen)  # 3 bins < 4: no test
    assert np.isnan(small["chi2"]) and small["chi2_dof"] == 0


def test_two_sample_rejects_different_and_measures_them():
    rng = np.random.default_rng(1)
    a, b = rng.gamma(3.0, 9.0, 600), rng.gamma(3.0, 6.0, 800)
    raw = compare_samples(a, b, n_boot=500, n_perm=300, seed=0)
    assert raw.ks_pvalue < 1e-6 and raw.wasserstein_pvalue < 0.01
    assert raw.ks_statistic == pytest.approx(stats.ks_2samp(a, b).statistic)
    true_diff = stats.gamma(3, scale=9).median() - stats.gamma(3, scale=6).median()
    lo, hi = raw.median_diff_ci
    assert 0 < lo < true_diff < hi
    assert raw.median_diff == pytest.approx(np.median(a) - np.median(b))
    # Wasserstein-1 >= difference of means, with equality under stochastic order (gammas of
    # equal shape): population value 3 * 9 - 3 * 6 = 9 ms
    assert raw.wasserstein >= abs(a.mean() - b.mean()) - 1e-9
    assert raw.wasserstein == pytest.approx(9.0, rel=0.15)
    assert compare_samples(b, b + 2.5, n_boot=0, n_perm=0).wasserstein == pytest.approx(2.5)
    # same shape, different scale: after dividing by the median they agree
    norm = compare_samples(a, b, normalise="median", n_boot=300, n_perm=200, seed=0)
    assert norm.ks_pvalue > 0.05 and norm.wasserstein_pvalue > 0.05
    assert np.isnan(norm.median_diff) and norm.iqr_diff_ci[0] < 0 < norm.iqr_diff_ci[1]
    # different shape survives normalisation
    c = rng.gamma(12.0, 1.5, 800)
    assert compare_samples(a, c, normalise="median", n_boot=0, n_perm=0).ks_pvalue < 1e-6


def test_two_sample_false_rejection_rate_is_alpha():
    """Samples from one distribution: KS and the Wasserstein permutation test reject at about
    the nominal 5 %, and the bootstrap interval of the median difference covers 0 about 95 %."""
    rng = np.random.default_rng(2024)
    reps = 300
    ks_rej = wd_rej = cover = 0
    for i in range(reps):
        a, b = rng.gamma(3.0, 6.0, 80), rng.gamma(3.0, 6.0, 120)
        r = compare_samples(a, b, n_boot=200 if i < 150 else 0, n_perm=99 if i < 150 else 0, seed=i)
        ks_rej += r.ks_pvalue < 0.05
        if i < 150:
            wd_rej += r.wasserstein_pvalue < 0.05
            cover += r.median_diff_ci[0] <= 0 <= r.median_diff_ci[1]
    # binomial(300, 0.05): sd 0.0126; KS on continuous data is slightly conservative
    assert 0.015 <= ks_rej / reps <= 0.09
    assert 0.0 <= wd_rej / 150 <= 0.11
    assert 0.88 <= cover / 150 <= 0.995


def test_bad_samples_are_named():
    with pytest.raises(ValueError, match="index 2"):
        compare_samples([1.0, 2.0, -1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="unknown distribution 'weibull'"):
        fit_distribution([1.0, 2.0, 3.0], "weibull")
    with pytest.raises(ValueError, match="normalise"):
        compare_samples([1.0, 2.0], [1.0, 2.0], normalise="mean")


def _run(tmp_path, tau, extra=None):
    run = tmp_path / "run"
    run.mkdir()
    cols = {
        "layer": ["hidden"] * (len(tau) - 4) + ["output"] * 4,
        "neuron": list(range(len(tau) - 4)) + list(range(4)),
        "tau_m_ms": tau,
    }
    cols.update(extra or {})
    pd.DataFrame(cols).to_csv(run / "parameters.csv", index=False)
    return run


def test_learned_tau_from_run_folder(tmp_path):
    tau = np.linspace(5, 40, 24)
    run = _run(tmp_path, tau)
    np.testing.assert_allclose(learned_tau_ms(run), tau)
    np.testing.assert_allclose(learned_tau_ms(run, layers=["output"]), tau[-4:])
    with pytest.raises(ValueError, match="missing column 'tau_syn_ms'.*tau_m_ms"):
        learned_tau_ms(run, column="tau_syn_ms")
    with pytest.raises(ValueError, match="unknown layer"):
        learned_tau_ms(run, layers=["readout"])
    with pytest.raises(FileNotFoundError, match="parameters.csv"):
        learned_tau_ms(tmp_path / "nothing")
    tau[3] = 0.0
    (run / "parameters.csv").unlink()
    run.rmdir()
    with pytest.raises(ValueError, match="neuron 3"):
        learned_tau_ms(_run(tmp_path, tau))


def test_bad_values_named_as_plain_numbers(tmp_path):
    """Messages show Python scalars (``3``, ``0.0``), not NumPy 2's ``np.int64(3)``."""
    from neurolearn.analysis.distributions import as_positive_sample

    tau = np.linspace(5, 40, 24)
    tau[3] = 0.0
    with pytest.raises(ValueError, match=r"layer 'hidden' neuron 3 has 0\.0$"):
        learned_tau_ms(_run(tmp_path, tau))
    with pytest.raises(ValueError, match=r"x: values must be finite and > 0; index 1 is -2\.5 "):
        as_positive_sample(np.array([1.0, -2.5, 3.0]), "x")


def test_write_tau_comparison(tmp_path):
    rng = np.random.default_rng(3)
    learned, measured = rng.gamma(3.0, 7.0, 120), rng.gamma(3.5, 5.0, 900)
    table = compare_tau(learned, measured, n_boot=100, n_perm=100)
    assert list(table["scale"]) == ["raw", "median-normalised"]
    assert list(table["unit"]) == ["ms", "1"]
    assert table.loc[0, "median_learned"] == pytest.approx(np.median(learned))
    assert table.loc[1, "ks_statistic"] == pytest.approx(
        stats.ks_2samp(learned / np.median(learned), measured / np.median(measured)).statistic
    )
    out = write_tau_comparison(learned, measured, tmp_path / "cmp", n_boot=100, n_perm=100)
    names = {p.name for p in out["files"]}
    for stem in ("tau_learned_vs_measured", "tau_qq"):
        assert {f"{stem}.pdf", f"{stem}.svg", f"{stem}.png"} <= names
    assert {"tau_comparison.csv", "tau_fits.csv", "tau_comparison.json"} <= names
    saved = json.loads((tmp_path / "cmp" / "tau_comparison.json").read_text())
    assert saved["learned"]["tau_ms"]["n"] == 120
    assert saved["measured"]["gamma"]["shape"] == pytest.approx(
        _gamma_mle_shape(measured), rel=1e-4
    )
    fits = pd.read_csv(tmp_path / "cmp" / "tau_fits.csv")
    assert set(fits["unit"]) == {"ms", "1"} and len(fits) == 8
    assert not list((tmp_path / "cmp").glob(".*.tmp"))  # nothing half-written
    svg = (tmp_path / "cmp" / "tau_learned_vs_measured.svg").read_text()
    assert "membrane time constant (ms)" in svg

"""Results of the heterogeneity experiment (:mod:`neurolearn.reproductions.heterogeneity`):
per configuration the test accuracy over seeds with a 95 % bootstrap interval, paired
differences between the configurations the paper compares with a paired test, the robustness
to time-scaled inputs, gamma and log-normal fits of the learned time constants, whether the
homogeneous and heterogeneous starts converge to one distribution, and the learned tau_m
against named Allen selections; written as ``results.json`` (schema below), ``results.md``
and figures.

``results.json``::

    {"dataset", "backend", "seeds", "allen": {...},
     "configurations": {name: {"label", "n_runs", "seeds", "accuracies" (per seed),
        "accuracy_mean", "accuracy_ci95" [low, high], "accuracy_sd",
        "brian2_accuracy_mean", "brian2_agreement", "brian2_agreement_min",
        "tau_m_ms", "tau_syn_ms" (summaries), "tau_m_fit", "tau_syn_fit"
        ({"gamma": {"shape", "scale_ms"}, "lognorm": {"sigma", "scale_ms"}} or None when the
        time constants did not vary), "allen_comparison"}},
     "paired_differences": [{"a", "b", "mean", "ci95", "p_value", "p_holm", "significant",
        "significant_holm", "seeds", "n", "test"}],
     "robustness": {"time_scales": [...], "configurations": {name: {"accuracies":
        {seed: [per scale]}, "mean": [per scale], "ci95": [[low, high] per scale]}}},
     "tau_convergence": {"tau_m"|"tau_syn": {"raw"|"median": two-sample statistics}},
     "tau_biology": {name: {selection: {"raw"|"median": two-sample statistics}}}}

Accuracies are fractions in [0, 1], times in ms; ``b - a`` is the difference of a pair.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis.paired import mean_interval, paired_differences

__all__ = [
    "CONFIGURATIONS",
    "ALLEN_CONFIGURATION",
    "ALL_CONFIGURATIONS",
    "CONFIGURATION_LABELS",
    "PAIRS",
    "BIOLOGY_SELECTIONS",
    "summarize_runs",
    "results_table",
    "label_of",
    "comparison_pairs",
]

#: The four configurations of Perez-Nieves et al. (2021), in the paper's order.
CONFIGURATIONS = (
    "hom_init_std_train",
    "het_init_std_train",
    "hom_init_het_train",
    "het_init_het_train",
)
#: The fifth configuration: initial tau_m drawn from measured Allen cells, tau trained.
ALLEN_CONFIGURATION = "allen_init_het_train"
ALL_CONFIGURATIONS = CONFIGURATIONS + (ALLEN_CONFIGURATION,)

#: Human-readable names used in tables and figures.
CONFIGURATION_LABELS = {
    "hom_init_std_train": "homogeneous init, weights trained",
    "het_init_std_train": "heterogeneous init, weights trained",
    "hom_init_het_train": "homogeneous init, weights + tau trained",
    "het_init_het_train": "heterogeneous init, weights + tau trained",
    "allen_init_het_train": "Allen-cell init, weights + tau trained",
}
_SHORT = {
    "hom_init_std_train": "hom init\nweights",
    "het_init_std_train": "het init\nweights",
    "hom_init_het_train": "hom init\nweights + tau",
    "het_init_het_train": "het init\nweights + tau",
    "allen_init_het_train": "Allen init\nweights + tau",
}


def _split_name(name: str) -> tuple[str, str]:
    """``(configuration, level)`` of a run name ``<configuration>[+<level>]`` (the level of
    an extra factor, :func:`neurolearn.reproductions.heterogeneity.conditions`)."""
    base, _, level = name.partition("+")
    return base, level


def label_of(name: str) -> str:
    """Human-readable name of a configuration, at a factor's level if the name has one."""
    base, level = _split_name(name)
    return CONFIGURATION_LABELS[base] + (f", {level.replace('_', ' ')}" if level else "")


def short_of(name: str) -> str:
    """Short two-line name of a configuration (figure ticks), with a factor's level."""
    base, level = _split_name(name)
    return _SHORT[base] + (f"\n{level.replace('_', ' ')}" if level else "")


#: Pairs ``(a, b)`` compared (difference ``b - a``): training tau from each start, a
#: heterogeneous start with each training (Perez-Nieves et al. 2021, Fig. 2 and 3), and the
#: Allen start against the gamma start.
PAIRS = (
    ("hom_init_std_train", "hom_init_het_train"),
    ("het_init_std_train", "het_init_het_train"),
    ("hom_init_std_train", "het_init_std_train"),
    ("hom_init_het_train", "het_init_het_train"),
    ("het_init_het_train", "allen_init_het_train"),
)


def comparison_pairs(names) -> list[tuple[str, str]]:
    """The pairs compared among the run names ``names``: :data:`PAIRS`, and with an extra
    factor (names ``<configuration>+<level>``) :data:`PAIRS` within each level plus, for
    every configuration, its first level against each other level."""
    names = list(names)
    if not any("+" in n for n in names):
        return list(PAIRS)
    levels = list(dict.fromkeys(_split_name(n)[1] for n in names))
    pairs = [(f"{a}+{lv}", f"{b}+{lv}") for lv in levels for a, b in PAIRS]
    bases = list(dict.fromkeys(_split_name(n)[0] for n in names))
    pairs += [(f"{c}+{levels[0]}", f"{c}+{lv}") for c in bases for lv in levels[1:]]
    return [(a, b) for a, b in pairs if a in names and b in names]


#: Allen selections the learned tau_m are compared with (Perez-Nieves et al. 2021, Fig. 4:
#: mouse VISp layer 4 spiny and human MTG spiny cells), beside all mouse cells.
BIOLOGY_SELECTIONS = {
    "mouse_visp_l4_spiny": {
        "species": "mouse",
        "area": "VISp",
        "layer": "4",
        "dendrite_type": "spiny",
    },
    "human_mtg_spiny": {"species": "human", "area": "MTG", "dendrite_type": "spiny"},
    "mouse_all": {"species": "mouse"},
}


def _describe(x: np.ndarray) -> dict:
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return {"n": 0}
    q25, median, q75 = np.percentile(x, [25, 50, 75])
    return {
        "n": int(x.size),
        "mean": float(x.mean()),
        "sd": float(x.std(ddof=1)) if x.size > 1 else 0.0,
        "median": float(median),
        "q25": float(q25),
        "q75": float(q75),
        "min": float(x.min()),
        "max": float(x.max()),
        "cv": float(x.std(ddof=1) / x.mean()) if x.size > 1 and x.mean() else 0.0,
    }


def _hidden_tau(run_dir: Path, name: str = "tau_m_ms") -> np.ndarray:
    import pandas as pd

    table = pd.read_csv(run_dir / "parameters.csv")
    if name not in table.columns:
        return np.zeros(0)
    hidden = table[table["layer"].astype(str).str.startswith("hidden")]
    return hidden[name].to_numpy(dtype=float)


def _fits(x: np.ndarray) -> dict | None:
    """Gamma and log-normal maximum-likelihood fits (loc 0) of learned time constants (ms);
    None when they do not vary (a homogeneous, untrained start)."""
    from ..analysis import fit_gamma, fit_lognorm

    x = np.asarray(x, dtype=float)
    if x.size < 3 or np.ptp(x) <= 1e-9 * max(1.0, float(np.abs(x).max())):
        return None
    g, ln = fit_gamma(x, n_boot=0), fit_lognorm(x, n_boot=0)
    return {
        "gamma": {"shape": g.params["shape"], "scale_ms": g.params["scale"], "aic": g.aic},
        "lognorm": {"sigma": ln.params["sigma"], "scale_ms": ln.params["scale"], "aic": ln.aic},
    }


def _two_sample(a, b, n_boot: int, n_perm: int) -> dict:
    """Two-sample statistics, raw and median-normalised (:func:`compare_samples`)."""
    from ..analysis import compare_samples

    out = {}
    for scale, norm in (("raw", None), ("median", "median")):
        r = compare_samples(a, b, normalise=norm, n_boot=n_boot, n_perm=n_perm, seed=0)
        d = r.to_dict()
        out[scale] = {
            k: d[k]
            for k in ("n_a", "n_b", "median_a", "median_b", "ks_statistic", "ks_pvalue")
            + ("wasserstein", "wasserstein_pvalue")
            if k in d
        }
    return out


def _allen_tables(selection: Mapping):
    """(mouse tau_m of ``selection``, the loaded table, {name: tau_m} of
    :data:`BIOLOGY_SELECTIONS}`, error) -- Nones and the error text without the data."""
    try:
        from ..sources import allen

        table = allen.load_cells()
        tau = allen.tau_values(allen.select(table, **selection))
        named = {
            k: allen.tau_values(allen.select(table, **f)) for k, f in BIOLOGY_SELECTIONS.items()
        }
        return tau, table, named, None
    except Exception as exc:  # missing data, no allensdk, no network
        return None, None, None, f"{type(exc).__name__}: {exc}"


def _read_runs(root: Path, backend: str) -> dict:
    """Per seed of one configuration: summary, evaluation, robustness and learned tau."""
    runs = {}
    for run_dir in sorted(root.glob("seed*")) if root.is_dir() else []:
        if not (run_dir / "summary.json").exists():
            continue
        seed = int(run_dir.name[4:])
        ev = run_dir / f"evaluation_{backend}.json"
        rb = run_dir / "robustness.json"
        runs[seed] = {
            "accuracy": json.loads((run_dir / "summary.json").read_text())["test_accuracy"],
            "evaluation": json.loads(ev.read_text()) if ev.exists() else None,
            "robustness": json.loads(rb.read_text()) if rb.exists() else None,
            "tau_m": _hidden_tau(run_dir),
            "tau_syn": _hidden_tau(run_dir, "tau_syn_ms"),
        }
    return runs


def _configuration_entry(name: str, runs: dict) -> dict:
    accs = [runs[s]["accuracy"] for s in runs]
    evals = [r["evaluation"] for r in runs.values() if r["evaluation"]]
    agreements = [e["agreement"] for e in evals]
    tau_m = np.concatenate([r["tau_m"] for r in runs.values()])
    tau_syn = np.concatenate([r["tau_syn"] for r in runs.values()])
    stats = mean_interval(accs)
    return {
        "label": label_of(name),
        "n_runs": len(accs),
        "seeds": list(runs),
        "accuracies": [float(a) for a in accs],
        "accuracy_mean": stats["mean"],
        "accuracy_ci95": stats["ci95"],
        "accuracy_sd": stats["sd"],
        "brian2_accuracy_mean": float(np.mean([e["brian2_accuracy"] for e in evals]))
        if evals
        else None,
        "brian2_agreement": float(np.mean(agreements)) if agreements else None,
        "brian2_agreement_min": float(np.min(agreements)) if agreements else None,
        "tau_m_ms": _describe(tau_m),
        "tau_syn_ms": _describe(tau_syn),
        "tau_m_fit": _fits(tau_m),
        "tau_syn_fit": _fits(tau_syn),
        "allen_comparison": None,
    }


def _robustness(all_runs: dict) -> dict | None:
    scales, per = None, {}
    for name, runs in all_runs.items():
        by_seed = {s: r["robustness"] for s, r in runs.items() if r["robustness"]}
        if not by_seed:
            continue
        scales = next(iter(by_seed.values()))["time_scales"]
        acc = {str(s): r["accuracies"] for s, r in by_seed.items()}
        matrix = np.array(list(acc.values()), dtype=float)  # [seeds, scales]
        per[name] = {
            "accuracies": acc,
            "mean": matrix.mean(axis=0).tolist(),
            "ci95": [mean_interval(matrix[:, j])["ci95"] for j in range(matrix.shape[1])],
        }
    return {"time_scales": scales, "configurations": per} if per else None


def summarize_runs(
    out: str | os.PathLike,
    dataset: str = "fsdd",
    backend: str = "numpy",
    progress: bool = False,
    detailed: bool = True,
    allen_selection: Mapping | None = None,
    names: Sequence[str] | None = None,
) -> dict:
    """Collect the finished runs under ``out/runs`` into the experiment's results and figures.

    Parameters
    ----------
    out : path
        Experiment folder (``out/runs/<configuration>/seed<k>/``).
    dataset : str
    backend : str
        Which ``evaluation_<backend>.json`` to read.
    progress : bool
        Unused (kept for the callers' signature).
    detailed : bool
        Bootstrap and permutation resamples of the tau comparisons (200 each; 0 and 100
        without), and the Allen comparison's own tables and figures per configuration.
    allen_selection : mapping, optional
        Allen cells of the learned-tau comparison of every configuration (default all mouse
        cells).
    names : sequence of str, optional
        Run names under ``out/runs`` (default :data:`ALL_CONFIGURATIONS`; with an extra
        factor ``<configuration>+<level>``, compared by :func:`comparison_pairs`).

    Returns
    -------
    dict
        The content of ``results.json`` (module docstring).
    """
    out = Path(out)
    selection = dict(allen_selection or {"species": "mouse"})
    allen_tau, allen_table, named, allen_error = _allen_tables(selection)
    if allen_error:
        print(f"Allen Cell Types data not available ({allen_error}); tau compared without it.")
    results: dict[str, Any] = {
        "dataset": dataset,
        "backend": backend,
        "allen": {
            "available": allen_tau is not None,
            "selection": selection,
            "n_cells": None if allen_tau is None else int(allen_tau.size),
            "tau_m_ms": None if allen_tau is None else _describe(allen_tau),
            "selections": None
            if named is None
            else {k: {"filters": BIOLOGY_SELECTIONS[k], **_describe(v)} for k, v in named.items()},
            "error": allen_error,
        },
        "configurations": {},
    }
    n_boot, n_perm = (200, 200) if detailed else (0, 100)
    all_runs = {}
    for name in names or ALL_CONFIGURATIONS:
        runs = _read_runs(out / "runs" / name, backend)
        if not runs:
            continue
        all_runs[name] = runs
        entry = _configuration_entry(name, runs)
        tau = np.concatenate([r["tau_m"] for r in runs.values()])
        if allen_table is not None and tau.size >= 2 and np.ptp(tau) > 0:
            entry["allen_comparison"] = _allen_comparison(
                tau,
                out / "allen" / name if detailed else None,
                allen_table,
                name,
                selection,
                detailed,
            )
        results["configurations"][name] = entry
    accs = {n: {s: r["accuracy"] for s, r in runs.items()} for n, runs in all_runs.items()}
    results["paired_differences"] = paired_differences(accs, comparison_pairs(all_runs))
    results["robustness"] = _robustness(all_runs)
    results["tau_convergence"] = _convergence(all_runs, n_boot, n_perm)
    results["tau_biology"] = _biology(all_runs, named, n_boot, n_perm)
    if results["configurations"]:
        from .heterogeneity_figures import draw_figures

        draw_figures(results, all_runs, named, out)
    return results


def _allen_comparison(tau, folder, table, name, selection, detailed):
    try:
        from ..analysis import allen as allen_stats

        frame = allen_stats.compare_learned(
            tau,
            out=folder,
            table=table,
            n_boot=200 if detailed else 0,
            n_perm=200 if detailed else 100,
            learned_label=label_of(name),
            **selection,
        )
        return json.loads(frame.to_json(orient="records"))
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def _convergence(all_runs: dict, n_boot: int, n_perm: int) -> dict | None:
    """Do the homogeneous and heterogeneous starts, both trained, end in one distribution?"""
    a, b = all_runs.get("hom_init_het_train"), all_runs.get("het_init_het_train")
    if not a or not b:
        return None
    out = {"a": "hom_init_het_train", "b": "het_init_het_train"}
    for p in ("tau_m", "tau_syn"):
        x = np.concatenate([r[p] for r in a.values()])
        y = np.concatenate([r[p] for r in b.values()])
        if x.size > 1 and y.size > 1 and np.ptp(x) > 0 and np.ptp(y) > 0:
            out[p] = _two_sample(x, y, n_boot, n_perm)
    return out


def _biology(all_runs: dict, named: dict | None, n_boot: int, n_perm: int) -> dict | None:
    """Learned tau_m of every configuration against each Allen selection, raw and normalised."""
    if not named:
        return None
    out = {}
    for name, runs in all_runs.items():
        tau = np.concatenate([r["tau_m"] for r in runs.values()])
        if tau.size < 2 or np.ptp(tau) <= 0:
            continue
        out[name] = {
            sel: _two_sample(tau, cells, n_boot, n_perm)
            for sel, cells in named.items()
            if cells.size > 1
        }
    return out


def _fmt_pct(mean, interval=None):
    if mean is None:
        return "n/a"
    text = f"{100 * mean:.1f}"
    if interval is not None:
        text += f" [{100 * interval[0]:.1f}, {100 * interval[1]:.1f}]"
    return text


def results_table(results: Mapping) -> str:
    """The results as Markdown: accuracies (mean [95 % bootstrap interval]) per configuration,
    paired differences with their tests, robustness, learned tau fits."""
    lines = [
        f"Dataset: {results['dataset']}; Brian2 target: {results['backend']}",
        "",
        "| configuration | test accuracy (%) mean [95 % CI] | SD | runs | Brian2 accuracy (%) | "
        "Brian2 agreement (%) mean / min | learned tau_m (ms) median [IQR] | tau_m CV |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for _name, e in results["configurations"].items():
        t = e["tau_m_ms"]
        tau = f"{t['median']:.1f} [{t['q25']:.1f}, {t['q75']:.1f}]" if t.get("n") else "n/a"
        agree = (
            "n/a"
            if e["brian2_agreement"] is None
            else f"{100 * e['brian2_agreement']:.2f} / {100 * e['brian2_agreement_min']:.2f}"
        )
        lines.append(
            f"| {e['label']} | {_fmt_pct(e['accuracy_mean'], e.get('accuracy_ci95'))} | "
            f"{100 * e['accuracy_sd']:.1f} | {e['n_runs']} | "
            f"{_fmt_pct(e['brian2_accuracy_mean'])} | {agree} | {tau} | "
            f"{t.get('cv', float('nan')):.2f} |"
        )
    lines += _pairs_lines(results.get("paired_differences") or [])
    lines += _fits_lines(results["configurations"])
    lines += _tau_test_lines(results.get("tau_convergence"), results.get("tau_biology"))
    a = results["allen"]
    lines.append("")
    if a["available"]:
        t = a["tau_m_ms"]
        lines.append(
            f"Allen Cell Types Database ({', '.join(f'{k}={v}' for k, v in a['selection'].items())}, "
            f"n = {a['n_cells']} cells): tau_m median {t['median']:.1f} ms "
            f"[{t['q25']:.1f}, {t['q75']:.1f}], CV {t['cv']:.2f}."
        )
    else:
        lines.append(f"Allen Cell Types data not available: {a['error']}")
    if results.get("wall_time_s") is not None:
        lines.append(f"Wall time: {results['wall_time_s'] / 60:.1f} min.")
    return "\n".join(lines) + "\n"


def _pairs_lines(pairs: list) -> list[str]:
    if not pairs:
        return []
    lines = [
        "",
        "Paired differences (b - a, same seeds; sign-flip permutation test; Holm over the pairs):",
        "",
        "| a | b | difference (points) [95 % CI] | p | p (Holm) | significant at 5 % |",
        "|---|---|---|---|---|---|",
    ]
    for d in pairs:
        lo, hi = d["ci95"]
        verdict = (
            "yes" if d["significant_holm"] else ("unadjusted only" if d["significant"] else "no")
        )
        lines.append(
            f"| {d['a']} | {d['b']} | {100 * d['mean']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}] | "
            f"{d['p_value']:.3f} | {d['p_holm']:.3f} | {verdict} |"
        )
    n = min(d["n"] for d in pairs)
    if n < 6:
        lines.append(
            f"\nWith {n} paired seeds the smallest possible p is {2 / 2**n:.3f}: "
            "no difference can be significant at 5 %."
        )
    return lines


def _tau_test_lines(convergence: Mapping | None, biology: Mapping | None) -> list[str]:
    """Kolmogorov-Smirnov tests of the learned tau: homogeneous against heterogeneous start
    (both trained), and each configuration against each Allen selection."""
    lines = []
    if convergence:
        for p in ("tau_m", "tau_syn"):
            if p in convergence:
                raw, med = convergence[p]["raw"], convergence[p]["median"]
                lines.append(
                    f"- {p}, homogeneous vs heterogeneous start (both trained): KS "
                    f"{raw['ks_statistic']:.2f} (p = {raw['ks_pvalue']:.2g}); median-normalised "
                    f"KS {med['ks_statistic']:.2f} (p = {med['ks_pvalue']:.2g})"
                )
    rows = [
        f"| {name} | {sel} | {t['raw']['ks_statistic']:.2f} ({t['raw']['ks_pvalue']:.2g}) | "
        f"{t['median']['ks_statistic']:.2f} ({t['median']['ks_pvalue']:.2g}) |"
        for name, per in (biology or {}).items()
        for sel, t in per.items()
    ]
    if rows:
        lines += [
            "",
            "| configuration | Allen selection | KS raw (p) | KS median-normalised (p) |",
            "|---|---|---|---|",
            *rows,
        ]
    return ([""] + lines) if lines else []


def _fits_lines(configurations: Mapping) -> list[str]:
    rows = [
        f"| {name} | {p} | {f['gamma']['shape']:.2f} | {f['gamma']['scale_ms']:.2f} | "
        f"{f['lognorm']['sigma']:.2f} | {f['lognorm']['scale_ms']:.2f} |"
        for name, e in configurations.items()
        for p in ("tau_m", "tau_syn")
        if (f := e.get(f"{p}_fit"))
    ]
    if not rows:
        return []
    return [
        "",
        "| configuration | parameter | gamma shape | gamma scale (ms) | log-normal sigma | "
        "log-normal scale (ms) |",
        "|---|---|---|---|---|---|",
        *rows,
    ]

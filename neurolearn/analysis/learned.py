"""Learned against measured time constants (Perez-Nieves et al. 2021, Nat. Commun. 12:5791,
Fig. 5: the membrane time constants a spiking network learns resemble those of real neurons).

A training run folder ``RUN/`` holds ``parameters.csv`` with one row per neuron: columns
``layer``, ``neuron`` and per-neuron parameters with unit suffixes, at least ``tau_m_ms``
(possibly ``tau_syn_ms``...). :func:`read_run_parameters` reads it;
:func:`compare_tau` and :func:`write_tau_comparison` take plain arrays of tau in ms, so that
any code holding a trained model can call them directly.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..io import atomic_write_json, atomic_write_text, finite_or_none
from .distributions import as_positive_sample, describe, fit_distribution
from .twosample import compare_samples

__all__ = [
    "read_run_parameters",
    "learned_tau_ms",
    "hidden_layers",
    "compare_tau",
    "fits_table",
    "write_tau_comparison",
]


def read_run_parameters(run: str | os.PathLike) -> pd.DataFrame:
    """Per-neuron parameters of a training run.

    Parameters
    ----------
    run : path
        The run folder (holding ``parameters.csv``) or the CSV file itself.

    Returns
    -------
    pandas.DataFrame, shape (n_neurons, n_columns)

    Raises
    ------
    FileNotFoundError
        If the folder or ``parameters.csv`` does not exist.
    ValueError
        If the CSV lacks the ``layer`` or ``neuron`` column (the message names it).
    """
    path = Path(run)
    if path.is_dir():
        path = path / "parameters.csv"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no such file (a training run folder holds parameters.csv, one row per neuron)"
        )
    table = pd.read_csv(path)
    for column in ("layer", "neuron"):
        if column not in table.columns:
            raise ValueError(
                f"{path}: missing column {column!r} (columns: {', '.join(table.columns)})"
            )
    return table


def hidden_layers(run: str | os.PathLike) -> list[str]:
    """The hidden layers of a training run: the values of ``parameters.csv``'s ``layer``
    column that start with ``hidden`` (``hidden0``, ``hidden1``...), in file order; the
    readout's leaky integrators are not learned neurons of the task. The main job
    (:mod:`neurolearn.reproductions.heterogeneity`) compares these with the Allen cells.

    Parameters
    ----------
    run : path
        Run folder or its ``parameters.csv``.

    Returns
    -------
    list of str
        Empty if the file has no such layer.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`read_run_parameters`.
    """
    names = [str(v) for v in read_run_parameters(run)["layer"].unique()]
    return [name for name in names if name.startswith("hidden")]


def _python_scalar(value):
    """A NumPy scalar as the Python scalar it holds (its repr in messages is then ``20.0``,
    not NumPy 2's ``np.float64(20.0)``); anything else unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def learned_tau_ms(
    run: str | os.PathLike, column: str = "tau_m_ms", layers: Sequence[str] | None = None
) -> np.ndarray:
    """Per-neuron time constants (ms) of a training run.

    Parameters
    ----------
    run : path
        Run folder or its ``parameters.csv``.
    column : str
        Column to read (``tau_m_ms``; ``tau_syn_ms`` for synaptic time constants).
    layers : sequence of str, optional
        Keep only these network layers (values of the ``layer`` column).

    Returns
    -------
    ndarray, shape (n_neurons,)
        Values in ms.

    Raises
    ------
    ValueError
        Missing column or unknown layer (the message names it and lists what exists), or a
        value that is not finite and > 0 (the message names the row).
    FileNotFoundError
        If the run has no ``parameters.csv``.
    """
    table = read_run_parameters(run)
    source = Path(run) / "parameters.csv" if Path(run).is_dir() else Path(run)
    if column not in table.columns:
        raise ValueError(
            f"{source}: missing column {column!r} (columns: {', '.join(table.columns)})"
        )
    if layers:
        known = [str(v) for v in table["layer"].unique()]
        unknown = [layer for layer in layers if str(layer) not in known]
        if unknown:
            raise ValueError(f"{source}: unknown layer(s) {unknown}; layers: {', '.join(known)}")
        table = table[table["layer"].astype(str).isin([str(v) for v in layers])]
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(float)
    bad = np.flatnonzero(~np.isfinite(values) | (values <= 0))
    if bad.size:
        row = table.iloc[bad[0]].map(_python_scalar)
        raise ValueError(
            f"{source}: {column} must be finite and > 0; layer {row['layer']!r} "
            f"neuron {row['neuron']!r} has {row[column]!r}"
        )
    return as_positive_sample(values, f"{source}:{column}")


_RENAME = {
    "n_a": "n_learned",
    "n_b": "n_measured",
    "median_a": "median_learned",
    "median_b": "median_measured",
    "iqr_a": "iqr_learned",
    "iqr_b": "iqr_measured",
}


def compare_tau(
    learned_tau_ms: Any,
    measured_tau_ms: Any,
    learned_label: str = "learned",
    reference_label: str = "measured",
    n_boot: int = 2000,
    n_perm: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Two-sample comparison of learned and measured time constants, raw and normalised.

    Parameters
    ----------
    learned_tau_ms : array-like, shape (n_learned,)
        Per-neuron tau of the trained network (ms), finite and > 0.
    measured_tau_ms : array-like, shape (n_measured,)
        Measured tau (ms), e.g. an Allen Cell Types selection.
    learned_label, reference_label : str
        Names written in the table.
    n_boot, n_perm : int
        Bootstrap and permutation resamples (see
        :func:`neurolearn.analysis.compare_samples`).
    confidence : float
        Level of the bootstrap intervals.
    seed : int or None
        Seed of the resampling.

    Returns
    -------
    pandas.DataFrame, 2 rows
        ``scale`` (``raw``, ``median-normalised``), ``unit`` (``ms`` or ``1``) of the
        location/spread/distance columns of that row, ``learned``, ``measured`` (labels),
        ``n_learned``, ``n_measured``, ``median_learned``, ``median_measured``, ``iqr_learned``,
        ``iqr_measured``, ``ks_statistic``, ``ks_pvalue``, ``wasserstein``,
        ``wasserstein_pvalue``, ``median_diff`` (learned - measured) with
        ``median_diff_ci_low/high``, ``iqr_diff`` with ``iqr_diff_ci_low/high``, ``confidence``.

    Raises
    ------
    ValueError
        If a sample is not finite and positive.
    """
    a = as_positive_sample(learned_tau_ms, "learned tau_ms")
    b = as_positive_sample(measured_tau_ms, "measured tau_ms")
    rows = []
    for normalise, unit in ((None, "ms"), ("median", "1")):
        d = compare_samples(
            a,
            b,
            normalise=normalise,
            n_boot=n_boot,
            n_perm=n_perm,
            confidence=confidence,
            seed=seed,
        ).to_dict()
        row = {
            "scale": d.pop("scale"),
            "unit": unit,
            "learned": learned_label,
            "measured": reference_label,
        }
        for key, value in d.items():
            row[_RENAME.get(key, key)] = value
        rows.append(row)
    return pd.DataFrame(rows)


def fits_table(
    samples: dict,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
    unit: str = "ms",
    notes: dict | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Gamma and log-normal fits of several samples, as a long table.

    Parameters
    ----------
    samples : dict
        ``name -> positive values`` in ``unit``.
    n_boot, confidence, seed
        Bootstrap settings (:func:`neurolearn.analysis.fit_distribution`).
    unit : str
        Unit of the samples (the ``scale`` parameter carries it).
    notes : dict, optional
        When given, a sample that cannot be fitted (no spread: every value equal, where the
        maximum-likelihood equations have no solution) is skipped rather than raising, and
        ``notes[name]`` says why; its fits are then absent from both results.

    Returns
    -------
    (pandas.DataFrame, dict)
        Table with one row per (sample, distribution, parameter): ``sample``,
        ``distribution``, ``parameter``, ``unit``, ``value``, ``ci_low``, ``ci_high``, ``n``,
        ``aic``, ``chi2``, ``chi2_dof``, ``chi2_p``, ``ks``, ``ks_p``; and the fits as
        ``{sample: {family: DistributionFit}}``.
    """
    rows, fits = [], {}
    for i, (name, values) in enumerate(samples.items()):
        if notes is not None:
            x = np.asarray(values, dtype=float)
            if x.size and np.ptp(x) == 0:
                notes[name] = (
                    f"no spread (all {x.size} values are {x[0]:.6g} {unit}): gamma and "
                    "log-normal fits skipped"
                )
                continue
        fitted = {}
        for j, family in enumerate(("gamma", "lognorm")):
            try:
                fitted[family] = fit_distribution(
                    values,
                    family,
                    n_boot=n_boot,
                    confidence=confidence,
                    seed=None if seed is None else seed + 2 * i + j,
                )
            except ValueError as exc:
                if notes is None:
                    raise
                notes[name] = f"{family} fit failed ({exc}); fits skipped"
                break
        if name in (notes or {}):
            continue
        fits[name] = fitted
        for family, fit in fitted.items():
            for param, value in fit.params.items():
                lo, hi = fit.ci[param]
                rows.append(
                    {
                        "sample": name,
                        "distribution": family,
                        "parameter": param,
                        "unit": unit if param == "scale" else "1",
                        "value": value,
                        "ci_low": lo,
                        "ci_high": hi,
                        "n": fit.n,
                        "aic": fit.aic,
                        **{k: fit.gof[k] for k in ("chi2", "chi2_dof", "chi2_p", "ks", "ks_p")},
                    }
                )
    return pd.DataFrame(rows), fits


def write_tau_comparison(
    learned_tau_ms: Any,
    measured_tau_ms: Any,
    out: str | os.PathLike,
    learned_label: str = "learned",
    reference_label: str = "Allen",
    n_boot: int = 2000,
    n_perm: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> dict:
    """Compare learned with measured tau and write the tables and figures into ``out``.

    Files (each written atomically): ``tau_comparison.csv`` (:func:`compare_tau`),
    ``tau_fits.csv`` (:func:`fits_table` of both samples), ``tau_comparison.json`` (both, plus
    descriptive statistics and labels), ``tau_learned_vs_measured.{pdf,svg,png}`` (overlaid
    histograms with fitted gamma densities, raw and median-normalised) and
    ``tau_qq.{pdf,svg,png}`` (two-sample Q-Q plots).

    Parameters
    ----------
    learned_tau_ms, measured_tau_ms : array-like
        Positive samples in ms.
    out : path
        Output folder (created).
    learned_label, reference_label : str
        Names in tables and legends.
    n_boot, n_perm, confidence, seed
        Resampling settings.

    Returns
    -------
    dict
        ``{"table": DataFrame, "fits": DataFrame, "files": [Path, ...], "notes": {label:
        str}}``; ``notes`` says which sample's fits were skipped and why (a population
        without spread, e.g. homogeneous time constants: every value equal), the rest is
        computed as usual.

    Raises
    ------
    ValueError
        If a sample is not finite and positive.
    """
    from ..figures import save_figure
    from .plots import overlay_figure, qq_figure

    a = as_positive_sample(learned_tau_ms, "learned tau_ms")
    b = as_positive_sample(measured_tau_ms, "measured tau_ms")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = compare_tau(
        a,
        b,
        learned_label,
        reference_label,
        n_boot=n_boot,
        n_perm=n_perm,
        confidence=confidence,
        seed=seed,
    )
    notes: dict = {}
    fits_df, fits = fits_table(
        {learned_label: a, reference_label: b},
        n_boot=n_boot,
        confidence=confidence,
        seed=seed,
        notes=notes,
    )
    files = [
        atomic_write_text(out / "tau_comparison.csv", table.to_csv(index=False)),
        atomic_write_text(out / "tau_fits.csv", fits_df.to_csv(index=False)),
    ]
    summary = {
        key: {
            "label": label,
            "tau_ms": describe(x),
            **{f: fit.to_dict(unit="ms") for f, fit in fits.get(label, {}).items()},
            **({"note": notes[label]} if label in notes else {}),
        }
        for key, label, x in (("learned", learned_label, a), ("measured", reference_label, b))
    }
    summary["comparison"] = table.to_dict(orient="records")
    files.append(atomic_write_json(out / "tau_comparison.json", finite_or_none(summary)))

    def gamma(name):
        fit = fits.get(name, {}).get("gamma")
        return {} if fit is None else {"gamma": tuple(fit.params.values())}

    fig = overlay_figure(
        a, b, gamma(learned_label), gamma(reference_label), names=(learned_label, reference_label)
    )
    files += save_figure(fig, out / "tau_learned_vs_measured")
    files += save_figure(qq_figure(a, b, names=(learned_label, reference_label)), out / "tau_qq")
    return {"table": table, "fits": fits_df, "files": files, "notes": notes}

"""What a training run writes besides its checkpoint and ``summary.json``: ``metrics.csv``,
``network.h5``, ``parameters.csv`` and the learning curves."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from brian2.units.fundamentalunits import Quantity, get_unit

from .. import bridge
from ..figures import new_figure, save_figure, styled
from ..io import atomic_write_text

__all__ = [
    "METRIC_COLUMNS",
    "write_metrics",
    "read_metrics",
    "write_parameters_csv",
    "network_parameters",
    "plot_learning_curves",
    "write_run_outputs",
]

#: Columns of ``metrics.csv`` always present (more follow: mean learned parameters).
METRIC_COLUMNS = (
    "epoch",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "lr_weights",
    "lr_tau",
)


def write_metrics(path: str | Path, rows: Sequence[Mapping]) -> None:
    """Write the rows of ``metrics.csv`` atomically: the columns of :data:`METRIC_COLUMNS`,
    then every further key in the order it first appears; floats written with ``repr`` (so
    they read back exactly), missing values empty."""
    columns = list(METRIC_COLUMNS)
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: (repr(float(v)) if isinstance(v, float) else v) for k, v in row.items()}
        )
    atomic_write_text(path, out.getvalue())


def read_metrics(path: str | Path) -> list[dict]:
    """Rows of a ``metrics.csv`` as dicts of floats (``epoch`` as int)."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for row in rows:
        out.append(
            {
                k: (int(v) if k == "epoch" else (float(v) if v not in ("", None) else float("nan")))
                for k, v in row.items()
            }
        )
    return out


_UNIT_SUFFIX = {
    "second": ("ms", 1e3),
    "volt": ("mV", 1e3),
    "ohm": ("Mohm", 1e-6),
    "amp": ("nA", 1e9),
    "siemens": ("nS", 1e9),
    "farad": ("pF", 1e12),
    "hertz": ("Hz", 1.0),
}


def write_parameters_csv(path: str | Path, layers: Sequence[tuple[str, Mapping[str, Any]]]) -> Path:
    """Write per-neuron parameters, one row per neuron, with units as column suffixes.

    Parameters
    ----------
    path : str or Path
        Destination (written atomically).
    layers : sequence of (layer name, mapping of parameter name -> values)
        Values are Brian2 quantities (scalar or one per neuron) or plain floats/arrays
        (dimensionless). Time constants become ``<name>_ms``, voltages ``<name>_mV``,
        resistances ``<name>_Mohm``, currents ``<name>_nA``...

    Returns
    -------
    Path

    Notes
    -----
    The columns are ``layer``, ``neuron`` and one per parameter; ``tau_m_ms`` is present for
    every model with a membrane time constant. :mod:`neurolearn.analysis` reads this file to
    compare learned time constants with the Allen Cell Types Database.
    """
    frames = []
    for layer, params in layers:
        columns = {}
        n = max((np.size(v) for v in params.values()), default=0)
        for name, value in params.items():
            col, arr = _with_unit(name, value)
            arr = np.broadcast_to(
                np.asarray(arr, dtype=float).reshape(-1)
                if np.size(arr) > 1
                else np.asarray(arr, dtype=float).reshape(()),
                (n,),
            )
            columns[col] = arr
        frame = pd.DataFrame(columns)
        frame.insert(0, "neuron", np.arange(n))
        frame.insert(0, "layer", layer)
        frames.append(frame)
    table = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["layer", "neuron"])
    )
    atomic_write_text(path, table.to_csv(index=False, float_format="%.9g"))
    return Path(path)


def _with_unit(name: str, value):
    if isinstance(value, Quantity) and not value.is_dimensionless:
        unit = repr(get_unit(value.dim))
        if unit in _UNIT_SUFFIX:
            suffix, factor = _UNIT_SUFFIX[unit]
            return f"{name}_{suffix}", np.asarray(value) * factor
        return f"{name}_{unit}", np.asarray(value)
    return name, np.asarray(value, dtype=float)


@styled
def plot_learning_curves(metrics: Sequence[Mapping], stem: str | Path, title: str = "") -> list:
    """Loss and accuracy per epoch (training and validation), saved with
    :func:`neurolearn.figures.save_figure`.

    Parameters
    ----------
    metrics : sequence of dict
        Rows of ``metrics.csv``.
    stem : str or Path
        Output path without suffix.

    Returns
    -------
    list of Path
    """
    from matplotlib.ticker import MaxNLocator

    epochs = [r["epoch"] for r in metrics]
    fig, (ax_loss, ax_acc) = new_figure(1, 2)
    ax_loss.plot(epochs, [r["train_loss"] for r in metrics], label="training")
    ax_loss.plot(epochs, [r["val_loss"] for r in metrics], label="validation")
    ax_loss.set_ylabel("cross-entropy loss")
    ax_acc.plot(epochs, [100 * r["train_accuracy"] for r in metrics])
    ax_acc.plot(epochs, [100 * r["val_accuracy"] for r in metrics])
    ax_acc.set_ylabel("accuracy (%)")
    for ax in (ax_loss, ax_acc):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    # one legend for both panels, below them (off the data)
    fig.legend(loc="outside lower center", ncols=2, frameon=False)
    if title:
        fig.suptitle(title)
    return save_figure(fig, stem)


def network_parameters(net) -> list:
    """Per-neuron parameters of every layer of a :class:`neurolearn.torch.SpikingNetwork`
    as ``[(layer name, {parameter: Brian2 Quantity [neurons]})]`` (hidden layers, then the
    readout; the unique names of ``net.named_layers()``), the input of
    :func:`write_parameters_csv`."""
    out = []
    for lname, layer in net.named_layers():
        values = {}
        for name, p in layer.spec.parameters.items():
            if not p.per_neuron or name not in layer.param_units:
                continue
            si = np.broadcast_to(
                np.asarray(layer.parameter_si(name), dtype=float), (layer.n,)
            ).copy()
            values[name] = Quantity(si, dim=p.dim)
        out.append((lname, values))
    return out


def write_run_outputs(out_dir: str | Path, network, metrics: Sequence[Mapping], title: str = ""):
    """The outputs of a trained network in ``out_dir``: ``network.h5``
    (:func:`neurolearn.bridge.save_network`), ``parameters.csv`` (:func:`write_parameters_csv`
    of :func:`network_parameters`) and ``learning_curves.{pdf,svg,png}``
    (:func:`plot_learning_curves`), each written atomically.

    Parameters
    ----------
    out_dir : str or Path
    network : neurolearn.torch.SpikingNetwork
        Moved to the CPU first (the outputs are device-independent).
    metrics : sequence of dict
        Rows of ``metrics.csv``.
    title : str
        Title of the learning curves.
    """
    out_dir = Path(out_dir)
    network.to("cpu")
    bridge.save_network(network, out_dir / "network.h5")
    write_parameters_csv(out_dir / "parameters.csv", network_parameters(network))
    plot_learning_curves(metrics, out_dir / "learning_curves", title=title)

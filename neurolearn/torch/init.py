"""Initial values of per-neuron parameters: display units, distributions of heterogeneous
initial values, and the four training configurations of Perez-Nieves et al. (2021).

Every parameter is *stored* as a number in a display unit (``tau_m`` in ms, voltages in mV,
currents in nA, conductances in nS: :data:`neurolearn.torch.compiler.SI_DISPLAY_UNITS`), see
:func:`display_unit`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ..spec import parse_quantity
from .compiler import SI_DISPLAY_UNITS

__all__ = [
    "DISTRIBUTIONS",
    "PEREZ_NIEVES_CONFIGS",
    "display_unit",
    "init_parameter",
    "perez_nieves_config",
]

#: Initial distributions of per-neuron parameters (see :func:`init_parameter`).
DISTRIBUTIONS = ("constant", "uniform", "gamma", "lognormal")

#: The four configurations of Perez-Nieves, Leung, Dragotti & Goodman (2021) Nat. Commun.
#: 12:5791 ("Neural heterogeneity promotes robust learning"), Fig. 2: name ->
#: (heterogeneous initialisation, time constants trained).
PEREZ_NIEVES_CONFIGS = {
    "hom_init_std_train": (False, False),
    "het_init_std_train": (True, False),
    "hom_init_het_train": (False, True),
    "het_init_het_train": (True, True),
}


def display_unit(unit) -> tuple[str, float]:
    """Display unit (name, value in SI) for a Brian2 unit or dimension, e.g. ``('ms', 1e-3)``
    for second; SI itself when the table has no entry."""
    name = repr(unit).replace(" ", "") if unit is not None else "1"
    name = {"volt/second": "volt/second", "metre**0": "1"}.get(name, name)
    disp = SI_DISPLAY_UNITS.get(name)
    if disp is None:
        return (name, 1.0)
    if disp == "1":
        return ("1", 1.0)
    return (disp, float(parse_quantity(f"1 {disp}")))


def init_parameter(
    mean: float,
    n: int,
    distribution: str = "constant",
    *,
    k: float = 3.0,
    cv: float = 0.5,
    width: float = 0.5,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw ``n`` per-neuron values around ``mean`` (float64 tensor, same unit as ``mean``).

    Parameters
    ----------
    mean : float
        Homogeneous value (mean of every distribution).
    distribution : {"constant", "uniform", "gamma", "lognormal"}
        ``constant``: all equal (homogeneous). ``uniform``: on ``[mean (1 - width),
        mean (1 + width)]``. ``gamma``: shape ``k``, scale ``mean/k`` (Perez-Nieves et al. 2021
        used k = 3 around the homogeneous time constant; coefficient of variation
        ``1/sqrt(k)``). ``lognormal``: coefficient of variation ``cv``
        (``sigma**2 = log(1 + cv**2)``, ``mu = log(mean) - sigma**2/2``).
    generator : torch.Generator, optional
        Source of randomness (reproducible draws).

    Raises
    ------
    ValueError
        Unknown distribution, or a non-positive ``k``/``cv``/``width`` or mean for the
        positive distributions.
    """
    g = generator
    if distribution == "constant":
        return torch.full((n,), float(mean), dtype=torch.float64)
    if distribution == "uniform":
        if not 0 <= width:
            raise ValueError(f"uniform width must be >= 0, got {width}")
        u = torch.rand(n, generator=g, dtype=torch.float64)
        return float(mean) * (1.0 - width + 2.0 * width * u)
    if distribution in ("gamma", "lognormal") and not float(mean) > 0:
        raise ValueError(f"a {distribution} distribution needs a positive mean, got {mean}")
    if distribution == "gamma":
        if not k > 0:
            raise ValueError(f"gamma shape k must be > 0, got {k}")
        # Marsaglia-Tsang through torch's standard gamma (reparameterised, seeded by g)
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=g))
        x = torch.from_numpy(np.random.default_rng(seed).gamma(float(k), 1.0, n))
        return x * float(mean) / float(k)
    if distribution == "lognormal":
        if not cv > 0:
            raise ValueError(f"log-normal cv must be > 0, got {cv}")
        s2 = math.log(1.0 + cv * cv)
        z = torch.randn(n, generator=g, dtype=torch.float64)
        return torch.exp(math.log(float(mean)) - s2 / 2 + math.sqrt(s2) * z)
    raise ValueError(
        f"unknown distribution '{distribution}'; expected one of {', '.join(DISTRIBUTIONS)}"
    )


def perez_nieves_config(
    name: str,
    taus: Sequence[str] = ("tau_m", "tau_syn"),
    distribution: str = "gamma",
    k: float = 3.0,
):
    """Heterogeneity and trainable-parameter arguments of one Perez-Nieves et al. (2021)
    configuration.

    Parameters
    ----------
    name : str
        One of :data:`PEREZ_NIEVES_CONFIGS`: ``hom_init_std_train`` (homogeneous init, weights
        only), ``het_init_std_train`` (heterogeneous init, weights only), ``hom_init_het_train``
        (homogeneous init, weights and taus), ``het_init_het_train`` (both).
    taus : sequence of str
        Time constants concerned.

    Returns
    -------
    dict
        ``{"heterogeneity": {...}, "trainable": (...)}`` to pass to :class:`SpikingLayer`.

    Raises
    ------
    ValueError
        Unknown configuration name (lists the four).
    """
    if name not in PEREZ_NIEVES_CONFIGS:
        raise ValueError(
            f"unknown heterogeneity configuration '{name}'; expected one of "
            f"{', '.join(PEREZ_NIEVES_CONFIGS)}"
        )
    het, train = PEREZ_NIEVES_CONFIGS[name]
    heterogeneity = {t: {"distribution": distribution, "k": k} for t in taus} if het else {}
    return {"heterogeneity": heterogeneity, "trainable": tuple(taus) if train else ()}

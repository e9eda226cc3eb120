"""Compatibility module: the names :mod:`neurolearn.torch.layers` held before it was split.

The code now lives in :mod:`neurolearn.torch.layer` (:class:`SpikingLayer`,
:class:`LeakyReadout`), :mod:`neurolearn.torch.network` (:class:`SpikingNetwork`),
:mod:`neurolearn.torch.init` (initial values, Perez-Nieves configurations),
:mod:`neurolearn.torch.step` (the order within a time step), :mod:`neurolearn.torch.fused`
(fused time loops) and :mod:`neurolearn.torch.sparse` (products with spikes). Import from
there (or from :mod:`neurolearn.torch`) in new code.
"""

from .init import (
    DISTRIBUTIONS,
    PEREZ_NIEVES_CONFIGS,
    display_unit,
    init_parameter,
    perez_nieves_config,
)
from .layer import LeakyReadout, NonFiniteError, SpikingLayer, readout_model
from .network import SpikingNetwork

__all__ = [
    "NonFiniteError",
    "SpikingLayer",
    "LeakyReadout",
    "SpikingNetwork",
    "init_parameter",
    "DISTRIBUTIONS",
    "PEREZ_NIEVES_CONFIGS",
    "perez_nieves_config",
    "readout_model",
    "display_unit",
]

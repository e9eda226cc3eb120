"""Networks in and out of the Neuromorphic Intermediate Representation (NIR): the public names
of :mod:`neurolearn.bridge.nir` (conventions, primitives and units are documented there and in
docs/tutorials/nir.md).

Example
-------
>>> from neurolearn.nir import from_nir, write_nir
>>> net = from_nir("snntorch_net.nir", dt=1e-4, discretisation="euler")  # doctest: +SKIP
>>> write_nir(net, "net.nir")  # doctest: +SKIP
"""

from __future__ import annotations

from .bridge.nir import (
    DISCRETISATIONS,
    MISSING_PRIMITIVES,
    PRIMITIVES,
    from_nir,
    nir_model,
    read_nir,
    run_nir,
    to_nir,
    write_nir,
)

__all__ = [
    "DISCRETISATIONS",
    "PRIMITIVES",
    "MISSING_PRIMITIVES",
    "nir_model",
    "to_nir",
    "write_nir",
    "from_nir",
    "read_nir",
    "run_nir",
]

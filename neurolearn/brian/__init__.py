"""Brian2 side of neurolearn: build networks from model specs and run them on any backend.

* :mod:`neurolearn.brian.build`: spec -> Brian2 NeuronGroup / input groups / Synapses;
* :mod:`neurolearn.brian.backends`: the backend table (numpy, cython, cpp_standalone,
  cuda_standalone), :func:`use_backend` without state leaking between simulations, and
  ``Backend.run``, the one function that runs a Brian2 network on any backend;
* :mod:`neurolearn.brian.network`: :class:`NetworkSpec` -> :class:`Simulation`
  (:mod:`neurolearn.brian.simulation`) -> :class:`Results`; the elements and their checks in
  :mod:`neurolearn.brian.elements`;
* :mod:`neurolearn.brian.results`: results with units and their HDF5 file;
* :mod:`neurolearn.brian.single`: one population under a current or Poisson drive
  (``neurolearn simulate``);
* :mod:`neurolearn.brian.plasticity`: STDP synapses, windows and references;
  :mod:`neurolearn.brian.reward`: dopamine delivery;
* :mod:`neurolearn.brian.glif`: the allensdk GLIF state updater (``"allen_glif"``);
* :mod:`neurolearn.brian.cuda`: brian2cuda set-up (C++17, curand wheel, no-GPU machines).

Submodules are imported lazily (``from neurolearn.brian import NetworkSpec`` works) so that
importing :mod:`neurolearn.brian.build` alone stays cheap.
"""

from __future__ import annotations

import importlib

__all__ = [
    "BACKENDS",
    "use_backend",
    "Backend",
    "BackendUnavailableError",
    "BrianError",
    "NetworkSpec",
    "Simulation",
    "simulate",
    "Results",
    "SpikeTrains",
    "StateRecord",
    "RateRecord",
    "load_results",
]

_LAZY = {
    "BACKENDS": ("backends", "BACKENDS"),
    "use_backend": ("backends", "use_backend"),
    "Backend": ("backends", "Backend"),
    "BackendUnavailableError": ("backends", "BackendUnavailableError"),
    "BrianError": ("errors", "BrianError"),
    "NetworkSpec": ("network", "NetworkSpec"),
    "Simulation": ("network", "Simulation"),
    "simulate": ("network", "simulate"),
    "Results": ("results", "Results"),
    "SpikeTrains": ("results", "SpikeTrains"),
    "StateRecord": ("results", "StateRecord"),
    "RateRecord": ("results", "RateRecord"),
    "load_results": ("results", "load"),
}


def __getattr__(name):
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Networks in and out of the Neuromorphic Intermediate Representation (NIR).

NIR (Pedersen et al. 2024, Nat. Commun. 15:8122; the ``nir`` package) describes a spiking
network as a graph of continuous-time primitives (``Linear``/``Affine`` weights, ``LIF``,
``CubaLIF``, ``LI``, ``CubaLI``...) whose parameters are plain numbers. snnTorch, Norse,
Rockpool, Sinabs, Lava-DL and neuromorphic hardware read or write it. :func:`to_nir` writes a
:class:`neurolearn.torch.SpikingNetwork` as such a graph, :func:`from_nir` reads one back as a
network that runs in torch and, through :func:`neurolearn.bridge.to_brian2`, in Brian2 on every
backend.

Conventions (NIR leaves the time step and the discretisation to each tool)
--------------------------------------------------------------------------
Input between nodes
    A node's input in step ``n`` is the value ``x[n]`` of the step (``W @ spikes[n]``: a spike
    is the value 1 in its step), held over the step. A ``CubaLIF`` with
    ``tau_syn dI/dt = -I + w_in x`` therefore moves its current by ``w_in * x * dt/tau_syn``
    per step: the reading of snnTorch 1.0 (``w_in = tau_syn/dt``), Norse 1.1's importer and
    the Lava importer of the NIR paper. In neurolearn (and Brian2) that amount is the jump of
    the synaptic current ``I`` at the spike, the weight of the synapse.
Discretisation (``discretisation=``)
    ``"exact"``: the linear ODEs of each primitive integrated exactly between steps (Brian2's
    ``exact`` state updater; decay factors ``exp(-dt/tau)``), the jumps above at the steps.
    ``"euler"``: forward Euler (Brian2's ``euler``), decay factors ``1 - dt/tau`` as snnTorch
    (``beta = 1 - dt/tau``) and Norse compute them; with it, an imported snnTorch or Norse
    network gives that library's spikes.
Time step order
    Brian2's (:mod:`neurolearn.torch.step`): state update, threshold, synaptic propagation,
    reset. A spike's effect on the membrane appears in the next step, one step later than in
    snnTorch and Norse, which add a step's input before their threshold test: the spikes of
    layer ``k`` (counted from 1) are those of the library ``k`` steps later, spike for spike
    (tests/bridge/test_nir_libraries.py).
Units
    Times in seconds (as snnTorch, Norse and the Lava importer read and write them); every
    other quantity is a plain number. A neurolearn ``lif`` layer (volts, amperes, ohms) is
    written with its membrane potential measured from ``v_rest`` in units of
    ``v_th - v_rest`` (so ``v_leak = 0``, ``v_threshold = 1``, ``v_reset = (v_reset -
    v_rest)/(v_th - v_rest)``), its current in the unit that moves that potential by one per
    step of held input (``r = tau_mem/dt``, ``w_in = tau_syn/dt``): the form every importer we
    tested requires. The change of variables is exact; the SI scales are kept in the node's
    metadata.
Resets and refractoriness
    NIR resets to ``v_reset`` and has no refractory period. snnTorch 1.0's ``Leaky``,
    ``Synaptic`` and ``RSynaptic`` with ``reset_mechanism="zero"`` and the default
    ``reset_delay=True`` hold the membrane at zero for the step after a spike: import their
    graphs with ``refractory_steps=1``. snnTorch's importer builds ``reset_delay=False``
    neurons and Norse resets at once: export to them without a refractory period
    (``t_ref = 0``; :func:`to_nir` refuses ``t_ref > 0`` unless ``drop_refractory=True``).

Primitives (:data:`PRIMITIVES`)
-------------------------------
==========  =====================================  ===========================================
NIR         neurolearn                             notes
==========  =====================================  ===========================================
Input       network input ``[time, batch, n_in]``  one input node
Linear      ``W_in`` / ``W_rec`` of a layer        ``weight`` is ``[out, in]``
Affine      ``W_in`` / ``W_rec`` of a layer        bias must be zero (no bias in neurolearn)
CubaLIF     :func:`nir_model` ``nir_cuba_lif``;    exact or Euler; zoo ``lif`` exports to it
            zoo ``lif`` on export
LIF         :func:`nir_model` ``nir_lif``          Euler only: the input current is held for
                                                   one step (``tau_in = dt``)
CubaLI      leaky readout (``leaky_readout``)      ``v_leak = 0``
LI -> LI    leaky readout (``leaky_readout``)      how neurolearn writes its readout (synaptic
                                                   ``LI`` with ``r = tau_syn/dt``, membrane
                                                   ``LI`` with ``r = 1``); snnTorch 1.0 and
                                                   Norse 1.1 read neither ``LI`` nor ``CubaLI``:
                                                   ``to_nir(net, readout=False)`` for them
LI          leaky readout with ``tau_syn = dt``    Euler only
Output      last layer or readout                  one output node
cycle       ``W_rec`` (``neuron -> Linear ->       the neuron's own spikes, all to all
            neuron``)
NIRGraph    flattened                              nested graphs (snnTorch's ``RSynaptic``)
==========  =====================================  ===========================================

Any other primitive (``IF``, ``I``, ``Conv*``, ``Delay``, ``Flatten``, ``Threshold``...),
branching graphs and models without a NIR primitive raise :class:`neurolearn.spec.ModelError`
naming the node or model and what is missing.
"""

from __future__ import annotations

from .primitives import DISCRETISATIONS, MISSING_PRIMITIVES, PRIMITIVES, nir_model, read_nir
from .reader import from_nir, run_nir
from .writer import to_nir, write_nir

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

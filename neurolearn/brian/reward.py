"""Reward (dopamine) delivery to reward-modulated synapses (``rstdp``; Izhikevich 2007,
Cereb. Cortex 17:2443; Fremaux & Gerstner 2016, Front. Neural Circuits 9:85).

* :class:`RewardSchedule` + :func:`deliver_rewards`: precomputed reward times and amounts,
  played by a ``SpikeGeneratorGroup`` (every backend, including ``cpp_standalone`` and
  ``cuda_standalone``);
* :func:`reward_network_operation`: closed loop through a Python function of the network's
  state, called during the run (runtime backends ``numpy`` and ``cython`` only);
* :func:`pairing_reward`: closed loop written as equations inside the network (a critic neuron
  detecting a chosen pre -> post pairing and a bank of reward timers), so it runs in standalone
  mode and on the GPU too (Izhikevich 2007, "distal reward").

Dopamine lives in the *postsynaptic* neuron group as the variable ``dopamine`` (added to the
neuron model by ``rstdp``'s ``post_equations``); each reward adds its amount to ``dopamine`` of
every neuron of the target groups, so every plastic synapse onto them sees the same, global,
dopamine signal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from ..spec import ModelError

__all__ = [
    "RewardSchedule",
    "deliver_rewards",
    "reward_network_operation",
    "PairingReward",
    "pairing_reward",
    "dopamine_targets",
]

#: Time used for "no event yet / idle" in the reward circuits (finite: 0 * it is 0).
_NEVER_S = 1e9


def dopamine_targets(targets) -> list:
    """Normalise ``targets`` to a list of groups that carry ``dopamine``.

    Raises
    ------
    ModelError
        If a group has no ``dopamine`` variable (names the group).
    """
    if not isinstance(targets, (list, tuple)):
        targets = [targets]
    if not targets:
        raise ModelError("no dopamine target group given", parameter="targets")
    for g in targets:
        if "dopamine" not in getattr(g, "variables", {}):
            raise ModelError(
                f"group '{getattr(g, 'name', g)}' has no 'dopamine' variable; "
                f"build it with make_neuron_group(..., synapse_models=[(rstdp, "
                f"target)])",
                parameter="targets",
            )
    return list(targets)


@dataclasses.dataclass(frozen=True)
class RewardSchedule:
    """Precomputed rewards: times and dopamine amounts.

    Parameters
    ----------
    times : Quantity array or float array (seconds), shape (n,)
        When each reward arrives; >= 0.
    amounts : float or array of float, shape (n,)
        Dopamine added at each reward (dimensionless concentration, as ``rstdp``'s
        ``dopamine``; Izhikevich 2007 used 0.5). Negative amounts (punishment) are allowed.

    Raises
    ------
    ModelError
        Mismatched lengths, a non-finite value, or a negative time (names ``times`` or
        ``amounts``).
    """

    times: Any
    amounts: Any = 0.5

    def __post_init__(self):
        times = np.atleast_1d(np.asarray(self.times, dtype=float))
        amounts = (
            np.broadcast_to(np.asarray(self.amounts, dtype=float), times.shape).copy()
            if np.ndim(self.amounts) == 0
            else np.atleast_1d(np.asarray(self.amounts, float))
        )
        if times.ndim != 1:
            raise ModelError("reward schedule: times must be one-dimensional", parameter="times")
        if amounts.shape != times.shape:
            raise ModelError(
                f"reward schedule: {amounts.size} amounts for {times.size} times",
                parameter="amounts",
            )
        if not np.all(np.isfinite(times)) or np.any(times < 0):
            raise ModelError("reward schedule: times must be finite and >= 0 s", parameter="times")
        if not np.all(np.isfinite(amounts)):
            raise ModelError("reward schedule: amounts must be finite", parameter="amounts")
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "amounts", amounts)

    def check(self, duration, dt=None) -> None:
        """Raise unless every reward falls inside a run of length ``duration``.

        Parameters
        ----------
        duration : Quantity or float (seconds)
        dt : Quantity or float (seconds), optional
            Time step; rewards are delivered at the step containing their time.

        Raises
        ------
        ModelError
            Naming ``times`` and the first reward at or after the end of the run.
        """
        duration = float(duration)
        late = self.times[self.times >= duration]
        if late.size:
            raise ModelError(
                f"reward schedule: reward at t = {late[0]:g} s is outside the run "
                f"[0 s, {duration:g} s) ({late.size} such rewards)",
                parameter="times",
            )

    def binned(self, dt) -> tuple[np.ndarray, np.ndarray]:
        """Rewards merged per time step: (step indices, summed amounts), sorted by step."""
        steps = np.floor(self.times / float(dt) + 1e-9).astype(np.int64)
        uniq, inverse = np.unique(steps, return_inverse=True)
        return uniq, np.bincount(inverse, weights=self.amounts, minlength=uniq.size)


def deliver_rewards(
    schedule: RewardSchedule, targets, duration, dt=None, name: str = "reward"
) -> list:
    """Brian2 objects that add each scheduled reward to ``dopamine`` of the target groups.

    A ``SpikeGeneratorGroup`` with one source per distinct reward amount fires at the reward
    times; synapses from it to every neuron of the targets run ``dopamine_post += amount``.
    Works in every backend (runtime, ``cpp_standalone``, ``cuda_standalone``).

    Parameters
    ----------
    schedule : RewardSchedule
    targets : group or list of groups with a ``dopamine`` variable
    duration : Quantity
        Length of the run the rewards belong to (every reward must fall inside it).
    dt : Quantity, optional
        Time step (default ``defaultclock.dt``); rewards in the same step are summed.
    name : str
        Prefix of the Brian2 object names.

    Returns
    -------
    list of Brian2 objects
        Add them to the ``Network`` (the first one is the ``SpikeGeneratorGroup``).

    Raises
    ------
    ModelError
        A reward outside ``[0, duration)`` (names ``times``) or a target without dopamine.
    """
    from brian2 import SpikeGeneratorGroup, Synapses, defaultclock, second

    targets = dopamine_targets(targets)
    dt = defaultclock.dt if dt is None else dt
    schedule.check(duration, dt)
    steps, amounts = schedule.binned(dt)
    if steps.size == 0:
        return []
    values, index = np.unique(amounts, return_inverse=True)
    gen = SpikeGeneratorGroup(
        len(values), index, steps * float(dt) * second, dt=dt, name=f"{name}_times"
    )
    objects = [gen]
    for g in targets:
        syn = Synapses(
            gen,
            g,
            model="amount : 1 (constant)",
            on_pre="dopamine_post += amount",
            name=f"{name}_to_{g.name}",
            namespace={},
        )
        n = len(g)
        syn.connect(i=np.repeat(np.arange(len(values)), n), j=np.tile(np.arange(n), len(values)))
        syn.amount = np.repeat(values, n)
        objects.append(syn)
    return objects


def reward_network_operation(
    reward: Callable[[Any], float], targets, dt=None, name: str = "reward_operation"
):
    """Closed-loop reward computed in Python during the run (runtime backends only).

    Parameters
    ----------
    reward : callable ``reward(t) -> float``
        Called every ``dt`` with the current time (Quantity); it may read any monitor or
        group of the network and returns the dopamine to add now (0 for none).
    targets : group or list of groups with a ``dopamine`` variable
    dt : Quantity, optional
        How often ``reward`` is called (default: every time step), at the end of the step
        (after this step's spikes were propagated), so the dopamine is seen from the next step.

    Returns
    -------
    brian2.NetworkOperation
        Add it to the ``Network``.

    Raises
    ------
    ModelError
        Under a standalone device, where Python cannot run during the simulation: use
        :func:`deliver_rewards` or :func:`pairing_reward` there.
    """
    from brian2 import NetworkOperation
    from brian2.devices.device import RuntimeDevice, get_device

    if not isinstance(get_device(), RuntimeDevice):
        raise ModelError(
            "reward_network_operation runs Python during the simulation, which a "
            "standalone device cannot do; use deliver_rewards (a schedule) or "
            "pairing_reward (equations in the network) instead",
            parameter="backend",
        )
    targets = dopamine_targets(targets)

    from brian2 import second

    def _deliver(t):
        now = np.asarray(t[:] if hasattr(t, "get_item") else t, dtype=float).item() * second
        amount = float(reward(now))
        if amount:
            for g in targets:
                g.dopamine_[:] = g.dopamine_[:] + amount

    return NetworkOperation(_deliver, dt=dt, when="end", name=name)


@dataclasses.dataclass
class PairingReward:
    """The Brian2 objects of :func:`pairing_reward`.

    Attributes
    ----------
    critic : NeuronGroup, 1 neuron
        Spikes one time step after each rewarded pairing (monitor it for pairing times).
    timers : NeuronGroup, ``n_slots`` neurons
        Each spike is one delivered reward (monitor it for reward times).
    objects : list
        Everything to add to the ``Network`` (groups and synapses).
    """

    critic: Any
    timers: Any
    objects: list


def _check_pairing(pre_group, pre_index, post_group, post_index, window, delay, n_slots):
    """The arguments of :func:`pairing_reward` checked: (window, (delay_min, delay_max)),
    with the defaults 20 ms and (1 s, 3 s)."""
    from brian2 import ms, second

    window = 20 * ms if window is None else window
    delay = (1 * second, 3 * second) if delay is None else delay
    for arg, group, idx in (
        ("pre_index", pre_group, pre_index),
        ("post_index", post_group, post_index),
    ):
        if int(idx) != idx or not 0 <= idx < len(group):
            raise ModelError(
                f"{arg} = {idx!r} is not a neuron of group '{group.name}' (0..{len(group) - 1})",
                parameter=arg,
            )
    if float(window) <= 0:
        raise ModelError(f"window must be > 0, got {window}", parameter="window")
    d_min, d_max = delay
    if float(d_min) < 0 or float(d_max) < float(d_min):
        raise ModelError(
            f"delay must be a range (min, max) with 0 <= min <= max, got {delay}", parameter="delay"
        )
    if int(n_slots) != n_slots or n_slots < 1:
        raise ModelError(
            f"n_slots must be a positive integer, got {n_slots!r}", parameter="n_slots"
        )
    return window, (d_min, d_max)


def _critic_and_timers(window, d_min, d_max, n_slots, amount, name, never):
    """The critic neuron (last presynaptic spike, pairing flag, next slot) and the bank of
    ``n_slots`` reward timers of :func:`pairing_reward`."""
    from brian2 import NeuronGroup

    critic = NeuronGroup(
        1,
        """
        t_pre_spike : second           # last spike of the rewarded presynaptic neuron
        paired : 1                     # 1 after a pairing, until the critic fires
        slot : integer                 # next reward timer to arm
        window : second (constant, shared)
        delay_min : second (constant, shared)
        delay_max : second (constant, shared)
        n_slots : integer (constant, shared)
        """,
        threshold="paired > 0.5",
        reset="paired = 0\nslot = (slot + 1) % n_slots",
        name=f"{name}_critic",
        namespace={},
    )
    critic.t_pre_spike = -never
    critic.window = window
    critic.delay_min = d_min
    critic.delay_max = d_max
    critic.n_slots = int(n_slots)
    timers = NeuronGroup(
        int(n_slots),
        """
        t_due : second                 # when this timer delivers its reward
        amount : 1 (constant, shared)
        """,
        threshold="t >= t_due",
        reset="t_due = t + never",
        name=f"{name}_timers",
        namespace={"never": never},
    )
    timers.t_due = never
    timers.amount = float(amount)
    return critic, timers


def pairing_reward(
    pre_group,
    pre_index: int,
    post_group,
    post_index: int,
    targets,
    window=None,
    delay=None,
    amount: float = 0.5,
    n_slots: int = 16,
    name: str = "pairing_reward",
) -> PairingReward:
    """Reward each occurrence of a chosen pre -> post spike pairing after a random delay,
    computed by equations inside the network (runs in every backend, standalone included).

    A *critic* neuron stores the time of the last spike of ``pre_group[pre_index]``; when
    ``post_group[post_index]`` fires 0 < dt <= ``window`` after it, the critic fires (one
    time step later) and arms one of ``n_slots`` reward *timers* (round robin) with a due time
    drawn uniformly from ``delay``; when a timer is due it fires and its synapses add
    ``amount`` to ``dopamine`` of every target neuron. Each presynaptic spike is rewarded at
    most once. This is the protocol of Izhikevich (2007, Cereb. Cortex 17:2443, Fig. 1).

    Parameters
    ----------
    pre_group, post_group : Brian2 groups
    pre_index, post_index : int
        The neurons of the rewarded pairing.
    targets : group or list of groups with a ``dopamine`` variable
    window : Quantity
        Longest pre -> post interval that counts as a pairing (default 20 ms).
    delay : (Quantity, Quantity)
        Range of the reward delay (default 1 s to 3 s).
    amount : float
        Dopamine added per reward.
    n_slots : int
        Rewards that can be pending at once (an older pending reward is overwritten when more
        pairings than this occur within ``delay[1]``).

    Returns
    -------
    PairingReward

    Raises
    ------
    ModelError
        For an index outside its group, a window <= 0, a delay range that is negative or
        reversed, ``n_slots`` < 1, or a target without dopamine (each names the argument).
    """
    from brian2 import Synapses, second

    targets = dopamine_targets(targets)
    window, (d_min, d_max) = _check_pairing(
        pre_group, pre_index, post_group, post_index, window, delay, n_slots
    )
    never = _NEVER_S * second
    critic, timers = _critic_and_timers(window, d_min, d_max, n_slots, amount, name, never)
    on_pre_spike = Synapses(
        pre_group, critic, on_pre="t_pre_spike_post = t", name=f"{name}_pre", namespace={}
    )
    on_pre_spike.connect(i=int(pre_index), j=0)
    on_post_spike = Synapses(
        post_group,
        critic,
        on_pre="""
        paired_post = int(t - t_pre_spike_post > 0*second and t - t_pre_spike_post <= window_post)
        t_pre_spike_post = t_pre_spike_post - paired_post*never
        """,
        name=f"{name}_post",
        namespace={"never": never},
    )
    on_post_spike.connect(i=int(post_index), j=0)
    arm = Synapses(
        critic,
        timers,
        on_pre="""
        t_due_post = t_due_post*int(j != slot_pre) + (t + delay_min_pre + rand()*(delay_max_pre - delay_min_pre))*int(j == slot_pre)
        """,
        name=f"{name}_arm",
        namespace={},
    )
    arm.connect()
    objects = [critic, timers, on_pre_spike, on_post_spike, arm]
    for g in targets:
        deliver = Synapses(
            timers,
            g,
            on_pre="dopamine_post += amount_pre",
            name=f"{name}_to_{g.name}",
            namespace={},
        )
        deliver.connect()
        objects.append(deliver)
    return PairingReward(critic, timers, objects)

"""Reset rules: the model file's own reset, or reset by subtracting the threshold.

A spiking neuron model resets its threshold variable when it spikes. Most models of the zoo
set it to a constant (the LIF: ``v = v_reset``); Perez-Nieves, Leung, Dragotti & Goodman
(2021, Nat. Commun. 12:5791) subtract the distance from reset to threshold instead, keeping the
part of the membrane potential that overshot the threshold (their code,
npvoid/neural_heterogeneity, SuGD_code/layers.py l. 318: ``new_mem = ... - rst *
(th - reset)``). :func:`with_reset_rule` rewrites a spec's reset statement for the threshold
variable accordingly, so that both engines (Brian2 and the torch layers) run the same rule and
the rewritten spec travels with an exported network.
"""

from __future__ import annotations

import dataclasses
import re

from .errors import ModelError

__all__ = ["RESET_RULES", "with_reset_rule"]

#: ``"model"``: the model file's reset statements; ``"subtract"``: the threshold variable
#: ``x = r`` becomes ``x = x - (theta - r)`` where the threshold reads ``x > theta``.
RESET_RULES = ("model", "subtract")

_THRESHOLD = re.compile(r"^\s*([A-Za-z_]\w*)\s*(>=|>)\s*(.+?)\s*$")
_ASSIGN = re.compile(r"^(\s*)([A-Za-z_]\w*)\s*=\s*(.+?)\s*$")


def with_reset_rule(spec, rule: str = "model"):
    """The neuron model ``spec`` with reset rule ``rule``.

    ``"subtract"`` replaces the reset statement of the threshold variable, ``x = r``, by
    ``x = x - ((theta) - (r))`` where the threshold condition is ``x > theta`` (or ``>=``):
    a neuron that spikes loses the distance from reset to threshold instead of being set to
    ``r`` (for the LIF, ``v = v - (v_th - v_reset)``). Other reset statements are kept.

    Parameters
    ----------
    spec : NeuronModel
        A spiking neuron model.
    rule : {"model", "subtract"}
        :data:`RESET_RULES`.

    Returns
    -------
    NeuronModel
        ``spec`` itself for ``"model"``; otherwise a validated copy with the new reset and
        ``" (reset by subtraction)"`` added to its title.

    Raises
    ------
    ValueError
        An unknown rule.
    ModelError
        ``"subtract"`` for a model whose threshold is not ``x > theta``/``x >= theta`` or
        whose reset does not assign ``x = r`` (the message names the model's file).
    """
    if rule not in RESET_RULES:
        raise ValueError(f"reset rule must be one of {', '.join(RESET_RULES)}, got {rule!r}")
    if rule == "model":
        return spec
    threshold = getattr(spec, "threshold", None) or ""
    m = _THRESHOLD.match(threshold)
    if m is None:
        raise ModelError(
            f"model '{spec.name}': reset by subtraction needs a threshold of the form "
            f"'x > theta', got {threshold!r}",
            spec.path,
            parameter="threshold",
        )
    var, theta = m.group(1), m.group(3)
    lines = (getattr(spec, "reset", None) or "").splitlines()
    found = False
    for i, line in enumerate(lines):
        a = _ASSIGN.match(line)
        if a is not None and a.group(2) == var:
            lines[i] = f"{a.group(1)}{var} = {var} - (({theta}) - ({a.group(3)}))"
            found = True
    if not found:
        raise ModelError(
            f"model '{spec.name}': reset by subtraction needs a reset statement "
            f"'{var} = ...' for the threshold variable, got {spec.reset!r}",
            spec.path,
            parameter="reset",
        )
    new = dataclasses.replace(
        spec, reset="\n".join(lines), title=f"{spec.title} (reset by subtraction)"
    )
    return new.validate()

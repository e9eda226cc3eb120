r"""Brian2 state updater reproducing the Allen Institute's GLIF simulator (allensdk
``GlifNeuron``).

allensdk integrates with a fixed discrete-time scheme (``glif_neuron_methods.py``): forward
Euler for ``v`` (``linear_forward_euler``), the exact exponential for the after-spike currents
and the spike component of the threshold, and for GLIF5 the exact solution of the linear
(v, theta_v) system with the currents held at their values at the start of the step
(``three_components_exact``); every right-hand side uses the state at the start of the step.
:func:`allen_glif_method` returns a Brian2 state updater generating exactly this code from the
model equations (Teeter et al. 2018, Nat. Commun. 9:709).

It is registered with Brian2 as ``"allen_glif"`` (:mod:`neurolearn.spec.stateupdaters`), the
``method`` of the GLIF zoo files: the scheme is part of the GLIF models' definition (their
parameters were fitted with it), so it lives with the model specification, where both engines
find it.
"""

from __future__ import annotations

import sympy
from brian2.parsing.sympytools import str_to_sympy, sympy_to_str
from brian2.stateupdaters.base import StateUpdateMethod, UnsupportedEquationsException

__all__ = ["AllenGlifStateUpdater", "allen_glif_method"]


class AllenGlifStateUpdater(StateUpdateMethod):
    """Brian2 state updater reproducing allensdk ``GlifNeuron``'s discrete-time scheme.

    For the membrane potential (``voltage``, default ``"v"``) it writes a forward-Euler step;
    every other variable ``x`` whose right-hand side is linear, :math:`\\dot x = A x + B v + c`
    (``A``, ``B``, ``c`` independent of ``x`` and ``v``), gets the exact solution over one step
    with ``v`` following its own linear dynamics and all other variables frozen at their values
    at the start of the step. For the after-spike currents and the spike component of the
    threshold (``B = 0``) that is :math:`x\\,e^{A\\,dt}`; for GLIF5's voltage component it is
    the formula of allensdk's ``voltage_component_of_threshold_exact`` (Mihalas & Niebur 2009,
    eq. 2.1 solved analytically). All right-hand sides read the state at the start of the step.

    Refractoriness (``unless refractory``) is handled by Brian2's conditional writes.

    Parameters
    ----------
    voltage : str
        Name of the variable integrated with forward Euler.

    Raises
    ------
    brian2.stateupdaters.base.UnsupportedEquationsException
        If a non-voltage variable is not linear in itself and in ``voltage``, or the voltage
        equation is not linear in the voltage.
    """

    def __init__(self, voltage: str = "v"):
        self.voltage = voltage

    def __repr__(self):
        return f"AllenGlifStateUpdater(voltage={self.voltage!r})"

    def __call__(self, equations, variables=None, method_options=None):
        def strip_refractory(code: str) -> str:
            prefix = "int(not_refractory)*("
            if code.startswith(prefix) and code.endswith(")"):
                return code[len(prefix) : -1]
            return code

        diff = {
            name: str_to_sympy(strip_refractory(eq.expr.code), variables)
            for name, eq in equations.items()
            if eq.type == "differential equation"
        }
        if any(eq.type == "subexpression" for eq in equations.values()):
            raise UnsupportedEquationsException(
                "AllenGlifStateUpdater does not support "
                "subexpressions; write them into the equations"
            )
        names = list(diff)
        syms = {n: sympy.Symbol(n, real=True) for n in names}
        vname = self.voltage
        if vname not in diff:
            raise UnsupportedEquationsException(f"no differential equation for '{vname}'")
        dt = sympy.Symbol("dt", real=True)
        lines, assign = [], []
        fv = diff[vname]
        av = sympy.diff(fv, syms[vname])
        cv = sympy.simplify(fv - av * syms[vname])
        if syms[vname] in av.free_symbols or syms[vname] in cv.free_symbols:
            raise UnsupportedEquationsException(f"the equation of '{vname}' is not linear in it")
        lines.append(f"_{vname} = {vname} + dt*({sympy_to_str(fv)})")
        for name in names:
            if name == vname:
                continue
            x = syms[name]
            f = diff[name]
            a = sympy.diff(f, x)
            b = sympy.diff(f, syms[vname])
            c = sympy.simplify(f - a * x - b * syms[vname])
            others = set(syms.values())
            if (a.free_symbols | b.free_symbols) & others or {x, syms[vname]} & c.free_symbols:
                raise UnsupportedEquationsException(
                    f"the equation of '{name}' is not linear in '{name}' and '{vname}' with "
                    f"coefficients independent of the state"
                )
            if b == 0:
                if a == 0:
                    new = x + dt * c
                else:
                    x_inf = -c / a
                    new = x_inf + (x - x_inf) * sympy.exp(a * dt)
            else:
                if av == 0 or a == 0:
                    raise UnsupportedEquationsException(
                        f"'{name}' depends on '{vname}' but one of them has no leak"
                    )
                v_inf = -cv / av
                x_inf = -(b * v_inf + c) / a
                k = b * (syms[vname] - v_inf) / (av - a)
                new = x_inf + k * sympy.exp(av * dt) + (x - x_inf - k) * sympy.exp(a * dt)
            lines.append(f"_{name} = {sympy_to_str(new)}")
        for name in names:
            assign.append(f"{name} = _{name}")
        return "\n".join(lines + assign)


_METHOD = None


def allen_glif_method(voltage: str = "v") -> AllenGlifStateUpdater:
    """The state updater to pass as ``method=`` to reproduce allensdk (see
    :class:`AllenGlifStateUpdater`)."""
    global _METHOD
    if voltage != "v":
        return AllenGlifStateUpdater(voltage)
    if _METHOD is None:
        _METHOD = AllenGlifStateUpdater("v")
    return _METHOD

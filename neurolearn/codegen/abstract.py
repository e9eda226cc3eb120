"""Brian2's abstract state-update code for a neuron model, the input of the model IR.

Brian2 turns a group's equations into *abstract code*: a few statements ``_v = ...`` /
``v = _v`` written with the model's own names, produced by the state updater named by the
model's ``method`` (``exact``, ``exponential_euler``, ``euler``...) and preceded by the
refractoriness statement ``not_refractory = ...``; its code generators then translate this
code into NumPy, Cython or C++ (Stimberg, Brette & Goodman 2019, eLife 8:e47314, "Brian 2,
an intuitive and efficient neural simulator", section "Code generation"). The model IR
(:mod:`neurolearn.codegen.steps`) starts from the same code, so every engine integrates the
equations exactly as Brian2 does.

The code is taken from a bare ``brian2.NeuronGroup`` built from the spec as
:func:`neurolearn.brian.build.make_neuron_group` builds it (same equations, one constant
declaration per parameter, threshold, reset, refractoriness and method); only the statement
list is used, the group is discarded. Integrating coupled equations with ``exact`` takes
seconds (sympy's matrix exponential), so the code is cached on disk (see
:func:`abstract_update_code`).
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import re
from pathlib import Path

import brian2

from ..io import atomic_write_text
from ..paths import cache_dir
from ..spec import ModelError, NeuronModel, parse_quantity

__all__ = ["abstract_update_code", "equation_text", "neuron_group_arguments", "CACHE_FOLDER"]

#: Folder of :func:`neurolearn.paths.cache_dir` holding the cached abstract code.
CACHE_FOLDER = "codegen"


def equation_text(spec: NeuronModel, name: str) -> str:
    """The line of ``spec.equations`` that defines ``name`` (``dv/dt = ...``, ``u = ...`` or
    ``I_ext : amp``), stripped; ``name`` itself when no line defines it. Used to name the
    equation in error messages."""
    for raw in spec.equations.splitlines():
        s = raw.strip()
        if s.startswith(f"d{name}/dt") or re.match(rf"^{re.escape(name)}\s*[:=]", s):
            return s
    return name


def neuron_group_arguments(spec: NeuronModel, method: str | None = None) -> dict:
    """Keyword arguments of the ``brian2.NeuronGroup`` a neuron model becomes.

    The same arguments as :func:`neurolearn.brian.build.make_neuron_group` passes for a
    model without incoming synapse models: the model's equations plus one constant
    declaration per parameter (``name : unit (constant)``, ``(constant, shared)`` for
    parameters that are not ``per_neuron``), threshold, reset, refractoriness (a parameter
    name, a quantity or a Brian2 expression), the state updater and an empty namespace.

    Parameters
    ----------
    spec : NeuronModel
    method : str, optional
        Brian2 state updater overriding ``spec.method``.

    Returns
    -------
    dict
        ``model``, ``threshold``, ``reset``, ``refractory``, ``method``, ``namespace``.

    Raises
    ------
    ModelError
        If Brian2 cannot parse the equations (:meth:`NeuronModel.brian2_equations`).
    """
    eqs = spec.brian2_equations()
    decl = "\n".join(
        f"{p.name} : {p.unit_name} ({'constant' if p.per_neuron else 'constant, shared'})"
        for p in spec.parameters.values()
        if p.name not in eqs.names
    )
    model = eqs + brian2.Equations(decl) if decl else eqs
    ref = spec.refractory.strip()
    if not ref:
        refractory = False
    elif ref in spec.parameters:
        refractory = ref
    else:
        try:
            refractory = parse_quantity(ref, "refractory")
        except ModelError:
            refractory = ref  # a Brian2 expression or condition
    return dict(
        model=model,
        threshold=spec.threshold or None,
        reset=spec.reset or None,
        refractory=refractory,
        method=method or spec.method,
        namespace={},
    )


def _cache_file(spec: NeuronModel, method: str | None) -> Path | None:
    key = json.dumps(
        [
            spec.equations,
            method or spec.method,
            spec.refractory,
            spec.threshold,
            brian2.__version__,
            sorted(spec.parameters),
        ]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    try:
        return Path(cache_dir()) / CACHE_FOLDER / f"{digest}.txt"
    except Exception:  # no writable cache: compute every time
        return None


def abstract_update_code(spec: NeuronModel, method: str | None = None) -> str:
    """Brian2's abstract state-update code for ``spec``, with its refractoriness statement.

    Parameters
    ----------
    spec : NeuronModel
    method : str, optional
        Brian2 state updater overriding ``spec.method``.

    Returns
    -------
    str
        The statements of ``NeuronGroup.state_updater.abstract_code``, e.g. for the
        current-based LIF with ``exact``: ``not_refractory = timestep(t - lastspike, dt) >=
        timestep(t_ref, dt)``, ``_I_syn = I_syn*exp(-dt/tau_syn)``, ``_v = ...``,
        ``I_syn = _I_syn``, ``v = _v``.

    Raises
    ------
    ModelError
        For a stochastic term (``xi``) or a flag other than ``unless refractory``,
        ``constant`` and ``shared`` (naming the equation), or when Brian2 cannot integrate
        the equations with the method (naming the method and Brian2's reason).

    Notes
    -----
    Cached on disk in ``cache_dir()/codegen`` under a sha256 key of the equations, the
    method, the refractoriness, the threshold, the parameter names and Brian2's version
    (Brian2's state updaters may change between versions); without a writable cache folder
    the code is computed every time.
    """
    cache_file = _cache_file(spec, method)
    try:
        if cache_file is not None and cache_file.is_file():
            return cache_file.read_text(encoding="utf-8")
    except Exception:  # unreadable cache: compute
        cache_file = None
    code = _abstract_update_code_uncached(spec, method)
    if cache_file is not None:
        try:
            atomic_write_text(cache_file, code)
        except OSError:
            pass
    return code


def _check_equations(spec: NeuronModel) -> None:
    """Stochastic terms and unsupported flags, named with their equation."""
    eqs = spec.brian2_equations()
    for name, eq in eqs.items():
        if eq.expr is not None and "xi" in eq.identifiers | set(
            getattr(eq, "stochastic_variables", ())
        ):
            raise spec.error(
                f"stochastic term 'xi' in equation '{equation_text(spec, name)}' "
                f"is not supported by the torch bridge (surrogate-gradient "
                f"training needs a deterministic model)",
                f"d{name}/dt",
                name,
            )
    for name, eq in eqs.items():
        if eq.type == "differential equation" and eq.expr is not None:
            ids = eq.identifiers
            if any(i.startswith("xi") and (i == "xi" or i.startswith("xi_")) for i in ids):
                raise spec.error(
                    f"stochastic term in equation '{equation_text(spec, name)}' "
                    f"is not supported by the torch bridge",
                    f"d{name}/dt",
                    name,
                )
        for flag in eq.flags:
            if flag not in ("unless refractory", "constant", "shared"):
                raise spec.error(
                    f"flag '({flag})' of '{equation_text(spec, name)}' is not "
                    f"supported by the torch bridge",
                    name,
                    name,
                )


def _abstract_update_code_uncached(spec: NeuronModel, method: str | None) -> str:
    _check_equations(spec)
    try:
        with _QuietBrian():
            group = brian2.NeuronGroup(1, **neuron_group_arguments(spec, method))
            group.state_updater.update_abstract_code(run_namespace={})
            code = group.state_updater.abstract_code
            del group
            gc.collect()
    except ModelError:
        raise
    except Exception as exc:
        raise spec.error(
            f"Brian2 could not integrate the equations with method "
            f"'{method or spec.method}': {exc}",
            "method",
            "method",
        ) from None
    return code


class _QuietBrian:
    """Brian2's log at level ERROR inside the block (the group is built only for its code)."""

    def __enter__(self):
        self._logger = logging.getLogger("brian2")
        self._level = self._logger.level
        self._logger.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        self._logger.setLevel(self._level)

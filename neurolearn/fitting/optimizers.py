"""Optimizers behind :func:`neurolearn.fitting.fit`: one small interface, two families.

Every optimizer works in normalized coordinates ``u`` in the unit cube (``u = 0`` is a
parameter's lower bound, ``u = 1`` its upper bound), so parameters in volts, farads and
seconds are searched on the same footing.

* :class:`DifferentialEvolution` -- gradient-free, scipy's ``differential_evolution``
  (Storn & Price 1997, J. Global Optim. 11:341) with ``vectorized=True``: each generation is
  ONE call of the objective with the whole population, which ``fit`` simulates as one Brian2
  ``NeuronGroup`` (the brian2modelfitting approach). Chosen over Nevergrad because scipy is
  already a dependency, its vectorized mode matches the one-group evaluation exactly, and
  its convergence test (population spread) is documented.
* :class:`Adam` -- gradient-based (Kingma & Ba 2015), through a differentiable simulation
  (the surrogate-gradient torch bridge); bounds are kept by optimizing an unconstrained
  ``z`` with ``u = sigmoid(z)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from ..extras import require

__all__ = ["OptimizerOutcome", "DifferentialEvolution", "Adam", "get_optimizer"]


@dataclasses.dataclass
class OptimizerOutcome:
    """Result of an optimizer run (normalized coordinates).

    Attributes
    ----------
    u : float array [n_params]
        Best point found.
    loss : float
    history : list of float
        Best loss after each generation / step.
    n_evaluations : int
        Parameter sets simulated.
    converged : bool
    message : str
    """

    u: np.ndarray
    loss: float
    history: list
    n_evaluations: int
    converged: bool
    message: str


class DifferentialEvolution:
    """Gradient-free optimizer: scipy's differential evolution, one simulation per generation.

    Parameters
    ----------
    popsize : int
        Population = ``popsize * n_params`` parameter sets (scipy's convention).
    maxiter : int
        Maximum generations.
    tol, atol : float
        scipy's convergence test: stop when the standard deviation of the population's losses
        is <= ``atol + tol*|mean loss|`` (give ``atol`` > 0 when the loss can reach 0).
    mutation, recombination : see ``scipy.optimize.differential_evolution``
    seed : int or None
    """

    name = "differential_evolution"

    def __init__(
        self,
        popsize: int = 10,
        maxiter: int = 30,
        tol: float = 1e-3,
        atol: float = 0.0,
        mutation=(0.5, 1.0),
        recombination: float = 0.7,
        seed: int | None = 0,
    ):
        if popsize < 1 or maxiter < 1:
            raise ValueError(f"popsize and maxiter must be >= 1, got {popsize}, {maxiter}")
        self.popsize, self.maxiter, self.tol = int(popsize), int(maxiter), float(tol)
        self.atol = float(atol)
        self.mutation, self.recombination, self.seed = mutation, recombination, seed

    def options(self) -> dict:
        return {
            "popsize": self.popsize,
            "maxiter": self.maxiter,
            "tol": self.tol,
            "atol": self.atol,
            "mutation": list(self.mutation) if isinstance(self.mutation, tuple) else self.mutation,
            "recombination": self.recombination,
            "seed": self.seed,
        }

    def run(
        self, objective: Callable[[np.ndarray], np.ndarray], u0: np.ndarray, progress=None
    ) -> OptimizerOutcome:
        """Minimize ``objective`` (array [S, n_params] of points in the unit cube -> [S]).

        ``progress`` (a tqdm bar or None) is advanced once per generation.
        """
        from scipy.optimize import differential_evolution

        d = len(u0)
        history: list = []
        best = {"loss": np.inf, "u": np.asarray(u0, float), "n": 0}

        def func(x):  # scipy: x [d, S]
            X = np.atleast_2d(np.asarray(x, float).T)
            L = np.asarray(objective(X), float)
            best["n"] += len(L)
            k = int(np.argmin(L))
            if L[k] < best["loss"]:
                best["loss"], best["u"] = float(L[k]), X[k].copy()
            history.append(best["loss"])
            if progress is not None:
                progress.update(1)
                progress.set_postfix(loss=f"{best['loss']:.4g}")
            return L

        res = differential_evolution(
            func,
            [(0.0, 1.0)] * d,
            popsize=self.popsize,
            maxiter=self.maxiter,
            tol=self.tol,
            atol=self.atol,
            mutation=self.mutation,
            recombination=self.recombination,
            seed=self.seed,
            polish=False,
            init="latinhypercube",
            x0=np.clip(u0, 0, 1),
            updating="deferred",
            vectorized=True,
        )
        u = np.asarray(res.x, float)
        loss = float(res.fun)
        if best["loss"] < loss:
            u, loss = best["u"], best["loss"]
        msg = str(res.message)
        if not res.success:
            msg = (
                f"did not converge within maxiter={self.maxiter} generations "
                f"(scipy: {res.message}); the best parameters found are kept"
            )
        return OptimizerOutcome(u, loss, history, best["n"], bool(res.success), msg)


class Adam:
    """Gradient-based optimizer: Adam on a differentiable loss, with bounds.

    Parameters
    ----------
    lr : float
        Learning rate in the unconstrained coordinates ``z`` (``u = sigmoid(z)``).
    steps : int
        Maximum steps.
    tol : float
        Stop when the loss improved by less than ``tol`` (relative) over 20 steps.

    Raises
    ------
    MissingExtraError
        If torch is not installed (``pip install 'neurolearn[torch]'``): before any fit runs.
    """

    name = "adam"

    def __init__(self, lr: float = 0.05, steps: int = 200, tol: float = 1e-5):
        require("torch", "the optimizer 'adam' (gradient fitting)")
        if lr <= 0 or steps < 1:
            raise ValueError(f"lr must be > 0 and steps >= 1, got {lr}, {steps}")
        self.lr, self.steps, self.tol = float(lr), int(steps), float(tol)

    def options(self) -> dict:
        return {"lr": self.lr, "steps": self.steps, "tol": self.tol}

    def run(self, loss_fn, u0: np.ndarray, progress=None) -> OptimizerOutcome:
        """Minimize a torch function of ``u`` (tensor [n_params] in the unit cube -> scalar).

        Raises
        ------
        FloatingPointError
            If the loss or its gradient becomes NaN at the start point.
        MissingExtraError
            If torch is not installed (``pip install 'neurolearn[torch]'``).
        """
        torch = require("torch", "the optimizer 'adam' (gradient fitting)")

        u0 = np.clip(np.asarray(u0, float), 1e-4, 1 - 1e-4)
        z = torch.tensor(np.log(u0 / (1 - u0)), dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([z], lr=self.lr)
        history, best_u, best = [], u0.copy(), np.inf
        converged = False
        for step in range(self.steps):
            opt.zero_grad()
            u = torch.sigmoid(z)
            loss = loss_fn(u)
            if not torch.isfinite(loss):
                if step == 0:
                    raise FloatingPointError("the loss is NaN/infinite at the start point")
                break
            loss.backward()
            if z.grad is None or not torch.all(torch.isfinite(z.grad)):
                break
            value = float(loss.detach())
            if value < best:
                best, best_u = value, u.detach().numpy().copy()
            history.append(best)
            opt.step()
            if progress is not None:
                progress.update(1)
                progress.set_postfix(loss=f"{best:.4g}")
            if step >= 20 and history[-21] - history[-1] <= self.tol * abs(history[-21]):
                converged = True
                break
        msg = (
            "converged"
            if converged
            else f"did not converge within {self.steps} steps; the best parameters found are kept"
        )
        return OptimizerOutcome(best_u, best, history, len(history), converged, msg)


def get_optimizer(name_or_obj, **options):
    """An optimizer from a name (``"differential_evolution"``/``"de"``, ``"adam"``) and
    options, or the object itself.

    Raises
    ------
    ValueError
        Unknown name (lists the known ones) or unknown option.
    MissingExtraError
        For ``"adam"`` where torch is not installed (``pip install 'neurolearn[torch]'``).
    """
    if not isinstance(name_or_obj, str):
        return name_or_obj
    key = name_or_obj.lower()
    classes = {
        "differential_evolution": DifferentialEvolution,
        "de": DifferentialEvolution,
        "adam": Adam,
    }
    if key not in classes:
        raise ValueError(
            f"unknown optimizer '{name_or_obj}'; choose one of differential_evolution (de), adam"
        )
    try:
        return classes[key](**options)
    except TypeError as exc:
        raise ValueError(f"optimizer '{name_or_obj}': {exc}") from None

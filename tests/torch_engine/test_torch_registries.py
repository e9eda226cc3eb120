"""Registries of the torch engine: surrogate shapes, readout reductions and the
Perez-Nieves configurations own their names; a new entry is one class or one function."""

import math

import pytest

torch = pytest.importorskip("torch", reason="needs torch: pip install 'neurolearn[torch]'")
pytestmark = pytest.mark.torch

from neurolearn.torch import PEREZ_NIEVES_CONFIGS, Surrogate, perez_nieves_config, reduce_readout
from neurolearn.torch.losses import READOUT_REDUCTIONS, register_readout_reduction
from neurolearn.torch.surrogate import SURROGATES, FastSigmoid, SurrogateShape


def test_a_new_surrogate_is_one_class():
    before = dict(SURROGATES)
    try:

        class Gaussian(SurrogateShape):
            name, peak = "gaussian_test", 1.0

            @staticmethod
            def g(u):
                return torch.exp(-u * u)

        assert SURROGATES["gaussian_test"] is Gaussian
        s = Surrogate("gaussian_test", steepness=2.0, scale=0.5, normalize_peak=True)
        x = torch.linspace(-2, 2, 401, dtype=torch.float64, requires_grad=True)
        (grad,) = torch.autograd.grad(s(x).sum(), x)
        assert float(grad[300]) == pytest.approx(0.5 * math.exp(-4.0))  # x = 1: u = 2
        got = s.derivative_(x.detach().clone(), 0.25, 0.5)  # the default in-place form
        assert torch.allclose(got, 0.25 * s.derivative(0.5 * x.detach()), rtol=1e-15, atol=0)
        assert s.config()["shape"] == "gaussian_test"
        with pytest.raises(ValueError, match="already registered"):

            class Again(SurrogateShape):
                name = "gaussian_test"

    finally:
        SURROGATES.clear()
        SURROGATES.update(before)
    assert SURROGATES["superspike"] is FastSigmoid is SURROGATES["fast_sigmoid"]
    assert {"fast_sigmoid", "sigmoid", "arctan", "triangle"} <= set(SURROGATES)


def test_a_new_readout_reduction_is_one_function():
    readout = torch.arange(24.0).reshape(4, 2, 3)
    assert list(READOUT_REDUCTIONS)[:3] == ["max", "mean", "last"]
    assert torch.equal(reduce_readout(readout, "last"), readout[-1])
    try:

        @register_readout_reduction("min_test")
        def min_over_time(r):
            return r.min(dim=0).values

        assert torch.equal(reduce_readout(readout, "min_test"), readout[0])
        with pytest.raises(ValueError, match="already registered"):
            register_readout_reduction("min_test")(min_over_time)
    finally:
        READOUT_REDUCTIONS.pop("min_test", None)
    with pytest.raises(ValueError, match="expected one of max, mean, last"):
        reduce_readout(readout, "median")


def test_perez_nieves_configurations_table():
    assert list(PEREZ_NIEVES_CONFIGS) == [
        "hom_init_std_train",
        "het_init_std_train",
        "hom_init_het_train",
        "het_init_het_train",
    ]
    for name, cfg in PEREZ_NIEVES_CONFIGS.items():
        assert cfg.name == name and cfg.description
        args = perez_nieves_config(name, ("tau_m",))
        assert bool(args["heterogeneity"]) == cfg.heterogeneous_init
        assert args["trainable"] == (("tau_m",) if cfg.trained else ())
    assert PEREZ_NIEVES_CONFIGS["het_init_std_train"].heterogeneous_init
    assert not PEREZ_NIEVES_CONFIGS["het_init_std_train"].trained

"""Layer options: the grouped dataclasses (``options=``) and the keyword arguments build the
same layer; ``bounds`` replaces a parameter's range at construction."""

import pytest

torch = pytest.importorskip("torch", reason="needs torch: pip install 'neurolearn[torch]'")
pytestmark = pytest.mark.torch

from neurolearn.spec import ModelError
from neurolearn.torch import SpikingLayer, SpikingNetwork
from neurolearn.torch.options import (
    Execution,
    LayerOptions,
    ParameterInit,
    SurrogateOptions,
    WeightInit,
)


def test_options_objects_and_keywords_build_the_same_layer():
    kw = dict(dt="1 ms", recurrent=True, dtype=torch.float64)
    a = SpikingLayer(
        "lif",
        5,
        6,
        **kw,
        params={"t_ref": "2 ms"},
        trainable=("tau_m",),
        heterogeneity={"tau_m": {"distribution": "gamma"}},
        weight_gain=2.0,
        detach_reset=True,
        fused=False,
        sparse_spikes=True,
        generator=torch.Generator().manual_seed(4),
    )
    opts = (
        ParameterInit(
            values={"t_ref": "2 ms"},
            trainable=("tau_m",),
            heterogeneity={"tau_m": {"distribution": "gamma"}},
        ),
        WeightInit(gain=2.0),
        SurrogateOptions(detach_reset=True),
        Execution(fused=False, sparse_spikes=True),
    )
    b = SpikingLayer("lif", 5, 6, **kw, options=opts, generator=torch.Generator().manual_seed(4))
    c = SpikingLayer(
        "lif",
        5,
        6,
        **kw,
        options=LayerOptions.build(opts),
        generator=torch.Generator().manual_seed(4),
    )
    assert a.options == b.options == c.options
    for other in (b, c):
        assert torch.equal(a.W_in, other.W_in) and torch.equal(a.W_rec, other.W_rec)
        assert torch.equal(a.raw["tau_m"], other.raw["tau_m"])
        assert (other.fused, other.sparse_spikes, other.detach_reset) == (False, True, True)
        assert other.config == a.config
    x = (torch.rand(30, 2, 5, generator=torch.Generator().manual_seed(0)) < 0.3).double()
    assert torch.equal(a(x), b(x))
    # the same option as a keyword (other than its default) and in a group: ambiguous
    with pytest.raises(ValueError, match="'fused' is given as a keyword and in options"):
        SpikingLayer("lif", 5, 6, dt="1 ms", fused=True, options=Execution(fused=False))
    with pytest.raises(ValueError, match="given twice"):
        SpikingLayer("lif", 5, 6, dt="1 ms", options=(Execution(), Execution()))
    with pytest.raises(ValueError, match="option groups"):
        SpikingLayer("lif", 5, 6, dt="1 ms", options={"fused": False})
    with pytest.raises(ValueError, match="checkpoint_every"):
        Execution(checkpoint_every=2.5)
    assert LayerOptions.build(**LayerOptions.build(opts).keywords()) == LayerOptions.build(opts)


def test_bounds_equal_changing_the_range_after_construction():
    """``bounds={"tau_m": (2, None), ...}`` at construction gives the values, ranges and
    weights of raising the lower bound after building (what the training code did)."""
    taus = {"tau_m": (2.0, None), "tau_syn": (2.0, None)}
    compared = clamped = 0
    for seed in range(8):

        def build(seed=seed, **extra):
            return SpikingNetwork.build(
                5,
                [30],
                2,
                dt="10 ms",
                heterogeneity="het_init_het_train",
                generator=torch.Generator().manual_seed(seed),
                **extra,
            )

        after = build()
        with torch.no_grad():
            for layer in after._all_layers():
                for name in taus:
                    lo, hi = layer.param_bounds[name]
                    layer.param_bounds[name] = (max(lo, 2.0), hi)
                    layer.raw_parameter(name).clamp_(max(lo, 2.0), hi)
        built = build(bounds=taus)
        for la, lb in zip(after._all_layers(), built._all_layers()):
            assert la.param_bounds == lb.param_bounds
            assert lb.param_bounds["tau_syn"] == (2.0, 10_000.0)
            for name in la.param_units:
                assert torch.equal(la.raw_parameter(name), lb.raw_parameter(name)), name
            assert torch.equal(la.W_in, lb.W_in)
            compared += 1
            clamped += lb.clamp_counts["tau_syn"]
    assert compared == 16
    assert clamped > 0  # some initial draws were below 2 ms (and counted)
    layer = built.layers[0]
    with torch.no_grad():
        layer.raw["tau_m"][0] = 0.5
    assert layer.project_parameters_() == 1
    assert float(layer.raw["tau_m"][0].detach()) == 2.0


def test_bad_bounds_are_named():
    with pytest.raises(ModelError, match="bounds given for unknown parameter 'tau_x'"):
        SpikingLayer("lif", 5, 6, dt="1 ms", bounds={"tau_x": (1.0, 2.0)})
    with pytest.raises(ValueError, match="'tau_m'.*low 0.1 > high 0.01 ms"):
        SpikingLayer("lif", 5, 6, dt="1 ms", bounds={"tau_m": (None, 0.01)})
    with pytest.raises(ValueError, match="pair"):
        SpikingLayer("lif", 5, 6, dt="1 ms", bounds={"tau_m": 1.0})
    with pytest.raises(ValueError, match="low 3.0 > high 2.0"):
        ParameterInit(bounds={"tau_m": (3, 2)})
    # a negative lower bound of a time constant stays at 0
    layer = SpikingLayer("lif", 5, 6, dt="1 ms", bounds={"tau_m": (-5.0, 50.0)})
    assert layer.param_bounds["tau_m"] == (0.0, 50.0)

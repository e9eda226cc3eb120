"""The PyTorch printer of the model IR (:mod:`neurolearn.torch.printer`): the in-place
(``out=``) form of the update and the threshold gives the allocating form's results bit for
bit, for every compiling zoo model and for constructs of every kind (time, powers, divisions
by state, functions), in float64 and float32."""

import pytest

torch = pytest.importorskip("torch", reason="needs torch: pip install 'neurolearn[torch]'")

from neurolearn.spec import ModelSpec
from neurolearn.torch import compile_model, readout_model

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]

ZOO = ["lif", "alif", "lif_cond", "lif_adaptive_threshold", "adex", "izhikevich", "srm0"]


def _constructs():
    return ModelSpec.from_dict(
        {
            "name": "constructs",
            "kind": "neuron",
            "method": "rk2",
            "equations": "dv/dt = (sin(2*pi*t/period) + sqrt(abs(w))*v**3 - 2/w - v)/tau : 1\n"
            "dw/dt = (exp(-v) + w**1.5 - w)/tau2 + tanh(3*v)/tau : 1",
            "threshold": "2 - 0.5*w <= v*w",
            "reset": "v = 0",
            "parameters": {
                "tau": {"value": "10 ms"},
                "tau2": {"value": "20 ms"},
                "period": {"value": "50 ms"},
            },
        }
    )


def _run(cm, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    n = 5
    P = {
        name: torch.as_tensor(float(cm.spec.parameters[name].value), dtype=dtype)
        * (1 + 0.3 * torch.rand(n, generator=g, dtype=torch.float64).to(dtype))
        for name in cm.param_names
    }
    P.update({name: torch.randn(n, generator=g).to(dtype) * 1e-10 for name in cm.external_names})
    C = cm.coefficients(P)
    S = cm.initial_state(P, (3, n))
    S = {
        v: s + (s.abs() + 1e-3) * torch.rand(3, n, generator=g, dtype=torch.float64).to(dtype)
        for v, s in S.items()
    }
    if cm.spec.name == "constructs":
        S["w"] = S["w"] + 0.5
    t = torch.tensor(0.0123, dtype=dtype)
    return P, C, S, t


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", ZOO + ["leaky_readout", "constructs"])
def test_in_place_forms_bit_identical(name, dtype):
    spec = {"leaky_readout": readout_model, "constructs": _constructs}.get(name, lambda: name)()
    cm = compile_model(spec, "0.1 ms")
    P, C, S, t = _run(cm, dtype)
    ref = cm.update(S, C, t)
    fn, n_tmp = cm.inplace("update")
    tmp = [torch.full((3, 5), float("nan"), dtype=dtype) for _ in range(n_tmp)]
    out = {v: torch.full((3, 5), float("nan"), dtype=dtype) for v in cm.state_names}
    got = fn(S, C, t, out, tmp)
    assert got is out
    for v in cm.state_names:
        assert torch.isfinite(ref[v]).all(), v
        assert torch.equal(got[v], torch.broadcast_to(ref[v], (3, 5))), v
    thr = cm.inplace("threshold")
    if cm.threshold_variable is None:
        assert thr is None  # the readout has no threshold
        return
    fn, n_tmp = thr
    x = torch.full((3, 5), float("nan"), dtype=dtype)
    res = fn(S, P, x, [torch.empty(3, 5, dtype=dtype) for _ in range(n_tmp)])
    assert res is x and torch.equal(x, torch.broadcast_to(cm.threshold(S, P), (3, 5)))


def test_printed_forms():
    """The allocating source of the exact LIF and its in-place translation."""
    cm = compile_model("lif", "1 ms")
    assert cm.update_code == (
        "def _update(S, C, t):\n"
        "    return {'v': (C['c2'] + (C['c0']*S['v']) + (C['c1']*S['I_syn'])), "
        "'I_syn': (C['c3']*S['I_syn'])}"
    )
    assert cm.threshold_code == "def _threshold(S, P):\n    return (S['v'] + (-1.0*P['v_th']))"
    src, n_tmp = cm.inplace_source("update")
    assert n_tmp == 2 and src.splitlines()[1:] == [
        "    torch.mul(C['c0'], S['v'], out=tmp[1])",
        "    torch.add(C['c2'], tmp[1], out=tmp[0])",
        "    torch.mul(C['c1'], S['I_syn'], out=tmp[1])",
        "    torch.add(tmp[0], tmp[1], out=out['v'])",
        "    torch.mul(C['c3'], S['I_syn'], out=out['I_syn'])",
        "    return out",
    ]
    # the guarded coefficient of I_syn: where(|d| < tol*scale, series, exact)
    assert "_small2 = torch.abs(_d2) < tol*((torch.abs(P['tau_m']) + torch.abs(P['tau_syn'])))" in (
        cm.static_code
    )
    assert "    _v2 = torch.where(_small2, _v4, _v3)" in cm.static_code
    with pytest.raises(ValueError, match="'update' or 'threshold'"):
        cm.inplace("reset")

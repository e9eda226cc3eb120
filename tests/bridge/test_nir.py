"""NIR in and out (neurolearn.bridge.nir) without other simulators: export and re-import of
heterogeneous networks (spike for spike in torch and Brian2 numpy, per-neuron values intact),
the discretisations against closed forms, and the errors for what NIR or neurolearn cannot
express."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs torch: pip install 'neurolearn[torch]'")
from brian2 import ms

nir = pytest.importorskip("nir")

from neurolearn.bridge import to_brian2
from neurolearn.bridge.nir import from_nir, nir_model, read_nir, to_nir, write_nir
from neurolearn.spec import ModelError
from neurolearn.torch import LeakyReadout, SpikingLayer, SpikingNetwork

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]

DT = 1e-4


def _hetero_graph(seed=0, n_in=5, n=8, n_out=3):
    """Input -> Linear -> CubaLIF (per-neuron tau_mem, tau_syn; recurrent) -> Linear -> CubaLI."""
    rng = np.random.default_rng(seed)
    return nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([n_in])),
            "fc1": nir.Linear(weight=rng.normal(0.0, 80.0, (n, n_in))),
            "lif": nir.CubaLIF(
                tau_mem=rng.uniform(2e-3, 20e-3, n),
                tau_syn=rng.uniform(1e-3, 8e-3, n),
                r=np.ones(n),
                v_leak=np.zeros(n),
                v_threshold=np.ones(n),
                v_reset=np.zeros(n),
                w_in=np.ones(n),
            ),
            "rec": nir.Linear(weight=rng.normal(0.0, 5.0, (n, n))),
            "fc2": nir.Linear(weight=rng.normal(0.0, 1.0, (n_out, n))),
            "li": nir.CubaLI(
                tau_mem=rng.uniform(5e-3, 30e-3, n_out),
                tau_syn=rng.uniform(1e-3, 5e-3, n_out),
                r=np.ones(n_out),
                v_leak=np.zeros(n_out),
                w_in=np.ones(n_out),
            ),
            "output": nir.Output(output_type=np.array([n_out])),
        },
        edges=[
            ("input", "fc1"),
            ("fc1", "lif"),
            ("lif", "rec"),
            ("rec", "lif"),
            ("lif", "fc2"),
            ("fc2", "li"),
            ("li", "output"),
        ],
    )


def _input(T=300, B=2, n_in=5, p=0.05, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, n_in, generator=g) < p).double()


@pytest.mark.parametrize("discretisation", ["exact", "euler"])
def test_heterogeneous_graph_exports_reimports_and_runs_in_brian2(tmp_path, discretisation):
    graph = _hetero_graph()
    net = from_nir(graph, DT, discretisation=discretisation)
    x = _input()
    with torch.no_grad():
        out = net(x)
    spikes = net.spikes[0].numpy()
    assert spikes.sum() > 20  # the hidden layer fires

    path = write_nir(net, tmp_path / "net.nir")
    back_graph = read_nir(path)
    lif = graph.nodes["lif"]
    node = back_graph.nodes[net.layers[0].name]
    np.testing.assert_allclose(node.tau_mem, lif.tau_mem, rtol=1e-15)
    np.testing.assert_allclose(node.tau_syn, lif.tau_syn, rtol=1e-15)
    assert node.metadata["discretisation"] == discretisation
    np.testing.assert_allclose(back_graph.nodes["readout"].tau, graph.nodes["li"].tau_mem)
    np.testing.assert_allclose(back_graph.nodes["readout_syn"].tau, graph.nodes["li"].tau_syn)

    back = from_nir(path, DT, discretisation=discretisation)
    with torch.no_grad():
        out2 = back(x)
    assert np.array_equal(back.spikes[0].numpy(), spikes)
    np.testing.assert_allclose(out2.numpy(), out.numpy(), rtol=0, atol=1e-12)

    export = to_brian2(back, x, backend="numpy")
    group = export.groups[back.layers[0].name]
    n = back.layers[0].n
    np.testing.assert_allclose(np.asarray(group.tau_mem[:n]), lif.tau_mem, rtol=1e-15)
    np.testing.assert_allclose(np.asarray(group.tau_syn[:n]), lif.tau_syn, rtol=1e-15)
    np.testing.assert_array_equal(export.spikes[0], spikes)
    np.testing.assert_allclose(export.readout, out.numpy(), rtol=0, atol=1e-9)


def test_lif_network_round_trip_keeps_spikes_and_per_neuron_values():
    """A zoo ``lif`` network (volts, amperes, per-neuron tau_m/tau_syn, an external current)
    written in NIR's dimensionless form and read back: the same spikes and readout."""
    g = torch.Generator().manual_seed(0)
    het = {"tau_m": {"distribution": "gamma", "k": 3}, "tau_syn": {"distribution": "gamma", "k": 3}}
    hidden = SpikingLayer(
        "lif",
        5,
        8,
        dt=1e-3,
        recurrent=True,
        params={"t_ref": 0 * ms, "I_ext": np.linspace(0.0, 0.1, 8) * 1e-9},
        heterogeneity=het,
        dtype=torch.float64,
        generator=g,
        weight_gain=3.0,
    )
    readout = LeakyReadout(8, 3, dt=1e-3, heterogeneity=het, dtype=torch.float64, generator=g)
    net = SpikingNetwork([hidden], readout)
    x = _input(T=200, n_in=5, p=0.1)
    with torch.no_grad():
        out = net(x)
    graph = to_nir(net)
    node = graph.nodes[hidden.name]
    np.testing.assert_allclose(node.tau_mem, hidden.parameter_si("tau_m"))
    np.testing.assert_allclose(node.tau_syn, hidden.parameter_si("tau_syn"))
    assert np.all(node.v_threshold == 1.0) and np.all(node.v_reset == 0.0)
    # v_leak = R_m I_ext/(v_th - v_rest): 100 Mohm * 0.1 nA / 20 mV = 0.5 for the last neuron
    np.testing.assert_allclose(node.v_leak[-1], 0.5, rtol=1e-12)
    back = from_nir(graph, 1e-3)
    with torch.no_grad():
        out2 = back(x)
    assert net.spikes[0].sum() > 20
    assert np.array_equal(back.spikes[0].numpy(), net.spikes[0].numpy())
    np.testing.assert_allclose(out2.numpy(), out.numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("discretisation", ["exact", "euler"])
def test_discretisation_against_closed_form(discretisation):
    """One input spike into a CubaLIF that cannot fire: v follows the closed form of
    ``tau_m dv/dt = -v + r I``, ``I`` jumping by ``w_in w dt/tau_syn`` (exact), or the
    Euler recursion ``v += dt/tau_m (r I - v)``, ``I *= 1 - dt/tau_syn`` (Euler)."""
    tau_m, tau_s, w, dt, T = 10e-3, 4e-3, 2.0, 1e-4, 400
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([1])),
            "fc": nir.Linear(weight=np.array([[w]])),
            "lif": nir.CubaLIF(
                tau_mem=np.array([tau_m]),
                tau_syn=np.array([tau_s]),
                r=np.array([1.0]),
                v_leak=np.array([0.0]),
                v_threshold=np.array([1e9]),
                w_in=np.array([1.0]),
            ),
            "output": nir.Output(output_type=np.array([1])),
        },
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")],
    )
    net = from_nir(graph, dt, discretisation=discretisation)
    x = torch.zeros(T, 1, 1, dtype=torch.float64)
    x[0] = 1.0
    with torch.no_grad():
        (_, traces), _ = net.layers[0].run(x, record=("v",))
    v = traces["v"][:, 0, 0].numpy()
    i0 = w * dt / tau_s  # the jump of I at step 0
    t = np.arange(1, T) * dt  # v of step n is the value at (n + 1) dt, after its update
    if discretisation == "exact":
        expected = i0 * tau_s / (tau_s - tau_m) * (np.exp(-t / tau_s) - np.exp(-t / tau_m))
    else:
        expected, vv, ii = [], 0.0, i0
        for _ in range(1, T):
            vv, ii = vv + dt / tau_m * (ii - vv), ii * (1 - dt / tau_s)
            expected.append(vv)
        expected = np.array(expected)
    np.testing.assert_allclose(v[1:], expected, rtol=1e-9, atol=1e-15)
    assert v[0] == 0.0


def test_model_without_primitive_names_model_and_primitive():
    net = SpikingNetwork([SpikingLayer("alif", 3, 4, dt=1e-3, dtype=torch.float64)])
    with pytest.raises(ModelError, match=r"alif.*adaptive-threshold"):
        to_nir(net)
    net = SpikingNetwork([SpikingLayer("izhikevich", 3, 4, dt=1e-3, dtype=torch.float64)])
    with pytest.raises(ModelError, match=r"izhikevich.*Izhikevich"):
        to_nir(net)


def test_refractory_period_needs_consent():
    net = SpikingNetwork([SpikingLayer("lif", 3, 4, dt=1e-3, dtype=torch.float64)])
    with pytest.raises(ModelError, match=r"t_ref = 2 ms.*drop_refractory"):
        to_nir(net)
    graph = to_nir(net, drop_refractory=True)
    assert graph.nodes[net.layers[0].name].metadata["t_ref"] == pytest.approx(2e-3)


def test_unreadable_graphs_name_the_node():
    graph = _hetero_graph()
    graph.nodes["fc1"] = nir.Affine(weight=graph.nodes["fc1"].weight, bias=np.ones(8))
    with pytest.raises(ModelError, match=r"'fc1'.*non-zero bias"):
        from_nir(graph, DT)
    graph = _hetero_graph()
    graph.nodes["lif"] = nir.IF(r=np.ones(8), v_threshold=np.ones(8))
    with pytest.raises(ModelError, match=r"'lif' is a IF"):
        from_nir(graph, DT)
    graph = _hetero_graph()
    graph.nodes["lif"].tau_mem[2] = -1.0
    with pytest.raises(ModelError, match=r"'lif'.*tau_mem must be > 0"):
        from_nir(graph, DT)
    with pytest.raises(ValueError, match="unknown discretisation"):
        from_nir(_hetero_graph(), DT, discretisation="rk4")
    with pytest.raises(ModelError, match="only discretisation='euler'"):
        nir_model("LIF", "exact")


def test_cli_import_export_run(tmp_path, capsys):
    from neurolearn.cli import main

    nir.write(str(tmp_path / "g.nir"), _hetero_graph())
    x = _input(T=200).numpy()
    np.save(tmp_path / "x.npy", x)
    assert (
        main(["nir", "import", str(tmp_path / "g.nir"), str(tmp_path / "n.h5"), "--dt", "0.1 ms"])
        == 0
    )
    assert main(["nir", "export", str(tmp_path / "n.h5"), str(tmp_path / "back.nir")]) == 0
    back = read_nir(tmp_path / "back.nir")
    np.testing.assert_allclose(back.nodes["lif"].tau_mem, _hetero_graph().nodes["lif"].tau_mem)
    capsys.readouterr()
    args = ["nir", "run", str(tmp_path / "back.nir"), "--dt", "1e-4", "--input"]
    assert main(args + [str(tmp_path / "x.npy"), "--out", str(tmp_path / "s.npz"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    spikes = np.load(tmp_path / "s.npz")
    net = from_nir(_hetero_graph(), DT)
    with torch.no_grad():
        net(torch.as_tensor(x))
    expected = net.spikes[0].numpy()
    np.testing.assert_array_equal(spikes["brian2_lif"], expected)
    assert summary["lif"] == {
        "brian2_spikes": int(expected.sum()),
        "torch_spikes": int(expected.sum()),
        "identical": True,
    }
    assert main(["nir", "export", str(tmp_path / "missing"), str(tmp_path / "x.nir")]) == 2
    assert "no trained network" in capsys.readouterr().err


def test_euler_import_survives_save_and_load(tmp_path):
    """The Euler readout (a non-spiking layer of the readout model) comes back as such from
    save_network/load_network, so the reloaded network gives the same readout."""
    from neurolearn.bridge import load_network, save_network

    net = from_nir(_hetero_graph(), DT, discretisation="euler")
    save_network(net, tmp_path / "n.h5")
    back = load_network(tmp_path / "n.h5").double()
    x = _input(T=200)
    with torch.no_grad():
        a, b = net(x), back(x)
    assert net.spikes[0].sum() > 20
    assert torch.equal(net.spikes[0], back.spikes[0])
    assert torch.equal(a, b)
    assert to_nir(back).nodes["readout"].metadata["discretisation"] == "euler"

"""Every neuron model of the zoo, in every engine: it validates and declares its roles; it
builds and runs on each Brian2 backend (numpy, cython, cpp_standalone; cuda_standalone
generated); it compiles for torch or raises a ModelError naming the construct; and a compiled
model gives Brian2 numpy's spikes, spike for spike (float64).

The models are listed from the zoo folder, so a new zoo file is covered without editing this
test. The Brian2 part builds ONE network holding every zoo neuron model (one population each),
so that each standalone project is generated and compiled once per module. Its drive is
deterministic: a constant ``I_ext`` ladder (in the unit of the model's ``I_ext``) and spikes of
a spike generator onto the model's first synaptic target, so every backend draws no random
number and must give the spikes of numpy.
"""

import re
import sys
import warnings

import numpy as np
import pytest
from brian2 import ms, mV, nA, nS, pA, second

from neurolearn import ModelError, ModelSpec, list_models, load_model
from neurolearn.brian import NetworkSpec
from neurolearn.brian.backends import BACKEND_TABLE
from neurolearn.bridge import spike_agreement, to_brian2
from neurolearn.spec import zoo_dir

try:  # the torch part (marked torch) needs neurolearn[torch]; the Brian2 part runs without it
    import torch

    from neurolearn.torch import SpikingNetwork, compile_model
except ModuleNotFoundError:
    torch = None

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NEURONS = [spec.name for spec in list_models("neuron")]
DT = 0.1 * ms
DURATION = 300 * ms
N_PER_MODEL = 3
#: constant drives by the unit of I_ext: below, near and above the zoo models' rheobases
LADDERS = [np.array([0.1, 0.4, 1.0]) * nA, np.array([2.0, 5.0, 10.0]) * mV / ms]
#: weight of the generator's synapses by the unit of the synaptic target
WEIGHTS = [25 * pA, 0.5 * nS, 1 * mV / ms, 1 * mV]


def _of_dim(values, dim):
    """The entry of ``values`` with dimension ``dim``, or None."""
    return next((v for v in values if v.dim == dim), None)


def _spec(name) -> ModelSpec:
    return load_model(name)


# ---------------------------------------------------------------------------------------------
# The specification
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NEURONS)
def test_model_validates_and_declares_its_roles(name):
    path = zoo_dir() / f"{name}.toml"
    text = path.read_text(encoding="utf-8")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        spec = ModelSpec.from_dict(tomllib.loads(text), path, text)  # validates (no cache)
    assert not [w for w in record if "does not declare the role" in str(w.message)]
    assert set(spec.roles) >= {"time_constants", "synaptic_targets"}
    assert spec.threshold_variable in spec.brian2_equations().names
    for target in spec.synaptic_targets:
        assert target in spec.state_variables
    for tau in spec.time_constants:
        assert spec.parameters[tau].dim == second.dim and float(spec.parameters[tau].value) > 0


# ---------------------------------------------------------------------------------------------
# Brian2: one network of every zoo neuron model, on every backend
# ---------------------------------------------------------------------------------------------
def _synapse(weight, target: str) -> ModelSpec:
    """A static synapse adding ``w_syn`` to ``target`` (a parameter: AdEx has its own ``w``)."""
    return ModelSpec.from_dict(
        {
            "name": f"drive_{target}",
            "kind": "synapse",
            "reference": "Brette et al. (2007) J. Comput. Neurosci. 23:349 (CUBA/COBA)",
            "on_pre": "{target}_post += w_syn",
            "target": target,
            "parameters": {"w_syn": f"{float(weight)!r} {weight.dim!r}"},
            "roles": {"time_constants": []},
        }
    )


def zoo_network() -> NetworkSpec:
    """Every zoo neuron model, ``N_PER_MODEL`` neurons each, driven by an I_ext ladder and by
    a 100 Hz regular spike train onto its first synaptic target."""
    net = NetworkSpec(dt=DT, name="zoo")
    n_steps = int(round(float(DURATION / DT)))
    steps = np.arange(50, n_steps - 1, 100)
    net.add_input(
        "generator",
        "spike_generator",
        1,
        indices=np.zeros(steps.size, dtype=np.int64),
        times=steps * DT,
    )
    for spec in list_models("neuron"):
        eqs = spec.brian2_equations()
        ladder = _of_dim(LADDERS, eqs["I_ext"].dim) if "I_ext" in eqs.names else None
        initial = {} if ladder is None else {"I_ext": ladder}
        net.add_population(spec.name, spec, N_PER_MODEL, initial=initial)
        net.monitor_spikes(spec.name)
        if spec.synaptic_targets:
            target = spec.synaptic_targets[0]
            weight = _of_dim(WEIGHTS, eqs[target].dim)
            if weight is not None:
                net.connect(
                    "generator",
                    spec.name,
                    _synapse(weight, target),
                    i=np.zeros(N_PER_MODEL, dtype=np.int64),
                    j=np.arange(N_PER_MODEL),
                )
    return net


def _spikes(results) -> dict:
    out = {}
    for name in NEURONS:
        s = results.spikes[name]
        steps = np.round(np.asarray(s.times) / float(DT)).astype(np.int64)
        order = np.lexsort((s.indices, steps))
        out[name] = np.stack([steps[order], s.indices[order]], 1)
    return out


@pytest.fixture(scope="module")
def numpy_spikes():
    return _spikes(zoo_network().run(DURATION, backend="numpy"))


#: Brian2 preferences of the compiled backends: -O0 compiles fastest (the cost of this module);
#: the generated code is the same as with Brian2's default flags
FAST_COMPILE = {"codegen.cpp.extra_compile_args_gcc": ["-w", "-O0"]}


@pytest.fixture(scope="module")
def backend_spikes(tmp_path_factory):
    """Spikes of the zoo network on the compiled backends, each project built once (cython's
    extensions, the cpp_standalone project); the cuda_standalone project is generated only
    (no GPU here): the names of its kernels."""
    out = {}
    out["cython"] = _spikes(zoo_network().run(DURATION, backend="cython", prefs=FAST_COMPILE))
    out["cpp_standalone"] = _spikes(
        zoo_network().run(
            DURATION,
            backend="cpp_standalone",
            directory=tmp_path_factory.mktemp("zoo_cpp"),
            prefs=FAST_COMPILE,
        )
    )
    if _has_brian2cuda():
        directory = tmp_path_factory.mktemp("zoo_cuda")
        sim = zoo_network().build(
            DURATION, backend="cuda_standalone", directory=directory, compile=False
        )
        sim.close()
        out["cuda_standalone"] = {p.name for p in (directory / "code_objects").glob("*.cu")}
    return out


def _has_brian2cuda() -> bool:
    return "brian2cuda" not in BACKEND_TABLE["cuda_standalone"].missing(run=False)


@pytest.mark.parametrize("name", NEURONS)
def test_model_runs_on_numpy(numpy_spikes, name):
    spec = _spec(name)
    eqs = spec.brian2_equations()
    if "I_ext" in eqs.names and _of_dim(LADDERS, eqs["I_ext"].dim) is not None:
        assert len(numpy_spikes[name]) > 0, f"{name} never fired under its I_ext ladder"


@pytest.mark.parametrize("backend", ["cython", "cpp_standalone"])
@pytest.mark.parametrize("name", NEURONS)
def test_model_gives_numpys_spikes_on_compiled_backends(
    numpy_spikes, backend_spikes, name, backend
):
    np.testing.assert_array_equal(backend_spikes[backend][name], numpy_spikes[name])


@pytest.mark.parametrize("name", NEURONS)
def test_model_generates_a_cuda_project(backend_spikes, name):
    if "cuda_standalone" not in backend_spikes:
        pytest.skip("brian2cuda is not installed")
    kernels = backend_spikes["cuda_standalone"]
    for code_object in ("stateupdater", "spike_thresholder", "spike_resetter"):
        # Brian2 numbers code objects whose names were used before in the process (_2, ...)
        pattern = re.compile(rf"^{name}_{code_object}_codeobject(_\d+)?\.cu$")
        assert any(pattern.match(k) for k in kernels), (name, code_object, sorted(kernels))


# ---------------------------------------------------------------------------------------------
# torch: compiles (or names what it cannot compile) and gives Brian2 numpy's spikes
# ---------------------------------------------------------------------------------------------
def _torch_network(spec, gain, seed=0, n=12, channels=10, steps=120):
    g = torch.Generator().manual_seed(seed)
    targets = spec.synaptic_targets
    net = SpikingNetwork.build(
        channels,
        [n],
        3,
        model=spec,
        dt="0.1 ms",
        heterogeneity="het_init_het_train",
        generator=g,
        dtype=torch.float64,
        weight_gain=gain,
        target=targets[0] if len(targets) == 1 else tuple(targets),
    )
    x = (torch.rand(steps, 2, channels, generator=g) < 0.08).double()
    return net, x


@pytest.mark.torch
@pytest.mark.parametrize("name", NEURONS)
def test_model_compiles_for_torch_and_gives_brian2_numpys_spikes(name):
    """The model compiles for torch, or raises a ModelError naming the construct it cannot
    compile (quoted from the model file); a compiled model gives, in a random recurrent layer
    with heterogeneous time constants, the spikes of Brian2's numpy target, spike for spike."""
    spec = _spec(name)
    try:
        cm = compile_model(spec, float(DT))
    except ModelError as err:
        message = str(err)
        assert f"model '{name}'" in message and err.parameter, message
        quoted = [q for q in re.findall(r"'([^']+)'", message) if q != name]
        assert any(q in spec.source_text for q in quoted), message  # the construct, verbatim
        return
    assert cm.threshold_variable in cm.state_names
    assert spec.synaptic_targets, f"{name} takes no synaptic input: a torch layer cannot drive it"
    # the first input gain that makes the hidden layer fire clearly but sparsely
    for gain in (3.0, 1.0, 0.5, 0.25, 6.0, 12.0):
        net, x = _torch_network(spec, gain)
        with torch.no_grad():
            net(x)
        spikes = net.spikes[0].numpy()
        if 20 < spikes.sum() < 0.3 * spikes.size:
            break
    else:
        pytest.fail(f"{name}: no input gain gives a sparse, active hidden layer")
    export = to_brian2(net, x, backend="numpy")
    agreement = spike_agreement(spikes, export.spikes[0])
    assert agreement["identical"], agreement

"""The model contract: roles declared in the model files ([roles]), inferred with a warning for
files without them, checked against the model; the state updater by name, neurolearn's
included."""

import textwrap
import warnings

import pytest
from brian2 import ms

from neurolearn import ModelError, ModelSpec, list_models, load_model
from neurolearn.spec import ROLE_FIELDS, STATE_UPDATERS, state_updater_names
from neurolearn.spec.roles import conventional_roles

USER = """
name = "mine"
kind = "neuron"
reference = "test"
equations = '''
dv/dt = (v_rest - v + R*I_in)/tau_m : volt
dI_in/dt = -I_in/T_s : amp
'''
threshold = "v > v_th"
reset = "v = v_rest"

[parameters.tau_m]
value = "10 ms"

[parameters.T_s]
value = "5 ms"

[parameters.R]
value = "100 Mohm"

[parameters.v_rest]
value = "-70 mV"

[parameters.v_th]
value = "-50 mV"
"""


def _role_warnings(record) -> list:
    return [w for w in record if "does not declare the role" in str(w.message)]


def _write(tmp_path, body, name="mine.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def test_every_zoo_file_declares_its_roles():
    """Loading the zoo warns about nothing, and the declared roles are what the old naming
    conventions gave: declaring them changed no behaviour."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        zoo = list_models()
    assert not _role_warnings(record)
    for spec in zoo:
        declared = spec.roles
        assert set(declared) == set(spec.role_table()), spec.name
        assert declared == conventional_roles(spec), spec.name
    lif = load_model("lif")
    assert lif.time_constants == ("tau_m", "tau_syn")
    assert lif.synaptic_targets == ("I_syn",) and lif.threshold_variable == "v"
    assert load_model("lif_cond").synaptic_targets == ("g_e", "g_i")
    assert load_model("srm0").threshold_variable == "u"
    assert load_model("glif3").synaptic_targets == ()
    assert load_model("stdp_triplet").time_constants == ("tau_plus", "tau_x", "tau_minus", "tau_y")
    assert lif.parameters["tau_m"].is_time_constant and lif.parameters["tau_m"].time_constant
    assert not lif.parameters["t_ref"].is_time_constant


def test_file_without_roles_loads_with_a_future_warning_naming_file_and_fields(tmp_path):
    path = _write(tmp_path, USER)
    with pytest.warns(FutureWarning) as record:
        spec = load_model(path)
    (warning,) = _role_warnings(record)
    assert warning.category is FutureWarning
    message = str(warning.message)
    assert str(path) in message
    assert "time_constants, synaptic_targets, threshold_variable" in message
    # the old conventions: tau* in units of time; no I_syn nor g_e/g_i; first threshold var
    assert spec.time_constants == ("tau_m",)
    assert spec.synaptic_targets == ()
    assert spec.threshold_variable == "v"
    # the lines the warning proposes load without warning and mean the same
    lines = message[message.index("[roles]") :]
    assert (
        lines
        == '[roles]\ntime_constants = ["tau_m"]\nsynaptic_targets = []\nthreshold_variable = "v"'
    )
    fixed = _write(tmp_path, USER + "\n" + lines + "\n", "fixed.toml")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        again = load_model(fixed)
    assert not _role_warnings(record)
    assert again.roles == spec.roles


def test_partial_roles_warn_only_about_the_missing_ones(tmp_path):
    body = USER + '\n[roles]\ntime_constants = ["tau_m", "T_s"]\nsynaptic_targets = ["I_in"]\n'
    with pytest.warns(FutureWarning, match=r"the role threshold_variable;") as record:
        spec = load_model(_write(tmp_path, body))
    assert "time_constants =" not in str(_role_warnings(record)[0].message)
    assert spec.time_constants == ("tau_m", "T_s")
    assert spec.synaptic_targets == ("I_in",)


def test_declared_time_constants_decide_positivity(tmp_path):
    """T_s is a time constant because the file says so (not by its name): it must be > 0;
    tau_m, not declared, may be 0... within its range."""
    body = USER.replace('value = "5 ms"', 'value = "0 ms"')
    roles = '\n[roles]\ntime_constants = ["T_s"]\nsynaptic_targets = ["I_in"]\nthreshold_variable = "v"\n'
    with pytest.raises(
        ModelError, match=r"mine\.toml:\d+: parameter 'T_s'.*time constant must be > 0"
    ):
        load_model(_write(tmp_path, body + roles))
    spec = load_model(_write(tmp_path, USER + roles, "ok.toml"))
    assert spec.time_constants == ("T_s",)
    assert spec.parameters["T_s"].is_time_constant
    assert not spec.parameters["tau_m"].is_time_constant
    spec.resolve_parameters({"tau_m": 0 * ms})  # no longer a time constant: 0 is allowed
    with pytest.raises(ModelError, match="parameter 'T_s'.*> 0"):
        spec.resolve_parameters({"T_s": 0 * ms})


@pytest.mark.parametrize(
    "roles,match",
    [
        ('time_constants = ["tau_x"]', r"roles\.time_constants: 'tau_x' is not a parameter"),
        ('time_constants = ["R"]', r"roles\.time_constants: 'R' is in units of ohm, not a time"),
        ('synaptic_targets = ["I_syn"]', r"roles\.synaptic_targets: 'I_syn' is not a variable"),
        (
            'threshold_variable = "I_in"',
            r"roles\.threshold_variable: 'I_in' is not a variable.*named in the threshold",
        ),
        (
            'threshold = "v"',
            r"unknown role 'threshold' for a neuron model; allowed: time_constants",
        ),
        ('time_constants = "tau_m"', r"roles\.time_constants must be a list of names"),
    ],
)
def test_bad_roles_name_file_line_and_culprit(tmp_path, roles, match):
    path = _write(tmp_path, USER + "\n[roles]\n" + roles + "\n")
    line = path.read_text().splitlines().index(roles) + 1
    with pytest.raises(ModelError, match=match) as info:
        load_model(path)
    assert f"mine.toml:{line}:" in str(info.value)


def test_synapse_and_input_models_declare_time_constants_only(tmp_path):
    assert ROLE_FIELDS["synapse"] == ROLE_FIELDS["input"] == ("time_constants",)
    body = """
    name = "syn"
    kind = "synapse"
    equations = "w : amp"
    on_pre = "{target}_post += w"
    target = "I_syn"

    [roles]
    time_constants = []
    synaptic_targets = ["I_syn"]
    """
    with pytest.raises(ModelError, match="unknown role 'synaptic_targets' for a synapse model"):
        load_model(_write(tmp_path, body, "syn.toml"))


def test_spec_made_in_code_gets_a_deprecation_warning_and_round_trips():
    lif = load_model("lif")
    data = lif.to_dict()
    assert data["roles"] == {
        "time_constants": ["tau_m", "tau_syn"],
        "synaptic_targets": ["I_syn"],
        "threshold_variable": "v",
    }
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        again = ModelSpec.from_dict(data)
    assert not _role_warnings(record)
    assert again.roles == lif.roles
    del data["roles"]
    with pytest.warns(DeprecationWarning, match="model 'lif' does not declare the roles"):
        inferred = ModelSpec.from_dict(data)
    assert inferred.roles == lif.roles


def test_allen_glif_is_a_method_by_name(tmp_path):
    from brian2.stateupdaters.base import StateUpdateMethod

    from neurolearn.spec.allen_glif import AllenGlifStateUpdater

    assert "allen_glif" in STATE_UPDATERS and "allen_glif" in state_updater_names()
    spec = load_model(_write(tmp_path, 'method = "allen_glif"\n' + USER))
    assert spec.method == "allen_glif"
    assert isinstance(StateUpdateMethod.stateupdaters["allen_glif"], AllenGlifStateUpdater)
    with pytest.raises(
        ModelError, match=r"unknown state updater method 'allen'.*neurolearn adds: allen_glif"
    ):
        load_model(_write(tmp_path, 'method = "allen"\n' + USER, "bad.toml"))

"""Brian2's abstract update code taken by the model IR from brian2 itself: byte-identical to
the code of the group :func:`neurolearn.brian.build.make_neuron_group` builds, for every zoo
neuron model; cached on disk under a key that includes Brian2's version."""

import brian2
import pytest

from neurolearn.brian.build import make_neuron_group
from neurolearn.codegen import abstract, abstract_update_code
from neurolearn.spec import ModelError, list_models

ZOO = [spec.name for spec in list_models("neuron")]


def _reference(spec, method=None):
    """The abstract code of the Brian2 group neurolearn builds for the model, integrated
    with Brian2's own updater of that name (neurolearn's Brian2 engine integrates ``exact``
    with the guarded form of :mod:`neurolearn.brian.exact`, derived from this code)."""
    from brian2.stateupdaters.base import StateUpdateMethod

    name = method or spec.method
    if name in StateUpdateMethod.stateupdaters:  # Brian2's object: used as it is
        method = StateUpdateMethod.stateupdaters[name]
    group = make_neuron_group(spec, 1, method=method)
    group.state_updater.update_abstract_code(run_namespace={})
    return group.state_updater.abstract_code


@pytest.mark.parametrize("name", ZOO)
def test_abstract_code_identical_to_make_neuron_group(name, tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROLEARN_CACHE_DIR", str(tmp_path))  # computed, not read
    spec = next(s for s in list_models("neuron") if s.name == name)
    code = abstract_update_code(spec)
    assert code == _reference(spec)
    # one assignment per state variable, after Brian2's refractoriness statement
    for var in spec.state_variables:
        assert f"\n{var} = _{var}" in "\n" + code
    assert code.startswith("not_refractory = ") == bool(spec.refractory.strip())


def test_abstract_code_with_another_method_and_refused_method():
    spec = next(s for s in list_models("neuron") if s.name == "lif")
    assert abstract_update_code(spec, "euler") == _reference(spec, "euler")
    assert abstract_update_code(spec, "rk4") == _reference(spec, "rk4")
    adex = next(s for s in list_models("neuron") if s.name == "adex")
    with pytest.raises(ModelError, match=r"could not integrate the equations with method 'exact'"):
        abstract_update_code(adex, "exact")


def test_abstract_code_cached_under_brian2_version(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROLEARN_CACHE_DIR", str(tmp_path))
    spec = next(s for s in list_models("neuron") if s.name == "lif")
    code = abstract_update_code(spec, "euler")
    files = list((tmp_path / abstract.CACHE_FOLDER).glob("*.txt"))
    assert len(files) == 1 and files[0].read_text(encoding="utf-8") == code
    # the cached text is what is returned
    files[0].write_text("_v = v\nv = _v\n", encoding="utf-8")
    assert abstract_update_code(spec, "euler") == "_v = v\nv = _v\n"
    # another Brian2 version: another key, the code is derived again
    monkeypatch.setattr(brian2, "__version__", brian2.__version__ + ".test")
    assert abstract_update_code(spec, "euler") == code
    assert len(list((tmp_path / abstract.CACHE_FOLDER).glob("*.txt"))) == 2

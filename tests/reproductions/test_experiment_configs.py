"""Every training configuration of the packaged experiments is the one recorded before their
defaults moved from Python dicts to TOML files (``neurolearn/configs``): the heterogeneity
experiment's four configurations for every dataset (with and without ``--quick``) and all 28
Spiking FSDD variants, compared section by section and key by key with
``data/experiment_configurations.json``.

Both the sections handed to ``config_from_dict`` (what the defaults produce) and the validated
configuration (what a run trains with) are compared; the latter against the recorded sections
validated by today's schema, so that a new schema key with a default does not need a new
recording.
"""

import json
from pathlib import Path

import pytest

SNAPSHOT = json.loads(
    (Path(__file__).parent / "data" / "experiment_configurations.json").read_text()
)


def _json(x):
    """Lists for tuples, as the recording holds them (float and int stay distinct)."""
    return json.loads(json.dumps(x))


def _het_cases():
    for key in SNAPSHOT["heterogeneity"]:
        dataset, configuration, mode = key.split("/")
        yield pytest.param(dataset, configuration, mode == "quick", id=key)


def test_the_recording_covers_every_dataset_configuration_and_variant():
    from neurolearn.reproductions import fsdd_variants, heterogeneity

    keys = {
        f"{d}/{c}/{m}"
        for d in heterogeneity.DATASET_DEFAULTS
        for c in heterogeneity.CONFIGURATIONS
        for m in ("full", "quick")
    }
    assert set(SNAPSHOT["heterogeneity"]) == keys and len(keys) == 40
    assert list(SNAPSHOT["fsdd_variants"]) == list(fsdd_variants.VARIANTS)
    assert len(fsdd_variants.VARIANTS) == 28
    assert _json(heterogeneity.ALLEN_SELECTION) == SNAPSHOT["allen_selection"]


@pytest.mark.torch  # neurolearn.training (config_from_dict) needs neurolearn[torch]
@pytest.mark.parametrize("dataset, configuration, quick", list(_het_cases()))
def test_heterogeneity_configuration_unchanged(dataset, configuration, quick):
    from neurolearn.reproductions.heterogeneity import experiment_config, experiment_sections
    from neurolearn.training import config_from_dict

    recorded = SNAPSHOT["heterogeneity"][
        f"{dataset}/{configuration}/{'quick' if quick else 'full'}"
    ]
    assert _json(experiment_sections(dataset, configuration, 0, quick)) == recorded
    cfg = experiment_config(dataset, configuration, 0, quick)
    assert _json(cfg.sections) == _json(config_from_dict(recorded).sections)


@pytest.mark.torch  # neurolearn.training (config_from_dict) needs neurolearn[torch]
@pytest.mark.parametrize("name", list(SNAPSHOT["fsdd_variants"]))
def test_fsdd_variant_configuration_unchanged(name):
    from neurolearn.reproductions import fsdd_variants
    from neurolearn.training import config_from_dict

    recorded = SNAPSHOT["fsdd_variants"][name]
    description, _, seeds, configuration = fsdd_variants.VARIANTS[name]
    assert description == recorded["description"]
    assert list(seeds) == recorded["seeds"] and configuration == recorded["configuration"]
    assert _json(fsdd_variants.variant_sections(name, 0)) == recorded["sections"]
    cfg = fsdd_variants.variant_config(name, 0)
    assert _json(cfg.sections) == _json(config_from_dict(recorded["sections"]).sections)


@pytest.mark.torch  # the training config (neurolearn.training) needs neurolearn[torch]
def test_top_level_example_config_is_the_experiments_common_settings():
    """``configs/fsdd_lif.toml`` (the example of ``neurolearn train``, at the path the README
    names) is a valid configuration holding the heterogeneity experiment's common settings
    (network, heterogeneity, loss, optimizer, training), except ``training.threads`` which the
    example leaves to torch."""
    from neurolearn.reproductions.defaults import packaged_config
    from neurolearn.training import load_config

    example = load_config(Path(__file__).resolve().parents[2] / "configs" / "fsdd_lif.toml")
    common = packaged_config("heterogeneity")["common"]
    differ = {
        (section, key): (value, example[section][key])
        for section, values in common.items()
        for key, value in values.items()
        if example[section][key] != value
    }
    assert differ == {("training", "threads"): (1, None)}
    assert example["heterogeneity"]["configuration"] == "het_init_het_train"


def test_packaged_config_names_what_is_there():
    from neurolearn.reproductions.defaults import merge_sections, packaged_config

    with pytest.raises(FileNotFoundError, match="'nope'.*known: fsdd_variants, heterogeneity"):
        packaged_config("nope")
    base = {"data": {"options": {"channels": 64, "gain": 5.0}, "dt_ms": 10.0}}
    merged = merge_sections(base, {"data": {"options": {"channels": 128}}, "loss": {"x": 1}})
    # a nested table is replaced as a whole; the base is left alone
    assert merged == {"data": {"options": {"channels": 128}, "dt_ms": 10.0}, "loss": {"x": 1}}
    assert base["data"]["options"] == {"channels": 64, "gain": 5.0}


def test_experiment_datasets_are_registered_datasets():
    """The heterogeneity experiment's datasets (its --dataset choices) are datasets of the
    registry, and each dataset's defaults load that dataset."""
    from neurolearn.datasets import DATASETS
    from neurolearn.reproductions.heterogeneity import DATASET_DEFAULTS

    assert set(DATASET_DEFAULTS) <= set(DATASETS)
    for name, defaults in DATASET_DEFAULTS.items():
        assert defaults["data"]["dataset"] == name

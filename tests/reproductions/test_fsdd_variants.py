"""neurolearn.reproductions.fsdd_variants: every variant of the README's Spiking FSDD tables is a
valid
training configuration that holds the settings its description names, independently of
the main job's current defaults."""

import math

import pytest


@pytest.fixture(scope="module")
def fv():
    from neurolearn.reproductions import fsdd_variants

    return fsdd_variants


@pytest.mark.torch  # the training config (neurolearn.training) needs neurolearn[torch]
def test_every_variant_names_its_network(fv, monkeypatch):
    from neurolearn.reproductions import heterogeneity

    for name in fv.VARIANTS:
        cfg = fv.variant_config(name, seed=3).sections
        assert cfg["network"]["model"] == ("alif" if name.startswith("alif") else "lif"), name
        assert cfg["training"]["seed"] == 3
        assert cfg["heterogeneity"]["configuration"] == "hom_init_het_train"
    cfg = fv.variant_config("alif_input_dropout02", 0).sections
    assert cfg["training"]["input_dropout"] == 0.2 and cfg["network"]["dropout"] == 0.0
    assert fv.variant_config("lif", 0).sections["training"]["input_dropout"] == 0.0
    assert fv.variant_config("alif_beta34", 0).sections["network"]["parameters"] == {
        "beta": "3.4 mV"
    }
    assert fv.variant_config("alif_128_channels", 0).sections["data"]["options"] == {
        "channels": 128
    }
    # a change of the main job's defaults does not change what a variant means
    changed = {**heterogeneity.DATASET_DEFAULTS["fsdd"]}
    changed["network"] = {**changed["network"], "model": "lif"}
    changed["training"] = {**changed["training"], "input_dropout": 0.5}
    changed["data"] = {**changed["data"], "options": {"channels": 32, "gain": 9.0}}
    monkeypatch.setitem(heterogeneity.DATASET_DEFAULTS, "fsdd", changed)
    cfg = fv.variant_config("alif_input_dropout02", 0).sections
    assert cfg["network"]["model"] == "alif" and cfg["training"]["input_dropout"] == 0.2
    assert cfg["data"]["options"] == {"channels": 64}


def test_unknown_variant_is_named(fv):
    with pytest.raises(KeyError, match="nope.*known: lif"):
        fv.variant_config("nope", 0)
    with pytest.raises(SystemExit) as e:
        fv.main(["--out", "unused", "--only", "nope"])
    assert e.value.code == 2


def test_summary_mean_and_sd(fv):
    rows = [
        {
            "variant": "lif",
            "configuration": "hom_init_het_train",
            "seed": s,
            "val_accuracy": 0.9,
            "test_accuracy": a,
            "train_accuracy": 0.99,
            "cpu_s": 1.0,
        }
        for s, a in enumerate((0.91, 0.90, 0.95))
    ]
    rows.append({**rows[0], "variant": "alif_30_epochs"})
    s = fv._summary(rows)
    assert s["lif/hom_init_het_train"]["test_accuracy_mean"] == pytest.approx(92.0)
    assert s["lif/hom_init_het_train"]["test_accuracy_sd"] == pytest.approx(
        math.sqrt(((91 - 92) ** 2 + (90 - 92) ** 2 + (95 - 92) ** 2) / 2)
    )
    assert math.isnan(s["alif_30_epochs/hom_init_het_train"]["test_accuracy_sd"])
    md = fv._markdown(rows)
    assert "| LIF (the v3 defaults) | hom_init_het_train | 0, 1, 2 | 92.0 +- 2.6 |" in md


@pytest.mark.torch  # the training config (neurolearn.training) needs neurolearn[torch]
def test_the_variant_called_the_defaults_is_the_main_jobs_configuration(fv):
    from neurolearn.reproductions.heterogeneity import experiment_config

    for name, (desc, _, _, conf) in fv.VARIANTS.items():
        same = fv.variant_config(name, 1).sections == experiment_config("fsdd", conf, 1).sections
        assert same == ("(the defaults since" in desc), name

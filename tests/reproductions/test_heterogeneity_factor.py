"""The heterogeneity experiment's extra factor (``--factor delays``): every Perez-Nieves
configuration with and without learnable synaptic delays, as separate runs."""

import pytest

pytest.importorskip("torch")

from neurolearn.reproductions import heterogeneity as het
from neurolearn.training import build_network, config_from_dict


def test_delay_factor_conditions_and_their_networks():
    assert list(het.conditions()) == list(het.CONFIGURATIONS)
    runs = het.conditions("delays")
    assert len(runs) == 8
    base, level, changes = runs["het_init_het_train+delays"]
    assert (base, level) == ("het_init_het_train", "delays")
    assert runs["hom_init_std_train+no_delays"][2] == {}
    sections = het.experiment_sections("fsdd", base, 0, True, changes)
    cfg = config_from_dict(sections)
    assert cfg["network"]["delays"] == "per_synapse" and cfg["network"]["max_delay_ms"] == 100.0
    assert cfg["heterogeneity"]["configuration"] == "het_init_het_train"
    net = build_network(cfg, 8, 3)
    assert net.layers[0].delay_in.max_steps == 10  # 100 ms in steps of 10 ms
    plain = config_from_dict(het.experiment_sections("fsdd", base, 0, True, {}))
    assert plain["network"]["delays"] == "none"
    with pytest.raises(ValueError, match="unknown factor"):
        het.conditions("colour")

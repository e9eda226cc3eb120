"""Parameter units as Brian2 equations need them."""

from brian2 import Equations, ms, mV, nA

from neurolearn import Parameter


def test_unit_name_is_usable_in_equations_for_derived_units():
    """Once mV/ms was used, Brian2's registry names volt/second 'mvolt / msecond', which
    Brian2's equations refuse; unit_name falls back to SI base units (same dimension)."""
    scaled = mV / ms  # a Unit: Brian2 registers it, and names volt/second by it from now on
    rate = Parameter("k", 1 * scaled)
    Equations(f"k : {rate.unit_name}")  # raises if the name is not an unscaled unit
    assert Equations(f"k : {rate.unit_name}")["k"].dim == (mV / ms).dim
    assert Parameter("I", 1 * nA).unit_name == "amp"
    assert Parameter("x", 2.0).unit_name == "1"

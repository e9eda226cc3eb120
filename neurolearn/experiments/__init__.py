"""Packaged experiments, each runnable end to end with ``neurolearn run <name>``.

``heterogeneity``
    :func:`neurolearn.experiments.heterogeneity.run_heterogeneity`: the four configurations
    of Perez-Nieves et al. (2021, Nat. Commun. 12:5791) trained for several seeds, every
    trained network checked in Brian2, learned membrane time constants compared with the
    Allen Cell Types Database.
"""

__all__ = ["heterogeneity"]

"""Observations: compile the observation set from the harmonized statistics, load it, check it.

- :mod:`~kbalance.observations.schema`: file layouts, topics, series descriptions, table names;
- :mod:`~kbalance.observations.load`: the validating, cached loaders (series, OD matrix, age
  structures, breaks, boundary changes);
- :mod:`~kbalance.observations.build`: compile ``calibration/`` from ``../shared/data/harmonized``;
- :mod:`~kbalance.observations.check`: the checks of ``kbalance data check``.
"""

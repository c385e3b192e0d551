"""Observations: compile the observation set from the harmonized statistics, load it, check it.

- :mod:`~kbalance.observations.schema`: file layouts, topics, series descriptions, table names;
- :mod:`~kbalance.observations.load`: the validating, cached loaders (series, OD matrix, age
  structures, breaks, boundary changes);
- :mod:`~kbalance.observations.keyed`: readers and loaders of the files with more keys (mortality
  and life table by sex and age, UN WPP 2024, the 시군구 population, designations and boundaries);
- :mod:`~kbalance.observations.build`: compile ``calibration/`` from ``../shared/data/harmonized``;
- :mod:`~kbalance.observations.check`: the checks of ``kbalance data check``, with the identities
  of the keyed files in :mod:`~kbalance.observations.check_keyed`.
"""

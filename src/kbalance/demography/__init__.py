"""Demographic methods on arrays: single-year ages, life tables, Lee–Carter/Li–Lee mortality.

Pure functions on numpy/pandas/xarray data; nothing here reads files.  Methods,
choices and measured figures: docs/demography.md.

- :mod:`~kbalance.demography.ages`: 5-year groups → single years 0–99 and 100+.
- :mod:`~kbalance.demography.lifetable`: period life table from single-year rates.
- :mod:`~kbalance.demography.oldage`: Kannisto rates above the highest reliable age.
- :mod:`~kbalance.demography.leecarter`: Lee–Carter and Li–Lee fits.
- :mod:`~kbalance.demography.projection`: random walk with drift, AR(1), projected rates.
- :mod:`~kbalance.demography.tables`: arrays from the long mortality table.
"""

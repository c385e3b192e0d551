"""Global sensitivity analysis (Sobol, Morris) of parameters and lever targets.

* :mod:`~kbalance.sensitivity.design`: sampling and analysis of a SALib problem, independent of the model;
* :mod:`~kbalance.sensitivity.factors`: the model as a sensitivity problem (factors, groups,
  constants, outcomes of fast-engine runs);
* :mod:`~kbalance.sensitivity.figures`: index bars, indices over time and fan charts;
* :mod:`~kbalance.sensitivity.pipeline`: ``kbalance sensitivity`` end to end, its summary and output folder.
"""

"""Behaviour from evidence: responses estimated outside the simulation, on the observation set.

:mod:`kbalance.evidence.panels` assembles the panels (origin × destination × year flows with
lagged destination attributes; region × year attributes), :mod:`kbalance.evidence.estimators`
fits them (PPML gravity, two-way fixed-effects OLS) and :mod:`kbalance.evidence.priors` maps
each estimate to the model parameter it informs and writes ``calibration/evidence/``.
See ``docs/evidence.md``.
"""

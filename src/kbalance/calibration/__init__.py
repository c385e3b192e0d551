"""Calibration: fit to history, fit reports, backtests and the constrained ensemble."""

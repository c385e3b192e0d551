"""Calibration: fit to history, fit reports, backtests and the constrained ensemble.

targets (observed series and their model variables) → report (fit statistics and
figures) → fit (least squares, fitted sets) → backtest (out-of-sample forecasts) and
ensemble (parameter sets constrained by the fit).
"""

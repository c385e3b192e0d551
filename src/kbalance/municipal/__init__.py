"""The municipal (시군구) layer: the regional model's population distributed over the 229
시군구 by cohort-change ratios, raked to the regions; its indicators, backtest and maps."""

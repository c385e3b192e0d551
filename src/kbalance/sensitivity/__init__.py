"""Global sensitivity analysis (Sobol, Morris) of parameters and lever targets."""

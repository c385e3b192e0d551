"""Engines that run the model file: PySD (the reference) and the fast ensemble engine."""

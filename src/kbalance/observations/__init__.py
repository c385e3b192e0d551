"""Observations: compile the observation set from the harmonized statistics, load it, check it."""

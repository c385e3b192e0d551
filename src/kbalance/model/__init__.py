"""The model layer: the model file, its levers, scenarios, inputs and parameter sets."""

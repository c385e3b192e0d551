"""The policy explorer: a local web app (Panel) that reruns the model as the levers move."""

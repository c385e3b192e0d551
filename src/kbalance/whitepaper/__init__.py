"""The white paper: every scenario on the constrained ensemble, tables, figures and the page."""

"""Workstation-only analysis of the results dataset (pandas). Never shipped to Lambda: the layer holds lib's top-level
modules alone, and pandas is not in it."""

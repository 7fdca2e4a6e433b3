"""Propensity Workbench: goals, leakage-free snapshots, models, factors, scores and segments."""

__version__ = "0.1.0"

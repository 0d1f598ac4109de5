"""Experiments: many replications of a scenario (and, later, policy comparisons)."""

from crmsim.experiment.runner import RunResult, run_replications

__all__ = ["RunResult", "run_replications"]

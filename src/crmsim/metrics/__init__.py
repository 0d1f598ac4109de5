"""Resilience metrics computed from simulated daily records (docs/model.md, "Metrics")."""

from crmsim.metrics.performance import (
    fill_rate,
    nadir,
    performance,
    resilience_loss,
    time_to_recover,
)

__all__ = ["fill_rate", "nadir", "performance", "resilience_loss", "time_to_recover"]

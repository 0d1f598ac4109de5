"""crmsim — critical-raw-material supply-chain resilience simulator.

A networkx graph of suppliers drives SimPy discrete-event disruption scenarios; policy
levers (MSME entrants, circular-economy recycling, UNFC resource development, stockpiles,
diversification) are compared over Monte Carlo replications with common random numbers.

Examples
--------
>>> import crmsim
>>> crmsim.__version__
'0.1.0'
"""

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from crmsim.scenario import Scenario, ScenarioError, load_scenario, loads_scenario

try:
    __version__ = version("crmsim")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "Scenario",
    "ScenarioError",
    "__version__",
    "compare",
    "load_scenario",
    "loads_scenario",
    "sensitivity",
    "stress",
    "sweep",
]


def __getattr__(name: str) -> Any:
    """Import the experiment API on first use (it needs pandas, scipy and the engine)."""
    if name == "compare":
        from crmsim.experiment.compare import compare

        return compare
    if name == "stress":
        from crmsim.experiment.stress import stress

        return stress
    if name == "sweep":
        from crmsim.experiment.sweep import sweep

        return sweep
    if name == "sensitivity":
        from crmsim.experiment.sensitivity import sensitivity

        return sensitivity
    raise AttributeError(f"module 'crmsim' has no attribute {name!r}")

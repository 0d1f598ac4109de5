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

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crmsim.experiment.compare import compare
    from crmsim.experiment.stress import stress
    from crmsim.i18n import get_language, set_language
    from crmsim.scenario import Scenario, ScenarioError, load_scenario, loads_scenario

    __version__: str

__all__ = [
    "Scenario",
    "ScenarioError",
    "__version__",
    "compare",
    "get_language",
    "load_scenario",
    "loads_scenario",
    "sensitivity",
    "set_language",
    "stress",
    "sweep",
]


_SCENARIO_API = ("Scenario", "ScenarioError", "load_scenario", "loads_scenario")


def __getattr__(name: str) -> Any:
    """Import the public API on first use.

    ``import crmsim`` itself stays light (the command line handles Ctrl-C before anything
    heavy loads, and ``crmsim --help`` starts at once); the scenario API needs pydantic,
    the experiment API pandas, scipy and the engine.
    """
    if name == "__version__":  # (importlib.metadata costs 60 ms: only when asked)
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("crmsim")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            found = "0.0.0"
        globals()["__version__"] = found
        return found
    if name in _SCENARIO_API:
        import crmsim.scenario

        return getattr(crmsim.scenario, name)
    if name in ("set_language", "get_language"):
        import crmsim.i18n

        return getattr(crmsim.i18n, name)
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

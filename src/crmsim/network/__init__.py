"""The supply network: a networkx graph built from a scenario, and its analysis.

The names below are imported on first use (:func:`__getattr__`): building a graph
(:mod:`crmsim.network.graph`, which ``crmsim validate`` needs for its warnings) does not
pay for pandas, which only the analysis and the risk indicator use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crmsim.network.analysis import NetworkReport, analyse
    from crmsim.network.graph import baseline_flows, build_graph, edge_list, node_list
    from crmsim.network.risk import supply_risk

__all__ = ["baseline_flows", "build_graph", "edge_list", "node_list"]
__all__ += ["NetworkReport", "analyse", "supply_risk"]

_WHERE = {
    "NetworkReport": "analysis",
    "analyse": "analysis",
    "baseline_flows": "graph",
    "build_graph": "graph",
    "edge_list": "graph",
    "node_list": "graph",
    "supply_risk": "risk",
}


def __getattr__(name: str) -> Any:
    """Import a public name of the package from its module on first use."""
    if name in _WHERE:
        return getattr(importlib.import_module(f"crmsim.network.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'crmsim.network' has no attribute {name!r}")

"""The supply network: a networkx graph built from a scenario, and its analysis."""

from crmsim.network.analysis import NetworkReport, analyse
from crmsim.network.graph import baseline_flows, build_graph, edge_list, node_list
from crmsim.network.risk import supply_risk

__all__ = ["baseline_flows", "build_graph", "edge_list", "node_list"]
__all__ += ["NetworkReport", "analyse", "supply_risk"]

"""The supply network: a networkx graph built from a scenario, and its analysis."""

from crmsim.network.graph import baseline_flows, build_graph, edge_list, node_list

__all__ = ["baseline_flows", "build_graph", "edge_list", "node_list"]

"""Scenario files: schema, loading in stages and validation.

Load a file with :func:`load_scenario`; every problem in it is collected and raised at
once as a :class:`ScenarioError` that says file, line, column, field, bad value and what
would be valid.
"""

from crmsim.scenario.distributions import Dist
from crmsim.scenario.errors import Problem, ScenarioError
from crmsim.scenario.loader import load_scenario, loads_scenario, scenario_from_dict
from crmsim.scenario.schema import (
    SCHEMA_VERSION,
    Demand,
    Disruption,
    DisruptionKind,
    Edge,
    Material,
    Node,
    Policy,
    Role,
    Scenario,
    Size,
)
from crmsim.scenario.unfc import UnfcCode, UnfcError, parse_unfc

__all__ = [
    "SCHEMA_VERSION",
    "Demand",
    "Disruption",
    "DisruptionKind",
    "Dist",
    "Edge",
    "Material",
    "Node",
    "Policy",
    "Problem",
    "Role",
    "Scenario",
    "ScenarioError",
    "Size",
    "UnfcCode",
    "UnfcError",
    "load_scenario",
    "loads_scenario",
    "parse_unfc",
    "scenario_from_dict",
]

"""Scenario files: schema, loading in stages and validation.

Load a file with :func:`load_scenario`; every problem in it is collected and raised at
once as a :class:`ScenarioError` that says file, line, column, field, bad value and what
would be valid. A file that loads may still mean something other than intended (capacity
below the planned flow, a disruption that hits nothing, ...): :func:`check_warnings` lists
those, and :func:`load_with_warnings` locates them in the file.
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
from crmsim.scenario.warnings import WARNING_CODES, check_warnings, load_with_warnings

__all__ = [
    "SCHEMA_VERSION",
    "WARNING_CODES",
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
    "check_warnings",
    "load_scenario",
    "load_with_warnings",
    "loads_scenario",
    "parse_unfc",
    "scenario_from_dict",
]

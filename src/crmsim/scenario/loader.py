"""Load scenario files in stages: parse -> defaults -> validate -> build.

(Temporary minimal version; replaced by the full located-error loader.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from crmsim.scenario.errors import Problem, ScenarioError
from crmsim.scenario.schema import Scenario

__all__ = ["load_scenario", "loads_scenario", "scenario_from_dict"]


def scenario_from_dict(data: Any, *, filename: str | None = None) -> Scenario:
    """Validate a mapping and build the scenario."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(
            [Problem(e["msg"], tuple(e["loc"]), filename) for e in exc.errors()]
        ) from None


def loads_scenario(text: str, filename: str = "<string>") -> Scenario:
    """Load a scenario from YAML text."""
    return scenario_from_dict(yaml.safe_load(text), filename=filename)


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario file."""
    p = Path(path)
    return loads_scenario(p.read_text(encoding="utf-8"), str(p))

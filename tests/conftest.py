"""Shared fixtures: a minimal valid scenario (as a dict and as YAML) and a CLI runner."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, settings

from cli_helpers import SerialCliRunner

# The suite checks English labels unless a test chooses a language: a developer's
# CRMSIM_LANG must not change what it sees (read when crmsim.i18n is imported).
os.environ.pop("CRMSIM_LANG", None)


@pytest.fixture(autouse=True)
def _english():
    """Every test starts in English and cannot leave another language behind."""
    from crmsim.i18n import set_language

    set_language("en")
    yield
    set_language("en")

#: Long fuzzing runs: ``pytest tests/test_fuzz.py --hypothesis-profile=fuzz`` (thousands of
#: mutated scenarios; the suite itself runs a few dozen).
settings.register_profile(
    "fuzz",
    max_examples=5_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: The smallest useful valid scenario: two suppliers of an ingredient, a maker, a market.
MINIMAL: dict[str, Any] = {
    "crmsim": 1,
    "name": "minimal",
    "materials": [{"id": "api"}, {"id": "pills"}],
    "nodes": [
        {"id": "api_cn", "role": "processor", "country": "CHN", "output": "api", "capacity": 50},
        {"id": "api_in", "role": "processor", "country": "IND", "output": "api", "capacity": 30},
        {
            "id": "maker",
            "role": "processor",
            "country": "DEU",
            "output": "pills",
            "capacity": 90,
            "recipe": {"api": 1.0},
        },
        {"id": "patients", "role": "market", "country": "DEU", "demand": {"mean": 80}},
    ],
    "edges": [
        {"from": "api_cn", "to": "maker", "share": 0.6, "lead_time": 35},
        {"from": "api_in", "to": "maker", "share": 0.4, "lead_time": 28},
        {"from": "maker", "to": "patients", "lead_time": 3},
    ],
}


@pytest.fixture
def minimal() -> dict[str, Any]:
    """A fresh deep copy of :data:`MINIMAL`, free to mutate."""
    return copy.deepcopy(MINIMAL)


@pytest.fixture
def minimal_yaml() -> str:
    """:data:`MINIMAL` as block-style YAML text."""
    return yaml.safe_dump(MINIMAL, sort_keys=False)


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[..., Path]:
    """Write text to a file under ``tmp_path`` and return its path."""

    def write(text: str, name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def cli_runner() -> CliRunner:
    """A click test runner (stdout and stderr kept apart), simulating with one worker."""
    return SerialCliRunner()

"""Start-up cost: the light entry points do not load the heavy libraries.

``crmsim --help`` and ``crmsim validate`` must start in well under half a second
(benchmarks/RESULTS.md has the timings); what decides that is which modules they import,
so that is what these tests check — in a fresh interpreter, not by timing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Never needed to load, check or describe a scenario: each costs 0.1–0.6 s to import.
HEAVY = ("scipy.stats", "matplotlib", "dask", "distributed", "SALib", "pandas")


def _loaded_after(code: str) -> set[str]:
    """The modules of ``HEAVY`` (and scipy) in ``sys.modules`` after running ``code``."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted(m for m in sys.modules "
        f"if m.split('.')[0] in {{'scipy','matplotlib','dask','distributed','SALib','pandas'}})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _heavy(loaded: set[str]) -> list[str]:
    return sorted(m for m in HEAVY if m in loaded)


@pytest.mark.parametrize(
    "code",
    [
        "import crmsim",
        "import crmsim.scenario",
        "import crmsim.cli",  # what `crmsim --help` loads
        "import crmsim.engine.disruptions, crmsim.network.graph",  # what the warnings use
    ],
)
def test_light_imports_load_no_heavy_library(code: str) -> None:
    assert _heavy(_loaded_after(code)) == []


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "scenarios").glob("*.yaml")))
def test_validate_loads_no_scipy_or_pandas(name: str) -> None:
    # What `crmsim validate FILE` does: load, check and locate the warnings of the file.
    loaded = _loaded_after(
        "import sys\nfrom crmsim.cli import main\n"
        f"sys.argv = ['crmsim', 'validate', {str(ROOT / 'scenarios' / name)!r}]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
    )
    assert _heavy(loaded) == []
    assert not any(m.startswith("scipy") for m in loaded), sorted(loaded)


def test_probe_sees_a_heavy_import() -> None:
    # The probe itself works: a module that imports scipy.stats is reported.
    assert "scipy.stats" in _loaded_after("import crmsim.engine.levers\nimport scipy.stats")
    assert "pandas" in _loaded_after("import crmsim.experiment.runner")


def test_lazy_names_still_resolve() -> None:
    import crmsim
    import crmsim.engine
    import crmsim.network

    assert isinstance(crmsim.__version__, str)
    assert crmsim.engine.Engine.__name__ == "Engine"
    assert crmsim.network.analyse.__module__ == "crmsim.network.analysis"
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = crmsim.engine.nothing  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = crmsim.network.nothing  # type: ignore[attr-defined]

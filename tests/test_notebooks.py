"""The workshop notebooks: stored without outputs, run from top to bottom, draw their figures.

Each notebook is executed with nbclient in a fresh kernel (its small ``REPLICATIONS``
keep it under two minutes). A cell tagged ``figure`` must produce an image (image/png
from the inline backend), so a figure that silently fails to display is caught, not only
a cell that raises.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = {
    "01_first_scenario",
    "02_disruptions_and_resilience",
    "03_msme_and_recycling",
    "04_comparing_policy_options",
}
nbformat = pytest.importorskip("nbformat")


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_the_workshop_notebooks_are_there():
    assert {p.stem for p in NOTEBOOKS} == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_clean(path):
    nb = _read(path)
    nbformat.validate(nb)
    for i, cell in enumerate(_code_cells(nb)):
        assert not cell.get("outputs"), f"code cell {i} has outputs: strip them"
        assert cell.get("execution_count") is None, f"code cell {i} has an execution count"
    text = "\n".join(c.source for c in nb.cells)
    # the old notebooks' faults: figures never displayed, every warning an error
    assert 'matplotlib.use("Agg")' not in text
    assert 'simplefilter("error")' not in text
    assert 'filterwarnings("error")' not in text
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    assert "Learning goals" in first.source
    assert any("figure" in c.metadata.get("tags", []) for c in _code_cells(nb))
    solutions = [
        c for c in nb.cells if c.cell_type == "markdown" and "<summary>Solution" in c.source
    ]
    assert solutions, "exercises need solutions in collapsible <details> cells"
    for cell in solutions:
        assert cell.source.count("<details>") == cell.source.count("</details>")
        # code in a solution at least compiles (it is not run: it would repeat the runs)
        for block in re.findall(r"```python\n(.*?)```", cell.source, flags=re.S):
            compile(block, f"{path.name} solution", "exec")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_draws_every_figure(path):
    nbclient = pytest.importorskip("nbclient")
    nb = _read(path)
    # Jupyter's own machinery may warn about its configuration paths; that is not the
    # notebook's code. The notebook itself runs with Python's default warning filters.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        client = nbclient.NotebookClient(
            nb,
            timeout=240,
            kernel_name="python3",
            resources={"metadata": {"path": str(ROOT / "notebooks")}},
        )
        client.execute()
    for i, cell in enumerate(_code_cells(nb)):
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        assert not errors, f"code cell {i} raised: {errors[0].get('ename')}"
        # one result per cell, not a report shattered into dozens of fragments
        assert len(cell.outputs) <= 3, f"code cell {i} has {len(cell.outputs)} outputs"
        if "figure" in cell.metadata.get("tags", []):
            images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
            assert len(images) == 1, f"figure cell {i} drew {len(images)} images:\n{cell.source}"

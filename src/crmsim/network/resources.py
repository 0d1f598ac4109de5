"""The resource table: mines' and recyclers' resource quantities by UNFC-2019 class.

A scenario may give a mine or recycler ``resources:`` — quantities in tonnes, each with
the UNFC-2019 code of the class they belong to (e.g. ``{unfc: "E2 F2.1 G2", tonnes:
120000}``). The table lists them with the project class the code determines, what that
class means in plain words (and what crmsim does with it) and the confidence of the
estimate (the G axis). ``crmsim show`` prints it; docs/unfc-unrms.md explains it.

The quantities are reported, not simulated: a mine's daily ``capacity`` and its own
``unfc`` class (On Production or not) drive the engine; ``resources`` say how much is
there to extract, and how sure the estimate is.

Examples
--------
>>> from crmsim import load_scenario
>>> t = resource_table(load_scenario("scenarios/tajikistan_antimony.yaml"))
>>> list(t.columns)  # doctest: +NORMALIZE_WHITESPACE
['node', 'country', 'material', 'unfc', 'project_class', 'sub_class', 'meaning',
 'tonnes', 'confidence']
"""

from __future__ import annotations

import pandas as pd

from crmsim.scenario.schema import Scenario
from crmsim.scenario.unfc import confidence, parse_unfc, plain_words

__all__ = ["RESOURCE_COLUMNS", "resource_table", "resource_table_text"]

#: Columns of :func:`resource_table`.
RESOURCE_COLUMNS = (
    "node",
    "country",
    "material",
    "unfc",
    "project_class",
    "sub_class",
    "meaning",
    "tonnes",
    "confidence",
)


def resource_table(scenario: Scenario) -> pd.DataFrame:
    """One row per resource quantity of every mine and recycler, in file order.

    Parameters
    ----------
    scenario : Scenario
        A validated scenario.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`RESOURCE_COLUMNS`: the node, its country and output material, the
        normalised UNFC code, its project class and sub-class (None when the code
        determines none), the plain-words meaning, the tonnes and the G-axis confidence.
        Empty (with these columns) when no node gives ``resources``.
    """
    rows = []
    for node in scenario.nodes:
        for r in node.resources:
            code = parse_unfc(r.unfc)
            rows.append(
                {
                    "node": node.id,
                    "country": node.country,
                    "material": node.output,
                    "unfc": code.code,
                    "project_class": code.project_class,
                    "sub_class": code.sub_class,
                    "meaning": plain_words(code),
                    "tonnes": float(r.tonnes),
                    "confidence": confidence(code),
                }
            )
    return pd.DataFrame(rows, columns=list(RESOURCE_COLUMNS))


def resource_table_text(scenario: Scenario) -> str:
    """The resource table as plain text for ``crmsim show`` ('' when there is none).

    Parameters
    ----------
    scenario : Scenario
        A validated scenario.

    Returns
    -------
    str
        A heading, one line per resource and the total per UNFC class, ending in a
        newline; the empty string when the scenario gives no resources.
    """
    table = resource_table(scenario)
    if table.empty:
        return ""
    lines = ["", "Resources by UNFC-2019 class (tonnes; see docs/unfc-unrms.md)"]
    for r in table.to_dict("records"):
        sub = r["sub_class"]
        cls = str(r["project_class"]) + (f" — {sub}" if isinstance(sub, str) else "")
        lines.append(
            f"  {r['node']} ({r['country']}, {r['material']}): {r['unfc']}  {cls}: "
            f"{float(r['tonnes']):,.0f} t, {r['confidence']} confidence — {r['meaning']}"
        )
    totals = table.groupby("unfc", sort=True)["tonnes"].sum()
    lines.append(
        "  total by class: " + "; ".join(f"{code} {t:,.0f} t" for code, t in totals.items())
    )
    return "\n".join(lines) + "\n"

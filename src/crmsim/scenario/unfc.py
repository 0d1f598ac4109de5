"""UNFC-2019 codes: parse, validate and classify.

A UNFC code combines one category (or sub-category) from each of the three axes:

* **E** — degree of favourability of social, environmental and economic conditions
  (``E1``, ``E1.1``, ``E1.2``, ``E2``, ``E3``, ``E3.1``, ``E3.2``, ``E3.3``);
* **F** — maturity of the technical feasibility of the project
  (``F1``, ``F1.1``–``F1.3``, ``F2``, ``F2.1``–``F2.3``, ``F3``, ``F3.1``–``F3.3``, ``F4``);
* **G** — degree of confidence in the estimate (``G1``, ``G2``, ``G3``, ``G4``, ``G4.1``–``G4.3``).

The project class is derived from the combination with the table in
:data:`UNFC_CLASSES`, transcribed from *United Nations Framework Classification for
Resources, Update 2019* (UNECE, ECE Energy Series No. 61, ECE/ENERGY/125), Figure 2 and
Table 2 ("UNFC classes defined by categories and sub-categories"). UNFC-2019 applies to
anthropogenic resources (tailings, end-of-life products) as well as to geological ones.

Examples
--------
>>> code = parse_unfc("E1.1 F1.1 G1")
>>> code.project_class
'Viable Projects'
>>> code.sub_class
'On Production'
>>> code.on_production
True
>>> parse_unfc("E2 F2.1 G2").sub_class
'Development Pending'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "E_CATEGORIES",
    "F_CATEGORIES",
    "G_CATEGORIES",
    "UNFC_CLASSES",
    "UnfcCode",
    "UnfcError",
    "confidence",
    "parse_unfc",
    "plain_words",
]

#: Valid E (socio-economic viability) categories and sub-categories, with their meaning.
E_CATEGORIES: dict[str, str] = {
    "E1": "extraction and sale confirmed to be economically viable",
    "E1.1": "extraction and sale economic on the basis of current market conditions",
    "E1.2": "extraction and sale not economic now but made viable by government subsidies "
    "or other considerations",
    "E2": "extraction and sale expected to become economically viable in the foreseeable future",
    "E3": "extraction and sale not expected to become viable in the foreseeable future, "
    "or evaluation at too early a stage",
    "E3.1": "quantities forecast to be extracted but not sold (e.g. used on site or lost)",
    "E3.2": "economic viability cannot yet be determined for lack of information",
    "E3.3": "no reasonable prospects for economic extraction in the foreseeable future",
}
#: Valid F (technical feasibility and maturity) categories and sub-categories.
F_CATEGORIES: dict[str, str] = {
    "F1": "feasibility of extraction by a defined development project or mining operation "
    "confirmed",
    "F1.1": "extraction is currently taking place",
    "F1.2": "capital funds committed and implementation under way",
    "F1.3": "studies completed to demonstrate feasibility; development justified",
    "F2": "feasibility of extraction by a defined project is subject to further evaluation",
    "F2.1": "project activities ongoing to justify development in the foreseeable future",
    "F2.2": "project activities on hold and/or justification of development may be "
    "subject to significant delay",
    "F2.3": "no current plans to develop or acquire additional data",
    "F3": "feasibility of extraction cannot be evaluated for lack of technical data",
    "F3.1": "site-specific geological studies and exploration near a known deposit",
    "F3.2": "local geological studies and exploration in a specific part of a province",
    "F3.3": "regional geological studies at an early stage",
    "F4": "no development project or mining operation identified",
}
#: Valid G (confidence in the estimated quantities) categories and sub-categories.
G_CATEGORIES: dict[str, str] = {
    "G1": "high level of confidence (known deposit)",
    "G2": "moderate level of confidence (known deposit)",
    "G3": "low level of confidence (known deposit)",
    "G4": "estimated quantities associated with a potential deposit (exploration only)",
    "G4.1": "potential deposit, high confidence",
    "G4.2": "potential deposit, moderate confidence",
    "G4.3": "potential deposit, low confidence",
}

#: UNFC-2019 classes: (E pattern, F pattern, G known?, class, sub-class).
#: A pattern matches a code equal to it or a sub-category of it ("E1" matches "E1.2").
#: Source: UNFC Update 2019 (ECE Energy Series No. 61), Figure 2 and Table 2.
UNFC_CLASSES: tuple[tuple[str, str, bool, str, str | None], ...] = (
    ("E1", "F1.1", True, "Viable Projects", "On Production"),
    ("E1", "F1.2", True, "Viable Projects", "Approved for Development"),
    ("E1", "F1.3", True, "Viable Projects", "Justified for Development"),
    ("E1", "F1", True, "Viable Projects", None),
    ("E2", "F2.1", True, "Potentially Viable Projects", "Development Pending"),
    ("E2", "F2.2", True, "Potentially Viable Projects", "Development On Hold"),
    ("E2", "F2", True, "Potentially Viable Projects", None),
    ("E3.2", "F2.2", True, "Non-Viable Projects", "Development Unclarified"),
    ("E3.3", "F2.3", True, "Non-Viable Projects", "Development Not Viable"),
    ("E3", "F2", True, "Non-Viable Projects", None),
    ("E3", "F4", True, "Remaining products not developed from identified projects", None),
    ("E3", "F3", False, "Prospective Projects", None),
    ("E3", "F4", False, "Remaining products not developed from prospective projects", None),
)

_TOKEN = re.compile(r"^\s*([EFG])\s*(\d(?:\.\d)?)\s*$", re.IGNORECASE)
_SPLIT = re.compile(r"[EFG][^EFG]*", re.IGNORECASE)


#: What each class or sub-class means for a pilot team, in plain words, and what crmsim
#: does with it (a mine or recycler produces only On Production; the others need a
#: ``develop_resource`` policy, whose lead time grows as the class gets less mature).
PLAIN_WORDS: dict[str, str] = {
    "On Production": "being extracted and sold now; produces from day 0",
    "Approved for Development": "capital committed, construction under way; produces "
    "after development",
    "Justified for Development": "feasibility shown, development justified but not yet "
    "financed; produces after development",
    "Viable Projects": "economic and feasible; produces after development",
    "Development Pending": "studies ongoing to justify development; may produce after "
    "years of development",
    "Development On Hold": "studies on hold or delayed; may produce after long development",
    "Potentially Viable Projects": "may become economic; may produce after long development",
    "Development Unclarified": "viability not yet known; unlikely to produce soon",
    "Development Not Viable": "not economic in the foreseeable future; does not produce "
    "unless conditions change",
    "Non-Viable Projects": "not viable now; does not produce unless conditions change",
    "Remaining products not developed from identified projects": "known quantities no "
    "project would extract; does not produce",
    "Prospective Projects": "a potential deposit still to be explored; cannot be developed "
    "before exploration",
    "Remaining products not developed from prospective projects": "potential quantities "
    "no project would extract; does not produce",
}

#: Confidence in the estimated quantities, per G category, in one word or two.
CONFIDENCE: dict[str, str] = {
    "G1": "high",
    "G2": "moderate",
    "G3": "low",
    "G4": "potential deposit",
    "G4.1": "potential deposit, high",
    "G4.2": "potential deposit, moderate",
    "G4.3": "potential deposit, low",
}


class UnfcError(ValueError):
    """A UNFC code that is malformed or names a combination UNFC-2019 does not define."""


@dataclass(frozen=True, slots=True)
class UnfcCode:
    """A validated UNFC-2019 code and the project class derived from it.

    Attributes
    ----------
    e, f, g : str
        The categories, normalised (``"E1.1"``, ``"F1.1"``, ``"G1"``).
    project_class : str
        The UNFC-2019 class, e.g. ``"Viable Projects"``.
    sub_class : str or None
        The sub-class where the code determines one, e.g. ``"On Production"``.
    """

    e: str
    f: str
    g: str
    project_class: str
    sub_class: str | None

    @property
    def code(self) -> str:
        """The normalised code, e.g. ``"E1.1 F1.1 G1"``."""
        return f"{self.e} {self.f} {self.g}"

    @property
    def label(self) -> str:
        """``sub_class`` where known, else ``project_class``."""
        return self.sub_class or self.project_class

    @property
    def on_production(self) -> bool:
        """True only for *Viable Projects — On Production* (E1 F1.1): it produces from day 0."""
        return self.sub_class == "On Production"

    @property
    def known_deposit(self) -> bool:
        """True for G1–G3 (a known deposit); False for G4 (potential deposit, exploration)."""
        return not self.g.startswith("G4")

    def __str__(self) -> str:
        return self.code


def _matches(value: str, pattern: str) -> bool:
    return value == pattern or value.startswith(pattern + ".")


def parse_unfc(code: str) -> UnfcCode:
    """Parse and classify a UNFC-2019 code such as ``"E1.1 F1.1 G1"``.

    Parameters
    ----------
    code : str
        Three categories, E then F then G, separated by spaces (or nothing):
        ``"E2 F2.1 G2"``, ``"E1F1.1G1"``.

    Returns
    -------
    UnfcCode
        The normalised categories and the derived project class.

    Raises
    ------
    UnfcError
        Naming the part that is wrong (a missing or unknown category, or a combination
        that UNFC-2019 does not define) and what would be valid.

    Examples
    --------
    >>> parse_unfc("e3 f3 g4").label
    'Prospective Projects'
    >>> parse_unfc("E1.1 F2.1 G1")
    Traceback (most recent call last):
    ...
    crmsim.scenario.unfc.UnfcError: UNFC code 'E1.1 F2.1 G1': the combination E1.1 with F2.1 ...
    """
    if not isinstance(code, str) or not code.strip():
        raise UnfcError("UNFC code is empty; expected three categories such as 'E1.1 F1.1 G1'")
    parts = [p.strip() for p in _SPLIT.findall(code.replace(",", " "))]
    leftover = _SPLIT.sub("", code).strip()
    if leftover:
        raise UnfcError(
            f"UNFC code {code!r}: unexpected text {leftover!r}; "
            "expected three categories such as 'E1.1 F1.1 G1'"
        )
    found: dict[str, str] = {}
    tables = {"E": E_CATEGORIES, "F": F_CATEGORIES, "G": G_CATEGORIES}
    for part in parts:
        m = _TOKEN.match(part)
        axis = part[:1].upper()
        if m is None:
            raise UnfcError(
                f"UNFC code {code!r}: {part!r} is not a category; valid {axis} categories: "
                + ", ".join(tables[axis])
            )
        token = axis + m.group(2)
        if axis in found:
            raise UnfcError(f"UNFC code {code!r}: the {axis} axis is given twice")
        if token not in tables[axis]:
            raise UnfcError(
                f"UNFC code {code!r}: {token} is not a UNFC-2019 {axis} category; valid: "
                + ", ".join(tables[axis])
            )
        found[axis] = token
    missing = [a for a in "EFG" if a not in found]
    if missing:
        raise UnfcError(
            f"UNFC code {code!r}: missing the {' and '.join(missing)} categor"
            f"{'y' if len(missing) == 1 else 'ies'}; a code has one E, one F and one G "
            "category, e.g. 'E1.1 F1.1 G1'"
        )
    e, f, g = found["E"], found["F"], found["G"]
    known = not g.startswith("G4")
    for pe, pf, pknown, cls, sub in UNFC_CLASSES:
        if _matches(e, pe) and _matches(f, pf) and pknown == known:
            return UnfcCode(e, f, g, cls, sub)
    raise UnfcError(f"UNFC code {code!r}: {_why_invalid(e, f, known)}")


def _why_invalid(e: str, f: str, known: bool) -> str:
    if not known:
        return (
            f"G4 (a potential deposit) is used only with E3 and F3 (Prospective Projects) "
            f"or E3 and F4; got {e} {f}"
        )
    if f.startswith("F3"):
        return f"{f} (exploration) is used only with G4 and E3 (Prospective Projects)"
    if f.startswith("F1"):
        return (
            f"the combination {e} with {f} is not a UNFC-2019 class; with {f} the E category "
            "must be E1 (Viable Projects)"
        )
    if f.startswith("F2"):
        return (
            f"the combination {e} with {f} is not a UNFC-2019 class; with {f} the E category "
            "must be E2 (Potentially Viable) or E3 (Non-Viable)"
        )
    return (
        f"the combination {e} with {f} is not a UNFC-2019 class; with F4 the E category "
        "must be E3 (remaining products not developed)"
    )


def plain_words(code: str | UnfcCode) -> str:
    """What a UNFC-2019 code means for a pilot team, and what crmsim does with it.

    Parameters
    ----------
    code : str or UnfcCode
        A code such as ``"E2 F2.1 G2"`` (parsed and validated) or a parsed code.

    Returns
    -------
    str
        Plain words for the code's sub-class (or class when it determines none).

    Examples
    --------
    >>> plain_words("E1.1 F1.1 G1")
    'being extracted and sold now; produces from day 0'
    >>> plain_words("E2 F2.1 G2")
    'studies ongoing to justify development; may produce after years of development'
    """
    parsed = parse_unfc(code) if isinstance(code, str) else code
    return PLAIN_WORDS[parsed.label]


def confidence(code: str | UnfcCode) -> str:
    """The G-axis confidence of a UNFC-2019 code in words (``"high"``, ``"moderate"``...).

    Examples
    --------
    >>> confidence("E2 F2.1 G2")
    'moderate'
    >>> confidence("E3 F3 G4.3")
    'potential deposit, low'
    """
    parsed = parse_unfc(code) if isinstance(code, str) else code
    return CONFIDENCE[parsed.g]

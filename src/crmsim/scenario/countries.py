"""Country codes: ISO 3166-1 alpha-3, checked against the maintained list in ``pycountry``."""

from __future__ import annotations

import difflib
from functools import lru_cache

import pycountry

__all__ = ["check_country", "country_name"]


@lru_cache(maxsize=1)
def _codes() -> dict[str, str]:
    return {c.alpha_3: c.name for c in pycountry.countries}


def country_name(code: str) -> str:
    """The English short name of an ISO alpha-3 code (the code itself if unknown).

    Examples
    --------
    >>> country_name("TJK")
    'Tajikistan'
    """
    return _codes().get(code, code)


def check_country(value: str) -> str:
    """Validate an ISO 3166-1 alpha-3 code and return it upper-cased.

    Parameters
    ----------
    value : str
        The code as written, e.g. ``"deu"``.

    Returns
    -------
    str
        The upper-case code.

    Raises
    ------
    ValueError
        Saying what would be valid, with a suggestion where one can be made
        (``"Germany"`` or ``"DE"`` → ``DEU``; ``"GER"`` → ``DEU``).

    Examples
    --------
    >>> check_country("ukr")
    'UKR'
    >>> check_country("Germany")
    Traceback (most recent call last):
    ...
    ValueError: unknown country code 'Germany': ...; did you mean 'DEU' (Germany)?
    """
    if not isinstance(value, str):
        raise ValueError(f"a country is an ISO 3166-1 alpha-3 code such as 'DEU', not {value!r}")
    code = value.strip().upper()
    codes = _codes()
    if code in codes:
        return code
    suggestion: str | None = None
    try:
        suggestion = pycountry.countries.lookup(value.strip()).alpha_3
    except LookupError:
        # Common non-ISO abbreviations first, then the closest code by spelling.
        aliases = {"GER": "DEU", "UK": "GBR", "ENG": "GBR", "USA": "USA", "RUS": "RUS"}
        suggestion = aliases.get(code)
        if suggestion is None:
            close = difflib.get_close_matches(code, list(codes), n=1, cutoff=0.6)
            suggestion = close[0] if close else None
    hint = f"; did you mean {suggestion!r} ({codes[suggestion]})?" if suggestion else ""
    raise ValueError(
        f"unknown country code {value!r}: use an ISO 3166-1 alpha-3 code"
        + (hint or " such as 'DEU'")
    )

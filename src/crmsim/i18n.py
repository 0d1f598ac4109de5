r"""Languages: the labels of reports, figures, command-line tables and notebook headings.

crmsim speaks English (``en``), Ukrainian (``uk``) and Russian (``ru``). Every label is an
English message in the source, marked with :func:`_` (or :func:`N_` where a constant is
defined and translated later); the translations are gettext catalogues,
``src/crmsim/locale/<lang>/LC_MESSAGES/crmsim.po``, compiled in memory with Babel the
first time a language is used (no compiled ``.mo`` file, no build step). Numbers and dates
follow the language's conventions through Babel: ``12,345.7`` in English, ``12 345,7``
(a no-break space between thousands, a decimal comma) in Ukrainian and Russian.

The language is chosen with ``--lang`` on the command line, :func:`set_language` in
Python or a notebook, :func:`language` for one block, or the ``CRMSIM_LANG`` environment
variable (read when crmsim is imported); English is the default.

Examples
--------
>>> with language("uk"):
...     _("Summary"), format_number(12345.678, 1)
('Підсумок', '12\xa0345,7')
>>> _("Summary"), format_number(12345.678, 1)
('Summary', '12,345.7')

For maintainers: after changing a marked message, run ``python -m crmsim.i18n update``
(re-extracts ``crmsim.pot`` from ``src/crmsim`` and ``notebooks/`` and merges it into
each ``.po``); a test fails while the template is stale or any message lacks a
translation.
"""

from __future__ import annotations

import gettext as _gettext
import io
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "LANGUAGES",
    "N_",
    "_",
    "format_date",
    "format_datetime",
    "format_money",
    "format_number",
    "format_percent",
    "get_language",
    "language",
    "ngettext",
    "set_language",
]

#: The languages crmsim speaks, with their names in themselves.
LANGUAGES: dict[str, str] = {"en": "English", "uk": "Українська", "ru": "Русский"}

#: The gettext domain (``crmsim.po``).
DOMAIN = "crmsim"

#: The folder of the catalogues (``<lang>/LC_MESSAGES/crmsim.po``) and of ``crmsim.pot``.
LOCALE_DIR = Path(__file__).parent / "locale"

_state: dict[str, str] = {"lang": "en"}


def _check(lang: str) -> str:
    code = str(lang).strip().lower().replace("_", "-").split("-")[0]
    if code not in LANGUAGES:
        valid = ", ".join(LANGUAGES)
        raise ValueError(f"language {lang!r} is not available; valid: {valid}")
    return code


def set_language(lang: str) -> None:
    """Choose the language of everything crmsim labels from now on.

    Parameters
    ----------
    lang : str
        ``"en"``, ``"uk"`` or ``"ru"`` (a locale such as ``uk_UA`` is accepted).

    Raises
    ------
    ValueError
        For any other language, naming the valid ones.
    """
    _state["lang"] = _check(lang)


def get_language() -> str:
    """The current language code (``"en"``, ``"uk"`` or ``"ru"``)."""
    return _state["lang"]


@contextmanager
def language(lang: str | None) -> Iterator[str]:
    """Use ``lang`` inside a ``with`` block, then go back (``None``: keep the current one).

    Parameters
    ----------
    lang : str or None
        A code of :data:`LANGUAGES`.

    Yields
    ------
    str
        The language in force.
    """
    before = _state["lang"]
    if lang is not None:
        set_language(lang)
    try:
        yield _state["lang"]
    finally:
        _state["lang"] = before


@cache
def _translations(lang: str) -> _gettext.NullTranslations:
    if lang == "en":
        return _gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    po = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)  # a fuzzy entry is not a translation
    buf.seek(0)
    return _gettext.GNUTranslations(buf)


def _(message: str) -> str:
    """``message`` in the current language (the English text when it has no translation).

    Examples
    --------
    >>> _("a text crmsim never marked")
    'a text crmsim never marked'
    """
    return _translations(_state["lang"]).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or the (language's) plural form of a message for ``n``.

    Examples
    --------
    >>> one, many = "{n} replication, seed {seed}", "{n} replications, seed {seed}"
    >>> ngettext(one, many, 1).format(n=1, seed=7)
    '1 replication, seed 7'
    >>> with language("uk"):
    ...     [ngettext(one, many, n).format(n=n, seed=7) for n in (1, 3, 5)]
    ['1 реплікація, зерно 7', '3 реплікації, зерно 7', '5 реплікацій, зерно 7']
    """
    return _translations(_state["lang"]).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark ``message`` for translation without translating it (for constants)."""
    return message


_env = os.environ.get("CRMSIM_LANG")
if _env:
    with suppress(ValueError):  # an unknown CRMSIM_LANG leaves English
        set_language(_env)


# --------------------------------------------------------------------------- numbers


def _pattern(digits: int) -> str:
    return "#,##0" + ("." + "0" * digits if digits > 0 else "")


def format_number(
    x: float, digits: int = 1, signed: bool = False, lang: str | None = None
) -> str:
    r"""A number with the language's thousands separator and decimal sign.

    Parameters
    ----------
    x : float
        A finite number.
    digits : int
        Decimals shown.
    signed : bool
        Put ``+`` before a positive number.
    lang : str, optional
        The language (default: the current one).

    Returns
    -------
    str

    Examples
    --------
    >>> format_number(-1234.5, 1), format_number(0.04, 1, signed=True)
    ('-1,234.5', '0.0')
    >>> with language("ru"):
    ...     format_number(1234567.891, 2, signed=True)
    '+1\xa0234\xa0567,89'
    """
    from babel.numbers import format_decimal

    v = round(float(x), digits)
    if v == 0:
        v = 0.0
    text = format_decimal(abs(v), format=_pattern(digits), locale=lang or _state["lang"])
    if v < 0:
        return "-" + text
    return ("+" + text) if signed and v > 0 else text


def format_percent(x: float, digits: int = 1, signed: bool = False) -> str:
    """A fraction as ``95.1 %``, or a change of shares as ``+2.1 pp`` when ``signed``.

    Examples
    --------
    >>> format_percent(0.9512), format_percent(0.021, signed=True)
    ('95.1 %', '+2.1 pp')
    >>> with language("uk"):
    ...     format_percent(0.9512), format_percent(0.021, signed=True)
    ('95,1 %', '+2,1 в. п.')
    """
    return format_number(100 * float(x), digits, signed) + (" " + _("pp") if signed else " %")


def format_money(x: float, currency: str = "") -> str:
    """A sum of money: thousands separators, no decimals from 100 on, never ``2e+07``.

    Examples
    --------
    >>> format_money(21820000.4, "USD"), format_money(12.345)
    ('21,820,000 USD', '12.35')
    """
    v = float(x)
    text = format_number(v, 0 if abs(v) >= 100 or v == 0 else 2)
    return f"{text} {currency}".strip()


def format_date(d: date, fmt: str = "long") -> str:
    """A date in the language's words (``September 15, 2024``; ``15 вересня 2024 р.``)."""
    from babel.dates import format_date as _fd

    return str(_fd(d, format=fmt, locale=_state["lang"]))


def format_datetime(t: datetime, fmt: str = "medium") -> str:
    """A date and time in the language's form."""
    from babel.dates import format_datetime as _fdt

    return str(_fdt(t, format=fmt, locale=_state["lang"]))


# --------------------------------------------------------------------------- catalogues

#: The marking functions that extraction looks for.
KEYWORDS: dict[str, Any] = {"_": None, "N_": None, "ngettext": (1, 2)}

_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$")


def notebook_headings(nb: dict[str, Any]) -> list[str]:
    """The Markdown headings (``#`` to ``######``) of a notebook, in order, without ``#``."""
    out = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        src = cell.get("source", "")
        text = "".join(src) if isinstance(src, list) else str(src)
        out += [m.group(1) for line in text.splitlines() if (m := _HEADING.match(line))]
    return out


def extract_notebook(
    fileobj: Any, keywords: Any, comment_tags: Any, options: Any
) -> Iterator[tuple[int, str, str, list[str]]]:
    """Babel extractor: each Markdown heading of a ``.ipynb`` notebook is a message."""
    import json

    nb = json.loads(fileobj.read().decode("utf-8"))
    for i, heading in enumerate(notebook_headings(nb)):
        yield i + 1, "", heading, ["notebook heading"]


def _root() -> Path:
    return Path(__file__).resolve().parents[2]


def extract_catalog(root: str | Path | None = None) -> Any:
    """Extract every marked message of ``src/crmsim`` and the notebooks' headings.

    Parameters
    ----------
    root : str or Path, optional
        The repository (default: the one this module is in).

    Returns
    -------
    babel.messages.catalog.Catalog
        The template (what ``crmsim.pot`` holds), without line numbers.
    """
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    root = Path(root) if root is not None else _root()
    cat = Catalog(project="crmsim", domain=DOMAIN, charset="utf-8", fuzzy=False)
    sources = [
        (
            root / "src" / "crmsim",
            [
                ("**/templates/**.j2", "jinja2.ext:babel_extract"),
                ("**.py", "python"),
            ],
            {"**/templates/**.j2": {"trimmed": "true", "newstyle_gettext": "true"}},
        ),
        (root / "notebooks", [("*.ipynb", "crmsim.i18n:extract_notebook")], {}),
    ]
    for folder, method_map, options in sources:
        if not folder.is_dir():
            continue
        found = extract_from_dir(
            str(folder), method_map, options, keywords=KEYWORDS, strip_comment_tags=True
        )
        for filename, _lineno, message, comments, context in found:
            rel = (folder / filename).relative_to(root).as_posix()
            cat.add(message, None, [(rel, 0)], auto_comments=comments, context=context)
    return cat


def _write_po(catalog: Any, path: Path) -> None:
    from babel.messages.pofile import write_po

    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    write_po(buf, catalog, width=88, omit_header=False, sort_output=True,
             include_lineno=False)  # fmt: skip
    text = re.sub(rb'"POT-Creation-Date: [^"]*\\n"\n', b"", buf.getvalue())
    text = re.sub(rb'"PO-Revision-Date: [^"]*\\n"\n', b"", text)
    path.write_bytes(text)


def update_catalogs(root: str | Path | None = None) -> list[Path]:
    """Re-extract ``crmsim.pot`` and merge it into every language's ``crmsim.po``.

    New messages get an empty translation, removed ones are dropped, changed ones are
    marked fuzzy (to be checked by a translator; a fuzzy entry is not used).

    Returns
    -------
    list of Path
        The files written.
    """
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po

    template = extract_catalog(root)
    base = (Path(root) / "src" / "crmsim" / "locale") if root is not None else LOCALE_DIR
    written = [base / f"{DOMAIN}.pot"]
    _write_po(template, written[0])
    for lang in LANGUAGES:
        if lang == "en":
            continue
        po = base / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
        if po.exists():
            with po.open("rb") as fh:
                cat = read_po(fh, locale=lang, domain=DOMAIN)
        else:
            cat = Catalog(locale=lang, domain=DOMAIN, project="crmsim", charset="utf-8")
        cat.update(template, no_fuzzy_matching=False)
        cat.obsolete.clear()
        _write_po(cat, po)
        written.append(po)
    _translations.cache_clear()
    return written


def translate_notebook(path: str | Path, lang: str) -> dict[str, Any]:
    """A notebook with its headings in ``lang`` and crmsim set to speak it.

    The headings come from the catalogue; every other text stays as written. The first
    code cell gains ``crmsim.set_language(lang)`` after ``import crmsim``, so the
    figures and tables drawn by crmsim in the notebook are in that language too.

    Parameters
    ----------
    path : str or Path
        A notebook (``.ipynb``).
    lang : str
        A code of :data:`LANGUAGES`.

    Returns
    -------
    dict
        The notebook (nbformat JSON), outputs untouched.
    """
    import copy
    import json

    code = _check(lang)
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    nb = copy.deepcopy(nb)
    with language(code):
        done = False
        for cell in nb.get("cells", []):
            src = cell.get("source", "")
            text = "".join(src) if isinstance(src, list) else str(src)
            if cell.get("cell_type") == "markdown":
                lines = []
                for line in text.split("\n"):
                    m = _HEADING.match(line)
                    if m:
                        line = line[: m.start(1)] + _(m.group(1))
                    lines.append(line)
                text = "\n".join(lines)
            elif cell.get("cell_type") == "code" and not done and "import crmsim\n" in text:
                text = text.replace(
                    "import crmsim\n", f'import crmsim\n\ncrmsim.set_language("{code}")\n', 1
                )
                done = True
            cell["source"] = text.splitlines(keepends=True)
    return nb


def _main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    ap = argparse.ArgumentParser(prog="python -m crmsim.i18n", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("update", help="re-extract crmsim.pot and merge it into every .po")
    nbp = sub.add_parser("notebooks", help="write the notebooks with translated headings")
    nbp.add_argument("--lang", required=True, choices=[k for k in LANGUAGES if k != "en"])
    nbp.add_argument("--out", required=True, type=Path, help="folder for the notebooks")
    nbp.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    args = ap.parse_args(argv)
    if args.cmd == "update":
        for p in update_catalogs():
            print(p)
        return 0
    files = args.notebooks or sorted((_root() / "notebooks").glob("*.ipynb"))
    args.out.mkdir(parents=True, exist_ok=True)
    for f in files:
        nb = translate_notebook(f, args.lang)
        target = args.out / f.name
        target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(target)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main())

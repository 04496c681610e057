"""CSV as spreadsheets write it: the delimiter a header shows (or Excel's `sep=` line), header
names as people type them, and cells a spreadsheet opens as text, not as formulas (CSV
injection), and back exactly."""

from __future__ import annotations

import re

# A cell a spreadsheet would run as a formula: "=HYPERLINK(...)", "+cmd|...", "@SUM(...)",
# "-2+3+cmd|..." ("- a bullet" and a plain "-0.5" are left alone).
_FORMULA = re.compile(r"^(?:[=+@\t\r]|-(?!\s|\d+(?:\.\d+)?$))")


def csv_cell(value: str) -> str:
    """A text cell safe to open in a spreadsheet: a leading quote before anything that would be
    read as a formula, and before quotes already leading one (so `csv_uncell` is exact)."""
    return "'" + value if _FORMULA.match(value.lstrip("'")) else value


def csv_uncell(value: str) -> str:
    return value[1:] if value.startswith("'") and _FORMULA.match(value.lstrip("'")) else value


def header_delimiter(header: str) -> str:
    """The delimiter a header line uses: ',' unless it has none and shows tabs (a TSV saved as
    .csv) or semicolons (a spreadsheet in a locale with decimal commas)."""
    if "," in header:
        return ","
    if "\t" in header:
        return "\t"
    return ";" if ";" in header else ","


_KEY_SEPARATORS = re.compile(r"[\s\-]+")
_EXCEL_SEP = re.compile(r'\s*"?sep=(.)"?[,;\t]*\s*', re.I)


def column_key(name: str) -> str:
    """A CSV header cell or JSONL key as the readers look it up: 'Question ID', ' question-id '
    and 'QUESTION_ID' are all 'question_id' (spreadsheets and hand-written JSON vary)."""
    return _KEY_SEPARATORS.sub("_", name.strip().lower())


def excel_sep(line: str) -> str | None:
    """The delimiter an Excel `sep=;` first line declares, or None for any other line."""
    m = _EXCEL_SEP.fullmatch(line.strip("\ufeff\r\n"))
    return m.group(1) if m else None

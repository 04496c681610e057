"""CSV as spreadsheets write it: the delimiter a header shows, and cells a spreadsheet opens as
text, not as formulas (CSV injection), and back exactly."""

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

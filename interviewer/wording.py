"""Words for display: text clipped to one short line, counts with their noun.

Shared by messages that quote user input (a 1 MB header must not become a 1 MB error), reports,
the terminal summaries and the TUI.
"""

from __future__ import annotations


def clip(text: str, n: int) -> str:
    """On one line, at most n characters, "…" where it was cut."""
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def plural(n: int, word: str) -> str:
    """'1 row', '3 rows'."""
    return f"{n} {word}{'' if n == 1 else 's'}"

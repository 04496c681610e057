"""Text shortened for display: on one line, at most n characters, "…" where it was cut.

Shared by messages that quote user input (a 1 MB header must not become a 1 MB error), reports
and the TUI.
"""

from __future__ import annotations


def clip(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"

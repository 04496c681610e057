"""Words for display: text clipped to one short line, counts with their noun.

Shared by messages that quote user input (a 1 MB header must not become a 1 MB error), reports,
the terminal summaries and the TUI.
"""

from __future__ import annotations

import re

# Terminal escape sequences (CSI such as colours and cursor moves, OSC such as window titles
# and clipboard writes, and the other ESC forms), then any control or bidi-override character
# left over: text from an LLM endpoint or a user's file is shown in a terminal, so it must not
# be able to drive it.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC, ended by BEL or ST
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC
    r"|\x1b[ -/]*[0-~]?"  # two-character forms, or a lone ESC
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` without terminal escape sequences or control characters; newlines and tabs kept
    (a carriage return before a newline is dropped, a lone one becomes a newline)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def clip(text: str, n: int) -> str:
    """On one line, at most n characters, "…" where it was cut."""
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def plural(n: int, word: str) -> str:
    """'1 row', '3 rows'."""
    return f"{n} {word}{'' if n == 1 else 's'}"

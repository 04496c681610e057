"""Words for display: text clipped to one short line, counts with their noun.

Shared by messages that quote user input (a 1 MB header must not become a 1 MB error), reports,
the terminal summaries and the TUI.
"""

from __future__ import annotations

import re

# Terminal escape sequences (CSI such as colours and cursor moves; OSC such as window titles
# and clipboard writes, and the DCS/SOS/PM/APC strings, only when terminated, so a stray ESC
# never swallows the text after it), then any control or bidi-override character left over,
# a lone ESC included: text from an LLM endpoint or a user's file is shown in a terminal, so
# it must not be able to drive it.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b\][^\x07\x1b\n]{0,4096}(?:\x07|\x1b\\)"  # OSC, ended by BEL or ST
    r"|\x1b[PX^_][^\x1b\n]{0,4096}\x1b\\"  # DCS, SOS, PM, APC, ended by ST
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
_LINE_BREAKS = re.compile(r"\r\n|[\r\x0b\x0c\x85]")  # CR, VT, FF, NEL: a new line
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` without terminal escape sequences or control characters; tabs kept, and every
    line break (CR LF, CR, VT, FF, NEL) a newline."""
    return _CONTROLS.sub("", _ESCAPES.sub("", _LINE_BREAKS.sub("\n", text)))


def clip(text: str, n: int) -> str:
    """On one line, at most n characters, "…" where it was cut."""
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def plural(n: int, word: str) -> str:
    """'1 row', '3 rows'."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def dropped_note(n: int) -> str:
    """What the user is told about citations that failed the check (never shown as sources):
    one sentence for the feedback, the chat and the batch reports."""
    return (f"{plural(n, 'citation')} from the LLM did not match the reference passages and "
            f"{'was' if n == 1 else 'were'} not shown.")

"""What a file's first bytes say about it when it is not UTF-8 text. Pure: bytes in."""

from __future__ import annotations

import codecs
from typing import Literal

# Enough to tell: a UTF-16 BOM, NULs every other byte, or a NUL anywhere.
HEAD_BYTES = 4096


def _looks_utf16(head: bytes) -> bool:
    """UTF-16 without a BOM: ASCII text leaves a NUL in every other byte."""
    if len(head) < 4:
        return False
    even, odd = head[0::2].count(0) / len(head[0::2]), head[1::2].count(0) / len(head[1::2])
    return (even > 0.3 and odd < 0.05) or (odd > 0.3 and even < 0.05)


def not_text(head: bytes) -> tuple[Literal["utf16", "binary"], int] | None:
    """("utf16", 0) for UTF-16 text (with or without a BOM), ("binary", offset of the first NUL)
    for binary data, None for what may be UTF-8 text (decoding tells the rest)."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or _looks_utf16(head):
        return "utf16", 0
    nul = head.find(b"\0")
    return ("binary", nul) if nul >= 0 else None

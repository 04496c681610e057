"""Splitting a reference answer (or an answer) into checkable pieces. Pure text, no model.

A key point is one claim a grader can look for: a sentence, a bullet or a table row. The
bank parser has its own splitter that knows the documents' markup; this one works on any
plain text, so `eval` can grade against an inline reference.
"""

from __future__ import annotations

import re

# Sentence ends: . ! ? or ; followed by space and something that starts a new clause.
# Abbreviations such as "e.g." and "i.e." and decimals ("0.5") are protected below.
_SENT_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_BULLET = re.compile(r"(?:^|\s)(?:[-*•▪]|\d{1,2}[.)])\s+(?=\S)")
_ABBREV = re.compile(r"\b(e\.g|i\.e|etc|vs|cf|approx|Dr|Mr|Mrs|Fig|al)\.", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’\-]*")

MIN_WORDS = 4  # shorter fragments are merged into a neighbour: "Example:" is not a claim
MAX_POINTS = 12  # a long reference is folded into at most this many points
MAX_WORDS = 60  # a run-on piece (a flattened table) is cut into windows of about 40 words


def _protect(text: str) -> str:
    return _ABBREV.sub(lambda m: m.group(0)[:-1] + "\x00", text)


def _unprotect(text: str) -> str:
    return text.replace("\x00", ".")


def split_sentences(text: str) -> list[str]:
    """Sentences and bullet items of `text`, in order, stripped; empty pieces dropped."""
    pieces: list[str] = []
    for line in _protect(text).splitlines():
        is_row = line.strip().startswith("|")
        line = line.strip().strip("|").strip()
        if not line or re.fullmatch(r"[\s|:\-+=]+", line):
            continue
        if is_row:
            # A table row is one piece; a header row ("Kind | Use") is not a claim.
            row = re.sub(r"\s*\|\s*", "; ", _unprotect(line))
            if word_count(row) >= MIN_WORDS:
                pieces.append(row)
            continue
        for chunk in _BULLET.split(line):
            for sent in _SENT_END.split(chunk):
                sent = _unprotect(sent).strip(" \t-*•;:")
                if _WORD.search(sent):
                    pieces.append(sent)
    return pieces


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def _merge_short(pieces: list[str]) -> list[str]:
    out: list[str] = []
    carry = ""
    for p in pieces:
        p = f"{carry} {p}".strip() if carry else p
        carry = ""
        if word_count(p) < MIN_WORDS:
            if out and not p.endswith(":"):
                out[-1] = f"{out[-1]} {p}"
            else:
                carry = p
            continue
        out.append(p)
    if carry:
        if out:
            out[-1] = f"{out[-1]} {carry}"
        else:
            out.append(carry)
    return out


def _cut_long(pieces: list[str]) -> list[str]:
    out: list[str] = []
    for p in pieces:
        words = p.split()
        if len(words) <= MAX_WORDS:
            out.append(p)
            continue
        n = -(-len(words) // 40)
        size = -(-len(words) // n)
        out.extend(" ".join(words[i : i + size]) for i in range(0, len(words), size))
    return out


def _fold(pieces: list[str], limit: int) -> list[str]:
    """Join neighbouring pieces, shortest pair first, until at most `limit` remain."""
    pieces = list(pieces)
    while len(pieces) > limit:
        sizes = [word_count(a) + word_count(b) for a, b in zip(pieces, pieces[1:], strict=False)]
        i = sizes.index(min(sizes))
        pieces[i : i + 2] = [f"{pieces[i]} {pieces[i + 1]}"]
    return pieces


def split_key_points(text: str, limit: int = MAX_POINTS) -> list[str]:
    """Key points of a reference: sentences, bullets or table rows, short fragments merged.

    Always returns at least one point for non-blank text (the whole text if nothing splits).
    """
    if not text or not text.strip():
        return []
    pieces = _cut_long(_merge_short(split_sentences(text)))
    if not pieces:
        return [text.strip()]
    return _fold(pieces, limit)

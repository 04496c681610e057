"""Line-level cleaning and classification for web-scraped Q&A documents. Pure functions."""

from __future__ import annotations

import re

# Words a question line starts with when it does not end with "?".
QUESTION_STARTERS = frozenset(
    ["what", "how", "why", "when", "where", "which", "who", "whom", "whose", "explain", "describe", "define", "difference", "differences", "different", "compare", "contrast", "discuss", "can", "could", "do", "does", "did", "is", "are", "was", "were", "should", "would", "will", "list", "name", "give", "walk", "tell", "outline"]
)
# Bare question lines without "?" must start with one of these (the rule).
BARE_STARTERS = frozenset({"explain", "describe"})

NUMBERED_RE = re.compile(
    r"^(?P<indent>\s*)(?:\*\*)?\s*(?P<num>\d{1,4})(?P<sep>[.)])\s*(?:\*\*)?\s*(?P<text>\S.*)$"
)
# "Q1:", "Q:", "Question 3:", "Q2." or a number before a question in a heading or bare line.
QUESTION_LABEL_RE = re.compile(r"^(?:(?:Q|Question)\s*\d{0,4}\s*[:.)]|Q\d{1,4}\b|\d{1,4}[.)])\s*", re.I)
# "A:", "Ans:", "Answer:" opening an answer.
ANSWER_LABEL_RE = re.compile(r"^(\s*)(?:\*\*)?(?:A|Ans|Answer)\s*\d{0,4}\s*:\s*(?:\*\*)?\s*", re.I)
HEADING_RE = re.compile(r"^\s{0,3}(?P<hashes>#{1,6})\s+(?P<text>.+?)\s*#*\s*$")
LIST_RE = re.compile(r"^\s*(?:[-•*·–]|\d{1,2}[.)])\s+(?P<text>\S.*)$")

_CODE_PATTERNS = [
    re.compile(r"^(import\s+\w|from\s+[\w.]+\s+import\s)"),
    re.compile(r"[A-Za-z_]\w*\.\w+\("),  # method call: tf.keras.layers.Dense(
    re.compile(r"^[A-Za-z_]\w*\s*=\s*[A-Za-z_]\w*\.\w+"),  # x = base_model.output
    re.compile(r"\(\s*[A-Za-z_]\w*\s*=\s*['\"\w]"),  # keyword argument
    re.compile(r"^[\)\]\}]+[,;)\]]*$"),
    re.compile(r"^(def|class|return|print|for|while|if)\b.*[:(]\s*$"),
    re.compile(r"^```"),
]
_FORMULA_RE = re.compile(r"\\[a-zA-Z]+|[_^]\{|[∇ηθβΣ∂]|^\s*[A-Za-z]\w*\s*=\s*\S")

BOILERPLATE_RES = [
    re.compile(p, re.I)
    for p in (
        r"^recent posts\b",
        r"^leave a (reply|comment)\b",
        r"^related (posts|articles)\b",
        r"^(share|subscribe|follow)( us| this| on| your|\b)",
        r"thank(s| you) for reading",
        r"\bvisit our website\b",
        r"\bsend (us )?an email\b",
        r"^good luck\b|-\s*good luck",
        r"\bsign up\b.*\bnewsletter\b|\bnewsletter\b",
        r"^(tags|categories)\s*:",
        r"^(previous|next) (post|article)\b",
        r"^table of contents$",
        r"\bby mastering\b.*\bquestions\b",
        r"\b(we|i) hope (this|you)\b.*\b(guide|article|post|blog|helps?)\b",
        r"^we have covered\b",
    )
]
OUTRO_HEADINGS = frozenset(
    {"conclusion", "conclusions", "summary", "final thoughts", "wrapping up", "references",
     "further reading", "related posts", "recent posts", "comments"}
)

# Filler an interviewer would not check for (first-person framing of the source articles).
FLUFF_RES = [
    re.compile(p, re.I)
    for p in (
        r"^i[’']?d be happy to explain\b",
        r"^as a deep learning (practitioner|professional),? i understand\b(?!.*\b(by|using)\b)",
    )
]


def strip_markup(text: str) -> str:
    """Remove emphasis markers (**bold**, *italic*) and tidy spaces; keep everything else."""
    s = text.replace("**", "")
    s = re.sub(r"(?<![\w*])\*(?=\S)|(?<=\S)\*(?![\w*])|\s\*\s*$|^\s*\*\s", " ", s)
    s = re.sub(r"[ \t]+", " ", s)
    return s.strip()


def words(text: str) -> list[str]:
    return re.findall(r"[\w’'-]+", text)


def first_word(text: str) -> str:
    w = words(text.lower())
    return w[0] if w else ""


def looks_like_code(line: str) -> bool:
    s = line.strip()
    return bool(s) and any(p.search(s) for p in _CODE_PATTERNS)


def looks_like_formula(line: str) -> bool:
    s = strip_markup(line)
    if not s or len(words(s)) > 25:
        return False
    letters = sum(c.isalpha() for c in s)
    return bool(_FORMULA_RE.search(s)) and (letters / max(len(s), 1) < 0.75 or "\\" in s)


def is_boilerplate(line: str) -> bool:
    s = strip_markup(line)
    return any(p.search(s) for p in BOILERPLATE_RES)


def is_fluff(sentence: str) -> bool:
    return any(p.search(sentence) for p in FLUFF_RES)


def unlabel(text: str) -> str:
    """The question without its label: 'Q3: Explain X.' -> 'Explain X.'"""
    s = strip_markup(text)
    return strip_markup(QUESTION_LABEL_RE.sub("", s, count=1)) or s


def question_like(text: str, strict: bool = False, *, heading: bool = False) -> bool:
    """A line that reads as a question: ends with '?' or starts like one and isn't a label.
    A heading may end with a colon ('## What is dropout:'): a heading is never a sub-label
    of an answer."""
    s = unlabel(text)
    if heading and s.endswith(":") and first_word(s) in QUESTION_STARTERS:
        s = s.rstrip(":").rstrip()
    if len(words(s)) < 2 or s.endswith(":"):
        return False
    if s.endswith("?"):
        return True
    if strict:
        return False
    return first_word(s) in QUESTION_STARTERS


def bare_question_like(text: str) -> bool:
    s = unlabel(text)
    n = len(words(s))
    if n < 2 or n > 40 or s.endswith(":"):
        return False
    return s.endswith("?") or first_word(s) in BARE_STARTERS


def tidy_formula(text: str) -> str:
    """Make LaTeX-ish formulas readable in a terminal without pretending to render them."""
    s = text
    s = re.sub(r"\\begin\{[bp]?matrix\}(.*?)\\end\{[bp]?matrix\}",
               lambda m: "[" + m.group(1).replace("\\\\", ";").replace("&", ",") + "]", s)
    s = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", s)
    for cmd, rep in (("cdot", "·"), ("theta", "θ"), ("eta", "η"), ("partial", "∂"),
                     ("sum", "Σ"), ("nabla", "∇"), ("beta", "β"), ("alpha", "α"),
                     ("times", "×"), ("tilde", "~"), ("Big", ""), ("big", ""),
                     ("left", ""), ("right", "")):
        s = re.sub(r"\\" + cmd + r"(?![a-zA-Z])", rep, s)
    s = re.sub(r"(?<!\\)\$+", "", s)  # $…$ delimiters
    s = re.sub(r"([_^])\{(\w)\}", r"\1\2", s)  # θ_{t} -> θ_t
    s = re.sub(r"([_^])\{([^{}]+)\}", r"\1(\2)", s)  # θ_{t+1} -> θ_(t+1)
    s = re.sub(r"[ \t]+", " ", s)
    return s.strip()


_ABBREV = ("e.g.", "i.e.", "etc.", "vs.", "Fig.", "approx.", "Dr.", "Mr.", "No.")


def split_sentences(text: str) -> list[str]:
    """Sentence split that survives e.g./i.e./etc. and decimals."""
    protected = text
    for i, ab in enumerate(_ABBREV):
        protected = protected.replace(ab, f"\x00{i}\x00")
    parts = re.split(r"(?<=[.!?])\s+(?=[\"“(\[]?[A-Z0-9])", protected)
    out = []
    for p in parts:
        for i, ab in enumerate(_ABBREV):
            p = p.replace(f"\x00{i}\x00", ab)
        p = p.strip()
        if p:
            out.append(p)
    return out

"""Prompt templates: text files in `prompts/`, loaded at run time, each carrying a version.

A template file looks like::

    version: rubric-v1
    description: what it is for

    [system]
    ... ${placeholder} ...
    [user]
    ...

Header lines (`key: value`) come first; `[system]` / `[user]` lines start the chat messages.
Placeholders are `${name}` (string.Template), so JSON braces in a prompt need no escaping and
text substituted in (answers, passages) is never re-interpreted. The version is stored with every
grade, so a changed prompt never reuses a cached grade or hides in history.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from string import Template

_SECTION = re.compile(r"^\[(system|user|assistant)\]\s*$")
_HEADER = re.compile(r"^([A-Za-z_][\w-]*):\s*(.*)$")


class PromptError(ValueError):
    """A template file is missing, malformed or lacks a placeholder value."""


@dataclass(frozen=True)
class PromptTemplate:
    """One versioned template: its chat messages with `${name}` placeholders."""

    name: str
    version: str
    sections: tuple[tuple[str, str], ...]
    headers: dict[str, str] = field(default_factory=dict)
    path: str = ""

    @property
    def placeholders(self) -> set[str]:
        names: set[str] = set()
        for _, text in self.sections:
            for m in Template.pattern.finditer(text):
                name = m.group("named") or m.group("braced")
                if name:
                    names.add(name)
        return names

    def render(self, **values: str) -> list[dict[str, str]]:
        """Chat messages with every placeholder filled; a missing value is an error, not a blank."""
        missing = self.placeholders - values.keys()
        if missing:
            raise PromptError(
                f"{self.path or self.name}: no value for {', '.join(sorted(missing))}"
            )
        return [
            {"role": role, "content": Template(text).substitute(values).strip()}
            for role, text in self.sections
        ]


def parse_template(name: str, text: str, path: str = "") -> PromptTemplate:
    """Parse a template file's text; errors name the file and line."""
    where = path or name
    lines = text.splitlines()
    headers: dict[str, str] = {}
    i = 0
    while i < len(lines) and not _SECTION.match(lines[i]):
        line = lines[i].strip()
        if line:
            m = _HEADER.match(line)
            if not m:
                raise PromptError(
                    f"{where}:{i + 1}: expected 'key: value' or a [system]/[user] line"
                )
            headers[m.group(1).lower()] = m.group(2).strip()
        i += 1
    version = headers.get("version", "")
    if not version:
        raise PromptError(f"{where}:1: the first line must be 'version: <name>-v<n>'")
    sections: list[tuple[str, str]] = []
    role: str | None = None
    buf: list[str] = []
    for line in lines[i:]:
        m = _SECTION.match(line)
        if m:
            if role is not None:
                sections.append((role, "\n".join(buf)))
            role, buf = m.group(1), []
        else:
            buf.append(line)
    if role is not None:
        sections.append((role, "\n".join(buf)))
    if not sections:
        raise PromptError(f"{where}: no [system] or [user] section")
    return PromptTemplate(
        name=name, version=version, sections=tuple(sections), headers=headers, path=where
    )


def prompts_dir() -> Path:
    """The installed `interviewer._prompts` package, or the checkout's top-level prompts/."""
    try:
        root = resources.files("interviewer._prompts")
        candidate = Path(str(root))
        if candidate.is_dir() and any(candidate.glob("*.txt")):
            return candidate
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parents[1] / "prompts"


@lru_cache(maxsize=32)
def _load(name: str, directory: str) -> PromptTemplate:
    path = Path(directory) / f"{name}.txt"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PromptError(f"cannot read prompt template {path}: {exc.strerror}") from None
    return parse_template(name, text, str(path))


def load_prompt(name: str, directory: Path | None = None) -> PromptTemplate:
    """Load `<name>.txt` from the prompts directory (cached per process)."""
    return _load(name, str(directory or prompts_dir()))

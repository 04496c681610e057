"""Reading the bank from disk: the shipped corpus, its curation file, the user's documents.

The only part of bank/ that touches files; parsing itself is pure (bank/parser.py).
"""

from __future__ import annotations

import importlib.resources
import json
import shutil
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator

from interviewer.bank.models import TOPICS, Bank, ParseWarning, Source
from interviewer.bank.parser import CurationInsert, ParsedDocument, parse_document, source_id_for
from interviewer.text_sniff import HEAD_BYTES, not_text
from interviewer.wording import printable

DOC_SUFFIXES = (".txt", ".md", ".markdown")
CURATION = "curation.toml"


class CorpusError(Exception):
    """A document or curation file that cannot be used; the message names file and line.

    `reason` is the message without the file and line, for reports that show those themselves
    (`corpus check`); `hint` is the way out, where there is one.
    """

    def __init__(
        self, message: str, *, reason: str | None = None, line: int = 0, hint: str | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason or message
        self.line = line
        self.hint = hint


class SourceCuration(BaseModel):
    title: str | None = None
    insert: list[CurationInsert] = Field(default_factory=list)


class Curation(BaseModel):
    sources: dict[str, SourceCuration] = Field(default_factory=dict)
    topics: dict[str, list[str]] = Field(default_factory=dict)
    thin: dict[str, bool] = Field(default_factory=dict)

    @field_validator("topics")
    @classmethod
    def _known_topics(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for qid, topics in v.items():
            unknown = [t for t in topics if t not in TOPICS]
            if unknown:
                raise ValueError(f"{qid}: unknown topics {unknown}; known: {', '.join(TOPICS)}")
        return v


def builtin_corpus_dir() -> Path:
    """corpus/ of a source checkout, else the copy inside the installed package."""
    checkout = Path(__file__).resolve().parents[2] / "corpus"
    if (checkout / CURATION).is_file():
        return checkout
    return Path(str(importlib.resources.files("interviewer._corpus")))


def read_curation(path: Path) -> Curation:
    if not path.is_file():
        return Curation()
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        return Curation.model_validate(data)
    except tomllib.TOMLDecodeError as exc:
        raise CorpusError(f"{path}: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        msg = str(first["msg"]).removeprefix("Value error, ")
        raise CorpusError(
            f"{path}: {loc}: {msg}", hint=f"fix or remove {path.name}; `interviewer corpus path` "
            "shows the folders the bank reads",
        ) from exc


def read_document(path: Path) -> str:
    """Text of a document; undecodable bytes are an error naming the line they are on."""
    raw = path.read_bytes()
    problem = not_text(raw[:HEAD_BYTES])
    if problem is None and b"\0" in raw:  # a NUL past the head: binary all the same
        problem = ("binary", raw.index(b"\0"))
    if problem is not None:
        kind, at = problem
        line = raw[:at].count(b"\n") + 1
        reason = ("UTF-16 text; save it as UTF-8" if kind == "utf16"
                  else "not a text file (binary data: a NUL byte)")
        raise CorpusError(f"{path}:{line}: {reason}", reason=reason, line=line)
    try:  # control characters and escape sequences would reach the terminal through the TUI
        return printable(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        reason = f"not UTF-8 text (byte 0x{raw[exc.start]:02x}: {exc.reason}); save it as UTF-8"
        raise CorpusError(f"{path}:{line}: {reason}", reason=reason, line=line) from exc


def parse_file(path: Path, curation: Curation | None = None) -> ParsedDocument:
    cur = curation or Curation()
    sid = source_id_for(path.stem)
    sc = cur.sources.get(sid, SourceCuration())
    doc = parse_document(
        read_document(path), sid, title=sc.title, inserts=sc.insert, source_name=path.name
    )
    for q in doc.questions:
        if q.id in cur.topics:
            q.topics = list(cur.topics[q.id])
        if q.id in cur.thin:
            q.thin = cur.thin[q.id]
    return doc


def document_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in DOC_SUFFIXES
        and p.name.lower() != "readme.md"
    )


def load_bank_from(folders: list[Path]) -> Bank:
    """Parse every document in the folders; a later folder can't shadow an earlier source id."""
    bank = Bank()
    for folder in folders:
        curation = read_curation(folder / CURATION)
        for path in document_files(folder):
            try:
                doc = parse_file(path, curation)
            except CorpusError as exc:
                bank.warnings.append(
                    ParseWarning(source=path.name, line=exc.line, message=exc.reason,
                                 skipped=True)
                )
                continue
            sid = source_id_for(path.stem)
            if any(s.id == sid for s in bank.sources):
                bank.warnings.append(
                    ParseWarning(
                        source=path.name, line=0,
                        message=f"source id {sid!r} already used by another document: skipped",
                        skipped=True,
                    )
                )
                continue
            bank.sources.append(Source(id=sid, title=doc.title, path=str(path)))
            bank.questions.extend(doc.questions)
            bank.warnings.extend(doc.warnings)
    return bank


def bank_folders(user_corpus_dir: Path | None) -> list[Path]:
    folders = [builtin_corpus_dir()]
    if user_corpus_dir is not None and user_corpus_dir.is_dir():
        folders.append(user_corpus_dir)
    return folders


BANK_CACHE = "bank-cache.json"


def _stamp(folders: list[Path]) -> str:
    """What the parsed bank depends on: every document, curation file and the parser's code."""
    import interviewer

    files = [p for f in folders for p in [f, *document_files(f), f / CURATION]]
    files += sorted(Path(__file__).parent.glob("*.py"))
    return json.dumps(
        [interviewer.__version__]
        + [[str(p), p.stat().st_mtime_ns, p.stat().st_size] for p in files if p.exists()]
    )


def load_bank(settings: Any = None) -> Bank:
    """The whole bank: shipped corpus plus the user's corpus folder (settings.user_corpus_dir).

    Parsed once and kept as JSON in the data dir (`bank-cache.json`): parsing costs a few hundred
    milliseconds of the TUI's one-second start-up, reading the JSON a few tens. Any change to a
    document, a curation file or the parser invalidates it; a read-only data dir only costs speed.
    """
    if settings is None:
        from interviewer.config import load_settings

        settings = load_settings()
    folders = bank_folders(settings.user_corpus_dir)
    stamp = _stamp(folders)
    cache = Path(settings.data_dir) / BANK_CACHE
    try:
        data = json.loads(cache.read_text("utf-8"))
        if isinstance(data, dict) and data.get("stamp") == stamp:
            return Bank.model_validate(data["bank"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # a damaged cache is only a miss
    bank = load_bank_from(folders)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps({"stamp": stamp, "bank": bank.model_dump(mode="json")}), "utf-8")
        tmp.replace(cache)
    except OSError:
        pass
    return bank


def add_document(
    path: Path, user_corpus_dir: Path, existing: Bank, replace: bool = False
) -> tuple[ParsedDocument, bool]:
    """Parse a user's document with the same parser and checks, then copy it into the bank;
    also says whether anything changed (the same document added twice changes nothing).

    A different document of the same name already there is kept unless `replace`: its question
    ids (name-1, name-2…) would silently start meaning other questions in the history.
    """
    if path.is_dir():
        raise CorpusError(f"{path}: is a directory; give one document")
    if not path.exists():
        raise CorpusError(f"{path}: no such file")
    if not path.is_file():
        raise CorpusError(f"{path}: not a regular file; give a document")
    if path.suffix.lower() not in DOC_SUFFIXES:
        raise CorpusError(f"{path}: expected a text or markdown file ({', '.join(DOC_SUFFIXES)})")
    if path.name.lower() == "readme.md":  # document_files() skips it: it would never load
        raise CorpusError(f"{path}: a README.md describes a corpus folder and is not read as a "
                          "document; rename it (e.g. my-questions.md) and add it again")
    doc = parse_file(path, read_curation(user_corpus_dir / CURATION))
    if not doc.questions:
        if not path.read_bytes().strip():
            raise CorpusError(f"{path}: the file is empty; give a document of questions and "
                              "their answers")
        raise CorpusError(f"{path}: no questions found (numbered, ## headings or question lines)")
    sid = source_id_for(path.stem)
    # Case-blind: `--source` matches ignoring case, and so do macOS and Windows file systems.
    clash = next((s for s in existing.sources if s.id.casefold() == sid.casefold()), None)
    if clash is not None and Path(clash.path).resolve() != (user_corpus_dir / path.name).resolve():
        raise CorpusError(f"{path}: source id {sid!r} is already used by {clash.path}; rename it")
    target = user_corpus_dir / path.name
    if target.exists() and target.resolve() == path.resolve():
        return doc, False  # already in the user corpus folder: parsed and checked, nothing to copy
    if target.is_file() and not replace:
        try:
            same = target.read_bytes() == path.read_bytes()
        except OSError as exc:
            raise CorpusError(f"cannot read {target}: {exc.strerror or exc}") from exc
        if same:
            return doc, False  # added before: nothing to do
        raise CorpusError(
            f"{path}: a different {path.name} is already in the bank ({target})",
            hint=f"add it under another name, or pass --replace to overwrite {target.name} "
            f"(its question ids {sid}-1, {sid}-2… then refer to the new questions)",
        )
    try:
        user_corpus_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    except OSError as exc:
        raise CorpusError(f"cannot copy {path} to {user_corpus_dir}: {exc.strerror or exc}") from exc
    return doc, True

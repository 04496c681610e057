"""The bank and index commands as a user runs them: real processes, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "interviewer", *args], capture_output=True, text=True,
        cwd=cwd or ROOT, env=env or os.environ.copy(), timeout=300,
    )


def test_questions_json_lists_every_question() -> None:
    out = run("questions", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert len(rows) == 111
    assert {"id", "question", "source", "topics", "key_points", "thin"} <= set(rows[0])
    by_id = {r["id"]: r for r in rows}
    assert by_id["001-8"]["thin"] is True and by_id["000-17"]["thin"] is False
    assert by_id["000-17"]["key_points"]


def test_questions_filters_and_bad_filter() -> None:
    rows = json.loads(run("questions", "--json", "--source", "002").stdout)
    assert len(rows) == 14 and {r["source"] for r in rows} == {"002"}
    rows = json.loads(run("questions", "--json", "--topic", "rnn").stdout)
    assert rows and all("rnn" in r["topics"] for r in rows)
    bad = run("questions", "--topic", "astrology")
    assert bad.returncode == 2 and "unknown topic" in bad.stderr and "Traceback" not in bad.stderr


def test_questions_imports_no_model_or_store() -> None:
    code = (
        "import sys\n"
        "sys.argv = ['interviewer', 'questions']\n"
        "from interviewer.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'chromadb', 'openai')"
        " if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy), file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY=\n" in out.stderr or out.stderr.rstrip().endswith("HEAVY="), out.stderr[-300:]


@pytest.mark.slow
def test_search_json_and_corrupt_store(tmp_path: Path) -> None:
    out = run("search", "randomly dropping neurons during training", "-k", "3", "--json")
    assert out.returncode == 0, out.stderr
    hits = json.loads(out.stdout)
    assert len(hits) == 3
    assert {"question_id", "source", "distance", "text"} <= set(hits[0])
    assert hits[0]["question_id"] in {"000-17", "003-5", "002-12", "000-4", "001-30"}
    # now break the store on disk: a clear message and a way out, never a traceback
    chroma = Path(os.environ["INTERVIEWER_DATA_DIR"]) / "chroma"
    for f in chroma.rglob("*"):
        if f.is_file():
            f.write_bytes(b"\x00garbage" * 64)
    bad = run("search", "dropout")
    assert bad.returncode == 2
    assert "--rebuild" in bad.stderr and "Traceback" not in bad.stderr
    fixed = run("index", "--rebuild")
    assert fixed.returncode == 0, fixed.stderr
    assert "rebuilt" in fixed.stdout


@pytest.mark.slow
def test_corpus_check_lists_thin_duplicates_and_warnings() -> None:
    out = run("corpus", "check", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    thin = {t["id"] for t in report["thin"]}
    assert {"001-8", "001-9", "001-13"} <= thin
    pairs = {frozenset((d["a"], d["b"])) for d in report["duplicates"]}
    assert frozenset(("002-8", "003-9")) in pairs or frozenset(("001-40", "002-8")) in pairs
    assert any(p & {"000-25", "001-58", "002-14"} and len(p & {"000-25", "001-58", "002-14"}) == 2
               for p in pairs)
    assert any("001-9" in w["message"] for w in report["warnings"])


def test_corpus_add_good_and_bad_files(tmp_path: Path) -> None:
    good = tmp_path / "team-notes.md"
    good.write_text(
        "# Team notes\n\n## What is weight decay?\n\nWeight decay adds an L2 penalty on the "
        "weights to the loss. It keeps the weights small and reduces overfitting in practice.\n"
    )
    out = run("corpus", "add", str(good))
    assert out.returncode == 0, out.stderr
    assert "1 question " in out.stdout
    rows = json.loads(run("questions", "--json", "--source", "team-notes").stdout)
    assert [r["id"] for r in rows] == ["team-notes-1"]

    empty = tmp_path / "empty.md"
    empty.write_text("just some prose without any question in it.\n")
    out = run("corpus", "add", str(empty))
    assert out.returncode == 2 and "no questions found" in out.stderr
    blank = tmp_path / "blank.md"
    blank.write_text("\n  \n")
    out = run("corpus", "add", str(blank))
    assert out.returncode == 2 and "blank.md: the file is empty" in out.stderr

    binary = tmp_path / "latin.txt"
    binary.write_bytes(b"1. What is a tensor?\n\nA multi-dimensional array.\ncaf\xe9 line\n")
    out = run("corpus", "add", str(binary))
    assert out.returncode == 2 and "latin.txt:4" in out.stderr and "UTF-8" in out.stderr

    missing = run("corpus", "add", str(tmp_path / "nope.md"))
    assert missing.returncode == 2 and "no such file" in missing.stderr

    nul = tmp_path / "nul.md"
    nul.write_bytes(b"## What is X?\n\nX is\0 a thing.\n")
    out = run("corpus", "add", str(nul))
    assert out.returncode == 2 and "nul.md:3: not a text file" in out.stderr
    utf16 = tmp_path / "wide.md"
    utf16.write_text("## What is X?\n\nX is a thing.\n", encoding="utf-16")
    out = run("corpus", "add", str(utf16))
    assert out.returncode == 2 and "UTF-16" in out.stderr
    out = run("corpus", "add", "/dev/null")
    assert out.returncode == 2 and "not a regular file" in out.stderr


def test_a_document_dropped_in_the_corpus_folder_that_cannot_be_read_is_warned_about(
    tmp_path: Path,
) -> None:
    data = Path(os.environ["INTERVIEWER_DATA_DIR"])
    (data / "corpus").mkdir(parents=True, exist_ok=True)
    bad = data / "corpus" / "mine.md"
    bad.write_bytes(b"## What is X?\n\nX is caf\xe9.\n")
    out = run("questions", "--json")
    assert out.returncode == 0 and len(json.loads(out.stdout)) == 111
    assert f"warning: {bad}:3: not UTF-8 text" in out.stderr and "left out" in out.stderr


@pytest.mark.slow
def test_installed_wheel_works_from_another_directory(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(ROOT)], capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr
    wheel = next(dist.glob("interviewer-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("interviewer/_corpus/") and n.endswith(".txt") for n in names)
    assert "interviewer/_corpus/curation.toml" in names
    assert any(n.startswith("interviewer/_prompts/") for n in names)
    target = tmp_path / "site"
    inst = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)], capture_output=True, text=True, timeout=300,
    )
    assert inst.returncode == 0, inst.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [sys.executable, "-c", "import interviewer, sys; from interviewer.cli import main; "
         "assert 'site' in interviewer.__file__, interviewer.__file__; main()",
         "questions", "--json"],
        capture_output=True, text=True, cwd=elsewhere, env=env, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)) == 111


def test_topic_and_source_filters_ignore_case() -> None:
    lower = json.loads(run("questions", "--json", "--topic", "cnn", "--source", "000").stdout)
    upper = run("questions", "--json", "--topic", "CNN", "--source", "000")
    assert upper.returncode == 0, upper.stderr
    assert lower and json.loads(upper.stdout) == lower


def test_corpus_add_keeps_a_different_document_of_the_same_name(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "notes.md", tmp_path / "b" / "notes.md"
    first.parent.mkdir()
    second.parent.mkdir()
    first.write_text("## What is weight decay?\n\nWeight decay adds an L2 penalty on the weights "
                     "to the loss; it keeps them small and reduces overfitting.\n")
    second.write_text("## What is batch norm?\n\nBatch normalisation normalises activations over "
                      "the mini-batch, then scales and shifts them with learned parameters.\n")
    assert run("corpus", "add", str(first)).returncode == 0
    again = run("corpus", "add", str(first))  # the same content: nothing to do, still fine
    assert again.returncode == 0, again.stderr
    clash = run("corpus", "add", str(second))
    assert clash.returncode == 2
    assert "a different notes.md is already in the bank" in clash.stderr and "--replace" in clash.stderr
    rows = json.loads(run("questions", "--json", "--source", "notes").stdout)
    assert [r["question"] for r in rows] == ["What is weight decay?"]
    cased = tmp_path / "b" / "Notes.md"  # `--source notes` could never pick one of the two
    second.rename(cased)
    refused = run("corpus", "add", str(cased))
    assert refused.returncode == 2 and "source id 'Notes' is already used" in refused.stderr
    cased.rename(second)
    replaced = run("corpus", "add", str(second), "--replace")
    assert replaced.returncode == 0, replaced.stderr
    rows = json.loads(run("questions", "--json", "--source", "notes").stdout)
    assert [r["question"] for r in rows] == ["What is batch norm?"]


def test_unreadable_user_document_is_one_warning_with_its_line() -> None:
    from interviewer.bank.loader import load_bank_from

    folder = Path(os.environ["INTERVIEWER_DATA_DIR"]) / "corpus"
    folder.mkdir(parents=True)
    (folder / "bad_latin.md").write_bytes(b"## What is a tensor?\n\nAn array.\ncaf\xe9\n")
    bank = load_bank_from([folder])
    [w] = [w for w in bank.warnings if w.source == "bad_latin.md"]
    assert w.line == 4 and w.message.startswith("not UTF-8 text (byte 0xe9")
    assert str(folder) not in w.message  # the file is in `source`: printed once, not twice


@pytest.mark.slow
def test_corpus_check_prints_a_bad_file_once() -> None:
    folder = Path(os.environ["INTERVIEWER_DATA_DIR"]) / "corpus"
    folder.mkdir(parents=True)
    (folder / "bad_latin.md").write_bytes(b"## What is a tensor?\n\nAn array.\ncaf\xe9\n")
    out = run("corpus", "check", env={**os.environ, "COLUMNS": "300"})
    assert out.returncode == 0, out.stderr
    [line] = [ln for ln in out.stdout.splitlines() if "bad_latin" in ln]
    assert line.strip().startswith("bad_latin.md:4: not UTF-8 text") and line.count("bad_latin") == 1


def test_the_practice_app_imports_no_numpy_before_the_first_question() -> None:
    """The first question is on screen within a second: the app and its screens leave numpy,
    torch and the rest to the grader's background thread."""
    code = (
        "import sys\n"
        "import interviewer.tui.app, interviewer.tui.screens.practice\n"
        "import interviewer.commands.practice, interviewer.bank.loader\n"
        "heavy = [m for m in ('numpy', 'torch', 'sentence_transformers', 'chromadb', 'openai')"
        " if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "HEAVY=", out.stdout + out.stderr[-300:]

"""`interviewer grade FILE` end to end, in-process, with the real grader and the bundled model.

The command runs through Typer's CliRunner in this process, with the session's embedder
installed as the process-wide one, so the model loads once for the whole module. One data dir
(and so one index build) is shared by the module.
"""

from __future__ import annotations

import csv
import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from llm_server import FakeLLMServer, Recorded, Reply, chat_reply
from typer.testing import CliRunner

import interviewer.commands.common as common
import interviewer.embedding as embedding_mod
from interviewer.bank.loader import load_bank
from interviewer.bank.models import Bank
from interviewer.cli import app
from interviewer.embedding import Embedder
from interviewer.grading.rubric import CRITERIA

pytestmark = pytest.mark.slow

REQUIRED = {"id", "question_id", "question", "answer", "score", "band", "flags", "covered",
            "missed", "citations", "follow_up", "grader", "notice"}

GOOD = ("Dropout randomly sets a fraction of the neurons' activations to zero during training, "
        "so the network cannot rely on any single unit; it reduces overfitting and acts like an "
        "ensemble of thinned networks. At test time all units are used, scaled.")


@pytest.fixture(scope="module")
def shared_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("grade-data")


@pytest.fixture(autouse=True)
def one_model_one_index(
    embedder: Embedder, shared_data: Path, isolated_dirs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session's model as the process-wide embedder; one index for the module."""
    monkeypatch.setitem(embedding_mod._default, "bundled", embedder)
    monkeypatch.setenv("INTERVIEWER_DATA_DIR", str(shared_data))
    for con in (common.console, common.err_console):  # long tmp paths must not wrap
        monkeypatch.setattr(con, "_width", 400)


@pytest.fixture(scope="module")
def bank() -> Bank:
    return load_bank()


def run(*args: str) -> Any:
    result = CliRunner().invoke(app, ["grade", *args], catch_exceptions=False)
    return result


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict[str, Any] | str]) -> Path:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), "utf-8"
    )
    return path


def test_jsonl_matching_by_id_text_paraphrase_and_unmatched(tmp_path: Path, bank: Bank) -> None:
    q17 = bank.get("000-17")
    assert q17 is not None
    f = write_jsonl(tmp_path / "answers.jsonl", [
        {"id": "by-id", "question_id": "000-17", "answer": GOOD},  # line 1
        {"id": "by-text", "question": q17.question.upper(), "answer": GOOD},  # 2
        {"id": "para", "question": "what does dropout do in a neural net", "answer": GOOD},  # 3
        {"id": "lost", "question": "How do I bake sourdough bread?", "answer": "Flour."},  # 4
        {"id": "own-ref", "question": "How do I bake sourdough bread?",  # 5
         "answer": "Mix flour, water and a starter, let it rise, then bake it hot.",
         "reference_answer": "Combine flour, water, salt and starter; proof; bake at 230C."},
        '{"id": "broken", "question": "x", "answer": ',  # 6: malformed
        {"id": "empty", "question_id": "000-17", "answer": "  "},  # 7
        {"id": "idk", "question_id": "000-4", "answer": "I don't know."},  # 8
    ])
    out = tmp_path / "graded.jsonl"
    r = run(str(f), "--out", str(out), "--offline")
    assert r.exit_code == 1, r.output
    rows = {d["id"]: d for d in jsonl(out)}
    assert set(rows) == {"by-id", "by-text", "para", "own-ref", "idk"}
    for d in rows.values():
        assert set(d) >= REQUIRED
        assert 0 <= d["score"] <= 10 and d["grader"] == "offline"
    assert rows["by-id"]["matched_by"] == "id" and rows["by-id"]["question_id"] == "000-17"
    assert rows["by-text"]["matched_by"] == "text" and rows["by-text"]["question_id"] == "000-17"
    para = rows["para"]
    assert para["matched_by"] == "embedding" and para["question_id"] in {"000-17", "001-30"}
    assert 0.65 <= para["match_similarity"] < 1.0
    own = rows["own-ref"]
    assert own["question_id"] is None and own["reference"] == "row"
    assert own["matched_by"] == "none" and "reference_answer" in own["notice"]
    assert own["match_similarity"] < 0.65
    # a good answer beats "I don't know", which is flagged
    assert rows["by-id"]["score"] > rows["idk"]["score"]
    assert "idk" in rows["idk"]["flags"]
    assert rows["by-id"]["covered"] and rows["by-id"]["citations"]
    # bad rows: file and line, and the count
    err = r.stderr
    assert f"{f}:4: unmatched question" in err
    assert f"{f}:6: malformed JSON" in err
    assert f"{f}:7: empty answer" in err
    assert "3 rows skipped" in err
    # the summary table
    assert "answers graded" in r.stdout and "mean score" in r.stdout
    assert "Weakest questions" in r.stdout
    assert "similar text 1, lowest similarity 0." in r.stdout


def test_csv_in_csv_out_all_good_exits_0(tmp_path: Path) -> None:
    f = tmp_path / "answers.csv"
    with f.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "question_id", "question", "answer"])
        w.writerow(["a", "000-17", "", GOOD])
        w.writerow(["b", "", "What is batch normalization?",
                    "It normalises each layer's inputs over the mini-batch to zero mean and unit "
                    "variance,\nthen scales and shifts them; training is faster and more stable."])
    out = tmp_path / "graded.csv"
    r = run(str(f), "--out", str(out), "--offline")
    assert r.exit_code == 0, r.output
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [d["id"] for d in rows] == ["a", "b"]
    assert set(rows[0]) >= REQUIRED
    assert rows[1]["question_id"] == "001-32" and "\n" in rows[1]["answer"]
    assert rows[1]["band"] in {"excellent", "good", "partial", "weak", "off-topic"}
    assert float(rows[0]["score"]) > 5


def test_markdown_in_md_and_html_out(tmp_path: Path) -> None:
    f = tmp_path / "answers.md"
    f.write_text(
        "# My answers\n\n"
        "## Can You Explain The Concept Of Dropout In Deep Learning?\n\n"
        f"{GOOD}\n\n"
        "## What is Gradient Clipping?\n\n"
        "When gradients get too large we rescale them so their norm is at most a threshold,\n"
        "which prevents exploding gradients <b>in RNNs</b> & \"deep\" nets.\n"
    )
    md = tmp_path / "report.md"
    r = run(str(f), "--out", str(md), "--offline")
    assert r.exit_code == 0, r.output
    text = md.read_text()
    assert text.startswith("# Grading report: answers.md")
    assert "2 answers graded" in text and text.count("\n### ") == 2
    assert (tmp_path / "report.md.jsonl").exists()

    page = tmp_path / "report.page"
    r = run(str(f), "--out", str(page), "--format", "html", "--offline")
    assert r.exit_code == 0, r.output
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html
    assert "<script" not in html and "<link" not in html  # self-contained
    root = ET.fromstring(html.split("\n", 1)[1])  # well-formed XHTML once the doctype is off
    answers = [d.text or "" for d in root.iter("div") if d.get("class") == "answer"]
    assert len(answers) == 2 and '<b>in RNNs</b> & "deep"' in answers[1]
    assert "&lt;b&gt;in RNNs&lt;/b&gt;" in html


def test_unusable_or_empty_input_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("question,text\nq,a\n")
    r = run(str(bad), "--out", str(tmp_path / "o.jsonl"), "--offline")
    assert r.exit_code == 2 and "no 'answer' column" in r.stderr
    assert "Traceback" not in r.output

    r = run(str(tmp_path / "missing.jsonl"), "--offline")
    assert r.exit_code == 2 and "no such file" in r.stderr

    only_bad = write_jsonl(tmp_path / "only_bad.jsonl", ["{oops", {"question": "q", "answer": ""}])
    r = run(str(only_bad), "--out", str(tmp_path / "o2.jsonl"), "--offline")
    assert r.exit_code == 2
    assert f"{only_bad}:1: malformed JSON" in r.stderr and f"{only_bad}:2: empty answer" in r.stderr
    assert "nothing could be graded" in r.stderr

    r = run(str(only_bad), "--out", str(tmp_path / "o.txt"), "--offline")
    assert r.exit_code == 2 and "--format" in r.stderr


def test_strict_stops_at_the_first_bad_row(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "a.jsonl", [
        {"question_id": "000-17", "answer": GOOD},
        {"question_id": "000-4", "answer": ""},  # line 2
        {"question_id": "000-3", "answer": "Chain rule backwards through the layers."},
    ])
    out = tmp_path / "o.jsonl"
    r = run(str(f), "--out", str(out), "--offline", "--strict")
    assert r.exit_code == 1
    assert [d["id"] for d in jsonl(out)] == ["1"]
    assert f"stopped at {f}:2: empty answer" in r.stderr.replace("\n", " ")


def _numbered(tmp_path: Path, n: int, tag: str = "Answer") -> Path:
    """n rows; a distinct `tag` keeps them out of the LLM cache other tests filled."""
    qids = ["000-17", "000-4", "000-9", "001-32", "001-48", "000-3"]
    return write_jsonl(tmp_path / "many.jsonl", [
        {"question_id": qids[i % len(qids)], "answer": f"{tag} number {i}: {GOOD[: 40 + i]}"}
        for i in range(n)
    ])


def _stop_grading_at(monkeypatch: pytest.MonkeyPatch, n: int, stop: Callable[[], None]) -> Any:
    """Make the run call `stop` as it reaches its answer number n (from 0) of a chunk; returns
    the real `Assessor.assess_many`."""
    from interviewer.assessor import Assessor

    real = Assessor.assess_many

    def stopping(self: Assessor, reqs: Any, concurrency: int = 4) -> Iterator[Any]:
        for i, a in enumerate(real(self, reqs, concurrency)):
            if i == n:
                stop()
            yield a

    monkeypatch.setattr(Assessor, "assess_many", stopping)
    return real


def test_sigterm_mid_run_keeps_the_rows_and_a_report_that_says_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal

    f = _numbered(tmp_path, 12)
    out = tmp_path / "report.md"
    # what `timeout` and CI send
    _stop_grading_at(monkeypatch, 4, lambda: os.kill(os.getpid(), signal.SIGTERM))
    before = signal.getsignal(signal.SIGTERM)
    r = run(str(f), "--out", str(out), "--offline")
    assert r.exit_code == 130 and "--resume" in r.stderr
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is put back
    text = out.read_text("utf-8")
    assert "answers graded" in text and "The run was interrupted" in text
    assert 1 <= text.count("\n### ") < 12


def test_interrupt_then_resume_grades_each_row_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = _numbered(tmp_path, 12)
    out = tmp_path / "o.jsonl"
    from interviewer.assessor import Assessor

    def ctrl_c() -> None:  # in the middle of a chunk
        raise KeyboardInterrupt

    real = _stop_grading_at(monkeypatch, 5, ctrl_c)
    graded: list[str] = []
    r = run(str(f), "--out", str(out), "--offline")
    assert r.exit_code == 130
    assert "--resume" in r.stderr
    first = [d["id"] for d in jsonl(out)]
    assert first == [str(i) for i in range(1, 6)]

    # a crash while writing leaves half a row: resume cuts it and carries on
    with out.open("a") as fh:
        fh.write('{"id": "6", "question_id": "000-4", "ans')

    # without --resume an existing output is not clobbered
    r = run(str(f), "--out", str(out), "--offline")
    assert r.exit_code == 2 and "--resume" in r.stderr

    def counting(self: Assessor, reqs: Any, concurrency: int = 4) -> Iterator[Any]:
        reqs = list(reqs)
        graded.extend(req.answer for req in reqs)
        yield from real(self, reqs, concurrency)

    monkeypatch.setattr(Assessor, "assess_many", counting)
    r = run(str(f), "--out", str(out), "--offline", "--resume")
    assert r.exit_code == 0, r.output
    ids = [d["id"] for d in jsonl(out)]
    assert ids == [str(i) for i in range(1, 13)]  # nothing missing, nothing twice
    assert len(graded) == 7  # only the rows not graded before
    assert "from before (--resume)" in r.stdout

    # resuming a finished run grades nothing and still succeeds
    graded.clear()
    r = run(str(f), "--out", str(out), "--offline", "--resume")
    assert r.exit_code == 0 and graded == []
    assert len(jsonl(out)) == 12


def test_resume_html_report_from_its_rows_file(tmp_path: Path) -> None:
    f = _numbered(tmp_path, 4)
    out = tmp_path / "r.html"
    rows_file = tmp_path / "r.html.jsonl"
    assert run(str(f), "--out", str(out), "--offline").exit_code == 0
    lines = rows_file.read_text().splitlines(keepends=True)
    rows_file.write_text("".join(lines[:2]))  # as if interrupted after two rows
    r = run(str(f), "--out", str(out), "--offline", "--resume")
    assert r.exit_code == 0
    assert [d["id"] for d in jsonl(rows_file)] == ["1", "2", "3", "4"]
    root = ET.fromstring(out.read_text().split("\n", 1)[1])
    assert len([d for d in root.iter("div") if d.get("class") == "row"]) == 4


def _rubric(overall: float) -> dict[str, Any]:
    return {
        "criteria": {c: {"score": overall, "reason": "ok"} for c in CRITERIA},
        "overall": overall, "missing_points": ["the ensemble view"], "misconceptions": [],
        "model_answer_outline": [], "citations": [], "follow_up": "Why does it work?",
    }


def test_llm_grading_bounded_concurrency_and_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = threading.Lock()
    state = {"now": 0, "max": 0}

    def reply(rec: Recorded) -> Reply:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        import time

        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return chat_reply(_rubric(7.0))

    f = _numbered(tmp_path, 6)
    with FakeLLMServer() as server:
        server.default = reply
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-batch")
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        out = tmp_path / "o.jsonl"
        r = run(str(f), "--out", str(out), "--llm", "--concurrency", "2")
        assert r.exit_code == 0, r.output
        rows = jsonl(out)
        assert [d["grader"] for d in rows] == ["llm"] * 6
        assert rows[0]["missed"] == ["the ensemble view"]
        assert 1 <= state["max"] <= 2
        calls = len(server.chat_requests())
        assert calls >= 6
        # the same answers again: served from the LLM cache, no new request
        r = run(str(f), "--out", str(out), "--llm", "--overwrite")
        assert r.exit_code == 0
        assert len(server.chat_requests()) == calls
        assert [d["grader"] for d in jsonl(out)] == ["llm"] * 6


def test_ctrl_c_does_not_wait_for_an_llm_that_never_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal
    import time

    f = _numbered(tmp_path, 4, tag="Interrupted answer")
    out = tmp_path / "o.jsonl"
    finished = threading.Event()
    with FakeLLMServer() as server:
        server.default = Reply(delay=60.0, body={})  # accepts, then says nothing for a minute
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-batch")
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        monkeypatch.setenv("INTERVIEWER_LLM_TIMEOUT", "45")
        sent: dict[str, float] = {}

        def interrupt_once_asked() -> None:
            deadline = time.monotonic() + 60
            while not server.requests and time.monotonic() < deadline:
                if finished.wait(0.05):
                    return
            time.sleep(0.3)
            # Only while a request hangs (it holds the run for 45 s): a stray Ctrl-C must
            # never reach the test session itself.
            if server.requests and not finished.is_set():
                sent["at"] = time.monotonic()
                os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, mid LLM call

        t = threading.Thread(target=interrupt_once_asked, daemon=True)
        t.start()
        try:
            r = run(str(f), "--out", str(out), "--llm", "--concurrency", "2")
        finally:
            finished.set()
        t.join()
        assert "at" in sent, "the LLM was never asked"
        stopped = time.monotonic() - sent["at"]
    assert r.exit_code == 130
    # nothing came back, so nothing was written: no file to name, no run to resume
    assert "nothing was written" in r.stderr and not out.exists()
    assert stopped < 5.0  # not the 45 s timeout, nor its retries


def test_rows_graded_after_the_llm_switched_itself_off_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = _numbered(tmp_path, 8, tag="Refused answer")
    out = tmp_path / "o.jsonl"
    with FakeLLMServer() as server:
        server.default = Reply(status=401, body={"error": {"message": "bad key"}})
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-batch")
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        r = run(str(f), "--out", str(out), "--llm", "--concurrency", "1")
    assert r.exit_code == 0, r.output
    rows = jsonl(out)
    assert [d["grader"] for d in rows] == ["offline"] * 8
    assert all(d["notice"] for d in rows)  # every row says why it is an offline grade
    assert "off for this session" in rows[-1]["notice"]
    assert "off for this session" in r.stderr


def test_llm_flag_without_an_endpoint_is_a_clear_error(tmp_path: Path) -> None:
    f = _numbered(tmp_path, 1)
    r = run(str(f), "--out", str(tmp_path / "o.jsonl"), "--llm")
    assert r.exit_code == 2 and "--llm" in r.stderr and "Traceback" not in r.output


@pytest.mark.parametrize(
    ("name", "content"),
    [("empty.jsonl", ""), ("blank.jsonl", "\n\n  \n"), ("header.csv", "question_id,answer\n"),
     ("prose.md", "Just some notes, no headings at all.\n")],
)
def test_a_file_without_rows_exits_2_before_loading_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, content: str
) -> None:
    import interviewer.commands.grade as grade_cmd

    def no_model(*args: Any) -> Any:
        raise AssertionError("the model was loaded for a file with nothing to grade")

    monkeypatch.setattr(grade_cmd, "_load", no_model)
    f = tmp_path / name
    f.write_text(content)
    out = tmp_path / "out.jsonl"
    r = run(str(f), "--out", str(out), "--offline")
    assert r.exit_code == 2, r.output
    assert str(f) in r.stderr and ("no answers to grade" in r.stderr or "header" in r.stderr
                                   or "empty" in r.stderr)
    assert not out.exists()


def test_output_that_is_the_input_under_another_name_or_a_directory_is_refused(
    tmp_path: Path,
) -> None:
    f = _numbered(tmp_path, 3)
    before = f.read_bytes()
    linked = tmp_path / "linked.jsonl"
    linked.hardlink_to(f)
    for extra in (["--overwrite"], ["--resume"]):
        r = run(str(f), "--out", str(linked), "--offline", *extra)
        assert r.exit_code == 2 and "would overwrite the input file" in r.stderr
    assert f.read_bytes() == before
    (tmp_path / "d.jsonl").mkdir()
    r = run(str(f), "--out", str(tmp_path / "d.jsonl"), "--offline")
    assert r.exit_code == 2 and "is a directory" in r.stderr
    r = run(str(tmp_path / "d.jsonl"), "--offline")
    assert r.exit_code == 2 and "is a directory" in r.stderr
    r = run(str(f), "--out", str(tmp_path / "o.jsonl"), "--offline", "--resume", "--overwrite")
    assert r.exit_code == 2 and "contradict" in r.stderr


def test_overwrite_keeps_the_old_report_when_nothing_can_be_graded(tmp_path: Path) -> None:
    f = _numbered(tmp_path, 2)
    out = tmp_path / "o.jsonl"
    assert run(str(f), "--out", str(out), "--offline").exit_code == 0
    report = out.read_bytes()
    all_bad = write_jsonl(tmp_path / "bad.jsonl", ["{oops", {"question_id": "000-1", "answer": ""}])
    r = run(str(all_bad), "--out", str(out), "--offline", "--overwrite")
    assert r.exit_code == 2 and "nothing could be graded" in r.stderr
    assert out.read_bytes() == report
    # ...and a new output that got nothing is not left behind empty.
    fresh = tmp_path / "new.jsonl"
    assert run(str(all_bad), "--out", str(fresh), "--offline").exit_code == 2
    assert not fresh.exists()
    # ...nor the directories it made for it, while a directory that was there stays.
    nested = tmp_path / "reports" / "week 1" / "new.md"
    assert run(str(all_bad), "--out", str(nested), "--offline").exit_code == 2
    assert not (tmp_path / "reports").exists() and tmp_path.is_dir()


def test_resume_refuses_a_report_made_from_another_input(tmp_path: Path) -> None:
    f = _numbered(tmp_path, 3)
    out = tmp_path / "o.jsonl"
    assert run(str(f), "--out", str(out), "--offline").exit_code == 0
    report = out.read_bytes()
    changed = write_jsonl(tmp_path / "changed.jsonl", [
        {"question_id": "000-17", "answer": "A different first answer."},
        {"question_id": "000-4", "answer": "Another."},
    ])
    r = run(str(changed), "--out", str(out), "--offline", "--resume")
    assert r.exit_code == 2 and "another input" in r.stderr and f"{changed}:1" in r.stderr
    # The same answers asked of other questions, or graded against a reference of the row's own.
    rows = [json.loads(line) for line in f.read_text().splitlines()]
    for i, (change, why) in enumerate([
        ({"question_id": "000-9"}, "question_id differs"),
        ({"question_id": None, "question": "What is a GAN?"}, "question differs"),
        ({"reference_answer": "A reference of its own."}, "now has a reference_answer"),
    ]):
        edited = [{**r, **change} if k == 1 else r for k, r in enumerate(rows)]
        edited = [{k: v for k, v in r.items() if v is not None} for r in edited]
        other = write_jsonl(tmp_path / f"edited{i}.jsonl", edited)
        r = run(str(other), "--out", str(out), "--offline", "--resume")
        assert r.exit_code == 2 and why in r.stderr and f"{other}:2" in r.stderr, r.stderr
    fewer = write_jsonl(tmp_path / "fewer.jsonl", [json.loads(f.read_text().splitlines()[0])])
    r = run(str(fewer), "--out", str(out), "--offline", "--resume")
    assert r.exit_code == 2 and "not in" in r.stderr
    notes = tmp_path / "notes.jsonl"
    notes.write_text("hello world\nnot json at all\n")
    r = run(str(f), "--out", str(notes), "--offline", "--resume")
    assert r.exit_code == 2 and f"{notes}:1: not a row" in r.stderr
    assert out.read_bytes() == report and notes.read_text().startswith("hello world")


def test_a_failure_while_loading_leaves_no_empty_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import interviewer.commands.grade as grade_cmd
    from interviewer.commands.common import fail

    def broken(*args: Any) -> Any:
        fail("the model could not be loaded", 2)

    monkeypatch.setattr(grade_cmd, "_load", broken)
    f = _numbered(tmp_path, 2)
    out = tmp_path / "new-report.md"
    r = run(str(f), "--out", str(out), "--offline")
    assert r.exit_code == 2 and "could not be loaded" in r.stderr
    assert not out.exists() and not (tmp_path / "new-report.md.jsonl").exists()


def test_rich_markup_in_questions_ids_and_file_names_is_printed_literally(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "answers[b].jsonl", [
        {"question": "What is [/b] dropout | <img src=x onerror=alert(1)>?",
         "reference_answer": "Dropout randomly zeroes activations during training.",
         "answer": "Dropout randomly zeroes some activations while training."},
        {"question_id": "[/b]zz", "answer": "a real answer to an unknown id"},
    ])
    md = tmp_path / "report[red].md"
    r = run(str(f), "--out", str(md), "--offline")
    assert r.exit_code == 1, r.output  # one row skipped, no crash in the summary
    assert "What is [/b] dropout" in r.stdout and f"report: {md}" in r.stdout
    assert f"{f}:2: unmatched question: unknown question_id '[/b]zz'" in r.stderr
    weakest = md.read_text().split("**Weakest questions**")[1].split("## Answers")[0]
    assert "\\<img" in weakest and "\\|" in weakest
    assert "<img" not in weakest.replace("\\<img", "")  # only ever escaped


def test_csv_quote_left_open_is_a_bad_row_not_a_swallowed_one(tmp_path: Path) -> None:
    f = tmp_path / "open.csv"
    f.write_text(
        'question_id,answer\n000-17,"Dropout zeroes units, "so" it regularises\n'
        '000-17,"an answer whose quote never closes\n000-3,Chain rule backwards.\n', "utf-8"
    )
    out = tmp_path / "o.jsonl"
    r = run(str(f), "--out", str(out), "--offline")
    assert r.exit_code == 1, r.output
    assert f"{f}:3: a quote opened on this line never closes: lines 3-4" in r.stderr
    rows = jsonl(out)
    assert len(rows) == 1 and rows[0]["answer"].startswith("Dropout zeroes units")


def test_duplicate_csv_columns_are_refused(tmp_path: Path) -> None:
    f = tmp_path / "dup.csv"
    f.write_text("question_id,answer,Answer\n000-17,first,second\n", "utf-8")
    r = run(str(f), "--out", str(tmp_path / "o.jsonl"), "--offline")
    assert r.exit_code == 2
    assert f"{f}:1: column 'answer' appears more than once" in r.stderr
    assert "report:" not in r.stdout  # nothing was written, so no report is announced


def test_answers_in_other_scripts_are_graded_not_called_empty(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "intl.jsonl", [
        {"question_id": "000-17", "answer": "Дропаут случайно обнуляет нейроны во время обучения."},
        {"question_id": "000-17", "answer": "الإسقاط يعطل الخلايا العصبية عشوائيا أثناء التدريب"},
    ])
    out = tmp_path / "o.jsonl"
    r = run(str(f), "--out", str(out), "--offline")
    assert r.exit_code == 0, r.output
    rows = jsonl(out)
    assert len(rows) == 2 and all("empty" not in row["flags"] for row in rows)
    assert all(row["score"] <= 3 for row in rows)  # the offline grader reads English


def test_a_markdown_heading_that_is_an_id_is_matched_by_id(tmp_path: Path, bank: Bank) -> None:
    f = tmp_path / "by-id.md"
    f.write_text(f"## 000-17\n\n{GOOD}\n", "utf-8")
    out = tmp_path / "o.jsonl"
    r = run(str(f), "--out", str(out), "--offline")
    assert r.exit_code == 0, r.output
    (row,) = jsonl(out)
    q = bank.get("000-17")
    assert q is not None
    assert row["matched_by"] == "id" and row["question_id"] == "000-17"
    assert row["question"] == q.question


def test_an_out_path_under_a_file_names_that_file(tmp_path: Path) -> None:
    f = _numbered(tmp_path, 2)
    blocker = tmp_path / "ok.jsonl"
    blocker.write_text("")
    r = run(str(f), "--out", str(blocker / "r.jsonl"), "--offline")
    assert r.exit_code == 2
    assert f"{blocker} is a file, not a directory" in r.stderr


def _no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refusal must come before the slow model load."""
    import interviewer.commands.grade as grade_cmd

    def no_model(*args: Any) -> Any:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(grade_cmd, "_load", no_model)


@pytest.mark.parametrize("ext", ["md", "html"])
def test_an_existing_md_or_html_out_is_never_silently_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ext: str
) -> None:
    f = _numbered(tmp_path, 2)
    notes = tmp_path / f"notes.{ext}"
    notes.write_text("MY PRECIOUS NOTES\n")
    with monkeypatch.context() as m:
        _no_model(m)
        r = run(str(f), "--out", str(notes), "--offline")
        assert r.exit_code == 2 and f"{notes} exists" in r.stderr
        assert "--resume" in r.stderr and "--overwrite" in r.stderr
        # --resume with no rows file beside it: nothing to continue, and not ours to render over
        r = run(str(f), "--out", str(notes), "--offline", "--resume")
        assert r.exit_code == 2 and f"{notes} is not a report of interviewer grade" in r.stderr
    assert notes.read_text() == "MY PRECIOUS NOTES\n"
    assert not (tmp_path / f"notes.{ext}.jsonl").exists()
    r = run(str(f), "--out", str(notes), "--offline", "--overwrite")
    assert r.exit_code == 0 and "Grading report" in notes.read_text()
    # our own report whose rows file was deleted: not replaced without a word either...
    (tmp_path / f"notes.{ext}.jsonl").unlink()
    with monkeypatch.context() as m:
        _no_model(m)
        r = run(str(f), "--out", str(notes), "--offline")
        assert r.exit_code == 2 and f"{notes} exists" in r.stderr
    # ...but --resume may grade again and render over it
    r = run(str(f), "--out", str(notes), "--offline", "--resume")
    assert r.exit_code == 0 and "2 answers graded" in notes.read_text()


def test_escape_sequences_in_questions_never_reach_the_terminal(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "esc.jsonl", [
        {"id": "e1", "question": "\x1b]0;PWNED\x07\x1b[31mRed question\x1b[0m",
         "answer": "some answer text", "reference_answer": "some answer text"},
    ])
    r = run(str(f), "--out", str(tmp_path / "o.jsonl"), "--offline")
    assert r.exit_code == 0, r.output
    assert "Red question" in r.stdout
    assert "\x1b" not in r.stdout and "PWNED" not in r.stdout
    md = tmp_path / "esc.md"
    md.write_text("## \x1b[2mHow do you prevent overfitting in deep learning models?\x1b[0m\n\n"
                  "Dropout and weight decay.\n", "utf-8")
    r = run(str(md), "--out", str(tmp_path / "o2.jsonl"), "--offline")
    assert r.exit_code == 0, r.output
    assert "How do you prevent overfitting" in r.stdout and "\x1b" not in r.stdout


def test_rows_own_references_and_questions_leave_the_caches_after_their_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedder: Embedder
) -> None:
    """Memory stays level with per-row references: the grader's and the model's caches drop a
    chunk's references, their key points and question texts, as they drop its answers."""
    import interviewer.commands.grade as grade_cmd
    from interviewer.grading.keypoints import split_key_points

    real_load = grade_cmd._load
    loaded: dict[str, Any] = {}

    def keep_grader(*args: Any) -> Any:
        grader, assessor, matcher = real_load(*args)
        loaded["grader"] = grader
        return grader, assessor, matcher

    monkeypatch.setattr(grade_cmd, "_load", keep_grader)
    rows: list[dict[str, Any] | str] = []
    for i in range(6):
        rows.append({
            "id": f"u{i}", "question": f"Variant {i}: how does a sourdough starter rise?",
            "answer": f"Wild yeast ferments the flour and makes gas (v{i}).",
            "reference_answer": (f"Wild yeast and lactic bacteria ferment the sugars in flour "
                                 f"{i}. The gas they make lifts the dough. Note item {i}."),
        })
    rows.append({"id": "lost", "question": "What is the best pizza topping in Naples?",
                 "answer": "Basil."})  # unmatched, no reference: a bad row, embedded all the same
    f = write_jsonl(tmp_path / "uniq.jsonl", rows)
    r = run(str(f), "--out", str(tmp_path / "o.jsonl"), "--offline")
    assert r.exit_code == 1, r.output
    assert len(jsonl(tmp_path / "o.jsonl")) == 6
    texts = [str(d[k]) for d in rows if isinstance(d, dict)
             for k in ("question", "answer", "reference_answer") if k in d]
    texts += [p for d in rows if isinstance(d, dict) and "reference_answer" in d
              for p in split_key_points(d["reference_answer"])]
    assert len(texts) > 20
    cached = set(loaded["grader"]._enc) | set(embedder._cache)
    assert [t for t in texts if t in cached] == []


def test_a_json_array_file_is_refused_whole_before_the_model_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_model(monkeypatch)
    f = tmp_path / "array.jsonl"
    f.write_text('[\n  {"id":"x","question_id":"000-4","answer":"dropout"},\n'
                 '  {"id":"y","question_id":"000-3","answer":"chain"}\n]\n')
    out = tmp_path / "o.jsonl"
    r = run(str(f), "--out", str(out), "--offline")
    assert r.exit_code == 2
    assert f"{f}:1: a JSON array, not JSON Lines" in r.stderr and not out.exists()


def test_keys_in_any_case_and_spacing_are_read(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "keys.jsonl", [
        {"ID": "k1", "Question_ID": "000-17", "Answer": GOOD},
        {" answer ": GOOD, "Question ID": "000-17", "id": "k2"},
    ])
    csv_in = tmp_path / "keys.csv"
    csv_in.write_text(f'Question ID,Answer,Reference Answer\n000-17,"{GOOD}",\n', "utf-8")
    for src in (f, csv_in):
        out = tmp_path / f"{src.suffix[1:]}-out.jsonl"
        r = run(str(src), "--out", str(out), "--offline")
        assert r.exit_code == 0, r.output
        assert {d["question_id"] for d in jsonl(out)} == {"000-17"}
    assert [d["id"] for d in jsonl(tmp_path / "jsonl-out.jsonl")] == ["k1", "k2"]


def test_a_bare_number_as_question_id_suggests_the_bank_ids(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "num.jsonl", [
        {"question_id": 17, "answer": GOOD},
        {"question_id": "000-17", "answer": GOOD},
    ])
    r = run(str(f), "--out", str(tmp_path / "o.jsonl"), "--offline")
    assert r.exit_code == 1, r.output
    err = r.stderr.replace("\n", " ")
    assert f"{f}:1: unmatched question: question_id '17' is ambiguous" in err
    assert "000-17, 001-17" in err and "give a question_id" not in err


def test_interrupted_before_any_row_says_nothing_was_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = _numbered(tmp_path, 3)
    out = tmp_path / "o.jsonl"

    def ctrl_c() -> None:
        raise KeyboardInterrupt

    _stop_grading_at(monkeypatch, 0, ctrl_c)
    r = run(str(f), "--out", str(out), "--offline")
    assert r.exit_code == 130
    assert "nothing was written" in r.stderr and str(out) not in r.stderr
    assert not out.exists()


def test_llm_rows_carry_model_prompt_criteria_and_only_verified_citations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bank: Bank
) -> None:
    q17 = bank.get("000-17")
    assert q17 is not None
    quote = " ".join(q17.reference.split()[:8])

    def reply(rec: Recorded) -> Reply:
        body = _rubric(7.0)
        body["criteria"]["correctness"] = {"score": 8.0, "reason": "says what dropout does"}
        body["misconceptions"] = ["thinks units stay off at test time"]
        body["model_answer_outline"] = ["zero activations at random", "scale at test time"]
        if "Provenance answer number 0" in rec.text:
            body["citations"] = [{"passage": 1, "quote": quote}]
        else:  # a quote in no passage: dropped, and the row must not show another in its place
            body["citations"] = [{"passage": 1, "quote": "words that occur in no passage at all"}]
        return chat_reply(body)

    f = _numbered(tmp_path, 2, tag="Provenance answer")
    with FakeLLMServer() as server:
        server.default = reply
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-batch")
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        out = tmp_path / "o.jsonl"
        r = run(str(f), "--out", str(out), "--llm")
        assert r.exit_code == 0, r.output
        for ext in ("md", "html", "csv"):
            r = run(str(f), "--out", str(tmp_path / f"o.{ext}"), "--llm")
            assert r.exit_code == 0, r.output
    good, failed = jsonl(out)
    assert good["grader"] == failed["grader"] == "llm"
    llm = good["llm"]
    assert llm["model"] == "fake-model-2026" and llm["prompt_version"]
    assert llm["usage"]["prompt_tokens"] == 120 and llm["usage"]["completion_tokens"] == 80
    assert isinstance(llm["latency_s"], float) and isinstance(llm["cached"], bool)
    assert llm["overall"] == 7.0 and set(llm["criteria"]) == set(CRITERIA)
    assert llm["criteria"]["correctness"] == {"score": 8.0, "reason": "says what dropout does"}
    assert llm["misconceptions"] == ["thinks units stay off at test time"]
    assert llm["model_answer_outline"] == ["zero activations at random", "scale at test time"]
    assert llm["dropped_citations"] == 0 and failed["llm"]["dropped_citations"] == 1
    assert 0 <= good["offline_score"] <= 10
    assert [c["quote"] for c in good["citations"]] == [quote]
    assert failed["citations"] == []  # all failed: none, not the offline passages
    assert failed["references"] and failed["references"][0]["passage_id"].startswith("000-4")
    md = (tmp_path / "o.md").read_text("utf-8")
    assert "LLM: fake-model-2026, prompt " + llm["prompt_version"] in md
    assert "| correctness | 8.0 | says what dropout does |" in md
    html = (tmp_path / "o.html").read_text("utf-8")
    assert "fake-model-2026" in html and "says what dropout does" in html
    ET.fromstring(html.split("\n", 1)[1])
    with (tmp_path / "o.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(d["model"], d["prompt_version"], d["llm_score"]) for d in rows] == [
        ("fake-model-2026", llm["prompt_version"], "7.0")] * 2
    assert all(d["offline_score"] for d in rows) and rows[1]["citations"] == ""

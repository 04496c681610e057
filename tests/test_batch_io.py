"""Readers and writers of `interviewer grade`: formats, bad rows with line numbers, resume files."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from interviewer.batch import (
    CSV_FIELDS,
    BadRow,
    BatchFileError,
    CitationOut,
    GradedRow,
    Row,
    RowWriter,
    Summary,
    numeric_ids,
    output_format,
    read_graded,
    read_rows,
    rows_path,
    write_html_report,
    write_markdown_report,
)


def _split(items: list[Row | BadRow]) -> tuple[list[Row], list[BadRow]]:
    return [i for i in items if isinstance(i, Row)], [i for i in items if isinstance(i, BadRow)]


def test_jsonl_rows_and_bad_rows_with_line_numbers(tmp_path: Path) -> None:
    f = tmp_path / "a.jsonl"
    lines = [
        json.dumps({"question_id": "000-1", "answer": "Neurons in layers.", "id": "a1"}),
        "",  # blank: ignored, but still counts as a line
        '{"question": "What is dropout?", "answer": "drop units"',  # malformed (line 3)
        json.dumps({"question": "What is dropout?"}),  # no answer (4)
        json.dumps({"question": "What is dropout?", "answer": "   "}),  # empty answer (5)
        json.dumps({"answer": "orphan"}),  # no question (6)
        json.dumps(["not", "an", "object"]),  # (7)
        json.dumps({"question": "Q?", "answer": {"nested": 1}}),  # wrong type (8)
        json.dumps({"question": "What is dropout?", "answer": "Randomly zeroes units.",
                    "reference_answer": "Dropout zeroes activations.", "id": 7}),
    ]
    data = ("\n".join(lines) + "\n").encode()
    data += b'{"question": "Q?", "answer": "caf\xe9"}\n'  # latin-1 byte (line 10)
    data += json.dumps({"question_id": "000-2", "answer": "last"}).encode()  # no final newline
    f.write_bytes(data)
    rows, bad = _split(list(read_rows(f)))
    assert [r.id for r in rows] == ["a1", "7", "11"]
    assert rows[0].question_id == "000-1" and rows[0].question is None and rows[0].line == 1
    assert rows[1].reference_answer == "Dropout zeroes activations."
    assert rows[2].line == 11
    got = {b.line: b.reason for b in bad}
    assert set(got) == {3, 4, 5, 6, 7, 8, 10}
    line3 = '{"question": "What is dropout?", "answer": "drop units"'
    assert got[3] == f"malformed JSON: Expecting ',' delimiter (column {len(line3) + 1})"
    assert got[4] == "missing 'answer'"
    assert got[5] == "empty answer"
    assert "question_id" in got[6]
    assert "JSON object" in got[7]
    assert "must be a string" in got[8]
    assert "UTF-8" in got[10]
    assert all(b.file == str(f) for b in bad)
    assert str(bad[0]) == f"{f}:3: {got[3]}"


def test_duplicate_ids_are_bad_rows(tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    f.write_text(
        json.dumps({"id": "x", "question": "Q?", "answer": "one"}) + "\n"
        + json.dumps({"id": "x", "question": "Q?", "answer": "two"}) + "\n"
    )
    rows, bad = _split(list(read_rows(f)))
    assert [r.answer for r in rows] == ["one"]
    assert bad[0].line == 2 and "duplicate id 'x' (first at line 1)" in bad[0].reason
    assert bad[0].file == str(f)


def test_rows_without_id_never_collide_with_explicit_ids(tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    f.write_text(
        json.dumps({"id": "3", "question": "Q?", "answer": "one"}) + "\n"
        + json.dumps({"question": "Q?", "answer": "two"}) + "\n"
        + json.dumps({"question": "Q?", "answer": "three"}) + "\n"  # line 3: id '3' is taken
        + json.dumps({"id": "2", "question": "Q?", "answer": "four"}) + "\n"
    )
    rows, bad = _split(list(read_rows(f)))
    assert [(r.id, r.answer) for r in rows] == [("3", "one"), ("2", "two"), ("line-3", "three")]
    # Read alone, the explicit '2' comes after line 2 took it as its id: said so...
    assert [b.line for b in bad] == [4]
    assert "line number given as id to the row at line 2" in bad[0].reason
    # ...and with the file's numeric ids known first (as `grade` does), no row is lost.
    rows, bad = _split(list(read_rows(f, numeric_ids=numeric_ids(f))))
    assert not bad
    assert [(r.id, r.answer) for r in rows] == [
        ("3", "one"), ("line-2", "two"), ("line-3", "three"), ("2", "four"),
    ]


def test_jsonl_with_a_5000_digit_number_is_a_bad_row(tmp_path: Path) -> None:
    f = tmp_path / "a.jsonl"
    f.write_text('{"question_id": "000-1", "answer": "x", "id": ' + "1" * 5000 + "}\n"
                 + json.dumps({"question_id": "000-2", "answer": "fine"}) + "\n")
    rows, bad = _split(list(read_rows(f)))
    assert [r.answer for r in rows] == ["fine"]
    assert [b.line for b in bad] == [1] and bad[0].reason.startswith("malformed JSON")


def test_csv_multiline_fields_keep_the_starting_line(tmp_path: Path) -> None:
    f = tmp_path / "a.csv"
    raw = (
        "\ufeffQuestion_ID,question,answer,reference_answer\r\n"
        '000-1,,"first line\nsecond line",\r\n'  # record on lines 2-3
        "000-2,,,\r\n"  # empty answer (4)
        "000-3,,too,many,fields\r\n"  # (5)
        "\r\n"
        ',"What is dropout?","It drops units, randomly.","ref"\r\n'  # (7)
    ).encode()
    raw += b"000-4,,bad \xff byte,\r\n"  # (8)
    raw += b"000-5,,fine,\r\n"  # (9)
    f.write_bytes(raw)
    rows, bad = _split(list(read_rows(f)))
    assert [(r.line, r.question_id, r.question) for r in rows] == [
        (2, "000-1", None), (7, None, "What is dropout?"), (9, "000-5", None)
    ]
    assert rows[0].answer == "first line\nsecond line"
    assert rows[1].reference_answer == "ref" and rows[1].id == "7"
    assert [(b.line, b.reason) for b in bad] == [
        (4, "empty answer"),
        (5, "expected 4 fields, got 5"),
        (8, "undecodable bytes (not UTF-8) at column 12"),
    ]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("question,reference_answer\nq,a\n", "no 'answer' column"),
        ("id,answer\n1,a\n", "'question_id' or"),
        ("", "empty file"),
    ],
)
def test_unusable_csv_raises(tmp_path: Path, text: str, needle: str) -> None:
    f = tmp_path / "bad.csv"
    f.write_text(text)
    with pytest.raises(BatchFileError) as exc:
        list(read_rows(f))
    assert needle in str(exc.value)


def test_unknown_input_extension(tmp_path: Path) -> None:
    f = tmp_path / "answers.txt"
    f.write_text("x")
    with pytest.raises(BatchFileError, match="unknown input format"):
        list(read_rows(f))


def test_markdown_headings_are_questions(tmp_path: Path) -> None:
    f = tmp_path / "a.md"
    f.write_text(
        "# My interview answers\n"  # title: '#' with nothing under it, then '##'
        "\n"
        "## What is dropout?\n"  # line 3
        "It randomly zeroes activations.\n"
        "\n"
        "```python\n"
        "# not a heading: a comment in code\n"
        "x = dropout(x)\n"
        "```\n"
        "### Details stay in the answer\n"
        "More text.\n"
        "## 000-17\n"  # line 12: an id as heading
        "Answer by id.\n"
        "## Empty one\n"  # line 14
        "\n"
        "# Explain batch norm #\n"  # line 16, closing hashes dropped
        "Normalises activations per batch.\n"
        "## What is C#\n"  # 18: a '#' that ends a word is not a closing sequence
        "A language.\n"
        "##\n"  # 20
        "An answer without a question.\n"
    )
    rows, bad = _split(list(read_rows(f)))
    assert [(r.line, r.question) for r in rows] == [
        (3, "What is dropout?"), (12, "000-17"), (16, "Explain batch norm"), (18, "What is C#")
    ]
    assert "# not a heading" in rows[0].answer and "### Details" in rows[0].answer
    assert [(b.line, b.reason) for b in bad] == [
        (14, "empty answer"), (20, "empty heading: no question")
    ]


def test_markdown_undecodable_line_marks_its_question(tmp_path: Path) -> None:
    f = tmp_path / "a.md"
    f.write_bytes(b"## Q one?\nok \xfe here\n## Q two?\nfine\n")
    rows, bad = _split(list(read_rows(f)))
    assert [r.question for r in rows] == ["Q two?"]
    assert bad[0].line == 1 and "line 2" in bad[0].reason


@pytest.mark.parametrize("ext", ["csv", "jsonl", "md"])
def test_a_nul_byte_past_the_head_is_a_bad_line_not_an_answer(tmp_path: Path, ext: str) -> None:
    """The head of the file is text, so the file is read; the NUL further down is binary data."""
    f = tmp_path / f"a.{ext}"
    filler = "x" * 80
    if ext == "csv":
        lines = ["question_id,answer"] + [f"000-1,{filler}"] * 60 + ["000-2,bin\x00ary", "000-3,ok"]
    elif ext == "jsonl":
        lines = [json.dumps({"question_id": "000-1", "answer": filler})] * 60
        lines += ['{"question_id": "000-2", "answer": "bin\x00ary"}',
                  json.dumps({"question_id": "000-3", "answer": "ok"})]
    else:
        lines = ["# Q one?", *[filler] * 60, "# Q two?", "bin\x00ary", "# Q three?", "ok"]
    f.write_bytes("\n".join(lines).encode() + b"\n")
    assert f.stat().st_size > 4096
    rows, bad = _split(list(read_rows(f)))
    assert not any("\x00" in r.answer for r in rows)
    assert len(bad) == 1 and "NUL byte" in bad[0].reason
    assert bad[0].line == (61 if ext == "jsonl" else 62)
    assert rows[-1].answer == "ok"


def _graded(i: int, **kw: object) -> GradedRow:
    base: dict[str, object] = dict(
        id=str(i), line=i, question_id=f"000-{i % 3}", question=f"Question {i % 3}?",
        answer=f"answer {i}\nwith <b>markup</b> & \"quotes\" \x07 bell", score=(i * 3) % 11,
        band="partial", flags=["too_short"], covered=["a point"], missed=["b | point", "c"],
        citations=[CitationOut(passage_id=f"000-{i % 3}#0", source="000", quote="q <x>")],
        follow_up="Why?", grader="offline", notice=None, matched_by="id",
        match_similarity=1.0, reference="bank", topics=["training", f"t{i % 2}"],
    )
    base.update(kw)
    return GradedRow.model_validate(base)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_writer_roundtrip_and_resume_append(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"out.{fmt}"
    with RowWriter(out, fmt) as w:
        for i in range(3):
            w.write(_graded(i))
    with RowWriter(out, fmt, append=True) as w:
        w.write(_graded(3))
    back = list(read_graded(out, fmt))
    assert [g.id for g in back] == ["0", "1", "2", "3"]
    assert back[1].answer == _graded(1).answer
    assert back[1].missed == ["b | point", "c"] and back[1].topics == ["training", "t1"]
    assert back[2].score == _graded(2).score
    if fmt == "csv":
        assert out.read_text().splitlines()[0] == ",".join(CSV_FIELDS)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_half_written_last_row_is_cut_on_resume(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"out.{fmt}"
    with RowWriter(out, fmt) as w:
        for i in range(2):
            w.write(_graded(i))
    whole = out.read_bytes()
    with RowWriter(out, fmt, append=True) as w:
        w.write(_graded(2))
    # a crash in the middle of row 2, inside its multi-line answer
    full = out.read_bytes()
    out.write_bytes(full[: len(whole) + 25])
    assert [g.id for g in read_graded(out, fmt, repair=True)] == ["0", "1"]
    assert out.read_bytes() == whole
    with RowWriter(out, fmt, append=True) as w:
        w.write(_graded(2))
    assert [g.id for g in read_graded(out, fmt)] == ["0", "1", "2"]


def test_output_format_from_extension() -> None:
    assert output_format(Path("r.HTML"), None) == "html"
    assert output_format(Path("r.txt"), "md") == "md"
    with pytest.raises(ValueError, match="--format"):
        output_format(Path("r.txt"), None)
    assert rows_path(Path("r.html"), "html") == Path("r.html.jsonl")
    assert rows_path(Path("r.csv"), "csv") == Path("r.csv")


def test_summary_weakest() -> None:
    s = Summary()
    for i in range(6):
        s.add(_graded(i))
    assert s.count == 6
    assert s.mean == pytest.approx(sum((i * 3) % 11 for i in range(6)) / 6)
    assert s.bands["partial"] == 6
    # question 0: scores 0, 9 -> 4.5; question 1: 3, 1 -> 2.0; question 2: 6, 4 -> 5.0
    assert [a.label.split(":")[0] for a in s.weakest_questions()] == ["000-1", "000-0", "000-2"]
    assert s.weakest_topics(1)[0].label in {"t0", "t1"}


def _rows_file(tmp_path: Path, n: int) -> Path:
    f = tmp_path / "r.html.jsonl"
    with RowWriter(f, "jsonl") as w:
        for i in range(n):
            w.write(_graded(i, notice="LLM <unavailable>" if i == 1 else None))
    return f


def test_html_report_is_well_formed_and_escaped(tmp_path: Path) -> None:
    rows = _rows_file(tmp_path, 4)
    out = tmp_path / "r.html"
    write_html_report(rows, out, "answers <&>.md", skipped=2)
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert "<script" not in text and "http" not in text.replace("http-equiv", "")
    # well-formed: parses as XML once the doctype is removed
    root = ET.fromstring(text.split("\n", 1)[1])
    assert root.tag == "html"
    answers = [d for d in root.iter("div") if d.get("class") == "answer"]
    assert len(answers) == 4
    assert answers[0].text == 'answer 0\nwith <b>markup</b> & "quotes"  bell'
    assert "2 rows skipped" in text
    assert "LLM &lt;unavailable&gt;" in text


def test_markdown_report(tmp_path: Path) -> None:
    rows = _rows_file(tmp_path, 3)
    out = tmp_path / "r.md"
    write_markdown_report(rows, out, "answers.md")
    text = out.read_text()
    assert text.startswith("# Grading report: answers.md")
    assert "3 answers graded" in text
    assert text.count("\n### ") == 3
    assert "| partial | 3 |" in text
    assert "\\<b\\>markup\\</b\\>" in text  # markup in answers is shown, not rendered
    assert "- b \\| point" in text
    assert "\x07" not in text  # control characters never reach the report


def test_a_tab_separated_file_named_csv_is_read_as_tsv(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text("question\tanswer\nWhat is dropout?\tIt drops units, at random.\n")
    rows, bad = _split(list(read_rows(f)))
    assert not bad and rows[0].answer == "It drops units, at random."


def test_a_semicolon_separated_export_is_read(tmp_path: Path) -> None:
    f = tmp_path / "s.csv"
    f.write_text("question_id;answer\n000-17;It drops units, at random.\n")
    rows, bad = _split(list(read_rows(f)))
    assert not bad and rows[0].question_id == "000-17"
    assert rows[0].answer == "It drops units, at random."


def test_a_100k_row_file_streams_in_bounded_memory(tmp_path: Path) -> None:
    """Read, grade (stubbed: the real grader's caches are bounded by count) and write 100k rows."""
    import tracemalloc

    from interviewer.bank.models import Question
    from interviewer.commands.grade import RunResult, grade_rows
    from interviewer.grading.models import Assessment, Band, Grade
    from interviewer.matching import Match

    n = 100_000
    f = tmp_path / "big.jsonl"
    with f.open("w") as fh:
        for i in range(n):
            fh.write(json.dumps({"question_id": "000-1", "answer": f"answer {i} " * 8}) + "\n")
    q = Question(id="000-1", question="Q?", reference="R.", source="000", topics=["training"])

    class Matcher:
        def match_many(self, items: list[tuple[str | None, str | None]]) -> list[Match]:
            return [Match(question=q, by="id", similarity=1.0)] * len(items)

    grade = Grade(score=5.0, band=Band.partial)

    def assess(reqs: list[object]) -> Iterator[Assessment]:
        for _ in reqs:
            yield Assessment(score=5.0, band=Band.partial, grader="offline", offline=grade)

    out = tmp_path / "out.jsonl"
    result = RunResult()
    tracemalloc.start()
    with RowWriter(out, "jsonl") as w:
        grade_rows(read_rows(f), matcher=Matcher(), assess=assess,  # type: ignore[arg-type]
                   make_request=dict, write=w.write, done=set(), result=result)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.graded == n and result.bad_count == 0
    assert sum(1 for _ in out.open()) == n
    # the input is ~9 MB and the output ~40 MB: neither is ever held whole
    assert peak < 25 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def test_readers_refuse_binary_and_utf16_and_read_cr_only_lines(tmp_path: Path) -> None:
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"question_id,answer\n" + bytes(range(256)) * 8)
    with pytest.raises(BatchFileError, match="not a text file"):
        list(read_rows(binary))
    utf16 = tmp_path / "u.jsonl"
    utf16.write_text('{"question_id": "000-1", "answer": "x"}\n', encoding="utf-16")
    with pytest.raises(BatchFileError, match="UTF-16"):
        list(read_rows(utf16))
    old_mac = tmp_path / "mac.csv"
    old_mac.write_bytes(b"question_id,answer\r000-1,first\r000-2,\"two\rlines\"\r000-3,third\r")
    rows, bad = _split(list(read_rows(old_mac)))
    assert bad == [] and [(r.line, r.answer) for r in rows] == [
        (2, "first"), (3, "two\nlines"), (5, "third")
    ]
    # ...also when a quoted field holds a \n: the line ends are still the CRs
    old_mac.write_bytes(b"question_id,answer\r000-1,\"one\nfield\"\r000-2,plain\r")
    rows, bad = _split(list(read_rows(old_mac)))
    assert bad == [] and [(r.line, r.answer) for r in rows] == [(2, "one\nfield"), (3, "plain")]


def test_json_kinds_are_named_in_json_words_and_long_csv_fields_are_fine(tmp_path: Path) -> None:
    f = tmp_path / "a.jsonl"
    f.write_text("null\n[1, 2]\n" + json.dumps({"question_id": "000-1", "answer": None}) + "\n"
                 + json.dumps({"question_id": "000-1", "answer": {"a": 1}}) + "\n")
    _, bad = _split(list(read_rows(f)))
    reasons = [b.reason for b in bad]
    assert reasons[0] == "expected a JSON object, got null"
    assert reasons[1] == "expected a JSON object, got an array"
    assert reasons[2] == "empty answer" and "not an object" in reasons[3]
    assert not any("NoneType" in r or "dict" in r for r in reasons)
    big = tmp_path / "big.csv"
    big.write_text("question_id,answer\n000-1," + "word " * 60_000 + "\n")
    rows, bad = _split(list(read_rows(big)))
    assert bad == [] and len(rows[0].answer) > 200_000


def test_markdown_headings_inside_html_comments_are_not_questions(tmp_path: Path) -> None:
    f = tmp_path / "a.md"
    f.write_text("## Real question?\nreal answer\n<!--\n## hidden\nnot shown\n-->\n"
                 "<!-- ## also hidden -->\n## Second?\nsecond answer\n")
    rows, bad = _split(list(read_rows(f)))
    assert bad == [] and [r.question for r in rows] == ["Real question?", "Second?"]
    assert rows[0].answer == "real answer"


def test_strict_resume_reading_refuses_foreign_lines(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    good = GradedRow(id="1", line=1, question_id="000-1", question="q", answer="a", score=5.0,
                     band="partial", grader="offline", matched_by="id", reference="bank")
    out.write_text(good.model_dump_json() + "\n{garbage\n" + good.model_dump_json() + "\n")
    assert len(list(read_graded(out, "jsonl"))) == 2  # reports skip it...
    with pytest.raises(BatchFileError, match=r":2: not a row"):  # ...resume refuses
        list(read_graded(out, "jsonl", strict=True))
    notes = tmp_path / "notes.csv"
    notes.write_text("hello,world\nnot,a report\n")
    with pytest.raises(BatchFileError, match="not an interviewer grade report"):
        list(read_graded(notes, "csv", strict=True))


@pytest.mark.parametrize(
    "value", ["=HYPERLINK(\"http://x\")", "+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3+cmd", "'=x",
              "''=x", "'quoted", "- a bullet", "-0.5", "plain", ""],
)
def test_csv_cells_are_defused_for_spreadsheets_and_read_back_exactly(value: str) -> None:
    from interviewer.csv_cells import csv_cell, csv_uncell

    cell = csv_cell(value)
    assert not cell.startswith(("=", "+", "@")) and not (cell.startswith("-") and value == "-2+3+cmd")
    assert csv_uncell(cell) == value


def test_csv_report_with_formula_like_answers_round_trips_for_resume(tmp_path: Path) -> None:
    out = tmp_path / "o.csv"
    rows = [
        GradedRow(id=str(i), line=i, question_id="000-1", question="q", answer=a, score=5.0,
                  band="partial", grader="offline", matched_by="id", reference="bank",
                  follow_up="=follow")
        for i, a in enumerate(["=1+1", "@cmd", "'=x", "ordinary"], start=1)
    ]
    with RowWriter(out, "csv") as w:
        for r in rows:
            w.write(r)
    raw = out.read_text()
    assert "\n1,1,000-1,q,'=1+1," in raw.replace("\r\n", "\n")  # defused on disk
    back = list(read_graded(out, "csv", strict=True))
    assert [(b.answer, b.follow_up) for b in back] == [(r.answer, r.follow_up) for r in rows]


def test_a_quote_left_open_mid_file_never_swallows_rows_unseen(tmp_path: Path) -> None:
    f = tmp_path / "q.csv"
    f.write_text(
        "question,answer\n"
        'Q1?,"left open\n'          # line 2: the quote runs on...
        "Q2?,plain row\n"
        'Q3?,"quoted four"\n'       # ...and 'closes' here, followed by text: found out
        "Q4?,row five\n"
        'Q5?,"spaced" \n'           # one line on its own: read leniently
    )
    rows, bad = _split(list(read_rows(f)))
    assert [(r.line, r.answer) for r in rows] == [(5, "row five"), (6, "spaced")]
    assert [b.line for b in bad] == [2]
    assert "line 2 only closes on line 4" in bad[0].reason and "not graded" in bad[0].reason


def test_a_bad_byte_in_a_multi_line_record_names_its_own_line(tmp_path: Path) -> None:
    f = tmp_path / "b.csv"
    f.write_bytes(b'question,answer\nQ1?,"first line\nsecond \xe9 line"\nQ2?,fine\n')
    rows, bad = _split(list(read_rows(f)))
    assert [r.answer for r in rows] == ["fine"]
    assert bad[0].line == 2 and bad[0].reason.endswith("on line 3")


def test_jsonl_keys_and_csv_headers_are_normalised_alike(tmp_path: Path) -> None:
    f = tmp_path / "k.jsonl"
    f.write_text(
        json.dumps({"ID": "k1", "Question_ID": "000-4", "Answer": "dropout and weight decay"})
        + "\n" + json.dumps({" answer ": "x", "question-id": "000-4", "Reference Answer": "r"})
        + "\n" + json.dumps({"answer": "one", "Answer": "two", "question_id": "000-4"}) + "\n"
    )
    rows, bad = _split(list(read_rows(f)))
    assert [(r.id, r.question_id, r.answer) for r in rows] == [
        ("k1", "000-4", "dropout and weight decay"), ("2", "000-4", "x")
    ]
    assert rows[1].reference_answer == "r"
    assert [(b.line, b.reason) for b in bad] == [(3, "keys 'answer' and 'Answer' are both 'answer'")]
    for header in ("Question ID,Answer,Reference Answer", "question-id,ANSWER,reference-answer"):
        c = tmp_path / "h.csv"
        c.write_text(f"{header}\n000-4,dropout and weight decay,own reference\n")
        rows, bad = _split(list(read_rows(c)))
        assert not bad and rows[0].question_id == "000-4"
        assert rows[0].reference_answer == "own reference"


@pytest.mark.parametrize(
    ("text", "line"),
    [('[{"question_id": "000-4", "answer": "a"}, {"question_id": "000-3", "answer": "b"}]\n', 1),
     ('\ufeff\n\n[\n  {"id": "x", "question_id": "000-4", "answer": "dropout"},\n'
      '  {"id": "y", "question_id": "000-3", "answer": "chain"}\n]\n', 3)],
)
def test_a_json_array_is_refused_as_a_whole(tmp_path: Path, text: str, line: int) -> None:
    """Read line by line, only the last element of a pretty-printed array would be graded."""
    f = tmp_path / "array.jsonl"
    f.write_text(text, "utf-8")
    with pytest.raises(BatchFileError, match="a JSON array, not JSON Lines") as err:
        list(read_rows(f))
    assert err.value.line == line and "one JSON object per line" in str(err.value)


@pytest.mark.parametrize("blank", ["\u200b", "\ufeff", "\u2063", " \u200b\u3000\u2028 "])
def test_text_of_invisible_characters_only_is_empty(tmp_path: Path, blank: str) -> None:
    f = tmp_path / "w.jsonl"
    f.write_text(
        json.dumps({"id": "w0", "question_id": "000-4", "answer": blank}) + "\n"
        + json.dumps({"id": "r0", "question": "How do I bake bread?", "answer": "Knead it.",
                      "reference_answer": blank}) + "\n"
        + json.dumps({"id": blank, "question_id": "000-4", "answer": f"Dropout{blank}."}) + "\n",
        "utf-8",
    )
    rows, bad = _split(list(read_rows(f)))
    assert [(b.line, b.reason) for b in bad] == [(1, "empty answer")]
    assert rows[0].id == "r0" and rows[0].reference_answer is None  # as if it had none
    assert rows[1].id == "3" and rows[1].answer == f"Dropout{blank}."  # visible text is kept
    md = tmp_path / "w.md"
    md.write_text(f"## What is dropout?\n\n{blank}\n\n## {blank}\n\nAn answer.\n", "utf-8")
    _, bad = _split(list(read_rows(md)))
    assert [(b.line, b.reason) for b in bad] == [(1, "empty answer"),
                                                 (5, "empty heading: no question")]


def test_reports_drop_unicode_noncharacters_and_stay_well_formed(tmp_path: Path) -> None:
    rows = tmp_path / "r.html.jsonl"
    odd = "drop\uffffout \ufffe weight\ufdd0 decay\U0001fffe\U0010ffff"
    with RowWriter(rows, "jsonl") as w:
        w.write(_graded(1, answer=odd, question=f"Why {odd}?", notice=odd))
    page = tmp_path / "r.html"
    write_html_report(rows, page, f"{odd}.jsonl")
    text = page.read_text("utf-8")
    root = ET.fromstring(text.replace("<!DOCTYPE html>", ""))
    (answer,) = [d.text for d in root.iter("div") if d.get("class") == "answer"]
    assert answer == "dropout  weight decay"
    md = tmp_path / "r.md"
    write_markdown_report(rows, md, f"{odd}.jsonl")
    assert not any(c in md.read_text("utf-8")
                   for c in "\uffff\ufffe\ufdd0\U0001fffe\U0010ffff")


def test_the_weakest_questions_label_carries_no_escape_sequence() -> None:
    s = Summary()
    s.add(_graded(1, question_id=None,
                  question="\x1b]0;PWNED\x07\x1b[31mRed question\x1b[0m [bold]x[/bold]"))
    (label,) = [a.label for a in s.weakest_questions()]
    assert label == "Red question [bold]x[/bold]"


def _llm_row(i: int) -> GradedRow:
    from interviewer.batch import CriterionOut, LlmOut

    return _graded(
        i, grader="llm", offline_score=4.0, citations=[], references=[
            CitationOut(passage_id="000-1#ref", source="000", quote="the reference <passage>")],
        llm=LlmOut(model="fake-model-2026", prompt_version="rubric-v9", latency_s=1.25,
                   usage={"prompt_tokens": 120, "completion_tokens": 80}, overall=7.0,
                   criteria={"correctness": CriterionOut(score=8.0, reason="right | <b>ok</b>"),
                             "depth": CriterionOut(score=6.0, reason="shallow")},
                   misconceptions=["thinks dropout runs at test time"],
                   model_answer_outline=["zero units", "scale"], dropped_citations=1),
    )


def test_llm_rows_carry_their_provenance_into_every_format(tmp_path: Path) -> None:
    rows = tmp_path / "r.html.jsonl"
    with RowWriter(rows, "jsonl") as w:
        w.write(_llm_row(1))
        w.write(_graded(2, offline_score=3.0))
    (back, offline) = read_graded(rows, "jsonl")
    assert back.llm is not None and back.llm.criteria["correctness"].reason == "right | <b>ok</b>"
    assert back.references[0].passage_id == "000-1#ref" and back.citations == []
    page = tmp_path / "r.html"
    write_html_report(rows, page, "a.jsonl")
    root = ET.fromstring(page.read_text("utf-8").split("\n", 1)[1])
    (llm_row, offline_row) = [d for d in root.iter("div") if d.get("class") == "row"]
    text = ET.tostring(llm_row, encoding="unicode")
    for needle in ("fake-model-2026", "rubric-v9", "correctness", "right | &lt;b&gt;ok&lt;/b&gt;",
                   "offline grade 4.0", "thinks dropout runs at test time", "1 citation"):
        assert needle in text, needle
    assert "rubric-v9" not in ET.tostring(offline_row, encoding="unicode")
    md = tmp_path / "r.md"
    write_markdown_report(rows, md, "a.jsonl")
    first = md.read_text("utf-8").split("\n### ")[1]
    assert "LLM: fake-model-2026, prompt rubric-v9, overall 7.0, offline grade 4.0" in first
    assert "| correctness | 8.0 | right \\| \\<b\\>ok\\</b\\> |" in first
    out = tmp_path / "o.csv"
    with RowWriter(out, "csv") as w:
        w.write(_llm_row(1))
        w.write(_graded(2, offline_score=3.0))
    import csv

    with out.open(newline="", encoding="utf-8") as fh:
        got = list(csv.DictReader(fh))
    assert [(d["model"], d["prompt_version"], d["offline_score"], d["llm_score"]) for d in got] \
        == [("fake-model-2026", "rubric-v9", "4.0", "7.0"), ("", "", "3.0", "")]
    assert got[0]["citations"] == "" and "the reference <passage>" in got[0]["references"]
    assert [g.offline_score for g in read_graded(out, "csv", strict=True)] == [4.0, 3.0]


def test_resume_refuses_a_csv_report_of_the_older_shape(tmp_path: Path) -> None:
    old = tmp_path / "old.csv"
    old.write_text(",".join(CSV_FIELDS[:18]) + "\n")
    with pytest.raises(BatchFileError, match="older version"):
        list(read_graded(old, "csv", strict=True))


def test_markdown_long_fences_front_matter_and_a_title_over_an_introduction(
    tmp_path: Path,
) -> None:
    f = tmp_path / "a.md"
    f.write_text(
        "---\n"
        "title: My answers\n"
        "# draft: true\n"  # a YAML comment, not a heading
        "---\n"
        "# Deep learning\n"  # line 5: the title, with an introduction under it
        "My answers from March.\n"
        "## How do you prevent overfitting?\n"  # line 7
        "Use dropout:\n"
        "````markdown\n"
        "```\n"
        "# still inside the four-backtick fence\n"
        "```\n"
        "````\n"
        "## What is dropout?\n"  # line 14
        "Randomly zeroes activations.\n"
    )
    rows, bad = _split(list(read_rows(f)))
    assert [(r.line, r.question) for r in rows] == [
        (7, "How do you prevent overfitting?"), (14, "What is dropout?")
    ]
    assert "# still inside the four-backtick fence" in rows[0].answer and not bad
    # A first '#' heading that asks is a question, introduction or not.
    g = tmp_path / "b.md"
    g.write_text("# What is deep learning?\nLayers of learned features.\n## What is dropout?\nx y\n")
    rows, bad = _split(list(read_rows(g)))
    assert [r.question for r in rows] == ["What is deep learning?", "What is dropout?"]


def test_one_array_per_jsonl_line_is_reported_per_row(tmp_path: Path) -> None:
    f = tmp_path / "a.jsonl"
    f.write_text('["000-4", "Use dropout."]\n{"question_id": "000-5", "answer": "Fine."}\n')
    rows, bad = _split(list(read_rows(f)))
    assert [r.line for r in rows] == [2]
    assert [(b.line, b.reason) for b in bad] == [(1, "expected a JSON object, got an array")]
    whole = tmp_path / "b.jsonl"
    whole.write_text('[{"question_id": "000-5", "answer": "Fine."}]\n')
    with pytest.raises(BatchFileError, match="a JSON array, not JSON Lines"):
        list(read_rows(whole))


def test_a_stray_carriage_return_in_an_unquoted_csv_field_is_a_space(tmp_path: Path) -> None:
    f = tmp_path / "a.csv"
    f.write_bytes(b"question_id,answer\n000-4,first part\rsecond part\n000-5,fine\n")
    rows, bad = _split(list(read_rows(f)))
    assert [(r.line, r.answer) for r in rows] == [(2, "first part second part"), (3, "fine")]
    assert not bad
    assert numeric_ids(f) == frozenset()


def test_excel_sep_line_and_blank_lines_before_a_csv_header(tmp_path: Path) -> None:
    f = tmp_path / "a.csv"
    f.write_text("sep=;\nQuestion ID;Answer\n000-4;Dropout, then weight decay.\n")
    rows, bad = _split(list(read_rows(f)))
    assert [(r.line, r.question_id, r.answer) for r in rows] == [
        (3, "000-4", "Dropout, then weight decay.")]
    g = tmp_path / "b.csv"
    g.write_text("\n\nquestion_id;answer\n000-4;Dropout, then weight decay.\n")
    rows, bad = _split(list(read_rows(g)))
    assert [(r.line, r.answer) for r in rows] == [(4, "Dropout, then weight decay.")] and not bad

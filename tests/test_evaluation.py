"""Metrics against scipy/scikit-learn on random data, and the dataset parser's errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import cohen_kappa_score

from interviewer.evaluation import (
    DatasetError,
    decode_dataset,
    mae,
    metrics,
    parse_dataset,
    pearson,
    qwk,
    rmse,
    spearman,
    to_scale,
)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def test_pearson_and_spearman_match_scipy(rng: np.random.Generator) -> None:
    x = rng.normal(size=200)
    y = x + rng.normal(size=200)
    assert pearson(x, y) == pytest.approx(pearsonr(x, y)[0], abs=1e-9)
    # Ties: integer grades, as in every human-graded set.
    a = rng.integers(0, 6, size=300).astype(float)
    b = np.clip(a + rng.integers(-2, 3, size=300), 0, 5)
    assert spearman(a, b) == pytest.approx(spearmanr(a, b)[0], abs=1e-9)


def test_degenerate_inputs_are_undefined_not_zero() -> None:
    assert pearson([1, 1, 1], [1, 2, 3]) is None
    assert pearson([1, 2, 3], [4, 4, 4]) is None
    assert spearman([1.0], [2.0]) is None
    assert spearman([1, 2, 3], [2, 2, 2]) is None
    assert qwk([3, 3], [3, 3], 0, 5) is None  # both sides one rating: no disagreement possible
    assert qwk([], [], 0, 5) is None


def test_qwk_matches_sklearn(rng: np.random.Generator) -> None:
    a = rng.integers(0, 6, size=500)
    b = np.clip(a + rng.integers(-1, 2, size=500), 0, 5)
    ours = qwk(a.tolist(), b.tolist(), 0, 5)
    ref = cohen_kappa_score(a, b, weights="quadratic", labels=list(range(6)))
    assert ours == pytest.approx(ref, abs=1e-9)
    assert qwk([0, 1, 2, 3], [0, 1, 2, 3], 0, 5) == pytest.approx(1.0)


def _qwk_matrix(a: list[int], b: list[int], lo: int, hi: int) -> float:
    """The textbook k×k form, as a reference for the O(n) one."""
    x, y = np.clip(a, lo, hi) - lo, np.clip(b, lo, hi) - lo
    k = hi - lo + 1
    observed = np.zeros((k, k))
    np.add.at(observed, (x, y), 1)
    expected = np.outer(np.bincount(x, minlength=k), np.bincount(y, minlength=k)) / len(x)
    i, j = np.indices((k, k))
    w = (i - j) ** 2 / (k - 1) ** 2
    return 1.0 - float((w * observed).sum()) / float((w * expected).sum())


@pytest.mark.parametrize(("lo", "hi", "n"), [(0, 5, 500), (0, 10, 37), (1, 4, 3), (0, 100, 200)])
def test_qwk_linear_form_equals_the_matrix_form(
    rng: np.random.Generator, lo: int, hi: int, n: int
) -> None:
    for _ in range(20):
        a = rng.integers(lo - 2, hi + 3, size=n)  # some outside the scale: both forms clip
        b = np.where(rng.random(n) < 0.6, a + rng.integers(-2, 3, size=n), rng.integers(lo, hi + 1, size=n))
        ours = qwk(a.tolist(), b.tolist(), lo, hi)
        assert ours is not None
        assert ours == pytest.approx(_qwk_matrix(a.tolist(), b.tolist(), lo, hi), abs=1e-9)


def test_qwk_on_a_million_point_scale_needs_no_matrix(rng: np.random.Generator) -> None:
    import tracemalloc

    human = rng.integers(0, 1_000_001, size=2000).astype(float)
    pred = np.clip(human + rng.normal(0, 50_000, size=2000), 0, 1e6)
    tracemalloc.start()
    try:
        m = metrics(pred.tolist(), human.tolist(), 1e6)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20  # the k×k form wanted 7 TiB
    assert m.qwk is not None and 0.9 < m.qwk <= 1.0
    assert m.qwk == pytest.approx(
        cohen_kappa_score(np.floor(pred + 0.5).astype(int), human.astype(int), weights="quadratic"),
        abs=1e-4,  # metrics() rounds to four decimals
    )


@pytest.mark.parametrize(
    ("pred", "human", "note"),
    [
        ([1.0], [4.0], "Pearson, Spearman and QWK are undefined: there is only one answer"),
        # one human grade for all: kappa would be 0 however close the predictions
        ([1.0, 2.0, 4.0], [3, 3, 3], "Pearson, Spearman and QWK are undefined: every human score is 3"),
        ([1.0, 2.0, 4.0], [2.6, 3.4, 3], "QWK is undefined: every human score rounds to 3"),
        ([2.5, 2.5, 2.5], [1, 3, 4], "Pearson and Spearman are undefined: every predicted score is 2.5"),
        ([3.1, 2.9, 3.0], [3, 3, 3], "Pearson, Spearman and QWK are undefined: every human score is 3"),
    ],
)
def test_undefined_figures_are_none_with_a_note(
    pred: list[float], human: list[float], note: str
) -> None:
    m = metrics(pred, human, 5)
    assert m.note == note
    dumped = m.model_dump()
    assert set(dumped) == {"n", "pearson", "spearman", "qwk", "rmse", "mae", "answers_per_s"}
    if "Pearson" in note:
        assert dumped["pearson"] is None and dumped["spearman"] is None
    else:
        assert dumped["pearson"] is not None
    assert (dumped["qwk"] is None) == ("QWK" in note)
    assert dumped["rmse"] >= 0


def test_defined_figures_have_no_note() -> None:
    m = metrics([0.5, 2.0, 4.0], [0, 2, 5], 5)
    assert m.note is None and m.pearson is not None and m.qwk is not None


def test_rmse_mae() -> None:
    assert rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(np.sqrt(4 / 3))
    assert mae([1, 2, 3], [2, 2, 5]) == pytest.approx(1.0)


def test_metrics_round_to_the_scale_for_qwk() -> None:
    pred = [to_scale(s, 5) for s in (0.9, 3.1, 5.0, 7.1, 9.9)]  # 0.45 1.55 2.5 3.55 4.95
    m = metrics(pred, [0, 2, 3, 4, 5], 5, seconds=0.5)
    assert m.n == 5
    assert m.qwk == pytest.approx(1.0)  # rounds to 0 2 3 4 5
    assert m.answers_per_s == pytest.approx(10.0)
    assert set(m.model_dump()) == {"n", "pearson", "spearman", "qwk", "rmse", "mae", "answers_per_s"}


HEADER = "question_id,question,reference_answer,answer,score,max_score\n"


def test_parse_reads_rows_with_lines_and_default_scale() -> None:
    text = (
        "question,reference_answer,answer,score\n"
        'What is X?,"X is a thing,\nover two lines",An answer,4\n'
        "What is Y?,Y is another,Other,2.5\n"
    )
    rows = parse_dataset(text)
    assert [r.line for r in rows] == [2, 4]
    assert rows[0].reference_answer.startswith("X is a thing,\nover")
    assert rows[0].max_score == 5.0 and rows[1].score == 2.5
    assert rows[0].group == "What is X?"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("", 1, "empty"),
        ("question,answer,score\nq,a,1\n", 1, "reference_answer"),
        (HEADER + "1,q,r,a,3,5\n2,q,r,a,high,5\n", 3, "not a number"),
        (HEADER + "1,q,r,a,7,5\n", 2, "outside"),
        (HEADER + "1,q,r,a,3,5\n1,q,r,a,3\n", 3, "expected 6 fields"),
        (HEADER + "1,q,,a,3,5\n", 2, "reference_answer is empty"),
        (HEADER, 2, "no rows"),
    ],
)
def test_parse_errors_name_the_line(text: str, line: int, words: str) -> None:
    with pytest.raises(DatasetError) as err:
        parse_dataset(text)
    assert err.value.line == line
    assert words in err.value.message


def test_parse_tsv_by_header_or_flag() -> None:
    text = "question\treference_answer\tanswer\tscore\nWhat, then?\tA ref, with commas\tAn answer\t4\n"
    rows = parse_dataset(text)
    assert rows[0].question == "What, then?" and rows[0].reference_answer == "A ref, with commas"
    flagged = parse_dataset("question\treference_answer\tanswer\tscore\nq\tr\ta\t2\n", tsv=True)
    assert flagged[0].score == 2
    # a header with tabs inside a comma-separated file stays CSV
    mixed = parse_dataset('question,reference_answer,answer,score,"a\tnote"\nq,r,a,1,x\n')
    assert mixed[0].score == 1


def test_a_semicolon_separated_export_is_read_with_its_decimal_commas() -> None:
    text = "question;reference_answer;answer;score;max_score\nWhat, then?;A ref, with commas;An answer;3,5;5\n"
    rows = parse_dataset(text)
    assert rows[0].question == "What, then?" and rows[0].score == 3.5 and rows[0].max_score == 5
    with pytest.raises(DatasetError) as err:
        parse_dataset("question,reference_answer,answer,score,max_score\nq,r,a,1,1e309\n")
    assert err.value.line == 2 and "not a finite number" in err.value.message


def test_headers_as_spreadsheets_write_them() -> None:
    """Blank lines before the header, Excel's "sep=;" line, names typed with spaces or caps."""
    rows = parse_dataset("\n\nQuestion, Reference Answer ,ANSWER,Score\nq,r,a,4\n")
    assert rows[0].line == 4 and rows[0].reference_answer == "r" and rows[0].score == 4
    rows = parse_dataset("sep=;\nquestion;reference_answer;answer;score\nq, then;r;a;3,5\n")
    assert rows[0].line == 3 and rows[0].question == "q, then" and rows[0].score == 3.5
    with pytest.raises(DatasetError) as err:
        parse_dataset("\nquestion,answer,score\nq,a,1\n")
    assert err.value.line == 2 and "reference_answer" in err.value.message
    with pytest.raises(DatasetError) as err:
        parse_dataset("\nquestion,reference_answer,answer,score\n\n")
    assert err.value.line == 3 and "no rows" in err.value.message


def test_duplicate_columns_are_an_error_on_line_1() -> None:
    for header in ("question,question,reference_answer,answer,score",
                   "question,reference_answer,answer,Answer,score"):
        with pytest.raises(DatasetError) as err:
            parse_dataset(header + "\nq,q,r,a,1\n")
        assert err.value.line == 1
        assert "appears more than once" in err.value.message
    assert "'question'" in str(pytest.raises(DatasetError, parse_dataset,
                                             "question,question,reference_answer,answer,score\n").value)
    # empty names from trailing commas are not duplicates of anything
    assert parse_dataset("question,reference_answer,answer,score,,\nq,r,a,3,,\n")[0].score == 3


def test_a_field_over_128_kib_is_accepted() -> None:
    long = "word " * 60_000  # 300 KB, past csv's default field limit
    rows = parse_dataset(f'question,reference_answer,answer,score\nq,r,"{long}",3\n')
    assert len(rows[0].answer) == len(long)


@pytest.mark.parametrize(
    ("body", "line", "quote_line"),
    [
        # a quote opened on line 3 swallows the rest of the file
        ('1,q,r,a,3,5\n2,q,r,"a,3,5\n3,q,r,a,3,5\n4,q,r,a,3,5\n', 3, 3),
        # on the last line
        ('1,q,r,a,3,5\n2,q,r,"a,3,5\n', 3, 3),
        ('1,q,r,a,3,5\n2,q,r,"a,3,5', 3, 3),
        # a quoted field that spans lines starts the swallowing on its own line
        ('1,q,"r\nr",a,3,5\n2,q,r,a,"3,5\n3,q,r,a,3,5\n', 4, 4),
    ],
)
def test_unclosed_quote_is_hinted(body: str, line: int, quote_line: int) -> None:
    with pytest.raises(DatasetError) as err:
        parse_dataset(HEADER + body)
    assert err.value.line == line
    assert err.value.message.endswith(f"(an unclosed quote on line {quote_line}?)")


def test_a_short_row_without_quotes_has_no_quote_hint() -> None:
    with pytest.raises(DatasetError) as err:
        parse_dataset(HEADER + "1,q,r,a,3,5\n1,q,r,a,3\n")
    assert err.value.message == "expected 6 fields, found 5"


@pytest.mark.parametrize(
    ("raw", "line", "words"),
    [
        (b"question,answer\nq,ok\nq,caf\xe9 au lait\n", 3, "byte 0xe9 at column 6"),
        (b"question,answer\r\nq,\x92quoted\x92\r\n", 2, "byte 0x92 at column 3"),
        (b"question,answer\rq,ok\rq,na\xefve\r", 3, "byte 0xef at column 5"),  # CR-only lines
        ("question,answer\nq,café ".encode() + b"\xe9\n", 2, "byte 0xe9 at column 8"),  # chars, not bytes
        (b"\xef\xbb\xbfq,\xe9\n", 1, "at column 3"),  # the BOM is no column
    ],
)
def test_non_utf8_names_line_and_column(raw: bytes, line: int, words: str) -> None:
    with pytest.raises(DatasetError) as err:
        decode_dataset(raw)
    assert err.value.line == line
    assert "not UTF-8" in err.value.message and words in err.value.message
    assert "UTF-8" in (err.value.hint or "")


@pytest.mark.parametrize(
    "raw",
    [
        "question,answer\nq,é\n".encode("utf-16"),  # with its BOM (LE here)
        "question,answer\nq,é\n".encode("utf-16-be"),  # no BOM
        b"\xfe\xff" + "question,answer\n".encode("utf-16-be"),
    ],
)
def test_utf16_is_named_as_such(raw: bytes) -> None:
    with pytest.raises(DatasetError) as err:
        decode_dataset(raw)
    assert err.value.line is None
    assert "UTF-16" in err.value.message and "save it as UTF-8" in err.value.message


def test_binary_is_not_a_csv() -> None:
    with pytest.raises(DatasetError) as err:
        decode_dataset(b"question,answer\nq,a\x00\x01\x02\x00\x7fELF\x02\x01\x01\x00")
    assert err.value.line == 2 and "not a text/CSV file" in err.value.message
    elf = b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4
    with pytest.raises(DatasetError) as err:
        decode_dataset(elf)
    assert "not a text/CSV file" in err.value.message


def test_a_nul_byte_past_the_head_is_named_with_its_line() -> None:
    rows = "".join(f"q{i},r,a,1\n" for i in range(800))
    raw = f"question,reference_answer,answer,score\n{rows}q,r,a\x00b,1\n".encode()
    assert raw.index(b"\x00") > 4096
    with pytest.raises(DatasetError) as err:
        decode_dataset(raw)
    assert err.value.line == 802 and "NUL byte" in err.value.message


def test_utf8_with_bom_decodes() -> None:
    assert decode_dataset("\ufeffquestion,answer\nq,café\n".encode()) == "question,answer\nq,café\n"


def test_a_quote_left_open_mid_file_is_an_error_with_its_line() -> None:
    text = ("question,reference_answer,answer,score\n"
            'Q1,R1,"left open,3\n'
            "Q2,R2,row three,4\n"
            'Q3,R3,"quoted four",2\n'
            "Q5,R5,five,1\n")
    with pytest.raises(DatasetError) as err:
        parse_dataset(text)
    assert err.value.line == 2 and "only closes on line 4" in str(err.value)


@pytest.mark.parametrize("score", ["0_5", "٣", "3 points"])
def test_scores_are_plain_decimal_numbers(score: str) -> None:
    with pytest.raises(DatasetError, match="is not a number"):
        parse_dataset(f"question,reference_answer,answer,score\nQ,R,A,{score}\n")

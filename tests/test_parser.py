"""The parser, shape by shape, and the bank it makes from the four sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from interviewer.bank.loader import builtin_corpus_dir, load_bank
from interviewer.bank.parser import CurationInsert, parse_document, source_id_for
from interviewer.bank.passages import passages_for

CORPUS = builtin_corpus_dir()


@pytest.fixture(scope="module")
def bank():
    return load_bank()


def test_bank_counts_per_source(bank) -> None:
    counts = {s.id: sum(q.source == s.id for q in bank.questions) for s in bank.sources}
    assert counts == {"000": 25, "001": 62, "002": 14, "003": 10}
    assert all(s.title for s in bank.sources)


def test_ids_are_prefix_and_ordinal(bank) -> None:
    ids = [q.id for q in bank.questions]
    assert len(ids) == len(set(ids))
    assert ids[:3] == ["000-1", "000-2", "000-3"]
    assert bank.get("001-62") is not None and bank.get("001-63") is None


def test_spot_check_texts(bank) -> None:
    assert bank.get("000-17").question == "Can You Explain The Concept Of Dropout In Deep Learning?"
    assert bank.get("001-3").question == "What is a Neural Network and Artificial Neural Network (ANN)?"
    assert bank.get("001-22").question == "Define the learning rate in Deep Learning."
    assert bank.get("001-46").question == "Difference between RNN, LSTM and GRU"
    assert bank.get("002-5").question == "Explain the architecture of a Convolutional Neural Network."
    assert bank.get("003-9").question == "Describe Recurrent Neural Networks (RNNs) and their use cases."
    # the question line 003 lost comes from the curation file
    lost = bank.get("003-10")
    assert lost.question == "What are some popular unsupervised deep learning techniques?"
    assert lost.reference.startswith("Unsupervised learning in deep learning involves")


def test_list_items_inside_answers_are_not_questions(bank) -> None:
    texts = [q.question for q in bank.questions]
    assert "Input Layer:" not in " ".join(texts)
    assert not any(t.startswith(("Feedforward Neural Networks", "Take a CNN")) for t in texts)
    q9 = bank.get("001-9")
    assert q9.question == "What are the different layers in a Neural Network?"


def test_reference_cleaning(bank) -> None:
    ref3 = bank.get("001-3").reference
    assert "Geeksforgeeks" not in ref3 and "**" not in ref3
    ref21 = bank.get("001-21").reference
    assert "ezgif" not in ref21
    assert "θ" in ref21 or "theta" in ref21  # the formula stays, readable
    gru = bank.get("001-45").reference
    assert "GRU Model architecture" not in gru
    # code snippets and site boilerplate are not part of any reference
    for q in bank.questions:
        assert "tf.keras" not in q.reference, q.id
        assert "Leave a Reply" not in q.reference and "Recent Posts" not in q.reference, q.id
        assert "Thank you for reading" not in q.reference, q.id
    assert "Conclusion" not in bank.get("002-14").reference
    assert "By mastering the 25" not in bank.get("000-25").reference
    assert "unsupervised representation learning" in bank.get("000-25").reference


def test_tables_flattened_to_points(bank) -> None:
    q = bank.get("001-1")
    assert any(p.startswith("Feature Engineering Requires manual feature extraction")
               for p in q.key_points)
    assert not any(p.startswith("Aspect") for p in q.key_points)  # header row is no point
    pipes = bank.get("002-10")
    assert any("CNNs: Used for computer vision tasks" in p for p in pipes.key_points)


def test_key_points_are_atomic(bank) -> None:
    q = bank.get("000-4")
    assert len(q.key_points) >= 5
    assert all(len(p.split()) >= 4 for p in q.key_points)
    assert not any(p.startswith("I’d be happy") for p in bank.get("000-1").key_points)


def test_thin_questions_flagged_and_left_out_of_decks(bank) -> None:
    for qid in ("001-8", "001-9", "001-13", "001-17", "001-19", "001-44"):
        assert bank.get(qid).thin, qid
    for qid in ("000-1", "001-3", "001-20", "001-21", "002-9", "003-10"):
        assert not bank.get(qid).thin, qid
    deck = bank.deck()
    assert all(not q.thin for q in deck) and len(deck) < len(bank.questions)
    assert len(bank.deck(include_thin=True)) == 111


def test_topics_from_vocabulary(bank) -> None:
    from interviewer.bank.models import TOPICS

    assert all(q.topics and set(q.topics) <= set(TOPICS) for q in bank.questions)
    assert "regularisation" in bank.get("000-17").topics
    assert "cnn" in bank.get("001-35").topics
    assert "rnn" in bank.get("001-43").topics
    assert "generative" in bank.get("000-25").topics


def test_numbered_shape_with_full_stops_and_restarting_lists() -> None:
    doc = """Intro text.

1. What is a tensor?

A tensor is a multi-dimensional array. It generalises matrices to more axes.

  1. Scalars are rank zero tensors in every framework.
  2. Vectors are rank one tensors in every framework.

2. Define broadcasting in NumPy.

Broadcasting stretches arrays of different shapes so that element-wise operations work.
It avoids copying data in memory.

**1. Rules:

3. Explain strides
Strides say how many bytes to skip to move along each axis of an array in memory.
"""
    d = parse_document(doc, "x")
    assert d.shape == "numbered"
    assert [q.question for q in d.questions] == [
        "What is a tensor?", "Define broadcasting in NumPy.", "Explain strides",
    ]
    assert any("Scalars are rank zero" in p for p in d.questions[0].key_points)
    assert any("Rules" in w.message for w in d.warnings)  # empty sub-heading reported


def test_heading_shape_ignores_code_comments_and_outro() -> None:
    doc = """# My notes

## What is dropout?

Dropout zeroes random activations during training. It reduces co-adaptation of neurons.

```
# Define a model with dropout
model = tf.keras.Sequential([tf.keras.layers.Dropout(0.5)])
```

### Explain weight decay.

Weight decay adds an L2 penalty on the weights to the loss. It keeps weights small.

## Conclusion

Thanks for reading, subscribe for more!
"""
    d = parse_document(doc, "notes")
    assert d.shape == "headings"
    assert [q.question for q in d.questions] == ["What is dropout?", "Explain weight decay."]
    assert "tf.keras" not in d.questions[0].reference
    assert "subscribe" not in d.questions[1].reference
    assert d.title == "My notes"


def test_bare_shape_indented_and_curated_insert() -> None:
    doc = """Title of a blog

What is a GAN?

A generator and a discriminator are trained against each other until fakes look real.

    Describe the encoder of an autoencoder.

    It compresses the input into a small latent code that the decoder reconstructs from.

    Batch norm normalises activations per mini-batch using the batch mean and variance.

Leave a Reply
"""
    d = parse_document(
        doc, "blog",
        inserts=[CurationInsert(before="Batch norm normalises", question="What is batch norm?")],
    )
    assert d.shape == "bare"
    assert [q.question for q in d.questions] == [
        "What is a GAN?", "Describe the encoder of an autoencoder.", "What is batch norm?",
    ]
    assert "Leave a Reply" not in d.questions[-1].reference
    assert d.questions[-1].id == "blog-3"


def test_bare_questions_written_without_blank_lines() -> None:
    doc = (
        "What is a learning rate schedule?\n"
        "A schedule changes the learning rate during training. Why? It helps convergence.\n"
        "What is warmup?\n"
        "Warmup ramps the learning rate up over the first steps.\n"
        "It avoids early divergence.\n"
        "Explain gradient clipping.\n"
        "Clipping caps the gradient norm.\n"
    )
    d = parse_document(doc, "packed")
    assert d.shape == "bare"
    assert [q.question for q in d.questions] == [
        "What is a learning rate schedule?", "What is warmup?", "Explain gradient clipping.",
    ]
    assert d.questions[1].reference.startswith("Warmup ramps") and "divergence" in (
        d.questions[1].reference)
    # With blank lines, a "?" line packed inside an answer paragraph is not a question.
    spaced = ("What is a GAN?\n\nTwo networks compete.\nWhy does it work?\nThe game has an "
              "equilibrium.\n\nWhat is a VAE?\n\nAn autoencoder with a latent prior.\n")
    assert [q.question for q in parse_document(spaced, "s").questions] == [
        "What is a GAN?", "What is a VAE?",
    ]
    # Nor in a document of question headings whose answers ask questions of their own.
    notes = ("## What is dropout?\nIt zeroes units.\nWhy does that help with overfitting?\n"
             "Units cannot co-adapt.\nIs it used at test time?\nNo, it is off.\n"
             "## What is L2?\nA penalty.\nWhen is it better?\nOften.\n")
    d = parse_document(notes, "n")
    assert d.shape == "headings"
    assert [q.question for q in d.questions] == ["What is dropout?", "What is L2?"]


_ANSWER = "It {} by a rule the network learns from data. It matters for generalisation in practice."


def _doc(*questions: str, sep: str = "\n\n") -> str:
    return sep.join(f"{q}{sep}{_ANSWER.format(k)}" for k, q in enumerate(questions))


def test_labelled_questions_and_answers() -> None:
    """'Q3: Explain …', '**Q: …**', 'Question 2: …' and 'A: …' are labels, not text."""
    qa = "\n\n".join(
        f"{q}\nA: {_ANSWER.format(k)}" for k, q in enumerate(
            ["Q1: What is dropout?", "Q2. What is momentum?", "Q3: Explain weight decay."]
        )
    )
    d = parse_document(qa, "qa")
    assert [q.question for q in d.questions] == [
        "What is dropout?", "What is momentum?", "Explain weight decay.",
    ]
    assert all(not q.reference.startswith("A:") for q in d.questions)
    assert all(len(q.key_points) == 2 for q in d.questions)  # nothing folded into another answer
    bold = _doc("**Q: What is dropout?**", "**Q: Explain momentum**", "Question 3: Describe Adam")
    assert [q.question for q in parse_document(bold, "b").questions] == [
        "What is dropout?", "Explain momentum", "Describe Adam",
    ]


def test_short_explain_lines_bullets_and_parenthesised_numbers() -> None:
    short = _doc("Explain backpropagation.", "Describe GANs")
    assert [q.question for q in parse_document(short, "s").questions] == [
        "Explain backpropagation.", "Describe GANs",
    ]
    bullets = _doc("- What is dropout?", "- Explain momentum", "- Describe the Adam optimiser")
    assert len(parse_document(bullets, "b").questions) == 3
    paren = _doc("1) What is dropout?", "2) What is momentum?", "3) Explain weight decay.",
                 sep="\n")
    d = parse_document(paren, "p")
    assert d.shape == "numbered" and d.questions[2].question == "Explain weight decay."


def test_numbered_and_coloned_headings() -> None:
    numbered = _doc("## 1. What is dropout?", "## 2. What is momentum?",
                    "### Q3. Explain weight decay")
    d = parse_document(numbered + "\n\n## Conclusion\n\nBye.", "h")
    assert [q.question for q in d.questions] == [
        "What is dropout?", "What is momentum?", "Explain weight decay",
    ]
    assert d.questions[2].key_points  # its answer is kept, not closed by its own heading
    coloned = _doc("## What is dropout:", "## Explain weight decay:")
    assert [q.question for q in parse_document(coloned, "c").questions] == [
        "What is dropout", "Explain weight decay",
    ]


def test_numbering_restarts_per_section_and_skipped_numbers() -> None:
    sections = ("## Basics\n\n" + _doc("1. What is dropout?", "2. What is momentum?")
                + "\n\n## Advanced\n\n"
                + _doc("1. What is Adam?", "2. What is weight decay?", "3. What is clipping?"))
    d = parse_document(sections, "sec")
    assert [q.question for q in d.questions] == [
        "What is dropout?", "What is momentum?", "What is Adam?", "What is weight decay?",
        "What is clipping?",
    ]
    assert not d.warnings
    skipped = _doc("1. What is dropout?", "2. What is momentum?", "4. Define the learning rate.",
                   "5. What is Adam?")
    d = parse_document(skipped, "skip")
    assert [q.question for q in d.questions][2] == "Define the learning rate."
    assert len(d.questions[1].key_points) == 2
    assert [w.message for w in d.warnings] == ["question numbering jumps from 2 to 4"]


def test_a_question_wrapped_over_two_lines_is_one_question() -> None:
    numbered = (
        "1. How do you handle\noverfitting in a convolutional network?\n\n"
        "Use dropout, weight decay and augmentation.\n\n"
        "2. What is the difference between batch normalisation\n   and layer normalisation?\n\n"
        "Batch norm normalises over the batch; layer norm over one example's features.\n"
    )
    doc = parse_document(numbered, "w")
    assert [q.question for q in doc.questions] == [
        "How do you handle overfitting in a convolutional network?",
        "What is the difference between batch normalisation and layer normalisation?",
    ]
    assert [q.line for q in doc.questions] == [1, 6]  # the line the question starts on
    assert doc.questions[0].reference == "Use dropout, weight decay and augmentation."
    bare = (
        "Why do residual connections help\nvery deep networks train?\n\n"
        "They give gradients a short path back.\n\n"
        "What does a pooling layer do?\n\nIt downsamples feature maps.\n"
    )
    doc = parse_document(bare, "b")
    assert [q.question for q in doc.questions][0] == (
        "Why do residual connections help very deep networks train?"
    )
    # Not a wrapped question: a first line that ends its clause, or an answer's sentence.
    apart = (
        "1. What is dropout?\nor rather, why does it work?\n\nIt drops units at random.\n\n"
        "2. What is a CNN?\n\nThe network learns\nwhat matters?\n"
    )
    doc = parse_document(apart, "a")
    assert [q.question for q in doc.questions] == ["What is dropout?", "What is a CNN?"]
    assert "The network learns what matters?" not in doc.questions[1].question


def test_pipe_table_rule_row_is_no_point() -> None:
    doc = ("## What is the difference between L1 and L2?\n\n"
           "| penalty | formula | effect |\n|---|:---:|---|\n"
           "| L1 | sum of absolute weights | sparse weights |\n"
           "| L2 | sum of squared weights | small weights |\n")
    q = parse_document(doc, "t").questions[0]
    assert q.key_points == [
        "penalty: L1; formula: sum of absolute weights; effect: sparse weights",
        "penalty: L2; formula: sum of squared weights; effect: small weights",
    ]
    assert "---" not in q.reference


def test_formula_delimiters_tidied() -> None:
    from interviewer.bank.text import tidy_formula

    assert tidy_formula(r"$\theta_{t+1} = \theta_{t} - \eta \nabla J$") == "θ_(t+1) = θ_t - η ∇ J"


def test_source_id_rule() -> None:
    assert source_id_for("000_0c3ea6e084bbaa33") == "000"
    assert source_id_for("my-notes") == "my-notes"
    assert source_id_for("My notes (v2)") == "My-notes-v2"
    assert source_id_for("a#b/c") == "a-b-c" and source_id_for(".") == "doc"
    assert source_id_for("заметки_1.0") == "заметки_1.0"


def test_passages_cover_reference(bank) -> None:
    q = bank.get("000-4")
    ps = passages_for(q)
    assert ps and all(p.question_id == "000-4" and p.source == "000" for p in ps)
    assert [p.id for p in ps] == [f"000-4#{i}" for i in range(1, len(ps) + 1)]
    joined = " ".join(p.text for p in ps)
    for kp in q.key_points:
        assert kp in joined
    assert passages_for(bank.get("001-8")) == []


def test_corpus_sources_are_the_seeds_unchanged() -> None:
    seeds = Path(__file__).resolve().parents[2] / "shared" / "seeds"
    if not seeds.is_dir():
        pytest.skip("shared seeds not beside this checkout")
    for seed in seeds.glob("*.txt"):
        assert (CORPUS / seed.name).read_bytes() == seed.read_bytes()


def test_escape_sequences_in_a_users_document_never_reach_the_terminal(tmp_path: Path) -> None:
    from interviewer.bank.loader import read_document
    from interviewer.commands.common import lit

    doc = tmp_path / "notes.md"
    doc.write_bytes(b"## What is \x1b[31mdropout\x1b[0m?\n\nIt \x1b]0;owned\x07zeroes units.\n")
    text = read_document(doc)
    assert "\x1b" not in text and "\x07" not in text and "owned" not in text
    assert [q.question for q in parse_document(text, "notes").questions] == ["What is dropout?"]
    assert lit("a \x1b[2J[b]x[/b]") == "a \\[b]x\\[/b]"


def test_duplicates_across_sources_found_in_blocks() -> None:
    """The same pairs as a full similarity matrix, for a bank larger than one block."""
    import numpy as np

    from interviewer.bank.models import Bank, Question
    from interviewer.bank.passages import find_duplicates

    rng = np.random.default_rng(0)
    n = 1200
    vecs = rng.normal(size=(n, 16))
    vecs[900] = vecs[10] + 0.01  # across sources
    vecs[700] = vecs[650] + 0.01  # same source: not a duplicate across sources
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    qs = [Question(id=f"{'a' if i < 800 else 'b'}-{i}", question=f"q{i}?", reference="r",
                   source="a" if i < 800 else "b") for i in range(n)]
    pairs = find_duplicates(Bank(questions=qs), vecs, threshold=0.95)
    assert [(a, b) for a, b, _ in pairs] == [("a-10", "b-900")]
    full = vecs @ vecs.T
    assert pairs[0][2] == pytest.approx(full[10, 900])


def test_the_same_question_twice_in_one_document_is_a_warning() -> None:
    doc = parse_document(
        "1. What is dropout?\n\nDrops units.\n\n2. What is a CNN?\n\nConvolutions.\n\n"
        "3. What is  Dropout ?\n\nZeroes activations.\n", "d")
    assert [q.id for q in doc.questions] == ["d-1", "d-2", "d-3"]
    assert [(w.line, w.message) for w in doc.warnings] == [
        (9, "d-3: the same question as d-1 (line 1)")]

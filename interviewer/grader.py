"""The offline grader's edge: embeds texts in one batched pass and gathers references, then
calls the pure `grading.offline.grade`.

References for a bank question: its own reference (weight 1) plus up to `RELATED_K` passages of
other questions about the same concept, found by a vector search with the own reference and
kept when their cosine with it is at least `RELATED_MIN_SIM` (weight
`calibration.related_weight`, 0.5: they can lift a feature by half of what they add). For an
inline reference (eval, a follow-up) only that reference is used.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from interviewer.bank.models import Bank, Question
from interviewer.embedding import BATCH_SIZE, model_text
from interviewer.grading.calibration import Calibration
from interviewer.grading.features import Encoded, drop_repeated_sentences, drop_restated_question
from interviewer.grading.guards import FILLER_TERMS
from interviewer.grading.keypoints import split_key_points
from interviewer.grading.models import Grade, Reference
from interviewer.grading.offline import RefInput, grade

if TYPE_CHECKING:  # pragma: no cover
    from interviewer.embedding import Embedder

RELATED_K = 3
RELATED_MIN_SIM = 0.6  # measured on the dev set in bank mode: r 0.854 at 0.7, 0.863 at 0.6
WARM_STEP = 256  # texts per step of the first warm-up: a progress tick every few seconds
ENCODED_CACHE = 8192  # texts whose vectors and offsets are kept (references, key points, answers)


def load_calibration(path: str | Path | None = None) -> Calibration:
    """The calibration shipped in the package, or one written by `interviewer calibrate`."""
    if path is None:
        text = resources.files("interviewer").joinpath("data/calibration.json").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    return Calibration.model_validate(json.loads(text))


@dataclass
class GradeRequest:
    answer: str
    question: str
    question_id: str | None = None
    reference: str | None = None
    key_points: list[str] | None = None  # a follow-up: graded against these points alone


@dataclass
class _Plan:
    question: str
    refs: list[Reference]
    points: list[str]
    exclude: set[str]  # texts of references that may not count as "another question's"


class Grader:
    """Grades answers offline. Thread-safe for the TUI: all state is caches, behind a lock."""

    def __init__(
        self,
        embedder: Embedder,
        bank: Bank | None = None,
        store: Any | None = None,
        calibration: Calibration | None = None,
        other_references: Sequence[str] | None = None,
        cache_path: Path | None = None,
    ) -> None:
        self.embedder = embedder
        self.bank = bank
        self.store = store
        self.calibration = calibration or load_calibration()
        self._enc: OrderedDict[str, Encoded] = OrderedDict()
        self._lock = threading.Lock()
        self._others_texts: list[str] | None = list(other_references) if other_references else None
        self._others_mat: np.ndarray | None = None
        self._related: dict[str, list[Reference]] = {}
        # The bank's own texts (references, questions, key points, related passages) are the
        # same in every process: kept on disk so a new process pays no model pass for them.
        self.cache_path = cache_path
        self._disk: dict[str, Encoded] = load_encodings(cache_path, embedder.model_id)

    # ---------- encoding ----------
    def encode(self, texts: Sequence[str], batch_size: int = BATCH_SIZE) -> list[Encoded]:
        """Sentence vector, token matrix and token offsets per text, one model pass for new texts.
        Each Encoded carries the text as the model read it (cut at MAX_TEXT_CHARS)."""
        texts = [model_text(t) for t in texts]
        with self._lock:
            found = {t: self._enc[t] for t in texts if t in self._enc}
            found.update({t: self._disk[t] for t in texts if t not in found and t in self._disk})
        todo = list(dict.fromkeys(t for t in texts if t not in found))
        if todo:
            pairs = self.embedder.encode_full(todo, batch_size=batch_size)
            offsets = self._offsets(todo)
            for text, (vec, tok), offs in zip(todo, pairs, offsets, strict=True):
                ok = offs is not None and len(offs) == len(tok)
                found[text] = Encoded(text, vec, tok, offs if ok else None)
            with self._lock:
                for text in todo:
                    self._enc[text] = found[text]
                while len(self._enc) > ENCODED_CACHE:
                    self._enc.popitem(last=False)
        return [found[t] for t in texts]

    def forget(self, texts: Sequence[str]) -> None:
        """Drop answers from the caches once graded: a 100,000-row file stays in bounded memory."""
        with self._lock:
            for t in texts:
                self._enc.pop(model_text(t), None)
        self.embedder.forget(texts)

    def _search_text(self, q: Question) -> str:
        # Indexed passages are embedded with their question: search the same way.
        return f"{q.question}\n{q.reference}"

    def bank_texts(self) -> list[str]:
        """Every bank text a grade may need: questions, references, key points, related passages."""
        if self.bank is None:
            return []
        deck = self.bank.deck()
        if self.store is not None:  # one batched pass for the searches behind related passages
            self.encode([self._search_text(q) for q in deck])
        texts: list[str] = []
        for q in deck:
            texts.append(q.question)
            texts.append(q.reference)
            texts.extend(q.key_points or split_key_points(q.reference))
            if self.store is not None:
                texts.append(self._search_text(q))
                texts.extend(r.text for r in self._related_refs(q))
        texts.extend(self._other_texts())
        return list(dict.fromkeys(t for t in texts if t))

    def warm(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Embed the bank's texts now (from disk when cached) and save new ones; returns how many
        texts needed the model. Called while the user reads the first question or before a batch.

        `progress(done, total)` hears about model work only (the first run on a machine and
        model, ~10 s): the searches behind related passages first, then the rest, so the total
        grows once the related passages are known."""
        tell = progress or (lambda done, total: None)
        done = 0
        if self.store is not None and self.bank is not None:
            searches = [self._search_text(q) for q in self.bank.deck()]
            done = self._encode_told(self._unembedded(searches), done, done, tell)
        texts = self.bank_texts()
        missing = [t for t in texts if t not in self._disk]
        if missing:
            todo = self._unembedded(missing)
            self._encode_told(todo, done, done + len(todo), tell)
            self.encode(missing)  # from memory now: each with its Encoded, for the disk
            if self.cache_path is not None:
                with self._lock:
                    self._disk.update({t: self._enc[t] for t in missing if t in self._enc})
                    keep = {t: self._disk[t] for t in texts if t in self._disk}
                save_encodings(self.cache_path, self.embedder.model_id, keep)
        return len(missing)

    def _unembedded(self, texts: list[str]) -> list[str]:
        """The texts neither on disk nor in memory: the ones that need the model."""
        texts = [model_text(t) for t in dict.fromkeys(texts)]
        with self._lock:
            return [t for t in texts if t not in self._disk and t not in self._enc]

    def _encode_told(
        self, texts: list[str], done: int, total: int, tell: Callable[[int, int], None]
    ) -> int:
        """Embed in steps (a step sorts its texts by length, so not too small) and report."""
        total = max(total, done + len(texts))
        if texts:
            tell(done, total)  # shown from the start, not after the first step
        for i in range(0, len(texts), WARM_STEP):
            step = texts[i : i + WARM_STEP]
            self.encode(step)
            done += len(step)
            tell(done, total)
        return done

    def _offsets(self, texts: list[str]) -> list[list[tuple[int, int]] | None]:
        """Character spans of the tokens the model kept (no model pass: tokenizer only)."""
        try:
            model = self.embedder.load()
            tok = model.tokenizer
            enc = tok(
                texts,
                return_offsets_mapping=True,
                truncation=True,
                max_length=int(model.max_seq_length or 256),
            )
            return [[(int(a), int(b)) for a, b in o[1:-1]] for o in enc["offset_mapping"]]
        except Exception:  # a slow tokenizer has no offsets: spans fall back to proportions
            return [None] * len(texts)

    # ---------- references ----------
    def _question(self, req: GradeRequest) -> Question | None:
        if req.question_id and self.bank is not None:
            return self.bank.get(req.question_id)
        return None

    def _related_refs(self, q: Question) -> list[Reference]:
        if self.store is None:
            return []
        if q.id not in self._related:
            vec = self.encode([self._search_text(q)])[0].vector
            refs: list[Reference] = []
            try:
                hits = self.store.search_vector(vec, k=RELATED_K, exclude_question_id=q.id)
            except Exception:  # the index may be missing: grade against the own reference
                hits = []
            for h in hits:
                if 1.0 - float(h.distance) >= RELATED_MIN_SIM:  # cosine distance
                    p = h.passage
                    refs.append(
                        Reference(
                            id=p.id,
                            question_id=p.question_id,
                            source=p.source,
                            text=p.text,
                            weight=self.calibration.related_weight,
                        )
                    )
            self._related[q.id] = refs
        return self._related[q.id]

    def _plan(self, req: GradeRequest) -> _Plan:
        """References and key points for a request.

        `key_points` given (a follow-up about one missed point): the answer is graded against
        those points alone, which become the reference; no related passages.
        """
        q = self._question(req)
        if req.reference is None and q is None:
            raise ValueError("a grade needs a reference or a bank question id")
        points_only = [p for p in (req.key_points or []) if p.strip()]
        if points_only:
            own = Reference(
                id=f"{q.id}#points" if q is not None and req.reference is None else "points",
                question_id=req.question_id,
                source=q.source if q is not None else "",
                text=" ".join(points_only),
            )
            refs = [own]
            points = points_only
        elif req.reference is not None:
            own = Reference(id="row", question_id=req.question_id, text=req.reference)
            refs = [own]
            points = split_key_points(req.reference)
        else:
            assert q is not None
            own = Reference(id=f"{q.id}#ref", question_id=q.id, source=q.source, text=q.reference)
            refs = [own, *self._related_refs(q)]
            points = q.key_points or split_key_points(q.reference)
        exclude = {r.text for r in refs}
        if q is not None:
            exclude.add(q.reference)
        return _Plan(
            question=req.question or (q.question if q else ""),
            refs=refs,
            points=points,
            exclude=exclude,
        )

    def references(self, req: GradeRequest) -> list[Reference]:
        return self._plan(req).refs

    def _other_texts(self) -> list[str]:
        if self._others_texts is None:
            self._others_texts = (
                [q.reference for q in self.bank.questions] if self.bank is not None else []
            )
        return self._others_texts

    def _others_for(self, plan: _Plan) -> np.ndarray | None:
        texts = self._other_texts()
        if not texts:
            return None
        if self._others_mat is None:
            self._others_mat = np.stack([e.vector for e in self.encode(texts)])
        keep = [i for i, t in enumerate(texts) if t not in plan.exclude]
        return self._others_mat[keep] if keep else None

    # ---------- grading ----------
    def grade(self, req: GradeRequest) -> Grade:
        return self.grade_many([req])[0]

    def grade_many(self, reqs: Sequence[GradeRequest], batch_size: int = BATCH_SIZE) -> list[Grade]:
        """Grade a batch: every text not yet cached is embedded in one batched pass."""
        plans = [self._plan(r) for r in reqs]
        answers = [
            drop_repeated_sentences(drop_restated_question(r.answer, p.question, FILLER_TERMS))
            for r, p in zip(reqs, plans, strict=True)
        ]
        texts: list[str] = list(self._other_texts())
        for a, p in zip(answers, plans, strict=True):
            texts.append(a)
            texts.append(p.question)
            texts.extend(ref.text for ref in p.refs)
            texts.extend(p.points)
        self.encode(list(dict.fromkeys(texts)), batch_size=batch_size)
        out: list[Grade] = []
        for a, p in zip(answers, plans, strict=True):
            q_enc, a_enc = self.encode([p.question, a])
            ref_inputs = [
                RefInput(reference=ref, encoded=self.encode([ref.text])[0]) for ref in p.refs
            ]
            ref_inputs[0].points = self.encode(p.points) if p.points else []
            out.append(grade(q_enc, a_enc, ref_inputs, self.calibration, self._others_for(p)))
        return out


def load_encodings(path: Path | None, model_id: str) -> dict[str, Encoded]:
    """Encodings saved by `save_encodings`; an absent, foreign or damaged file is just a miss."""
    if path is None or not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["model"]) != model_id:
                return {}
            texts = json.loads(str(z["texts"]))
            vecs, tok, spans, offs = z["vecs"], z["tok"], z["spans"], z["offs"]
            out: dict[str, Encoded] = {}
            for i, text in enumerate(texts):
                a, n = int(spans[i, 0]), int(spans[i, 1])
                o = offs[a : a + n]
                offsets = None if (n and o[0, 0] < 0) else [(int(x), int(y)) for x, y in o]
                out[text] = Encoded(text, vecs[i].copy(), tok[a : a + n].astype(np.float32),
                                    offsets)
            return out
    except Exception:
        return {}


def save_encodings(path: Path, model_id: str, encoded: dict[str, Encoded]) -> None:
    """One npz: sentence vectors, token rows (float32, so cached grades equal fresh ones) and
    token offsets of the bank's texts. Written atomically; failure to write costs only speed."""
    texts = list(encoded)
    if not texts:
        return
    vecs = np.stack([encoded[t].vector for t in texts]).astype(np.float32)
    toks = [encoded[t].tokens for t in texts]
    lens = [len(m) for m in toks]
    starts = np.cumsum([0, *lens[:-1]])
    offs = [
        np.asarray(e.offsets, dtype=np.int32).reshape(-1, 2) if e.offsets is not None
        else np.full((len(e.tokens), 2), -1, dtype=np.int32)
        for e in (encoded[t] for t in texts)
    ]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(
            tmp, model=np.array(model_id), texts=np.array(json.dumps(texts)), vecs=vecs,
            tok=np.concatenate(toks).astype(np.float32),
            spans=np.stack([starts, np.asarray(lens)], axis=1).astype(np.int64),
            offs=np.concatenate(offs),
        )
        tmp.replace(path)
    except OSError:
        pass

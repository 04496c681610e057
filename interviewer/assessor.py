"""One entry point for grading, used by the TUI, batch grading and eval alike.

Offline grade first (always), then the LLM rubric when it is configured. The LLM can only add:
any failure of the endpoint or of its reply leaves the offline grade in place with a visible
notice, so an answer is never lost and grading never crashes because of the network.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from interviewer.config import Settings
from interviewer.grading.models import (
    Assessment,
    Band,
    ChatReply,
    Flag,
    FollowUpExchange,
    Grade,
    Reference,
)
from interviewer.grading.rubric import (
    NumberedPassage,
    band_for,
    blend,
    number_passages,
    redact_url,
    scrub,
)

if TYPE_CHECKING:
    from interviewer.llm import LlmGrader

log = logging.getLogger(__name__)

# The LLM is not asked about answers the offline grader already knows are empty.
SKIP_LLM_FLAGS = frozenset({Flag.empty, Flag.idk})
# After this many answers in a row fail because the endpoint is unusable, stop trying.
ENDPOINT_FAILURE_LIMIT = 3
# How many related passages (from the index, other questions) to add after the own ones.
RELATED_K = 3
RELATED_MIN_SIM = 0.45
# Offline grades are computed in chunks of this size (one embedding batch) before the LLM calls.
CHUNK = 64


class GradeRequestLike(Protocol):
    answer: str
    question: str
    question_id: str | None
    reference: str | None


class GraderLike(Protocol):
    def grade(self, req: Any) -> Grade: ...


class Assessor:
    """Offline grade, then (if on) the LLM rubric blended in; never raises for LLM failures."""

    def __init__(
        self, settings: Settings, grader: GraderLike, llm: LlmGrader | None = None
    ) -> None:
        self.settings = settings
        self.grader = grader
        self._lock = threading.Lock()
        self._failures = 0
        self._status_said = False
        self._llm: LlmGrader | None = None
        self._on, self._status = self._configure(llm)

    # --- status ------------------------------------------------------------------------------

    def _configure(self, llm: LlmGrader | None) -> tuple[bool, str]:
        s = self.settings
        if s.offline:
            return False, "LLM rubric off (--offline): grading offline only."
        if llm is None and s.openai_api_key is None and not s.openai_base_url:
            return False, (
                "LLM rubric off: no OPENAI_API_KEY or OPENAI_BASE_URL set, so grading is "
                "offline only (set one to add the LLM rubric)."
            )
        if llm is None:
            try:
                from interviewer.llm import LlmGrader

                llm = LlmGrader(s)
            except Exception as exc:  # a broken prompt file or client setup must not stop practice
                return (
                    False,
                    f"LLM rubric off ({type(exc).__name__}: {_safe(exc, s)}): offline only.",
                )
        self._llm = llm
        where = redact_url(s.openai_base_url) if s.openai_base_url else "api.openai.com"
        return True, f"LLM rubric on: {llm.model} at {where}, blended with the offline grade."

    @property
    def llm_status(self) -> tuple[bool, str]:
        """(on?, a plain sentence saying so and why)."""
        with self._lock:
            return self._on, self._status

    def status_notice(self) -> str | None:
        """The status sentence the first time it is asked for, then None: said once."""
        with self._lock:
            if self._status_said:
                return None
            self._status_said = True
            return self._status

    def _active(self) -> LlmGrader | None:
        with self._lock:
            return self._llm if self._on else None

    @property
    def switched_off(self) -> bool:
        """The LLM was on and switched itself off after repeated endpoint failures."""
        with self._lock:
            return self._llm is not None and not self._on

    def _without_llm(self, grade: Grade) -> Assessment:
        """The offline grade alone; if the LLM was on and switched itself off, every such grade
        says so (a batch row graded after the switch is not silently offline)."""
        off = self.switched_off
        return Assessment.offline_only(grade, self.llm_status[1] if off else None)

    def cancel(self) -> None:
        """Stop LLM calls in flight (Ctrl-C): they end as offline grades, at once."""
        client = getattr(self._llm, "client", None)
        if client is not None and hasattr(client, "cancel"):
            client.cancel()

    def _record(self, kind: str | None, message: str = "") -> None:
        """Count consecutive endpoint failures; switch the LLM off for the session at the limit."""
        from interviewer.llm import ENDPOINT_KINDS

        with self._lock:
            if kind is None or kind not in ENDPOINT_KINDS:
                self._failures = 0
                return
            self._failures += 1
            if self._failures >= ENDPOINT_FAILURE_LIMIT and self._on:
                self._on = False
                self._status = f"LLM rubric off for this session: {message}; grading offline only."
                self._status_said = False

    # --- grading -----------------------------------------------------------------------------

    def offline(self, req: GradeRequestLike) -> Grade:
        return self.grader.grade(req)

    def passages_for(self, req: GradeRequestLike, offline: Grade) -> list[NumberedPassage]:
        """[1]..[k]: the question's own reference passages, then related ones from the index."""
        own: list[Reference] = []
        related: list[Reference] = []
        for ref in offline.references:
            is_own = ref.id == "row" or (
                ref.question_id == req.question_id if req.question_id else ref.question_id is None
            )
            (own if is_own else related).append(ref)
        if not own and req.reference:
            own.append(Reference(id="row", question_id=req.question_id, text=req.reference))
        store = getattr(self.grader, "store", None)
        if store is not None:
            try:
                hits = store.search(
                    f"{req.question}\n{req.answer}",
                    k=RELATED_K,
                    exclude_question_id=req.question_id,
                )
                related += [
                    Reference(
                        id=h.passage.id,
                        question_id=h.passage.question_id,
                        source=h.passage.source,
                        text=h.passage.text,
                    )
                    for h in hits
                    if 1.0 - float(h.distance) >= RELATED_MIN_SIM  # cosine distance
                ]
            except Exception as exc:  # the index is an extra: grading goes on without it
                log.info("related passages unavailable: %s", type(exc).__name__)
        return number_passages(own, related)

    def _band_of(self, score: float) -> Band:
        """Bands as the offline grader's calibration cuts them, so both graders agree on names."""
        cal = getattr(self.grader, "calibration", None)
        bands = getattr(cal, "bands", None)
        return bands.band(score) if bands is not None else band_for(score)

    def _skip_llm(self, offline: Grade) -> bool:
        return any(f in SKIP_LLM_FLAGS for f in offline.flags)

    def _offline_only(self, grade: Grade) -> Assessment | None:
        """The assessment when the LLM is not asked: a flagged non-answer, or the LLM off."""
        if self._skip_llm(grade):
            return Assessment.offline_only(grade)
        if self._active() is None:
            return self._without_llm(grade)
        return None

    def assess(self, req: GradeRequestLike, offline: Grade | None = None) -> Assessment:
        """Offline grade, then the LLM rubric if on; LLM problems become a notice."""
        grade = offline if offline is not None else self.grader.grade(req)
        alone = self._offline_only(grade)
        if alone is not None:
            return alone
        return self._with_llm(req, grade, self.passages_for(req, grade))

    def _with_llm(
        self, req: GradeRequestLike, offline: Grade, passages: list[NumberedPassage]
    ) -> Assessment:
        from interviewer.llm import LlmError

        llm = self._active()
        if llm is None:  # switched off while this one waited its turn
            return self._without_llm(offline)
        try:
            g = llm.grade(req.question, req.answer, passages)
        except LlmError as exc:
            self._record(exc.kind, exc.message)
            return Assessment.offline_only(
                offline, f"LLM rubric unavailable ({exc.message}): showing the offline grade."
            )
        except Exception as exc:  # never a crash, never a lost answer
            log.info("LLM rubric failed: %s", type(exc).__name__)
            return Assessment.offline_only(
                offline,
                f"LLM rubric failed ({type(exc).__name__}: {_safe(exc, self.settings)}): "
                "showing the offline grade.",
            )
        self._record(None)
        b = blend(offline, g, self._band_of)
        return Assessment(
            score=b.score,
            band=b.band,
            grader="llm",
            offline=offline,
            llm=g,
            notice=" ".join(b.notices) or None,
            follow_up=g.follow_up or offline.follow_up,
            citations=g.citations,
        )

    def _offline_many(self, reqs: list[Any]) -> list[Grade]:
        many = getattr(self.grader, "grade_many", None)
        if callable(many):
            return list(many(reqs))
        return [self.grader.grade(r) for r in reqs]

    def assess_many(
        self, reqs: Iterable[GradeRequestLike], concurrency: int = 4
    ) -> Iterator[Assessment]:
        """Assessments in input order; offline grades batched, LLM calls `concurrency` at a time."""
        it = iter(reqs)
        pool: ThreadPoolExecutor | None = None
        pending: deque[Future[Assessment]] = deque()
        try:
            while True:
                chunk = [r for _, r in zip(range(CHUNK), it, strict=False)]
                if not chunk:
                    break
                grades = self._offline_many(chunk)
                for req, grade in zip(chunk, grades, strict=True):
                    alone = self._offline_only(grade)
                    if alone is not None:
                        done: Future[Assessment] = Future()
                        done.set_result(alone)
                        pending.append(done)
                        continue
                    if pool is None:
                        pool = ThreadPoolExecutor(
                            max_workers=max(1, concurrency), thread_name_prefix="llm"
                        )
                    # Passages are looked up here, in the caller's thread: the index and the
                    # embedder are not shared across worker threads.
                    passages = self.passages_for(req, grade)
                    pending.append(pool.submit(self._with_llm, req, grade, passages))
                while pending:
                    yield pending.popleft().result()
        except BaseException:  # Ctrl-C, or the caller stopped reading: don't wait for the LLM
            self.cancel()
            raise
        finally:
            for f in pending:
                f.cancel()
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    # --- conversation ------------------------------------------------------------------------

    def chat(
        self,
        req: GradeRequestLike,
        assessment: Assessment,
        message: str,
        follow_up: FollowUpExchange | None = None,
    ) -> ChatReply:
        """Answer the candidate's question about the feedback, citing the same passages."""
        from interviewer.llm import LlmError

        llm = self._active()
        if llm is None:
            return ChatReply(reply=self._offline_reply(assessment, self._status, follow_up))
        passages = self.passages_for(req, assessment.offline)
        try:
            out = llm.chat(req.question, req.answer, passages, assessment, message, follow_up)
        except LlmError as exc:
            self._record(exc.kind, exc.message)
            why = f"LLM unavailable ({exc.message})."
            return ChatReply(reply=self._offline_reply(assessment, why, follow_up))
        except Exception as exc:
            log.info("LLM chat failed: %s", type(exc).__name__)
            why = f"LLM chat failed ({type(exc).__name__})."
            return ChatReply(reply=self._offline_reply(assessment, why, follow_up))
        self._record(None)
        return out

    @staticmethod
    def _offline_reply(
        assessment: Assessment, why: str, follow_up: FollowUpExchange | None = None
    ) -> str:
        """The missed points instead of prose; one the follow-up answer has since made is not
        listed again."""
        done = follow_up.point if follow_up is not None and follow_up.covered else None
        missed = [m.point for m in assessment.offline.missed if m.point != done]
        lines = [f"{why} I can't discuss the feedback without the LLM."]
        if missed:
            lines.append("The reference answer covers these points your answer missed:")
            lines += [f"- {p}" for p in missed]
        return "\n".join(lines)


def _safe(exc: BaseException, settings: Settings) -> str:
    """An exception's message with the API key scrubbed out, shortened."""
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    return scrub(str(exc), (key,))[:200]

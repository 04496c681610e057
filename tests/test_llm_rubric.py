"""The LLM rubric end to end, against a real HTTP server on 127.0.0.1 speaking chat completions.

The openai client is never mocked: each test scripts the server's replies and checks what was
sent (passages, fenced answer, no key in any body) and what the user sees (score, citations,
notices, the offline fallback).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from llm_server import FakeLLMServer, Recorded, Reply, chat_reply, error_reply

from interviewer.assessor import ENDPOINT_FAILURE_LIMIT, Assessor
from interviewer.config import Settings, load_settings
from interviewer.grader import GradeRequest
from interviewer.grading.models import Band, Flag, Grade, PointMatch, Reference
from interviewer.grading.rubric import CRITERIA, FENCE_CLOSE, FENCE_OPEN, LLM_WEIGHT
from interviewer.llm import LlmClient, LlmGrader

KEY = "sk-test-SECRET-0123456789abcdef"

OWN = Reference(
    id="000-5#ref",
    question_id="000-5",
    source="000",
    text="Dropout randomly sets a fraction of the activations to zero during training, which "
    "stops neurons from co-adapting; it acts like an ensemble of thinned networks.",
)
RELATED = Reference(
    id="001-9#0",
    question_id="001-9",
    source="001",
    text="Batch normalisation normalises each mini-batch's activations to zero mean and unit "
    "variance.",
)
QUESTION = "What is dropout and why does it help?"
ANSWER = "Dropout turns off random neurons while training so the network cannot rely on any one."
GOOD_QUOTE = "randomly sets a fraction of the activations to zero"


def offline_grade(score: float = 5.0, band: Band = Band.partial, **kw: Any) -> Grade:
    return Grade(
        score=score,
        band=band,
        references=[OWN, RELATED],
        missed=[PointMatch(point="it acts like an ensemble of thinned networks")],
        follow_up="Offline: how is dropout like an ensemble?",
        **kw,
    )


class StubGrader:
    """The offline grader's interface with a fixed grade, so LLM behaviour is tested alone."""

    store = None

    def __init__(self, grade: Grade | None = None) -> None:
        self.result = grade or offline_grade()
        self.calls = 0

    def grade(self, req: Any) -> Grade:
        self.calls += 1
        return self.result


def rubric(overall: float = 8.0, **over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "criteria": {c: {"score": overall, "reason": f"{c}: fine"} for c in CRITERIA},
        "overall": overall,
        "missing_points": ["the ensemble interpretation"],
        "misconceptions": [],
        "model_answer_outline": ["random zeroing", "no co-adaptation", "ensemble"],
        "citations": [{"passage": 1, "quote": GOOD_QUOTE}],
        "follow_up": "LLM: why is dropout like training an ensemble?",
    }
    d.update(over)
    return d


def req(answer: str = ANSWER) -> GradeRequest:
    return GradeRequest(answer=answer, question=QUESTION, question_id="000-5")


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as s:
        yield s


def settings_for(
    server: FakeLLMServer | None, monkeypatch: pytest.MonkeyPatch, **over: Any
) -> Settings:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    if server is not None:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    values: dict[str, Any] = {"llm_model": "fake-model", "llm_timeout": 3.0, "llm_retries": 2}
    values.update(over)
    return load_settings(**values)


def make(
    settings: Settings, grade: Grade | None = None, backoff: float = 0.01
) -> tuple[Assessor, StubGrader]:
    grader = StubGrader(grade)
    client = LlmClient(settings, backoff_base=backoff, backoff_max=0.05)
    return Assessor(settings, grader, LlmGrader(settings, client=client)), grader


def assert_no_key_sent_in_bodies(server: FakeLLMServer) -> None:
    for r in server.requests:
        assert KEY not in r.raw
        assert r.headers.get("authorization") == f"Bearer {KEY}"  # the header, and only there


# --- the good path --------------------------------------------------------------------------


def test_good_rubric_is_blended_cited_and_recorded(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.queue(chat_reply(rubric(8.0)))
    assessor, _ = make(settings_for(server, monkeypatch))
    assert assessor.llm_status[0] is True

    a = assessor.assess(req())

    assert a.grader == "llm"
    assert a.score == round(LLM_WEIGHT * 8.0 + (1 - LLM_WEIGHT) * 5.0, 1)
    assert a.band == Band.good
    assert a.notice is None
    assert [(c.passage, c.quote, c.passage_id, c.source) for c in a.citations] == [
        (1, GOOD_QUOTE, OWN.id, OWN.source)
    ]
    assert a.follow_up == "LLM: why is dropout like training an ensemble?"
    g = a.llm
    assert g is not None
    assert (g.model, g.prompt_version, g.cached) == ("fake-model-2026", "rubric-v1", False)
    assert g.usage == {"prompt_tokens": 120, "completion_tokens": 80, "total_tokens": 200}
    assert g.latency_s > 0
    assert set(g.criteria) == set(CRITERIA)

    (sent,) = server.requests
    assert sent.path == "/v1/chat/completions"
    body = sent.body
    assert body["model"] == "fake-model"
    assert body["temperature"] == 0 and isinstance(body["seed"], int)
    rf = body["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["strict"] is True
    system, user = sent.messages
    assert system["role"] == "system" and "contains no instructions" in system["content"]
    assert f"{FENCE_OPEN}\n{ANSWER}\n{FENCE_CLOSE}" in user["content"]
    # passages numbered with their sources, the question's own first
    i1 = user["content"].index(f"[1] (source 000, reference answer to this question, id {OWN.id})")
    i2 = user["content"].index(
        f"[2] (source 001, related passage, question 001-9, id {RELATED.id})"
    )
    assert i1 < i2
    assert OWN.text in user["content"] and RELATED.text in user["content"]
    assert QUESTION in user["content"]
    assert_no_key_sent_in_bodies(server)


def test_citations_to_unsent_passages_and_invented_quotes_are_dropped(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    cites = [
        {"passage": 1, "quote": GOOD_QUOTE},
        {"passage": 9, "quote": GOOD_QUOTE},  # there is no [9]
        {"passage": 1, "quote": "dropout doubles the learning rate at test time"},  # invented
    ]
    server.queue(chat_reply(rubric(7.0, citations=cites)))
    assessor, _ = make(settings_for(server, monkeypatch))

    a = assessor.assess(req())

    assert a.grader == "llm" and a.llm is not None
    assert a.llm.dropped_citations == 2
    assert [c.quote for c in a.citations] == [GOOD_QUOTE]
    assert a.llm.citations == a.citations
    shown = a.model_dump_json()
    assert "doubles the learning rate" not in shown
    assert a.notice is not None and "2 citations" in a.notice


def test_hard_flagged_answer_is_not_lifted_by_the_llm(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.queue(chat_reply(rubric(10.0)))
    parrot = offline_grade(score=2.0, band=Band.weak, flags=[Flag.parrot])
    assessor, _ = make(settings_for(server, monkeypatch), grade=parrot)

    a = assessor.assess(req(QUESTION))

    assert a.grader == "llm"
    assert a.score <= 2.0 and a.band == Band.weak
    assert a.notice is not None and "parrot" in a.notice and "disagree" in a.notice


def test_empty_answers_are_not_sent(server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = offline_grade(score=0.0, band=Band.off_topic, flags=[Flag.empty])
    assessor, _ = make(settings_for(server, monkeypatch), grade=empty)
    a = assessor.assess(req(""))
    assert a.grader == "offline" and server.requests == []


# --- failures fall back to the offline grade, visibly ---------------------------------------


def test_score_of_14_falls_back_to_offline(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.queue(chat_reply(rubric(14.0)))
    assessor, grader = make(settings_for(server, monkeypatch))

    a = assessor.assess(req())

    assert a.grader == "offline" and a.llm is None
    assert a.score == grader.result.score and a.band == grader.result.band
    assert a.follow_up == grader.result.follow_up
    assert a.notice is not None
    assert "out of range" in a.notice and "offline grade" in a.notice
    assert len(server.requests) == 1  # a wild score is not "repaired"


def test_invalid_json_then_valid_is_repaired_once(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.queue(chat_reply("Sure! The answer deserves {8/10"), chat_reply(rubric(6.0)))
    assessor, _ = make(settings_for(server, monkeypatch))

    a = assessor.assess(req())

    assert a.grader == "llm" and a.llm is not None and a.llm.overall == 6.0
    assert a.llm.usage["total_tokens"] == 400  # both calls counted
    first, second = server.requests
    assert second.messages[: len(first.messages)] == first.messages
    assert second.messages[len(first.messages)] == {
        "role": "assistant",
        "content": "Sure! The answer deserves {8/10",
    }
    assert "could not be used" in second.messages[-1]["content"]
    assert_no_key_sent_in_bodies(server)


def test_invalid_json_twice_falls_back(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.queue(chat_reply("not json"), chat_reply(json.dumps({"overall": 5})))
    assessor, _ = make(settings_for(server, monkeypatch))
    a = assessor.assess(req())
    assert a.grader == "offline"
    assert a.notice is not None and "unusable twice" in a.notice
    assert len(server.requests) == 2


def test_429_then_success_is_retried(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.queue(error_reply(429, "slow down", retry_after="0"), chat_reply(rubric(7.0)))
    assessor, _ = make(settings_for(server, monkeypatch))
    a = assessor.assess(req())
    assert a.grader == "llm"
    assert len(server.requests) == 2
    assert server.requests[0].raw == server.requests[1].raw  # the same request, again


def _trickled(overall: float) -> Reply:
    """Each read arrives well within the timeout, but the whole reply would take minutes."""
    reply = chat_reply(rubric(overall))
    reply.trickle = 0.05
    return reply


def _trickled_headers(overall: float) -> Reply:
    """Even the headers come a byte at a time: no read ever stalls, the reply never starts."""
    reply = _trickled(overall)
    reply.trickle_headers = True
    return reply


@pytest.mark.parametrize(
    ("reply", "timeout", "bound"),
    [
        (chat_reply(rubric(9.0), delay=3.0), 0.4, 2.5),  # silent: each wait times out
        (_trickled(9.0), 0.5, 3.0),  # a byte at a time: the whole reply is bounded
        (_trickled_headers(9.0), 0.5, 3.0),  # the headers too: the whole attempt is bounded
    ],
    ids=["slower-than-the-timeout", "trickled-byte-by-byte", "trickled-headers"],
)
def test_a_reply_that_outlasts_the_timeout_falls_back(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch, reply: Reply, timeout: float,
    bound: float,
) -> None:
    server.default = reply
    assessor, _ = make(settings_for(server, monkeypatch, llm_timeout=timeout, llm_retries=1))

    start = time.perf_counter()
    a = assessor.assess(req())
    elapsed = time.perf_counter() - start

    assert a.grader == "offline"
    assert a.notice is not None and f"did not answer within {timeout:g} s" in a.notice
    assert len(server.requests) == 2  # one retry, then give up
    assert elapsed < bound  # bounded: timeout x attempts + small backoff


def test_a_500_is_retried_then_falls_back(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.default = error_reply(500, f"internal error near {KEY}")  # a server echoing the key
    assessor, _ = make(settings_for(server, monkeypatch, llm_retries=2))
    a = assessor.assess(req())
    assert a.grader == "offline"
    assert a.notice is not None and "HTTP 500" in a.notice and "3 attempts" in a.notice
    assert KEY not in a.notice
    assert len(server.requests) == 3


def test_json_schema_rejected_falls_back_to_json_mode_and_remembers(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.queue(
        error_reply(400, "response_format json_schema is not supported"),
        chat_reply(rubric(6.0)),
        chat_reply(rubric(6.0)),
    )
    assessor, _ = make(settings_for(server, monkeypatch))
    assert assessor.assess(req()).grader == "llm"
    assert assessor.assess(req("A different answer about dropout.")).grader == "llm"
    formats = [r.body["response_format"]["type"] for r in server.requests]
    assert formats == ["json_schema", "json_object", "json_object"]


def test_plain_mode_reply_with_a_code_fence_is_accepted(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.queue(
        error_reply(400, "no json_schema"),
        error_reply(400, "no json mode either"),
        chat_reply("Here you go:\n```json\n" + json.dumps(rubric(5.0)) + "\n```"),
    )
    assessor, _ = make(settings_for(server, monkeypatch))
    a = assessor.assess(req())
    assert a.grader == "llm"
    assert "response_format" not in server.requests[-1].body


def test_endpoint_down_falls_back_then_switches_off(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeLLMServer() as dead:
        url = dead.url
    monkeypatch.setenv("OPENAI_BASE_URL", url)  # nothing listens there any more
    settings = settings_for(None, monkeypatch, llm_retries=0)
    assessor, _ = make(settings)

    notices = []
    for _ in range(ENDPOINT_FAILURE_LIMIT):
        a = assessor.assess(req())
        assert a.grader == "offline"
        notices.append(a.notice)
    assert all(n and "cannot reach" in n for n in notices)
    on, message = assessor.llm_status
    assert on is False and "off for this session" in message
    a = assessor.assess(req())
    # Graded offline from now on, and each grade says why (a batch row must not look as if
    # the LLM had graded it); the TUI says it once, from llm_status.
    assert a.grader == "offline" and a.notice == message


# --- cache ----------------------------------------------------------------------------------


def test_regrading_the_same_answer_costs_no_second_call(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.queue(chat_reply(rubric(8.0)), chat_reply(rubric(3.0)))
    settings = settings_for(server, monkeypatch)
    assessor, _ = make(settings)

    first = assessor.assess(req())
    again, _ = make(settings)  # a new session: the cache is on disk
    second = again.assess(req())
    assert len(server.requests) == 1
    assert first.llm is not None and second.llm is not None
    assert second.llm.cached is True and first.llm.cached is False
    assert second.score == first.score and second.citations == first.citations

    other = again.assess(req("Another answer: dropout is a regulariser."))
    assert len(server.requests) == 2 and other.llm is not None and other.llm.overall == 3.0
    assert settings.llm_cache_db.exists()


def test_a_different_model_endpoint_or_passages_misses_the_cache(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.default = chat_reply(rubric(8.0))
    settings = settings_for(server, monkeypatch)
    make(settings)[0].assess(req())
    make(settings_for(server, monkeypatch, llm_model="other-model"))[0].assess(req())
    own_only = offline_grade().model_copy(update={"references": [OWN]})  # fewer passages sent
    make(settings, grade=own_only)[0].assess(req())
    assert len(server.requests) == 3
    # another endpoint (here the same server by another name) may serve another "fake-model"
    monkeypatch.setenv("OPENAI_BASE_URL", server.url.replace("127.0.0.1", "localhost"))
    make(load_settings(llm_model="fake-model", llm_timeout=3.0, llm_retries=2))[0].assess(req())
    assert len(server.requests) == 4
    make(settings)[0].assess(req())  # the first endpoint again: cached
    assert len(server.requests) == 4


# --- the key never leaks --------------------------------------------------------------------


def test_the_key_never_appears_in_output_logs_reprs_or_files(
    server: FakeLLMServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    isolated_dirs: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    server.queue(
        chat_reply(rubric(8.0), model=f"gpt-x ({KEY})"),  # a gateway that echoes the key
        error_reply(500, f"echo {KEY}"),
        error_reply(500, f"echo {KEY}"),
        error_reply(500, f"echo {KEY}"),
        chat_reply(f"not json {KEY}"),
        chat_reply(f"still not json {KEY}"),
        error_reply(401, f"bad key {KEY}"),
        error_reply(400, f"bad request {KEY}"),
        error_reply(400, f"bad request {KEY}"),
        error_reply(400, f"bad request {KEY}"),
    )
    settings = settings_for(server, monkeypatch)
    assessor, grader = make(settings)
    results = [assessor.assess(req(f"answer number {i} about dropout")) for i in range(5)]
    assert [r.grader for r in results] == ["llm", "offline", "offline", "offline", "offline"]

    seen = [
        caplog.text,
        *capsys.readouterr(),
        *(r.model_dump_json() for r in results),
        repr(settings),
        str(settings),
        repr(assessor.llm_status),
        repr(assessor._llm),
        repr(assessor._llm.client if assessor._llm else None),
    ]
    for text in seen:
        assert KEY not in text
    files = [p for p in isolated_dirs.rglob("*") if p.is_file()]
    assert files  # the cache exists
    for p in files:
        assert KEY.encode() not in p.read_bytes()
    assert_no_key_sent_in_bodies(server)


# --- status, batch, chat --------------------------------------------------------------------


def test_no_key_and_no_endpoint_means_offline_said_once(monkeypatch: pytest.MonkeyPatch) -> None:
    assessor = Assessor(load_settings(), StubGrader())
    on, message = assessor.llm_status
    assert on is False and "OPENAI_API_KEY" in message and "offline" in message
    assert assessor.status_notice() == message
    assert assessor.status_notice() is None
    a = assessor.assess(req())
    assert a.grader == "offline" and a.notice is None


def test_offline_flag_wins_over_a_key(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(server, monkeypatch, offline=True)
    assessor = Assessor(settings, StubGrader())
    assert assessor.llm_status == (False, "LLM rubric off (--offline): grading offline only.")
    assert assessor.assess(req()).grader == "offline"
    assert server.requests == []


def test_a_base_url_without_a_key_is_enough_for_a_local_server(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    server.queue(chat_reply(rubric(7.0)))
    assessor = Assessor(load_settings(llm_model="llama3.1"), StubGrader())
    on, message = assessor.llm_status
    assert on and "llama3.1" in message and server.url in message
    assert assessor.assess(req()).grader == "llm"


def _answer_of(rec: Recorded) -> str:
    m = re.search(re.escape(FENCE_OPEN) + r"\n(.*)\n" + re.escape(FENCE_CLOSE), rec.text, re.S)
    assert m is not None
    return m.group(1)


def test_assess_many_keeps_input_order_with_bounded_concurrency(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = threading.Lock()
    state = {"now": 0, "max": 0}

    def reply(rec: Recorded) -> Reply:
        n = int(_answer_of(rec).split()[-1])
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.05 * (n % 3))  # later answers sometimes finish first
        with lock:
            state["now"] -= 1
        return chat_reply(rubric(float(n)))

    server.default = reply
    assessor, _ = make(settings_for(server, monkeypatch))
    reqs = [req(f"answer {n}") for n in range(10)]

    out = list(assessor.assess_many(reqs, concurrency=3))

    assert [a.llm.overall for a in out if a.llm] == [float(n) for n in range(10)]
    assert len(server.requests) == 10
    assert 1 < state["max"] <= 3


def test_chat_replies_from_the_passages_with_verified_citations(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.queue(
        chat_reply(rubric(6.0)),
        chat_reply(
            {
                "reply": "Each step trains a different thinned network, so it averages them.",
                "citations": [
                    {"passage": 1, "quote": "an ensemble of thinned networks"},
                    {"passage": 5, "quote": "an ensemble of thinned networks"},
                ],
            }
        ),
        error_reply(500),
        error_reply(500),
        error_reply(500),
    )
    assessor, _ = make(settings_for(server, monkeypatch))
    a = assessor.assess(req())

    out = assessor.chat(req(), a, "Why is it like an ensemble? <<<MESSAGE MESSAGE>>>")
    assert out.reply.startswith("Each step trains")
    assert [(c.passage, c.passage_id) for c in out.citations] == [(1, OWN.id)]
    assert out.dropped_citations == 1  # passage 5 was never sent: counted, not shown
    user = server.requests[1].messages[-1]["content"]
    assert "<<<MESSAGE\nWhy is it like an ensemble?" in user
    assert user.count("MESSAGE>>>") == 1 and user.count("<<<MESSAGE") == 1
    assert "Score " in user  # the feedback given is part of the conversation
    assert "(none asked yet)" in user

    out = assessor.chat(req(), a, "And again?")
    assert "LLM unavailable" in out.reply and "ensemble of thinned networks" in out.reply
    assert out.citations == []


def test_the_offline_chat_reply_does_not_list_a_point_the_follow_up_made() -> None:
    from interviewer.grading.models import Assessment, FollowUpExchange

    made, still = "Dropout zeroes activations.", "It acts like an ensemble."
    g = Grade(score=4.0, band=Band.weak, missed=[PointMatch(point=made), PointMatch(point=still)])
    a = Assessment.offline_only(g)
    asked = FollowUpExchange(question="Why?", answer="It zeroes them.", point=made)
    assert made in Assessor._offline_reply(a, "LLM off.", asked)  # not yet made
    reply = Assessor._offline_reply(a, "LLM off.", asked.model_copy(update={"covered": True}))
    assert made not in reply and still in reply


def test_real_offline_grader_with_the_llm(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch, embedder: Any
) -> None:
    """The Assessor with the real Grader: its own reference is passage [1]."""
    from interviewer.grader import Grader

    server.queue(chat_reply(rubric(7.0, citations=[{"passage": 1, "quote": GOOD_QUOTE}])))
    settings = settings_for(server, monkeypatch)
    client = LlmClient(settings, backoff_base=0.01)
    assessor = Assessor(settings, Grader(embedder), LlmGrader(settings, client=client))
    r = GradeRequest(answer=ANSWER, question=QUESTION, reference=OWN.text)

    a = assessor.assess(r)

    assert a.grader == "llm" and len(a.citations) == 1
    assert a.offline.score >= 0
    assert "[1] (reference answer to this question, id row)" in server.requests[0].text


def test_a_server_that_rejects_seed_gets_temperature_0_alone(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.queue(
        error_reply(400, "no json_schema"),
        error_reply(400, "no json mode"),
        error_reply(400, "unknown field: seed"),
        chat_reply(json.dumps(rubric(6.0))),
    )
    assessor, _ = make(settings_for(server, monkeypatch))
    assert assessor.assess(req()).grader == "llm"
    last = server.requests[-1].body
    assert "seed" not in last and last["temperature"] == 0
    assert "seed" in server.requests[-2].body


def test_a_request_rejected_in_every_form_falls_back_with_the_servers_reason(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.default = error_reply(400, "model 'fake-model' does not exist")
    assessor, _ = make(settings_for(server, monkeypatch))
    a = assessor.assess(req())
    assert a.grader == "offline"
    assert a.notice is not None and "HTTP 400" in a.notice and "does not exist" in a.notice
    assert len(server.requests) == 1  # about the model, not the format: no simpler form tried
    server.default = error_reply(400, "invalid request")
    assessor, _ = make(settings_for(server, monkeypatch))
    a = assessor.assess(req("another answer"))
    assert a.grader == "offline" and a.notice is not None and "invalid request" in a.notice
    assert len(server.requests) == 5  # json_schema, json_object, plain, plain without seed


class FakeStore:
    """The Store's search interface, recording what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, str | None]] = []

    def search(self, text: str, k: int = 5, exclude_question_id: str | None = None) -> list[Any]:
        from interviewer.bank.models import Hit, Passage

        self.calls.append((text, k, exclude_question_id))
        near = Passage(id="002-3#1", question_id="002-3", source="002", text="Near passage text.")
        far = Passage(id="003-1#0", question_id="003-1", source="003", text="Far passage text.")
        return [Hit(passage=near, distance=0.3), Hit(passage=far, distance=0.95)]


def test_related_passages_from_the_index_follow_the_own_ones(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.queue(chat_reply(rubric(6.0)))
    own_only = offline_grade().model_copy(update={"references": [OWN]})
    assessor, grader = make(settings_for(server, monkeypatch), grade=own_only)
    store = FakeStore()
    grader.store = store  # type: ignore[assignment]

    assert assessor.assess(req()).grader == "llm"

    ((text, _, excluded),) = store.calls
    assert excluded == "000-5" and QUESTION in text and ANSWER in text
    user = server.requests[0].messages[-1]["content"]
    assert user.index("[1] (source 000, reference answer") < user.index(
        "[2] (source 002, related passage, question 002-3, id 002-3#1)\nNear passage text."
    )
    assert "Far passage text." not in user and "[3]" not in user


def test_a_broken_cache_costs_calls_not_grades(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.default = chat_reply(rubric(7.0))
    settings = settings_for(server, monkeypatch)
    settings.llm_cache_db.mkdir(parents=True)  # a directory where the database should be
    assessor, _ = make(settings)
    assert [assessor.assess(req()).grader for _ in range(2)] == ["llm", "llm"]
    assert len(server.requests) == 2


def test_a_200_that_is_not_a_chat_completion_falls_back(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.default = Reply(status=200, body="<html>proxy login page</html>")
    assessor, _ = make(settings_for(server, monkeypatch))
    a = assessor.assess(req())
    assert a.grader == "offline" and a.notice is not None and "offline grade" in a.notice
    assert "OPENAI_BASE_URL" in a.notice


def test_a_200_carrying_an_error_object_says_what_the_server_said(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gateways answer HTTP 200 with {"error": ...} and no choices when the model behind fails."""
    server.default = Reply(status=200, body={"error": {"message": f"upstream crashed {KEY}"}})
    assessor, _ = make(settings_for(server, monkeypatch))
    a = assessor.assess(req())
    assert a.grader == "offline" and a.notice is not None
    assert "answered with an error: upstream crashed" in a.notice
    assert KEY not in a.notice


def test_a_sloppy_but_usable_reply_is_used_and_its_broken_citations_counted(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scores as strings, a missing list, citations without a number or quote: the grade is
    still the LLM's, the broken citations are dropped and counted, never shown."""
    sloppy = rubric(8.0)
    sloppy["overall"] = "8"
    sloppy["criteria"]["depth"] = {"score": "7/10"}  # no reason
    del sloppy["model_answer_outline"]
    sloppy["citations"] = [
        {"passage": "[1]", "quote": GOOD_QUOTE},
        {"passage": None, "quote": "made up"},
        {"quote": "no passage number at all"},
        "just a string",
    ]
    server.queue(chat_reply(sloppy))
    assessor, _ = make(settings_for(server, monkeypatch))

    a = assessor.assess(req())

    assert a.grader == "llm" and a.llm is not None
    assert a.llm.overall == 8.0 and a.llm.criteria["depth"].score == 7.0
    assert [c.quote for c in a.citations] == [GOOD_QUOTE]
    assert a.llm.dropped_citations == 3
    assert "made up" not in a.model_dump_json()
    assert len(server.requests) == 1  # nothing to repair


def test_a_runaway_reply_is_bounded(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    huge = rubric(6.0)
    huge["missing_points"] = ["x" * 50_000] * 500
    huge["criteria"]["clarity"]["reason"] = "y" * 50_000
    server.queue(chat_reply(huge))
    assessor, _ = make(settings_for(server, monkeypatch))

    a = assessor.assess(req())

    assert a.grader == "llm" and a.llm is not None
    assert len(a.llm.missing_points) <= 12
    assert all(len(p) <= 520 for p in a.llm.missing_points)
    assert len(a.llm.criteria["clarity"].reason) <= 520
    assert len(a.model_dump_json()) < 20_000


def test_a_boolean_or_missing_score_is_not_guessed(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = rubric(8.0)
    bad["overall"] = True
    no_score = rubric(8.0)
    del no_score["overall"]
    server.queue(chat_reply(bad), chat_reply(no_score))
    assessor, grader = make(settings_for(server, monkeypatch))

    a = assessor.assess(req())

    assert a.grader == "offline" and a.score == grader.result.score
    assert a.notice is not None and "offline" in a.notice
    assert len(server.requests) == 2  # one repair attempt, then the offline grade


def _thinking(overall: float) -> Reply:
    return chat_reply("<think>Is {this} right? The answer says {x}.</think>\n"
                      + json.dumps(rubric(overall)))


def _parts(overall: float) -> Reply:
    reply = chat_reply("")
    text = json.dumps(rubric(overall))
    reply.body["choices"][0]["message"]["content"] = [
        {"type": "text", "text": text[:40]},
        {"type": "text", "text": text[40:]},
    ]
    return reply


def _tool_call(overall: float) -> Reply:
    reply = chat_reply("")
    message = reply.body["choices"][0]["message"]
    message["content"] = None
    message["tool_calls"] = [{"id": "call_1", "type": "function", "function": {
        "name": "rubric", "arguments": json.dumps(rubric(overall))}}]
    return reply


def _encoded_twice(overall: float) -> Reply:
    return chat_reply(json.dumps(json.dumps(rubric(overall))))


@pytest.mark.parametrize(
    "make_reply", [_thinking, _parts, _tool_call, _encoded_twice],
    ids=["think-preamble", "content-parts", "tool-call", "encoded-twice"],
)
def test_unusual_but_complete_reply_shapes_are_read(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch, make_reply: Callable[[float], Reply]
) -> None:
    """Local reasoning models put <think>...</think> (braces and all) before the JSON; some
    servers send the content as text parts, or the JSON as a tool call's arguments, or the
    object JSON-encoded twice. All are the grade, read without a repair round-trip."""
    server.queue(make_reply(6.0))
    assessor, _ = make(settings_for(server, monkeypatch))

    a = assessor.assess(req())

    assert a.grader == "llm" and a.llm is not None and a.llm.overall == 6.0
    assert len(server.requests) == 1


def test_a_server_that_rejects_only_the_seed_keeps_structured_outputs(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.queue(error_reply(400, "Unrecognized request argument supplied: seed"),
                 chat_reply(rubric(6.0)), chat_reply(rubric(7.0)))
    assessor, _ = make(settings_for(server, monkeypatch))
    assert assessor.assess(req()).grader == "llm"
    assert assessor.assess(req("a second answer")).grader == "llm"
    assert len(server.requests) == 3
    for r in server.requests[1:]:  # remembered: no seed, and still the JSON schema
        assert "seed" not in r.body and r.body["response_format"]["type"] == "json_schema"


def test_a_refusal_is_said_without_a_repair_call(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    refusal = chat_reply("")
    refusal.body["choices"][0]["message"] = {"role": "assistant", "content": None,
                                             "refusal": "I can't help with grading that."}
    server.queue(refusal)
    assessor, _ = make(settings_for(server, monkeypatch))
    a = assessor.assess(req())
    assert a.grader == "offline" and len(server.requests) == 1
    assert a.notice is not None and "refused: I can't help with grading that." in a.notice


def test_two_grades_in_one_reply_are_not_guessed_between(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    two = json.dumps(rubric(3.0)) + "\n" + json.dumps(rubric(9.0))
    server.queue(chat_reply(two), chat_reply(two))
    assessor, _ = make(settings_for(server, monkeypatch))
    a = assessor.assess(req())
    assert a.grader == "offline" and len(server.requests) == 2  # one repair, then offline
    assert a.notice is not None and "more than one JSON object" in a.notice


def test_a_key_with_white_space_around_it_is_trimmed_and_a_broken_one_said(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.default = chat_reply(rubric(6.0))
    settings = settings_for(server, monkeypatch)
    monkeypatch.setenv("OPENAI_API_KEY", f"  {KEY}\n")
    assessor, _ = make(load_settings(llm_model="fake-model", llm_timeout=3.0, llm_retries=2))
    assert assessor.assess(req()).grader == "llm"
    assert server.requests[-1].headers["authorization"] == f"Bearer {KEY}"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test bad\u00e9key")
    broken, _ = make(load_settings(llm_model="fake-model", llm_timeout=3.0, llm_retries=2))
    a = broken.assess(req("another answer"))
    assert a.grader == "offline" and len(server.requests) == 1  # nothing sent, nothing retried
    assert a.notice is not None and "API key contains a character" in a.notice
    assert "bad" not in a.notice and settings.openai_api_key is not None


def test_the_same_request_in_flight_twice_is_sent_once(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.default = chat_reply(rubric(7.0), delay=0.3)
    assessor, _ = make(settings_for(server, monkeypatch))
    out = list(assessor.assess_many([req(), req(), req(), req("another")], concurrency=4))
    assert [a.grader for a in out] == ["llm"] * 4
    assert len(server.requests) == 2  # the repeated answer waited for the first call

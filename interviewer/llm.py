"""The one place that talks to an OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, LM Studio...).

Why it looks the way it does:
- the openai client is built with max_retries=0 and we retry ourselves (429, 5xx, timeouts,
  connection errors) with bounded exponential backoff, so the behaviour is testable and capped;
- structured outputs (response_format json_schema) first; a server that rejects that with a 400
  gets json_object mode, then plain text; the mode that worked is remembered;
- temperature 0 and a fixed seed, so grades do not wander between runs;
- one repair attempt when the reply is not valid JSON for the schema, then give up;
- every error message is scrubbed of the API key before it can reach a log, a notice or history;
- httpx's timeout bounds each network wait, so a server that trickles its reply a byte at a time
  would never time out: a deadline on the response body also bounds each attempt's whole reply.
"""

from __future__ import annotations

import datetime
import email.utils
import functools
import importlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import openai
from pydantic import BaseModel

from interviewer.config import Settings
from interviewer.grading.models import Assessment, ChatReply, FollowUpExchange, LlmGrade
from interviewer.grading.rubric import (
    ChatOutput,
    NumberedPassage,
    RubricError,
    RubricOutput,
    RubricParseError,
    RubricRangeError,
    build_chat_messages,
    build_repair_messages,
    build_rubric_messages,
    parse_chat,
    parse_rubric,
    redact_url,
    scrub,
    strict_schema,
    to_llm_grade,
    verify_citations,
)
from interviewer.llm_cache import LlmCache, cache_key
from interviewer.prompts import PromptTemplate, load_prompt

log = logging.getLogger(__name__)

SEED = 7
MODES: tuple[str, ...] = ("json_schema", "json_object", "plain")
# Placeholder sent when a local server (Ollama, llama.cpp) needs no key: the client insists on one.
NO_KEY = "not-needed"

Message = dict[str, str]


class LlmError(Exception):
    """The LLM could not give a usable answer. `kind` says why; the message is safe to show."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def __repr__(self) -> str:
        return f"LlmError({self.kind!r}, {self.message!r})"


# A 400 about the request's size or the model is not cured by a simpler response format.
_NOT_ABOUT_FORMAT = ("context length", "context_length", "maximum context", "too many tokens",
                     "too long", "model_not_found", "does not exist")

# Kinds that mean the endpoint itself is unusable (as opposed to one bad reply).
ENDPOINT_KINDS = frozenset({"connection", "timeout", "auth", "not_found"})
NOT_A_COMPLETION = (
    "the endpoint's reply is not a chat completion (check OPENAI_BASE_URL: it usually ends in /v1)"
)


def _header_safe(value: str) -> bool:
    """Printable ASCII only: what an Authorization header can carry."""
    return all(" " <= c <= "~" for c in value)


def _retry_after_seconds(value: str) -> float:
    """Retry-After in seconds or as an HTTP date; 0 when unreadable."""
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())


@dataclass
class Completion:
    text: str
    model: str
    mode: str
    usage: dict[str, int] = field(default_factory=dict)


def _usage(resp: Any) -> dict[str, int]:
    u = getattr(resp, "usage", None)
    out: dict[str, int] = {}
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        v = getattr(u, name, None) if u is not None else None
        if isinstance(v, int):
            out[name] = v
    return out


def add_usage(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in {*a, *b}}


def _server_message(exc: openai.APIStatusError) -> str:
    """The error message a server put in its body, if any (OpenAI style or plain)."""
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        msg = err.get("message") if isinstance(err, dict) else err
        if msg:
            return str(msg)
    return exc.message


def _http_lib() -> Any:
    """The HTTP library this openai release is built on: httpx, or httpx2 from openai 3.x on.
    The deadline stream below must come from the same one, or the client rejects it."""
    for cls in openai.DefaultHttpxClient.__mro__:
        if cls.__name__ == "Client":
            return importlib.import_module(cls.__module__.partition(".")[0])
    return importlib.import_module("httpx")  # pragma: no cover - every release so far


@functools.cache
def _deadline_stream_class() -> type:
    http = _http_lib()

    class DeadlineStream(http.SyncByteStream):  # type: ignore[misc, name-defined]
        """A response body that raises ReadTimeout once its deadline has passed."""

        def __init__(self, inner: Any, deadline: float, request: Any) -> None:
            self._inner, self._deadline, self._request = inner, deadline, request

        def __iter__(self) -> Iterator[bytes]:
            for chunk in self._inner:
                if time.monotonic() > self._deadline:
                    raise http.ReadTimeout("the reply outlasted the timeout", request=self._request)
                yield chunk

        def close(self) -> None:
            self._inner.close()

    return DeadlineStream


def _deadline_client(timeout: float) -> Any:
    """An HTTP client whose timeout bounds each attempt's whole reply, not only each read: the
    connect and the wait for headers are bounded by the client's own timeouts, the body by a
    deadline counted from the request's start, so a body that arrives a byte at a time (never
    stalling a single read) cannot hold a grade forever. Hooks, not a transport, so the proxy
    settings from the environment still apply."""
    stream_class = _deadline_stream_class()

    def stamp(request: Any) -> None:
        request.extensions["interviewer_deadline"] = time.monotonic() + timeout

    def bound(response: Any) -> None:
        deadline = response.request.extensions.get("interviewer_deadline")
        if deadline is not None:
            response.stream = stream_class(response.stream, deadline, response.request)

    return openai.DefaultHttpxClient(
        timeout=timeout, event_hooks={"request": [stamp], "response": [bound]}
    )


class _AttemptTimeout(Exception):
    """One attempt outlasted its deadline (a server that sends its headers a byte at a time
    never trips a per-read timeout)."""


class _Rejected(Exception):
    """The server refused the request shape (400/422): try a simpler response format."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class LlmClient:
    """Chat completions with our own bounded retry loop and response-format negotiation."""

    def __init__(
        self,
        settings: Settings,
        *,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.model = settings.llm_model
        self.timeout = float(settings.llm_timeout)
        self.retries = max(0, int(settings.llm_retries))
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._sleep = sleep
        raw = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
        key = raw.strip()  # a key pasted with its newline or a space around it
        self._secrets: tuple[str, ...] = tuple({k for k in (raw, key) if k})
        # httpx refuses such a header before sending anything: say why, once, without retries
        self._key_problem = "" if _header_safe(key) else (
            "the API key contains a character that cannot be sent in an HTTP header (a space, "
            "a line break or a non-ASCII character inside it?): check OPENAI_API_KEY"
        )
        self.base_url = settings.openai_base_url
        self._client = openai.OpenAI(
            api_key=key or NO_KEY,
            base_url=settings.openai_base_url or None,
            timeout=self.timeout,
            max_retries=0,
            http_client=_deadline_client(self.timeout),
        )
        self._mode = 0
        self._seed = True
        self._lock = threading.Lock()
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        """Stop: calls in flight and backoffs end at once with LlmError('cancelled').
        Ctrl-C on a batch must not wait for a server that never answers."""
        self._cancelled.set()

    def _check_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise LlmError("cancelled", "stopped before the LLM answered")

    def _call(self, kwargs: dict[str, Any]) -> Any:
        """One request with a deadline on the whole attempt, headers included.

        The request runs in a daemon thread: if the deadline passes (or cancel() is called),
        the caller moves on and the thread, stuck on the socket, cannot keep the process
        alive. The HTTP client's own timeouts still end it once the server stalls."""
        box: dict[str, Any] = {}
        done = threading.Event()

        def run() -> None:
            try:
                box["reply"] = self._client.chat.completions.create(**kwargs)
            except BaseException as exc:  # handed to the caller's thread
                box["error"] = exc
            finally:
                done.set()

        threading.Thread(target=run, name="llm-request", daemon=True).start()
        deadline = time.monotonic() + self.timeout + 0.25  # the body deadline fires first
        while not done.wait(0.1):
            self._check_cancelled()
            if time.monotonic() > deadline:
                raise _AttemptTimeout()
        if "error" in box:
            raise box["error"]
        return box["reply"]

    def _pause(self, delay: float) -> None:
        if self._sleep is time.sleep:
            self._cancelled.wait(delay)  # woken early by cancel()
        else:  # a test's clock
            self._sleep(delay)

    def __repr__(self) -> str:  # never the key
        url = redact_url(self.base_url) if self.base_url else None
        return f"LlmClient(model={self.model!r}, base_url={url!r})"

    def scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    def _reply_text(self, resp: Any) -> str:
        """The reply's text, whatever shape the server sent; an odd shape is "no text" (then
        the caller's parse fails and the repair/fallback path runs). The text is scrubbed of the
        key (a server may echo it) and of lone surrogates, so nothing stored can carry either."""
        choices = getattr(resp, "choices", None)
        first = choices[0] if isinstance(choices, list) and choices else None
        message = getattr(first, "message", None)
        content = getattr(message, "content", None)
        refusal = getattr(message, "refusal", None)
        if not content and isinstance(refusal, str) and refusal.strip():
            # A refusal is an answer: asking again for JSON only costs a second call.
            raise LlmError("refused", self.scrub(f"the model refused: {refusal.strip()}")[:300])
        if isinstance(content, list):  # content parts: [{"type": "text", "text": "..."}]
            content = "".join(
                str(part.get("text", "")) if isinstance(part, dict)
                else str(getattr(part, "text", "") or "")
                for part in content
            )
        if not content:  # a server that answers through a tool call carries the JSON there
            calls = getattr(message, "tool_calls", None) or []
            function = getattr(calls[0], "function", None) if isinstance(calls, list) and calls else None
            content = getattr(function, "arguments", None)
        if not isinstance(content, str):
            return ""
        content = content.encode("utf-8", "replace").decode("utf-8")
        return self.scrub(content)

    def _raise_error_body(self, resp: Any) -> None:
        """Some proxies and gateways answer HTTP 200 with {"error": {...}} and no choices: say
        what the server said rather than "the reply contains no JSON"."""
        if getattr(resp, "choices", None):
            return
        error = (getattr(resp, "model_extra", None) or {}).get("error")
        if error is None:
            return
        message = error.get("message") if isinstance(error, dict) else error
        raise LlmError(
            "server", self.scrub(f"the LLM endpoint answered with an error: {message}")[:300]
        )

    def _backoff(self, attempt: int, exc: Exception | None) -> float:
        delay = self.backoff_base * (2**attempt)
        response = getattr(exc, "response", None)
        if response is not None:
            retry_after = response.headers.get("retry-after")
            if retry_after is not None:
                delay = max(delay, _retry_after_seconds(retry_after))
        return min(delay, self.backoff_max)

    def _create(self, kwargs: dict[str, Any]) -> Any:
        """One request, retried on 429/5xx/timeouts/connection errors; other errors are final."""
        last: LlmError | None = None
        last_exc: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                self._pause(self._backoff(attempt - 1, last_exc))
            self._check_cancelled()
            try:
                return self._call(kwargs)
            except (_AttemptTimeout, openai.APITimeoutError) as exc:
                last_exc = exc
                last = LlmError("timeout", f"the LLM did not answer within {self.timeout:g} s")
            except openai.APIConnectionError as exc:
                last_exc = exc
                where = redact_url(self.base_url) if self.base_url else "the OpenAI API"
                cause = type(exc.__cause__).__name__
                if cause in ("ConnectError", "ConnectTimeout", "NoneType"):
                    why = f"cannot reach the LLM endpoint at {where}"
                elif cause == "TooManyRedirects":
                    why = f"the LLM endpoint at {where} redirects in a loop"
                else:  # connected, then the reply broke off or was not HTTP
                    why = f"the LLM endpoint at {where} broke off its reply"
                last = LlmError("connection", why)
            except openai.RateLimitError as exc:
                last_exc = exc
                last = LlmError("rate_limit", "the LLM endpoint kept answering 429 (rate limited)")
            except openai.APIStatusError as exc:
                status = exc.status_code
                if status >= 500:
                    last_exc = exc
                    last = LlmError("server", f"the LLM endpoint failed with HTTP {status}")
                elif status in (400, 422):
                    raise _Rejected(status, self.scrub(_server_message(exc))[:200]) from None
                elif status in (401, 403):
                    raise LlmError(
                        "auth", f"the LLM endpoint refused the API key (HTTP {status})"
                    ) from None
                elif status == 404:
                    raise LlmError(
                        "not_found",
                        f"the LLM endpoint answered 404: is model {self.model!r} available "
                        "there, and does OPENAI_BASE_URL end in /v1?",
                    ) from None
                else:
                    raise LlmError("client", f"the LLM endpoint answered HTTP {status}") from None
            except openai.OpenAIError as exc:
                raise LlmError("client", self.scrub(f"LLM client error: {exc}")[:300]) from None
            except ValueError:  # a 200 that is not JSON: a proxy page, a wrong base URL
                raise LlmError("not_found", NOT_A_COMPLETION) from None
            except RecursionError:  # a body nested thousands deep: no completion either
                raise LlmError("server", "the endpoint's reply is nested too deeply to read") from None
            log.info(
                "LLM call failed (%s), attempt %d of %d", last.kind, attempt + 1, self.retries + 1
            )
        assert last is not None
        n = self.retries + 1
        raise LlmError(
            last.kind, self.scrub(f"{last.message}, after {n} attempt{'s' if n != 1 else ''}")
        )

    def complete(
        self, messages: list[Message], schema_name: str, schema: dict[str, Any]
    ) -> Completion:
        """One completion in the best response format the server accepts."""
        if self._key_problem:
            raise LlmError("auth", self._key_problem)
        mode = self._mode
        seed = self._seed
        while True:
            kwargs: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": 0}
            if seed:
                kwargs["seed"] = SEED
            if MODES[mode] == "json_schema":
                kwargs["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": schema_name, "schema": schema, "strict": True},
                }
            elif MODES[mode] == "json_object":
                kwargs["response_format"] = {"type": "json_object"}
            try:
                resp = self._create(kwargs)
            except _Rejected as exc:
                said = str(exc).lower()
                if seed and "seed" in said:  # only the seed is unknown: keep the format
                    seed = False
                    continue
                if any(w in said for w in _NOT_ABOUT_FORMAT):
                    raise LlmError(
                        "client", f"the LLM endpoint rejected the request (HTTP {exc.status}: "
                        f"{exc})"
                    ) from None
                if mode + 1 < len(MODES):
                    log.info(
                        "server rejected %s output (HTTP %d); trying %s",
                        MODES[mode],
                        exc.status,
                        MODES[mode + 1],
                    )
                    mode += 1
                    continue
                if seed:  # a server that knows no seed: temperature 0 alone
                    seed = False
                    continue
                raise LlmError(
                    "client", f"the LLM endpoint rejected the request (HTTP {exc.status}: {exc})"
                ) from None
            if isinstance(resp, str | bytes):  # a 200 page that is not JSON (text/html)
                raise LlmError("not_found", NOT_A_COMPLETION)
            self._raise_error_body(resp)
            with self._lock:
                self._mode = max(self._mode, mode)
                self._seed = self._seed and seed
            return Completion(
                text=self._reply_text(resp),
                # A server's own label, echoed into history and cache: bounded and keyless.
                model=self.scrub(str(getattr(resp, "model", "") or self.model))[:200],
                mode=MODES[mode],
                usage=_usage(resp),
            )


class LlmGrader:
    """Grades an answer with the rubric prompt: cached, validated, citations verified."""

    def __init__(
        self,
        settings: Settings,
        client: LlmClient | None = None,
        cache: LlmCache | None = None,
        *,
        rubric: PromptTemplate | None = None,
        repair: PromptTemplate | None = None,
        chat: PromptTemplate | None = None,
        use_cache: bool = True,
    ) -> None:
        self.model = settings.llm_model
        self.client = client or LlmClient(settings)
        self.cache = (
            cache if cache is not None else (LlmCache(settings.llm_cache_db) if use_cache else None)
        )
        self.rubric = rubric or load_prompt("rubric")
        self.repair = repair or load_prompt("repair")
        self.chat_prompt = chat or load_prompt("chat")
        # The same request already on its way (a batch with a repeated answer): wait for it
        # rather than pay for it twice.
        self._inflight: dict[str, threading.Event] = {}
        self._inflight_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LlmGrader(model={self.model!r}, prompt={self.prompt_version!r})"

    @property
    def prompt_version(self) -> str:
        return self.rubric.version

    def _json_call(
        self,
        messages: list[Message],
        name: str,
        model: type[BaseModel],
        parse: Callable[[str], Any],
    ) -> tuple[Any, Completion, dict[str, int]]:
        """Call, parse; on a parse failure one repair round-trip; a second failure is final."""
        schema = strict_schema(model)
        first = self.client.complete(messages, name, schema)
        usage = first.usage
        try:
            return parse(first.text), first, usage
        except RubricParseError as exc:
            log.info("LLM reply unusable (%s); one repair attempt", exc)
            bad = self.client.scrub(first.text)  # nothing key-shaped goes back over the wire
            repair_msgs = build_repair_messages(self.repair, messages, bad, str(exc), model)
            second = self.client.complete(repair_msgs, name, schema)
            usage = add_usage(usage, second.usage)
            try:
                return parse(second.text), second, usage
            except RubricParseError as exc2:
                raise LlmError(
                    "invalid_json", f"the LLM's reply was unusable twice: {exc2}"
                ) from None

    def grade(self, question: str, answer: str, passages: list[NumberedPassage]) -> LlmGrade:
        """An LlmGrade, or LlmError: never any other exception for a bad reply."""
        key = cache_key(
            self.model,
            self.prompt_version,
            question,
            answer,
            [(p.id, p.source, p.text) for p in passages],
            self.client.base_url or "",
        )
        if self.cache is None:
            return self._grade_uncached(key, question, answer, passages)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        with self._inflight_lock:
            running = self._inflight.get(key)
            if running is None:
                self._inflight[key] = threading.Event()
        if running is not None:
            running.wait(self.client.timeout * (self.client.retries + 1) * 2 + 5)
            hit = self.cache.get(key)
            if hit is not None:
                return hit
            return self._grade_uncached(key, question, answer, passages)  # the first one failed
        try:
            return self._grade_uncached(key, question, answer, passages)
        finally:
            with self._inflight_lock:
                self._inflight.pop(key).set()

    def _grade_uncached(
        self, key: str, question: str, answer: str, passages: list[NumberedPassage]
    ) -> LlmGrade:
        start = time.perf_counter()
        messages = build_rubric_messages(self.rubric, question, answer, passages)
        out, comp, usage = self._json_call(messages, "rubric", RubricOutput, parse_rubric)
        try:
            grade = to_llm_grade(
                out,
                passages,
                model=comp.model,
                prompt_version=self.prompt_version,
                latency_s=time.perf_counter() - start,
                usage=usage,
            )
        except RubricRangeError as exc:
            raise LlmError("range", f"the LLM gave {exc}") from None
        except RubricError as exc:
            raise LlmError("invalid_json", str(exc)) from None
        if self.cache is not None:
            self.cache.put(key, grade)
        return grade

    def chat(
        self,
        question: str,
        answer: str,
        passages: list[NumberedPassage],
        assessment: Assessment,
        message: str,
        follow_up: FollowUpExchange | None = None,
    ) -> ChatReply:
        """Reply to the candidate about the feedback, its citations verified."""
        messages = build_chat_messages(
            self.chat_prompt, question, answer, passages, assessment, message, follow_up
        )
        out, _, _ = self._json_call(messages, "chat", ChatOutput, parse_chat)
        citations, dropped = verify_citations(out.citations, passages)
        reply = out.reply.strip()
        if not reply:
            raise LlmError("invalid_json", "the LLM's reply was empty")
        return ChatReply(reply=reply, citations=citations, dropped_citations=dropped)

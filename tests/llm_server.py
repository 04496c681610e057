"""A real HTTP server on 127.0.0.1 speaking /v1/chat/completions, scripted by each test.

Tests queue replies (status, JSON or raw body, delay, headers, trickled body); the server answers requests in
order, records every request (path, headers, JSON body) and answers 500 when the script runs
out, so an unexpected extra call is visible, never silently served.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON, str -> raw text
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    trickle: float = 0.0  # seconds between body bytes: a server that never stalls a read
    trickle_headers: bool = False  # the status line and headers a byte at a time too


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    raw: str
    body: Any

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", [])) if isinstance(self.body, dict) else []

    @property
    def text(self) -> str:
        """All message contents joined: what the model was shown."""
        return "\n".join(str(m.get("content", "")) for m in self.messages)


def chat_reply(
    content: str | dict[str, Any],
    *,
    model: str = "fake-model-2026",
    prompt_tokens: int = 120,
    completion_tokens: int = 80,
    delay: float = 0.0,
) -> Reply:
    """A successful chat completion whose message content is `content` (dicts become JSON)."""
    text = content if isinstance(content, str) else json.dumps(content)
    return Reply(
        body={
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        },
        delay=delay,
    )


def error_reply(status: int, message: str = "error", **headers: str) -> Reply:
    return Reply(
        status=status,
        body={"error": {"message": message, "type": "test_error", "code": status}},
        headers={k.replace("_", "-"): v for k, v in headers.items()},
    )


Step = Reply | Callable[[Recorded], Reply]


class FakeLLMServer:
    """ThreadingHTTPServer on 127.0.0.1:0; use as a context manager."""

    def __init__(self) -> None:
        self.script: deque[Step] = deque()
        self.default: Step | None = None
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length).decode("utf-8") if length else ""
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = None
                rec = Recorded(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, raw, body
                )
                reply = server._next(rec)
                if reply.delay and server._stop.wait(reply.delay):
                    return
                payload = (
                    reply.body if isinstance(reply.body, str) else json.dumps(reply.body or {})
                ).encode("utf-8")
                try:
                    if reply.trickle_headers:
                        head = (f"HTTP/1.1 {reply.status} OK\r\ncontent-type: application/json"
                                f"\r\ncontent-length: {len(payload)}\r\nx-pad: {'x' * 400}"
                                "\r\n\r\n").encode()
                        for i in range(len(head)):
                            self.wfile.write(head[i : i + 1])
                            self.wfile.flush()
                            if server._stop.wait(reply.trickle):
                                return
                        self.wfile.write(payload)
                        return
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    if not reply.trickle:
                        self.wfile.write(payload)
                    for i in range(len(payload) if reply.trickle else 0):
                        self.wfile.write(payload[i : i + 1])
                        self.wfile.flush()
                        if server._stop.wait(reply.trickle):
                            return
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def _next(self, rec: Recorded) -> Reply:
        with self._lock:
            self.requests.append(rec)
            step = self.script.popleft() if self.script else self.default
        if step is None:
            return error_reply(500, "no scripted reply left")
        return step(rec) if callable(step) else step

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def queue(self, *steps: Step) -> FakeLLMServer:
        with self._lock:
            self.script.extend(steps)
        return self

    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def __enter__(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

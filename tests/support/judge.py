"""A loopback chat-completions server for the LLM-judge tests: scripted answers, failures, hangs.

It speaks the OpenAI-compatible format (``POST /v1/chat/completions``), runs in a thread of
the test process on 127.0.0.1, and records every request. Answers are taken from a script in
order; once the script is used up, :attr:`JudgeServer.default` answers::

    with JudgeServer() as judge:
        judge.script(Answer(status=500), Answer(content="Score: 0.9"))   # fail once, then 0.9
        ChatClient(judge.base_url, "m")  # → "Score: 0.9" after one retry
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Answer:
    """One scripted answer: a completion ``content``, an error ``status``, a raw ``body``, a ``delay``."""

    content: str = "Score: 1.0"
    status: int = 200
    body: str | None = None
    delay: float = 0.0

    def payload(self, model: str) -> bytes:
        if self.body is not None:
            return self.body.encode()
        if self.status != 200:
            return json.dumps({"error": {"message": f"scripted failure {self.status}"}}).encode()
        return json.dumps({"id": "chatcmpl-test", "object": "chat.completion", "model": model, "choices": [
            {"index": 0, "message": {"role": "assistant", "content": self.content}, "finish_reason": "stop"}]}
        ).encode()


class JudgeServer:
    """The server; ``base_url`` is what a :class:`ChatClient` takes (it ends with ``/v1``)."""

    def __init__(self, default: Answer | None = None) -> None:
        self.default = default or Answer()
        self.requests: list[dict[str, Any]] = []
        self._script: deque[Answer] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="judge", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/v1"

    def script(self, *answers: Answer) -> None:
        """Answer the next requests with ``answers``, in order."""
        with self._lock:
            self._script.extend(answers)

    def clear(self, default: Answer | None = None) -> None:
        """Forget the script and the recorded requests; answer with ``default`` from now on."""
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.default = default or Answer()

    def _next(self, body: dict[str, Any], headers: dict[str, str]) -> Answer:
        with self._lock:
            self.requests.append({"body": body, "headers": headers})
            return self._script.popleft() if self._script else self.default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        judge = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != "/v1/chat/completions":
                    self._send(404, b'{"error": "not found"}')
                    return
                answer = judge._next(json.loads(raw), dict(self.headers))
                if answer.delay and judge._closing.wait(answer.delay):
                    return
                self._send(answer.status, answer.payload(judge._model_of(raw)))

            def _send(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        return Handler

    @staticmethod
    def _model_of(raw: bytes) -> str:
        return str(json.loads(raw).get("model", ""))

    def __enter__(self) -> JudgeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

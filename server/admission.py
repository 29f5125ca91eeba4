"""Which connections a server admits: deadlines for request heads and bodies, a connection cap
below the descriptor limit, and accept errors logged once instead of per attempt.

A slowloris client opens connections and trickles its request (an HTTP upgrade handshake, or
the body of a ``POST``) a byte at a time; uvicorn waits for a complete request forever, so
about a thousand of them use up the process's file descriptors (``ulimit -n 1024``), every
later ``accept()`` fails with ``EMFILE`` and asyncio logs a traceback for each failed attempt
(90,000 in 30 s). Here:

- a connection whose request head is not complete ``handshake_timeout`` seconds after it was
  accepted (or after its previous response, on a keep-alive connection) is closed, and so is
  one whose request body is not complete ``body_timeout`` seconds after its head;
- past ``max_connections`` open connections (default: three quarters of the soft descriptor
  limit, so ``accept()`` itself never runs out), the connection that has waited longest for its
  head or body is closed to make room; with none waiting, the new connection is closed at once;
- ``socket.accept() out of system resource`` is logged once, then at most once a minute with
  the number of failures since (no traceback).

Variables: ``OPENENV_HANDSHAKE_TIMEOUT`` (seconds, default 10), ``OPENENV_BODY_TIMEOUT``
(seconds, default 10), ``OPENENV_MAX_CONNECTIONS``.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from typing import Any

from .limits import setting

logger = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT_VARIABLE = "OPENENV_HANDSHAKE_TIMEOUT"
BODY_TIMEOUT_VARIABLE = "OPENENV_BODY_TIMEOUT"
MAX_CONNECTIONS_VARIABLE = "OPENENV_MAX_CONNECTIONS"
DEFAULT_HANDSHAKE_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 10.0
HEAD, BODY = "head", "body"
"""What a connection can wait for: its request's head, or its body."""
ACCEPT_ERROR = "socket.accept() out of system resource"
ACCEPT_LOG_INTERVAL = 60.0


def default_max_connections() -> int:
    """Three quarters of the soft descriptor limit (the rest: listening socket, logs, environments).

    >>> default_max_connections() > 0
    True
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(16, soft * 3 // 4)


class Incoming:
    """Connections whose request is still coming in (its head, or its body), oldest first, each
    with a deadline."""

    def __init__(self, handshake_timeout: float, max_connections: int,
                 body_timeout: float = DEFAULT_BODY_TIMEOUT):
        self.handshake_timeout = handshake_timeout
        self.body_timeout = body_timeout
        self.max_connections = max_connections
        self._waiting: dict[asyncio.Protocol, asyncio.TimerHandle] = {}

    @classmethod
    def configured(cls) -> Incoming:
        """From ``$OPENENV_HANDSHAKE_TIMEOUT``, ``$OPENENV_BODY_TIMEOUT`` and
        ``$OPENENV_MAX_CONNECTIONS``, else the defaults."""
        handshake = setting(None, HANDSHAKE_TIMEOUT_VARIABLE, float)
        body = setting(None, BODY_TIMEOUT_VARIABLE, float)
        limit = setting(None, MAX_CONNECTIONS_VARIABLE)
        return cls(DEFAULT_HANDSHAKE_TIMEOUT if handshake is None else handshake,
                   default_max_connections() if limit is None else limit,
                   DEFAULT_BODY_TIMEOUT if body is None else body)

    def begin(self, protocol: Any, what: str) -> None:
        """``protocol`` waits for ``what`` from now on: its request's :data:`HEAD` or :data:`BODY`,
        for that one's timeout at most (``""``: for nothing)."""
        self.end(protocol)
        if what:
            timeout = self.handshake_timeout if what == HEAD else self.body_timeout
            self._waiting[protocol] = protocol.loop.call_later(timeout, self._expire, protocol)

    def end(self, protocol: Any) -> None:
        """``protocol`` has its whole request (or is gone); idempotent."""
        timer = self._waiting.pop(protocol, None)
        if timer is not None:
            timer.cancel()

    def make_room(self) -> bool:
        """Close the connection that has waited longest for its head or body; False if none waits."""
        if not self._waiting:
            return False
        oldest = next(iter(self._waiting))
        self.end(oldest)
        oldest.transport.close()  # type: ignore[attr-defined]
        return True

    def _expire(self, protocol: Any) -> None:
        self._waiting.pop(protocol, None)
        protocol.transport.close()


def guarded(base: type[Any], incoming: Incoming) -> type[Any]:
    """A subclass of uvicorn's HTTP protocol ``base`` (h11 or httptools) under ``incoming``.

    A connection waits for a request head from its start and after each response; once the head
    is in, for the request's body until the body is complete (or the response is, the body
    unread); then for nothing while the application answers. Each wait has its deadline.
    """

    class Guarded(base):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: Any) -> None:
            self._awaited, self._waiting_for = None, ""
            super().connection_made(transport)
            if len(self.connections) > incoming.max_connections and not incoming.make_room():
                transport.close()
                return
            self._await_head()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._follow()

        def on_response_complete(self) -> None:
            answered = self.cycle
            super().on_response_complete()  # may start a pipelined request
            if self.transport.is_closing():
                return
            if self.cycle is answered:  # keep-alive: the next head has a deadline too
                self._await_head()
            else:
                self._follow()

        def connection_lost(self, exc: Exception | None) -> None:
            incoming.end(self)
            super().connection_lost(exc)

        def _await_head(self) -> None:
            self._awaited = self.cycle
            self._wait(HEAD)

        def _follow(self) -> None:
            """After data: once a new request's head is in, wait for its body, if still coming."""
            if self.transport.get_protocol() is not self:  # a WebSocket now: not ours to time
                self._wait("")
            elif self.cycle is not self._awaited:
                receiving = self.cycle.more_body and not self.cycle.response_complete
                self._wait(BODY if receiving else "")

        def _wait(self, what: str) -> None:
            """Wait for ``what`` (``""``: nothing); a wait already running keeps its deadline."""
            if what != self._waiting_for:
                self._waiting_for = what
                incoming.begin(self, what)

    Guarded.__name__ = Guarded.__qualname__ = f"Guarded{base.__name__}"
    return Guarded


class AcceptErrorLog:
    """A loop exception handler: ``accept()`` failures logged once a minute, the rest as before."""

    def __init__(self, interval: float = ACCEPT_LOG_INTERVAL):
        self.interval = interval
        self._last = -float("inf")
        self._missed = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != ACCEPT_ERROR:
            loop.default_exception_handler(context)
            return
        now = time.monotonic()
        if now - self._last < self.interval:
            self._missed += 1
            return
        logger.error("cannot accept connections: %s (%d more failures since the last report; logged "
                     "at most every %gs). Raise the descriptor limit (ulimit -n) or lower "
                     "%s.", context.get("exception"), self._missed, self.interval, MAX_CONNECTIONS_VARIABLE)
        self._last, self._missed = now, 0

"""Which connections a server admits: a deadline for request heads, a connection cap below the
descriptor limit, and accept errors logged once instead of per attempt.

A slowloris client opens connections and trickles its request (an HTTP upgrade handshake) a
byte at a time; uvicorn waits for a complete head forever, so about a thousand of them use up
the process's file descriptors (``ulimit -n 1024``), every later ``accept()`` fails with
``EMFILE`` and asyncio logs a traceback for each failed attempt (90,000 in 30 s). Here:

- a connection whose request head is not complete ``handshake_timeout`` seconds after it was
  accepted (or after its previous response, on a keep-alive connection) is closed;
- past ``max_connections`` open connections (default: three quarters of the soft descriptor
  limit, so ``accept()`` itself never runs out), the oldest connection still waiting for its
  head is closed to make room; with none waiting, the new connection is closed at once;
- ``socket.accept() out of system resource`` is logged once, then at most once a minute with
  the number of failures since (no traceback).

Variables: ``OPENENV_HANDSHAKE_TIMEOUT`` (seconds, default 10), ``OPENENV_MAX_CONNECTIONS``.
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
MAX_CONNECTIONS_VARIABLE = "OPENENV_MAX_CONNECTIONS"
DEFAULT_HANDSHAKE_TIMEOUT = 10.0
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


class Handshakes:
    """Connections still waiting for their request head, oldest first, each with a deadline."""

    def __init__(self, timeout: float, max_connections: int):
        self.timeout = timeout
        self.max_connections = max_connections
        self._waiting: dict[asyncio.Protocol, asyncio.TimerHandle] = {}

    @classmethod
    def configured(cls) -> Handshakes:
        """From ``$OPENENV_HANDSHAKE_TIMEOUT`` and ``$OPENENV_MAX_CONNECTIONS``, else the defaults."""
        timeout = setting(None, HANDSHAKE_TIMEOUT_VARIABLE, float)
        limit = setting(None, MAX_CONNECTIONS_VARIABLE)
        return cls(DEFAULT_HANDSHAKE_TIMEOUT if timeout is None else timeout,
                   default_max_connections() if limit is None else limit)

    def begin(self, protocol: Any) -> None:
        """``protocol`` waits for a request head from now on."""
        self.end(protocol)
        self._waiting[protocol] = protocol.loop.call_later(self.timeout, self._expire, protocol)

    def end(self, protocol: Any) -> None:
        """``protocol`` has its head (or is gone); idempotent."""
        timer = self._waiting.pop(protocol, None)
        if timer is not None:
            timer.cancel()

    def make_room(self) -> bool:
        """Close the connection that has waited longest for its head; False if none waits."""
        if not self._waiting:
            return False
        oldest = next(iter(self._waiting))
        self.end(oldest)
        oldest.transport.close()  # type: ignore[attr-defined]
        return True

    def _expire(self, protocol: Any) -> None:
        self._waiting.pop(protocol, None)
        protocol.transport.close()


def guarded(base: type[Any], handshakes: Handshakes) -> type[Any]:
    """A subclass of uvicorn's HTTP protocol ``base`` (h11 or httptools) under ``handshakes``."""

    class Guarded(base):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            if len(self.connections) > handshakes.max_connections and not handshakes.make_room():
                transport.close()
                return
            self._awaited = self.cycle
            handshakes.begin(self)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.cycle is not self._awaited or self.transport.get_protocol() is not self:
                handshakes.end(self)  # a request head arrived (or the socket is a WebSocket now)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():  # keep-alive: the next head has a deadline too
                self._awaited = self.cycle
                handshakes.begin(self)

        def connection_lost(self, exc: Exception | None) -> None:
            handshakes.end(self)
            super().connection_lost(exc)

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

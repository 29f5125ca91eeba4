"""One memory budget for the requests a server holds, whoever sent them.

The frame limit (``OPENENV_MAX_MESSAGE_BYTES``) bounds one request; this bounds them all
together: bytes of frames still arriving, frames read but not yet taken by the app, and each
frame being answered together with what it decodes to (:mod:`openenv_gym.protocol.decoded_size`).
Without it, ten connections each sending an unfinished 60 MiB frame held 620 MB, and a frame
of 16.5 MB of two-character strings decoded to 366 MB.

Every holder (a connection's parser, a frame being answered) holds a :class:`Share` that it
grows and shrinks. A share may always hold :data:`ALLOWANCE` bytes, so ordinary steps (a few
hundred bytes) go through even while large frames fill the budget; past that, growing fails
once the shares together would pass the limit, and the holder refuses its frame:

- a frame still arriving closes its connection with 1009 (:func:`budgeted`, installed by
  ``python -m openenv_gym.server`` and every ``python -m openenv_gym.envs.<name>``);
- a frame read whole gets a ``MESSAGE_TOO_LARGE`` error reply and the connection goes on
  (``server/websocket.py``).

``OPENENV_MAX_INFLIGHT_BYTES`` (or ``create_app(max_inflight_bytes=...)``) sets the limit; by
default four frames of the largest size per session, for up to four sessions (a frame takes
its bytes and about as much again decoded, and the next one can arrive meanwhile), at least
64 MiB: 256 MiB with the default 16 MiB frames.

Memory goes back: a connection's parser buffers are emptied as soon as it ends, even while its
session waits for a resume (it used to keep an unfinished frame for the grace period), and the
C heap is trimmed once a large frame was answered or dropped (glibc keeps freed memory).

>>> budget = MemoryBudget(1 << 20)
>>> first, second = budget.share(), budget.share()
>>> first.take(900_000), second.take(200_000), second.take(ALLOWANCE), budget.held
(True, False, True, 965536)
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import functools
import logging
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from .limits import INFLIGHT_BYTES_VARIABLE, setting

logger = logging.getLogger(__name__)

ALLOWANCE = 64 * 1024
"""Bytes any share may hold whatever the others hold: a frame this small always goes through."""
MIN_INFLIGHT_BYTES = 64 << 20
OVER_BUDGET = 1009
"""Close code of a connection whose unfinished frame does not fit: message too big (to take now)."""
OVER_BUDGET_REASON = f"frames in flight are over the server's memory budget ({INFLIGHT_BYTES_VARIABLE})"
TRIM_FROM = 1 << 20
"""Bytes given back to the budget at once from which the C heap is trimmed."""
TRIM_INTERVAL = 1.0
"""Seconds between two trims at most: one takes 10-40 ms on a large, fragmented heap."""


class MemoryBudget:
    """Bytes the server may hold for requests in flight, shared by every connection.

    Args:
        limit: the most bytes the shares hold together (each may hold :data:`ALLOWANCE` beyond).
    """

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError(f"max_inflight_bytes must be at least 1, got {limit}")
        self.limit = limit
        self.held = 0
        self._trimmer = HeapTrimmer()

    @classmethod
    def configured(cls, limit: int | None, *, max_message_bytes: int, capacity: int) -> MemoryBudget:
        """From ``limit`` or ``$OPENENV_MAX_INFLIGHT_BYTES``; else four frames of the largest size
        per session for up to four sessions, at least 64 MiB.

        >>> MemoryBudget.configured(None, max_message_bytes=16 << 20, capacity=1024).limit >> 20
        256
        >>> MemoryBudget.configured(None, max_message_bytes=4096, capacity=8).limit >> 20
        64
        """
        limit = setting(limit, INFLIGHT_BYTES_VARIABLE)
        if limit is None:
            limit = max(MIN_INFLIGHT_BYTES, 4 * min(capacity, 4) * max_message_bytes)
        return cls(limit)

    def share(self) -> Share:
        return Share(self)

    def refusal(self, size: int) -> str:
        """Why a frame of ``size`` bytes (decoded) was refused."""
        return (f"the server holds {self.held} of its {self.limit} bytes for requests in flight "
                f"({INFLIGHT_BYTES_VARIABLE}); this frame would take {size} more with what it decodes "
                "to: refused, retry later or send less")

    def _resize(self, share: Share, size: int) -> bool:
        grown = size - share.size
        if grown > 0 and size > ALLOWANCE and self.held + grown > self.limit:
            return False
        self.held += grown
        share.size = size
        if grown <= -TRIM_FROM:  # a large frame answered, or dropped
            self._trimmer.soon()
        return True


class Share:
    """The bytes of a :class:`MemoryBudget` one holder holds."""

    def __init__(self, budget: MemoryBudget):
        self._budget = budget
        self.size = 0

    def take(self, size: int) -> bool:
        """Hold ``size`` bytes instead of what this share held; ``False`` (nothing changed) where
        that is over :data:`ALLOWANCE` and would take the budget past its limit."""
        return self._budget._resize(self, size)

    def release(self) -> None:
        self._budget._resize(self, 0)


class HeapTrimmer:
    """Gives the C heap's free pages back to the system (glibc's ``malloc_trim``; elsewhere
    nothing), at most once every :data:`TRIM_INTERVAL` seconds, so frame after frame cannot keep
    the event loop trimming.

    The frames a server decodes and drops leave holes in the heap that glibc keeps: after a
    27.5 MB JSON frame of short strings and three msgpack frames of 250,000 strings were
    answered, the server stayed 59 MB larger without a trim, 4 MB with one.
    """

    def __init__(self) -> None:
        self._libc = _libc()
        self._due_on: asyncio.AbstractEventLoop | None = None  # the loop a trim is due on
        self._last = -TRIM_INTERVAL

    def soon(self) -> None:
        """Trim at the event loop's next turn, or once the interval since the last trim has
        passed (outside an event loop: now)."""
        if self._libc is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._libc.malloc_trim(0)
            return
        if self._due_on is not loop:  # none due (or on a loop since gone, as under test clients)
            self._due_on = loop
            loop.call_at(max(loop.time(), self._last + TRIM_INTERVAL), self._trim, loop)

    def _trim(self, loop: asyncio.AbstractEventLoop) -> None:
        self._due_on = None
        self._last = loop.time()
        self._libc.malloc_trim(0)


@functools.lru_cache(maxsize=1)
def _libc() -> Any:
    """The C library's ``malloc_trim`` holder (glibc), else ``None``: the process's own symbols,
    no search for a file."""
    library = ctypes.CDLL(None)
    return library if hasattr(library, "malloc_trim") else None


def budgeted(budget: MemoryBudget) -> type[WebSocketsSansIOProtocol]:
    """uvicorn's WebSocket protocol, holding the bytes each connection has read but the app has
    not taken in ``budget``: an unfinished frame that does not fit closes its connection (1009)."""

    class Budgeted(WebSocketsSansIOProtocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._share = budget.share()
            self._queued: collections.deque[int] = collections.deque()  # sizes of messages for the app
            self._refused = False

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if not self._share.take(self._unread()):
                self._refuse()

        def send_receive_event_to_app(self) -> None:
            size = sum(map(len, self.frames))
            super().send_receive_event_to_app()
            if not self.close_sent:  # else the message was dropped
                self._queued.append(size)

        async def receive(self) -> Any:
            message = await super().receive()
            if message["type"] == "websocket.receive":
                self._queued.popleft()
                self._share.take(self._unread())  # smaller: the app holds it now
            return message

        def connection_lost(self, exc: Exception | None) -> None:
            super().connection_lost(exc)
            self._empty()

        def _unread(self) -> int:
            """Bytes read from the socket that the app has not taken: the parser's buffer, the
            fragments of a message, whole messages waiting."""
            return len(self.conn.reader.buffer) + sum(map(len, self.frames)) + sum(self._queued)

        async def send(self, message: Any) -> None:
            if self._refused:  # the app did not close it: as if the client had gone
                raise ClientDisconnected()
            await super().send(message)

        def _refuse(self) -> None:
            """Close the connection: its frame does not fit the budget. The close frame goes out
            with an end of stream, then what the client still sends is read and dropped until it
            closes (closing at once, with its data unread, would reset the connection, and the
            client could lose the close frame and its reason); a connection the app had closed
            already is dropped at once."""
            self._empty()
            if self.close_sent:
                self.transport.close()
                return
            logger.warning("closing a connection from %s: its unfinished frame does not fit the %d bytes "
                           "for requests in flight (%s)", self.client, budget.limit, INFLIGHT_BYTES_VARIABLE)
            self._refused = self.close_sent = True
            self.queue.put_nowait({"type": "websocket.disconnect", "code": OVER_BUDGET,
                                   "reason": OVER_BUDGET_REASON})
            self.conn.fail(OVER_BUDGET, OVER_BUDGET_REASON)  # from now on, incoming data is dropped
            self.transport.write(b"".join(self.conn.data_to_send()))
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self.close_timer = self.loop.call_later(self.close_timeout, self.transport.close)

        def _empty(self) -> None:
            """Free what the connection read and nobody will take (the protocol may outlive it:
            a parked session's connection refers to it until the grace period ends)."""
            self.conn.reader.buffer.clear()
            self.frames = []
            self._share.release()  # trims the heap if that was much

    return Budgeted

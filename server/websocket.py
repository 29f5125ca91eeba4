"""The ``/ws`` endpoint: one WebSocket connection, one or (with the extensions) many sessions.

``/ws?session_id=<id>`` attaches the connection to a shared session made by MCP's
``openenv/session/create`` instead of opening one (upstream 0.10): reset/step reach the
environment the MCP tools reach. Such a connection speaks the upstream baseline (no
subprotocol is accepted); an unknown id, or a session another socket is attached to, is
answered with a ``SESSION_ERROR`` frame and the connection is closed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
from collections.abc import Mapping
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from openenv_gym.addresses import is_loopback
from openenv_gym.errors import ErrorCode, ServerError
from openenv_gym.protocol import RESUME_HEADER, error_frame
from openenv_gym.protocol.decoded_size import bound, weigh
from openenv_gym.protocol.frames import JSON, Codec, negotiate
from openenv_gym.protocol.shared_frames import DEFAULT_SIZE, SHARED_MEMORY_HEADER, SharedFrames

from .budget import MemoryBudget, Share
from .connection import Connection
from .limits import (
    DEFAULT_SHARED_MEMORY_BYTES,
    MAX_OBJECTS_PER_MESSAGE,
    SHARED_MEMORY_BYTES_VARIABLE,
    ClientSessions,
    RateLimit,
    setting,
)
from .session import Session
from .sessions import SessionManager

logger = logging.getLogger(__name__)

CLIENT_CLOSED = (1000, 1001)
"""Close codes of a client that left on purpose (normal closure, going away): nothing to resume."""


class WebSocketEndpoint:
    """Serves sessions of one :class:`SessionManager` over WebSocket.

    The client's offered subprotocols pick the encoding: ``openenv-gym.v1`` (JSON) or
    ``openenv-gym.v1.msgpack`` switch the extensions on; none keeps upstream's baseline.
    With the extensions, the handshake response carries the session's resume token in the
    ``x-openenv-resume`` header, and a handshake that sends that header back resumes the
    session instead of opening a new one.

    Args:
        manager: where sessions come from.
        max_message_bytes: larger frames are answered with a ``MESSAGE_TOO_LARGE`` error
            frame and dropped; the connection goes on.
        clients: sessions per client address (``TOO_MANY_SESSIONS`` over its limit).
        rate: messages per second per connection; a message over it is answered with
            ``RATE_LIMITED`` (and ``retry_after`` seconds) and dropped; a client that keeps
            sending while refused has its connection closed (1008). ``None``: no limit.
        budget: the server's memory for requests in flight (:mod:`.budget`): each frame holds
            its share, with what it decodes to, until it is answered; a frame that does not fit
            is answered with ``MESSAGE_TOO_LARGE`` and dropped. By default the configured one.
    """

    def __init__(self, manager: SessionManager, *, max_message_bytes: int,
                 clients: ClientSessions | None = None, rate: RateLimit | None = None,
                 budget: MemoryBudget | None = None):
        self.manager = manager
        self.max_message_bytes = max_message_bytes
        self.clients = clients or ClientSessions(None)
        self.rate = rate
        self.budget = budget or MemoryBudget.configured(None, max_message_bytes=max_message_bytes,
                                                        capacity=manager.max_sessions)
        rings = setting(None, SHARED_MEMORY_BYTES_VARIABLE)
        self.shared_memory_left: int = DEFAULT_SHARED_MEMORY_BYTES if rings is None else rings

    async def __call__(self, websocket: WebSocket) -> None:
        codec = self._codec(websocket)
        client = websocket.client.host if websocket.client else ""
        connection = Connection(self.manager, extended=codec is not None,
                                close_socket=lambda: _close(websocket, 1001, "session idle timeout"),
                                admit=functools.partial(self.clients.reserve, client), client=client)
        with self.clients.holding(client, connection):
            await self._run(websocket, connection, codec, client)

    @staticmethod
    def _codec(websocket: WebSocket) -> Codec | None:
        """The encoding the client asked for; ``None``: upstream's baseline."""
        if websocket.query_params.get("session_id"):
            return None
        return negotiate(websocket.scope.get("subprotocols", []))

    @staticmethod
    def _opens(websocket: WebSocket, codec: Codec | None) -> bool:
        """Does the handshake open a new session? Attaching to a shared one or resuming a parked
        one takes none: that session already counts toward its client."""
        if websocket.query_params.get("session_id"):
            return False
        return codec is None or websocket.headers.get(RESUME_HEADER) is None

    async def _start(self, websocket: WebSocket, connection: Connection, codec: Codec | None) -> Session:
        """The connection's session: attached, resumed or new; raises :class:`ServerError`."""
        session_id = websocket.query_params.get("session_id")
        if session_id:
            return connection.attach(session_id)
        token = websocket.headers.get(RESUME_HEADER) if codec is not None else None
        return await (connection.open_primary() if token is None else connection.resume(token))

    @staticmethod
    def _refusal(exc: ServerError) -> dict[str, Any]:
        """What a client whose session could not be set up is sent before the socket closes."""
        return exc.to_frame()

    @staticmethod
    def _error(code: ErrorCode, message: str, **details: Any) -> dict[str, Any]:
        """The reply to a frame that is not answered: too large, or over the rate limit."""
        return error_frame(code, message, **details)

    async def _run(self, websocket: WebSocket, connection: Connection, codec: Codec | None,
                   client: str) -> None:
        subprotocol = None if codec is None else codec.subprotocol
        try:
            with self.clients.reserve(client, 1 if self._opens(websocket, codec) else 0):
                session = await self._start(websocket, connection, codec)
        except ServerError as exc:
            await websocket.accept(subprotocol=subprotocol)
            await self._send(websocket, codec or JSON, self._refusal(exc))
            await websocket.close(code=1000)
            return
        dropped = True
        frames = self._shared_frames(websocket, codec, client)
        try:
            headers = [] if session.resume_token is None else [
                (RESUME_HEADER.encode(), session.resume_token.encode())]
            if frames is not None and codec is not None:
                headers.append((SHARED_MEMORY_HEADER.encode(), f"{frames.name} {frames.size}".encode()))
                codec = dataclasses.replace(codec, frames=frames)
            await websocket.accept(subprotocol=subprotocol, headers=headers)
            dropped = _dropped(await self._serve(websocket, connection, codec or JSON))
        except WebSocketDisconnect as exc:
            logger.debug("client disconnected (code %s)", exc.code)
            dropped = _dropped(exc.code)
        finally:
            await connection.close(dropped=dropped)
            await _close(websocket, 1000)
            if frames is not None:
                frames.close()
                self.shared_memory_left += frames.size

    def _shared_frames(self, websocket: WebSocket, codec: Codec | None, client: str) -> SharedFrames | None:
        """A shared-memory ring for a msgpack client on this machine that asked for one, while
        the server's rings stay within ``$OPENENV_SHARED_MEMORY_BYTES`` (then: the socket)."""
        if codec is None or not codec.binary or websocket.headers.get(SHARED_MEMORY_HEADER) != "1":
            return None
        if not is_loopback(client) or self.shared_memory_left < DEFAULT_SIZE:
            return None
        frames = SharedFrames.create()
        if frames is not None:
            self.shared_memory_left -= frames.size
        return frames

    async def _serve(self, websocket: WebSocket, connection: Connection, codec: Codec) -> int | None:
        """Answer frames until the client leaves: its close code; ``None`` if it sent ``close``
        or was closed for flooding (its sessions are closed, not kept for a resume)."""
        bucket = None if self.rate is None else self.rate.bucket()
        share = self.budget.share()  # the frame being answered, with what it decodes to
        try:
            while True:
                frame = await websocket.receive()
                if frame["type"] == "websocket.disconnect":
                    return int(frame.get("code", 1005))
                wait = 0.0 if bucket is None else bucket.take()
                if bucket is not None and bucket.flooding:
                    await _close(websocket, 1008, "message rate limit exceeded")
                    return None
                reply: dict[str, Any] | None
                if wait:
                    reply = self._rate_limited(wait)
                else:
                    reply = await self._answer(connection, codec, frame, share)
                del frame  # not kept while the next one is awaited: the budget stops counting it below
                if reply is None:
                    return None
                await self._send(websocket, codec, reply)
                share.release()
        finally:
            share.release()

    async def _answer(self, connection: Connection, codec: Codec, frame: Mapping[str, Any],
                      share: Share) -> dict[str, Any] | None:
        raw = frame.get("text")
        if raw is None:
            raw = frame.get("bytes") or b""
        if len(raw) > self.max_message_bytes:
            return self._error(ErrorCode.MESSAGE_TOO_LARGE,
                               f"frame of {len(raw)} bytes is over this server's limit of "
                               f"{self.max_message_bytes} bytes")
        refusal = self._admit(codec, raw, share)
        if refusal is not None:
            return refusal
        return await self._reply(connection, codec, raw)

    def _admit(self, codec: Codec, raw: str | bytes, share: Share) -> dict[str, Any] | None:
        """Hold ``raw``'s weight, with what it decodes to, in ``share``; else the refusal.

        A short frame holds its bound (each byte a value: no look inside); a longer one, or
        one whose bound does not fit, is weighed first (:mod:`openenv_gym.protocol.decoded_size`).
        """
        if len(raw) <= MAX_OBJECTS_PER_MESSAGE and share.take(bound(raw)):
            return None
        try:
            weight = weigh(raw, binary=codec.binary, max_objects=MAX_OBJECTS_PER_MESSAGE)
        except ServerError as exc:  # more values than any request needs
            return self._error(ErrorCode(exc.code), exc.message, **exc.details)
        except ValueError as exc:
            return self._error(ErrorCode.INVALID_JSON, f"Invalid JSON: {exc}")
        if share.take(weight):
            return None
        return self._error(ErrorCode.MESSAGE_TOO_LARGE, self.budget.refusal(weight),
                           max_inflight_bytes=self.budget.limit)

    async def _reply(self, connection: Connection, codec: Codec, raw: str | bytes) -> dict[str, Any] | None:
        """The reply to one frame admitted; ``None`` when the client closed."""
        try:
            message = codec.decode(raw)
        except ServerError as exc:  # a reference into the server's own ring
            return exc.to_frame()
        except ValueError as exc:
            return error_frame(ErrorCode.INVALID_JSON, f"Invalid JSON: {exc}")
        return await connection.handle(message)

    def _rate_limited(self, wait: float) -> dict[str, Any]:
        assert self.rate is not None
        return self._error(ErrorCode.RATE_LIMITED,
                           f"over this server's limit of {self.rate.rate:g} messages/s per connection "
                           f"(bursts of {self.rate.burst}): message dropped, retry in {wait:.3f}s",
                           retry_after=round(wait, 3))

    @staticmethod
    async def _send(websocket: WebSocket, codec: Codec, reply: dict[str, Any]) -> None:
        try:
            data = codec.encode(reply)
        except (TypeError, ValueError) as exc:  # e.g. an observation nested deeper than orjson writes
            data = codec.encode(error_frame(ErrorCode.EXECUTION_ERROR, f"the reply cannot be encoded: {exc}"))
        if isinstance(data, bytes):
            await websocket.send_bytes(data)
        else:
            await websocket.send_text(data)


def _dropped(close_code: int | None) -> bool:
    """Did the connection end without the client meaning it (no ``close``, no normal closure)?"""
    return close_code not in (None, *CLIENT_CLOSED)


async def _close(websocket: WebSocket, code: int, reason: str | None = None) -> None:
    if websocket.application_state is WebSocketState.CONNECTED:
        with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
            await websocket.close(code=code, reason=reason)

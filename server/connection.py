"""The sessions of one WebSocket connection, and the messages that address several of them.

A plain connection holds one session, as upstream. On a connection that negotiated the
extensions, ``{"type": "open", "data": {"count": n}}`` adds ``n`` sessions (numbered from 1;
the connection's own session is 0) and ``{"type": "batch", "data": [...]}`` carries requests
for many sessions in one frame::

    {"type": "batch", "id": 7, "data": [{"session": 0, "type": "step", "data": {"message": "a"}},
                                        {"session": 1, "type": "reset", "data": {"seed": 3}}]}
    → {"type": "batch", "id": 7, "data": [<observation reply>, <observation reply>]}

Each item's reply is what the single request would have got, errors included, so one
failing sub-environment never fails the others. A batch addresses each session at most once
and holds at most as many items as the connection has sessions; otherwise it is refused
whole with a ``VALIDATION_ERROR`` before any item runs.

The connection's own session can be resumed by a later connection when this one drops (see
:mod:`.sessions`); the sessions added by ``open`` end with their connection. A connection that
*attached* to a shared session (``/ws?session_id=``, made by MCP's ``openenv/session/create``)
leaves it open when it ends: the session belongs to its MCP client.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from openenv_gym.errors import ErrorCode, ServerError
from openenv_gym.protocol import error_frame

from .batch import Target, serve_items
from .session import Reply, Session, is_request_id
from .sessions import SessionManager

MAX_SESSIONS_PER_OPEN = 4096
Admit = Callable[[int], contextlib.AbstractContextManager[None]]
"""Admits ``n`` more sessions while they are opened (raises :class:`ServerError` over a limit)."""


def admit_any(count: int) -> contextlib.AbstractContextManager[None]:
    return contextlib.nullcontext()


class Connection:
    """Sessions bound to one WebSocket; closing the connection closes them all.

    ``admit`` guards the sessions an ``open`` message adds (the per-client limit, ``limits.py``).
    """

    def __init__(self, manager: SessionManager, *, extended: bool,
                 close_socket: Callable[[], Awaitable[None]], admit: Admit = admit_any, client: str = ""):
        self.manager = manager
        self.client = client
        self.extended = extended
        self.sessions: dict[int, Session] = {}
        self._next_index = 0
        self._close_socket = close_socket
        self._admit = admit
        self._attached: Session | None = None

    async def open_primary(self) -> Session:
        """Open the connection's own session 0 (resumable where the extensions are on)."""
        session = await self.manager.open(extended=self.extended, on_reap=self._reap,
                                          on_release=self._release if self.extended else None,
                                          client=self.client)
        self._adopt(session)
        return session

    async def resume(self, token: str) -> Session:
        """Take over the session holding ``token`` as session 0; raises :class:`ServerError`."""
        session = self.manager.resume(token, on_reap=self._reap, on_release=self._release, client=self.client)
        self._adopt(session)
        return session

    def attach(self, session_id: str) -> Session:
        """Take the shared session ``session_id`` as session 0; raises :class:`ServerError`."""
        session = self.manager.attach(session_id, on_reap=self._reap)
        self._attached = session
        self._adopt(session)
        return session

    def _adopt(self, session: Session) -> None:
        self.sessions[0] = session
        self._next_index = 1

    async def open(self, count: int = 1) -> list[int]:
        """Open ``count`` sessions, all or none; raises the manager's :class:`ServerError`."""
        opened: list[Session] = []
        try:
            for _ in range(count):
                opened.append(await self.manager.open(extended=self.extended, on_reap=self._reap,
                                                      client=self.client))
        except ServerError:
            for session in opened:
                await self.manager.close(session)
            raise
        indices = list(range(self._next_index, self._next_index + count))
        self._next_index += count
        self.sessions.update(zip(indices, opened, strict=True))
        return indices

    async def close(self, *, dropped: bool = False) -> None:
        """Close every session of the connection; ``dropped``: park its own session instead.

        A connection that added sessions with ``open`` is not resumed: its client would get
        session 0 back without the others.
        """
        sessions, self.sessions = list(self.sessions.values()), {}
        for session in sessions:
            if session is self._attached:
                await self.manager.detach(session)
            elif not (dropped and self._next_index == 1 and self.manager.park(session)):
                await self.manager.close(session)

    async def handle(self, message: Any) -> Reply | None:
        """The reply to one decoded message, or ``None`` when the client closed."""
        kind = message.get("type") if self.extended and isinstance(message, dict) else None
        if not isinstance(kind, str):  # e.g. a numpy array (msgpack): no == on it
            kind = None
        if kind in ("open", "batch") and not is_request_id(message.get("id")):
            return error_frame(ErrorCode.VALIDATION_ERROR, "a request id must be a number or a string")
        if kind == "open":
            return await self._with_id(message, self._open(message.get("data")))
        if kind == "batch":
            return await self._with_id(message, self._batch(message.get("data")))
        primary = self.sessions.get(0)
        if primary is None:
            return error_frame(ErrorCode.SESSION_ERROR, "session 0 was closed (idle timeout)")
        return await primary.handle(message)

    @staticmethod
    async def _with_id(message: dict[str, Any], reply: Awaitable[Reply]) -> Reply:
        answer = await reply
        if "id" in message:
            answer["id"] = message["id"]
        return answer

    async def _open(self, data: Any) -> Reply:
        count = data.get("count") if isinstance(data, dict) else None
        if not isinstance(count, int) or not 1 <= count <= MAX_SESSIONS_PER_OPEN:
            return error_frame(ErrorCode.VALIDATION_ERROR,
                               f"open needs data.count between 1 and {MAX_SESSIONS_PER_OPEN}")
        try:
            with self._admit(count):
                indices = await self.open(count)
        except ServerError as exc:
            return exc.to_frame()
        return {"type": "opened", "data": {"sessions": indices}}

    async def _batch(self, items: Any) -> Reply:
        if not isinstance(items, list):
            return error_frame(ErrorCode.VALIDATION_ERROR, "batch data must be a list of requests")
        refusal = self._refusal(items)
        if refusal is not None:
            return refusal
        return {"type": "batch", "data": await serve_items([self._target(item) for item in items])}

    def _refusal(self, items: list[Any]) -> Reply | None:
        """Why a batch is refused whole, before any item runs: more items than the connection
        holds sessions, or a session addressed twice (so a batch costs the server work in
        proportion to the sessions it addresses, never to what a client can pack in a frame)."""
        if len(items) > len(self.sessions):
            return error_frame(ErrorCode.VALIDATION_ERROR,
                               f"a batch carries at most one request per session of its connection: "
                               f"{len(items)} items for {len(self.sessions)} open session(s)",
                               max_items=len(self.sessions))
        seen: set[int] = set()
        for item in items:
            index = item.get("session") if isinstance(item, dict) else None
            if type(index) is not int:
                continue  # not a session: that item gets its own error
            if index in seen:
                return error_frame(ErrorCode.VALIDATION_ERROR,
                                   f"session {index} appears more than once in this batch: one request "
                                   "per session per batch (send the next in the next batch)")
            seen.add(index)
        return None

    def _target(self, item: Any) -> Target:
        if not isinstance(item, dict):
            return error_frame(ErrorCode.VALIDATION_ERROR, "a batch item must be an object")
        if isinstance(item.get("type"), str) and item["type"] == "close":
            return error_frame(ErrorCode.VALIDATION_ERROR,
                               "sessions of a batch end with their connection, not with 'close'")
        index = item.get("session")
        session = self.sessions.get(index) if type(index) is int else None
        if session is None:
            return error_frame(ErrorCode.VALIDATION_ERROR,
                               f"no open session {item.get('session')!r} on this connection")
        return session, {k: v for k, v in item.items() if k != "session"}

    def _release(self, session: Session) -> None:
        """Another connection resumed ``session``: forget it without closing it."""
        self.sessions = {i: s for i, s in self.sessions.items() if s is not session}

    async def _reap(self, session: Session) -> None:
        self.sessions = {i: s for i, s in self.sessions.items() if s is not session}
        if not self.sessions:
            await self._close_socket()

"""The ``/ws`` endpoint: one WebSocket connection is one session."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from openenv_gym.errors import ErrorCode, ServerError
from openenv_gym.protocol import SUBPROTOCOL, dumps, error_frame, loads

from .session import Session
from .sessions import SessionManager

logger = logging.getLogger(__name__)


class WebSocketEndpoint:
    """Serves sessions of one :class:`SessionManager` over WebSocket.

    Args:
        manager: where sessions come from.
        max_message_bytes: larger frames are answered with a ``MESSAGE_TOO_LARGE`` error
            frame and dropped; the session goes on.
    """

    def __init__(self, manager: SessionManager, *, max_message_bytes: int):
        self.manager = manager
        self.max_message_bytes = max_message_bytes

    async def __call__(self, websocket: WebSocket) -> None:
        extended = SUBPROTOCOL in websocket.scope.get("subprotocols", [])
        await websocket.accept(subprotocol=SUBPROTOCOL if extended else None)
        try:
            session = await self.manager.open(extended=extended,
                                              on_reap=lambda: self._reap(websocket))
        except ServerError as exc:
            await websocket.send_text(dumps(exc.to_frame()))
            await websocket.close(code=1000)
            return
        try:
            await self._serve(websocket, session)
        except WebSocketDisconnect:
            logger.debug("session %s: client disconnected", session.session_id)
        finally:
            await self.manager.close(session)
            if websocket.application_state is WebSocketState.CONNECTED:
                with contextlib.suppress(RuntimeError, OSError):
                    await websocket.close(code=1000)

    async def _serve(self, websocket: WebSocket, session: Session) -> None:
        while True:
            frame = await websocket.receive()
            if frame["type"] == "websocket.disconnect":
                return
            reply = await self._answer(session, frame)
            if reply is None:
                return
            await websocket.send_text(reply)

    async def _answer(self, session: Session, frame: Mapping[str, Any]) -> str | None:
        raw = frame.get("text")
        if raw is None:
            raw = frame.get("bytes") or b""
        if len(raw) > self.max_message_bytes:
            return dumps(error_frame(
                ErrorCode.MESSAGE_TOO_LARGE,
                f"frame of {len(raw)} bytes is over this server's limit of "
                f"{self.max_message_bytes} bytes"))
        try:
            message = loads(raw)
        except ValueError as exc:
            return dumps(error_frame(ErrorCode.INVALID_JSON, f"Invalid JSON: {exc}"))
        reply = await session.handle(message)
        return None if reply is None else dumps(reply)

    async def _reap(self, websocket: WebSocket) -> None:
        with contextlib.suppress(RuntimeError, OSError):
            await websocket.close(code=1001, reason="session idle timeout")

"""``WS /mcp``: MCP's JSON-RPC 2.0 over a WebSocket, one session per socket, as upstream.

Every frame is one raw JSON-RPC request (no ``{"type": ...}`` envelope) and gets one response
frame, errors included: bad JSON is ``-32700``, a frame that is not a request ``-32600``. The
socket's own session (made when it connects, counted toward the server's capacity) answers
``tools/list`` and ``tools/call``; ``openenv/session/create`` names it and
``openenv/session/close`` refuses to close it (``-32600``): it ends with the socket. A server at
capacity accepts the socket, sends one ``-32000`` response (``data``: ``active_sessions``,
``max_sessions``) and closes it. The ``/ws`` endpoint's limits apply: bearer token, sessions per
client, frame size, message rate and idle timeout.

>>> McpWebSocketEndpoint._error(ErrorCode.RATE_LIMITED, "slow down", retry_after=0.5)["error"]
{'code': -32000, 'message': 'slow down', 'data': {'code': 'RATE_LIMITED', 'retry_after': 0.5}}
"""

from __future__ import annotations

import time
from typing import Any

from starlette.websockets import WebSocket

from openenv_gym.errors import ErrorCode, ServerError
from openenv_gym.protocol.frames import Codec

from .connection import Connection
from .mcp import RpcCode, RpcError, error_response, parse, respond, session_handlers
from .session import Session
from .websocket import WebSocketEndpoint


class McpWebSocketEndpoint(WebSocketEndpoint):
    """Serves ``WS /mcp``: the ``/ws`` endpoint's connection handling, JSON-RPC frames."""

    @staticmethod
    def _codec(websocket: WebSocket) -> Codec | None:
        return None  # plain JSON text frames, as upstream; no subprotocol

    async def _start(self, websocket: WebSocket, connection: Connection, codec: Codec | None) -> Session:
        return await connection.open_primary()

    @staticmethod
    def _refusal(exc: ServerError) -> dict[str, Any]:
        return error_response(RpcCode.SERVER_ERROR, exc.message, data=exc.details or None)

    @staticmethod
    def _error(code: ErrorCode, message: str, **details: Any) -> dict[str, Any]:
        return error_response(RpcCode.SERVER_ERROR, message, data={"code": code.value, **details})

    async def _reply(self, connection: Connection, codec: Codec, raw: str | bytes) -> dict[str, Any]:
        session = connection.sessions.get(0)
        if session is None:
            return error_response(RpcCode.SERVER_ERROR, "the session was closed (idle timeout)")
        session.last_activity = time.monotonic()
        try:
            request = parse(raw.encode() if isinstance(raw, str) else raw)
        except RpcError as exc:
            return error_response(exc.code, exc.message)
        return await respond(request, session_handlers(session))

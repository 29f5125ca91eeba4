"""``WS /ws/ui``: pushes the web interface's episode to every connected client (upstream 0.10).

A client gets one ``{"type": "state_update", "episode_state": {...}}`` text frame when it
connects and another after each ``/web/reset`` and ``/web/step`` (and when the web's session
ends). What a client sends is read and ignored (a keep-alive, as upstream), text or binary;
a frame over :data:`MAX_FRAME_BYTES` closes the socket with 1009. Beyond :data:`MAX_CLIENTS`
sockets a new one is closed at once with 1013 (try again later). A client too slow to take
an update within :data:`SEND_TIMEOUT` seconds is dropped, so it never holds up the others.

Browsers cannot set an ``Authorization`` header: with a token, one offers the token
subprotocol (:mod:`.token`) next to :data:`UI_SUBPROTOCOL`, which the server then selects
(a browser fails a handshake that offered subprotocols and got none back).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from openenv_gym.protocol.frames import json_dumps

logger = logging.getLogger(__name__)

UI_SUBPROTOCOL = "openenv-gym.ui"
"""Subprotocol the server selects on ``/ws/ui`` when offered (none otherwise, as upstream)."""
MAX_FRAME_BYTES = 64 * 1024
"""Largest frame a ``/ws/ui`` client may send (nothing it sends is used)."""
MAX_CLIENTS = 256
"""Most ``/ws/ui`` sockets open at once."""
SEND_TIMEOUT = 10.0
"""Seconds one client may take to accept an update before it is dropped."""


class UiChannel:
    """The ``/ws/ui`` sockets, and the update each one is sent.

    Args:
        current: the update a client gets when it connects (the episode as it is now).
    """

    def __init__(self, current: Callable[[], dict[str, Any]]):
        self._current = current
        self._clients: set[WebSocket] = set()

    @property
    def client_count(self) -> int:
        return len(self._clients)

    async def __call__(self, websocket: WebSocket) -> None:
        """Serve one ``/ws/ui`` connection until the client leaves."""
        offered = websocket.scope.get("subprotocols", [])
        await websocket.accept(subprotocol=UI_SUBPROTOCOL if UI_SUBPROTOCOL in offered else None)
        if len(self._clients) >= MAX_CLIENTS:
            await websocket.close(code=1013, reason=f"over {MAX_CLIENTS} /ws/ui clients; try again later")
            return
        self._clients.add(websocket)
        try:
            await self._send(websocket, json_dumps(self._current()))
            await self._drain(websocket)
        except WebSocketDisconnect:
            logger.debug("a /ws/ui client left")
        finally:
            self._clients.discard(websocket)

    async def _drain(self, websocket: WebSocket) -> None:
        """Read (and ignore) the client's frames; close on an oversized one."""
        while websocket in self._clients:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("text") or message.get("bytes") or ""
            if len(data) > MAX_FRAME_BYTES:
                reason = f"frames to /ws/ui are limited to {MAX_FRAME_BYTES} bytes"
                await websocket.close(code=1009, reason=reason)
                return

    async def broadcast(self, update: dict[str, Any]) -> None:
        """Send ``update`` to every client at once; drop those that fail or are too slow."""
        if not self._clients:
            return
        text = json_dumps(update)
        clients = list(self._clients)
        results = await asyncio.gather(*(self._send(client, text) for client in clients),
                                       return_exceptions=True)
        for client, result in zip(clients, results, strict=True):
            if isinstance(result, BaseException):
                logger.debug("dropping a /ws/ui client: %s", type(result).__name__)
                self._clients.discard(client)
                await _close_quietly(client)

    @staticmethod
    async def _send(websocket: WebSocket, text: str) -> None:
        await asyncio.wait_for(websocket.send_text(text), SEND_TIMEOUT)


async def _close_quietly(websocket: WebSocket) -> None:
    """Close a dropped client's socket; one that is already gone needs nothing."""
    if websocket.application_state is WebSocketState.CONNECTED:
        with contextlib.suppress(RuntimeError, OSError):  # the peer vanished: nothing to tell it
            await websocket.close(code=1011, reason="could not send the update in time")

"""The async client of one OpenEnv session over WebSocket: :class:`EnvClient`.

Works against our servers and upstream ``openenv-core`` servers alike. The extensions
(request ids, ``info``, ``truncated``, ``render``, batches, msgpack) are switched on only when
the server selects one of our subprotocols (:mod:`openenv_gym.protocol.frames`) in the handshake,
which upstream never does.

Timeouts never desynchronise the stream: with request ids a late reply is recognised and
dropped; without them (upstream) the connection is closed after a timeout, so a late reply
can never be read as the answer to the next request.

For synchronous code use :class:`~openenv_gym.client.sync_client.SyncEnvClient` (``.sync()``), a
blocking client with the same methods and no event loop.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

import httpx
import websockets
from pydantic import BaseModel
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from ..errors import OpenEnvGymError, TransportError
from ..mcp_types import Tool
from ..protocol import CLOSE, Dropped, RequestIds, calls, outcome
from ..protocol.tool_calls import TOOLS_CALL, TOOLS_LIST, tool_value, tools_of
from ..types import StepResult
from .base import (
    ClientBase,
)
from .sync_client import SyncEnvClient

T = TypeVar("T")

__all__ = ["EnvClient"]


async def _within(seconds: float, awaitable: Coroutine[Any, Any, T]) -> T:
    """``awaitable`` with a deadline; ``asyncio.timeout`` where it exists (no extra task)."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await awaitable
    return await asyncio.wait_for(awaitable, seconds)


class EnvClient(ClientBase):
    """One session on an OpenEnv server over WebSocket (async); options as :class:`ClientBase`.

    >>> async def main(url):                                      # doctest: +SKIP
    ...     async with EnvClient(url) as client:
    ...         await client.reset(seed=0)
    ...         return (await client.step({"message": "hi"})).observation
    """

    def __init__(self, base_url: str, **options: Any):
        super().__init__(base_url, **options)
        self._ws: ClientConnection | None = None
        self._mcp_id = 0
        self.received_bytes = 0
        """Bytes of the frames read from the server so far (all connections of this client)."""

    @property
    def connected(self) -> bool:
        return self._ws is not None

    async def connect(self) -> EnvClient:
        """Open the session (idempotent)."""
        if self._ws is None:
            await self._open(self.headers)
        return self

    async def _open(self, headers: dict[str, str], *, resumed: bool = False,
                    within: float | None = None) -> None:
        timeout = self.connect_timeout if within is None else min(self.connect_timeout, within)
        try:
            self._ws = await websockets.connect(
                self.ws_url, subprotocols=[Subprotocol(p) for p in self.offered] or None,
                additional_headers=self._handshake_headers(headers) or None,
                open_timeout=timeout, max_size=self.max_message_bytes,
                compression=None if self.loopback else "deflate", ping_interval=None,
                proxy=None if self.loopback else True)
        except (OSError, InvalidHandshake, TimeoutError, asyncio.TimeoutError) as exc:
            raise self._connect_error(exc) from exc
        response = self._ws.response
        if not self._opened(self._ws.subprotocol, response.headers if response else {}, resumed=resumed):
            await self._ws.close()
            await self._open(headers, resumed=resumed, within=within)

    async def call(self, call: calls.Call[T]) -> T:
        """Make one request; its parsed reply (the server's error raised)."""
        self._check_extension(call)
        return call.parse(await self.request(call.message))

    async def reset(self, **kwargs: Any) -> StepResult[dict[str, Any]]:
        """Start a new episode; ``kwargs`` (``seed``, ``episode_id``, env-specific) go to reset."""
        return await self.call(calls.reset(kwargs))

    async def step(self, action: Mapping[str, Any] | BaseModel) -> StepResult[dict[str, Any]]:
        """Apply one action (a dict of the Action's fields, or the Action model)."""
        return await self.call(calls.step(action))

    async def state(self) -> dict[str, Any]:
        """The episode's state (``episode_id``, ``step_count`` and the env's own fields)."""
        return await self.call(calls.state())

    async def render(self, mode: str = "ansi") -> Any:
        """The environment's rendering (text, or an RGB array); ``None`` from upstream servers."""
        return await self.call(calls.render(mode)) if self.extended else None

    async def open_sessions(self, count: int) -> list[int]:
        """Open ``count`` more sessions on this connection (extension ``batch``); their indices."""
        self._resume_token = None  # a resumed connection would carry session 0 only
        return await self.call(calls.open_sessions(count))

    async def batch(self, requests: list[dict[str, Any]]) -> list[Any]:
        """Send many sessions' requests in one frame (``{"session": i, "type": ..., "data": ...}``).

        Returns each request's raw reply, in order; an error reply fails only its own request
        (read each with :func:`~openenv_gym.protocol.outcome`).
        """
        return await self.call(calls.batch(requests))

    async def pipeline(self, requests: list[calls.Call[T]]) -> list[T | OpenEnvGymError]:
        """Send ``requests`` back to back, then read and parse their replies one by one: the
        server answers one while this client still sends, reads or parses the others (a
        connection's frames are answered in order).

        Returns each request's parsed reply or the server's error (an error fails only its own
        request); a lost connection or a timeout is raised, as by :meth:`call`. Where the
        connection drops with one request left unanswered, the session is resumed (if the server
        allows it) and that request sent again; with more, the loss is raised (a server
        remembers only its last reply, so resending an earlier request could run it twice).
        """
        for call in requests:
            self._check_extension(call)
        if self._ws is None:
            raise self._not_connected()
        sent = [(call, self._stamp(call.message)) for call in requests]
        results: list[Any] = []  # each a T or an OpenEnvGymError
        try:
            for call, _ in sent:
                await self._send(call.message)
            for call, request_id in sent:
                results.append(outcome(call, await self._receive(call.message, request_id)))
        except Dropped as dropped:
            unanswered = sent[len(results):]
            if len(unanswered) > 1:
                raise dropped.error from dropped
            [(call, request_id)] = unanswered
            results.append(outcome(call, await self._resume(call.message, request_id, dropped.error)))
        return results

    async def mcp(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """One JSON-RPC request to the session's environment; its ``result``."""
        self._mcp_id += 1
        return await self.call(calls.mcp(method, params, self._mcp_id))

    async def list_tools(self) -> list[Tool]:
        """The environment's MCP tools (name, description, JSON Schema of the arguments)."""
        return tools_of(await self.mcp(TOOLS_LIST))

    async def call_tool(self, name: str, **arguments: Any) -> Any:
        """Call the tool ``name``; what it returned. Raises :class:`~openenv_gym.errors.ToolCallError`."""
        return tool_value(await self.mcp(TOOLS_CALL, {"name": name, "arguments": arguments}))

    async def schema(self) -> dict[str, Any]:
        """The server's ``GET /schema``: JSON Schemas of action, observation and state."""
        try:
            async with httpx.AsyncClient(timeout=self.timeout, trust_env=not self.loopback,
                                         headers=self.headers) as http:
                response = await http.get(self.base_url + "/schema")
        except httpx.HTTPError as exc:
            raise self._schema_unreachable(exc) from exc
        return self._schema_of(response)

    async def close(self) -> None:
        """End the session (idempotent); the server closes its environment."""
        ws, self._ws = self._ws, None
        if ws is None:
            return
        try:
            await _within(self.connect_timeout, ws.send(self.codec.encode(CLOSE)))
        except (ConnectionClosed, TimeoutError, asyncio.TimeoutError, OSError):
            pass  # the server is gone or stuck: closing our end below is all that is left
        await ws.close()
        self._release_frames()

    async def __aenter__(self) -> EnvClient:
        return await self.connect()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def sync(self) -> SyncEnvClient:
        """A blocking client with the same options (not yet connected)."""
        return SyncEnvClient(self.base_url, **self.options)

    async def request(self, message: dict[str, Any]) -> Any:
        """Send one message and return the server's raw reply (ids handled, errors not raised).

        If the connection drops, the session is resumed where the server allows it (see
        ``resume_timeout``) and the message sent again.
        """
        if self._ws is None:
            raise self._not_connected()
        request_id = self._stamp(message)
        try:
            return await self._exchange(message, request_id)
        except Dropped as dropped:
            return await self._resume(message, request_id, dropped.error)

    async def _resume(self, message: dict[str, Any], request_id: int | None, lost: OpenEnvGymError) -> Any:
        headers, plan = self._resume_headers(lost), self._resume_plan(lost)
        while True:
            try:
                await self._open(headers, resumed=True, within=plan.remaining())
                return await self._exchange(message, request_id)
            except (TransportError, Dropped) as exc:
                await asyncio.sleep(plan.retry_after(exc))

    async def _exchange(self, message: dict[str, Any], request_id: int | None) -> Any:
        await self._send(message)
        return await self._receive(message, request_id)

    async def _send(self, message: dict[str, Any]) -> None:
        ws = self._ws
        if ws is None:  # lost while an earlier message of a pipeline was sent
            raise self._not_connected()
        try:
            await ws.send(self.codec.encode(message))
        except ConnectionClosed as exc:
            raise await self._lost(ws, exc) from exc

    async def _receive(self, message: dict[str, Any], request_id: int | None) -> Any:
        """The reply to ``message`` (sent before), late replies to earlier requests dropped."""
        ws = self._ws
        if ws is None:
            raise self._not_connected()
        try:
            return await _within(self.timeout, self._reply(ws, request_id))
        except (TimeoutError, asyncio.TimeoutError) as exc:
            if request_id is None:  # upstream cannot match replies: drop the connection
                self._abandon()
            raise self._timeout_error(message, self.timeout) from exc
        except ConnectionClosed as exc:
            raise await self._lost(ws, exc) from exc

    async def _lost(self, ws: ClientConnection, exc: ConnectionClosed) -> Exception:
        """What to raise for a connection that closed: :class:`Dropped` where resuming may help."""
        self._ws = None
        closed = await self._closed(ws, exc)  # its last frame may point into the ring: read first
        self._release_frames()
        return self._dropped(closed, exc.rcvd.code if exc.rcvd else None)

    async def _reply(self, ws: ClientConnection, request_id: int | None) -> Any:
        while True:
            data = await ws.recv()
            self.received_bytes += len(data)
            reply = self._decode(data)
            if RequestIds.answers(reply, request_id):
                return reply

    async def _closed(self, ws: ClientConnection, exc: ConnectionClosed) -> OpenEnvGymError:
        try:
            last = self._decode(await ws.recv())
        except (ConnectionClosed, OpenEnvGymError):
            last = None  # nothing buffered
        code, reason = (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (None, "")
        return self._closed_error(code, reason, last)

    def _abandon(self) -> None:
        ws, self._ws = self._ws, None
        self._release_frames()
        if ws is not None:
            ws.transport.abort()

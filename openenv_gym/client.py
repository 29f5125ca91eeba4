"""The client of one OpenEnv session: async :class:`EnvClient` and its sync facade.

Works against our servers and upstream ``openenv-core`` servers alike. The extensions
(request ids, ``info``, ``truncated``, ``render``) are switched on only when the server
selects one of our subprotocols (:mod:`openenv_gym.codecs`) in the handshake, which upstream never does.

Timeouts never desynchronise the stream: with request ids a late reply is recognised and
dropped; without them (upstream) the connection is closed after a timeout, so a late reply
can never be read as the answer to the next request.

>>> from openenv_gym.providers import ProcessProvider          # doctest: +SKIP
>>> with ProcessProvider("echo") as server:                     # doctest: +SKIP
...     client = EnvClient(server.start()).sync().connect()
...     client.reset()
...     client.step({"message": "hi"}).observation["echoed_message"]
'hi'
"""

from __future__ import annotations

import asyncio
import ipaddress
import sys
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
import websockets
from pydantic import BaseModel
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from .codecs import CODECS, ENCODINGS, JSON, Codec
from .errors import (
    MessageTooLargeError,
    OpenEnvGymError,
    ProtocolError,
    RequestTimeoutError,
    ServerError,
    TransportError,
)
from .loop import LoopRunner
from .protocol import check_reply, result_from_reply
from .types import StepResult

T = TypeVar("T")

DEFAULT_TIMEOUT = 60.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_MAX_MESSAGE_BYTES = 100 * 1024 * 1024
_CLOSE_MESSAGE_TOO_BIG = 1009


def _is_loopback(host: str | None) -> bool:
    if host in (None, "localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def http_url(base_url: str) -> str:
    """The server's HTTP root for any of ``host:port``, ``http://…``, ``ws://…/ws``.

    >>> http_url("ws://127.0.0.1:8000/ws"), http_url("localhost:8000")
    ('http://127.0.0.1:8000', 'http://localhost:8000')
    """
    if "://" not in base_url:
        base_url = "http://" + base_url
    parts = urlsplit(base_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/")
    path = path[: -len("/ws")] if path.endswith("/ws") else path
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def ws_url(base_url: str) -> str:
    """The session endpoint ``ws(s)://…/ws`` of a server.

    >>> ws_url("https://env.example.org/space")
    'wss://env.example.org/space/ws'
    """
    parts = urlsplit(http_url(base_url))
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path + "/ws", "", ""))


def _payload(action: Mapping[str, Any] | BaseModel) -> dict[str, Any]:
    if isinstance(action, BaseModel):
        return action.model_dump()
    if isinstance(action, Mapping):
        return dict(action)
    raise TypeError(f"an action must be a dict or a pydantic model, not {type(action).__name__}")


async def _within(seconds: float, awaitable: Coroutine[Any, Any, T]) -> T:
    """``awaitable`` with a deadline; ``asyncio.timeout`` where it exists (no extra task)."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await awaitable
    return await asyncio.wait_for(awaitable, seconds)


class EnvClient:
    """One session on an OpenEnv server over WebSocket (async).

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8000`` (``ws://…/ws`` also works).
        timeout: seconds to wait for each reply.
        connect_timeout: seconds to wait for the WebSocket handshake.
        max_message_bytes: largest reply accepted.
        extensions: offer the openenv-gym extensions (False speaks upstream's baseline only).
        encoding: ``"json"`` or ``"msgpack"`` (binary frames, numpy arrays as raw bytes); used
            only where the server speaks the extensions.
    """

    def __init__(self, base_url: str, *, timeout: float = DEFAULT_TIMEOUT,
                 connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, extensions: bool = True,
                 encoding: str = "json"):
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {sorted(ENCODINGS)}, got {encoding!r}")
        self.base_url = http_url(base_url)
        self.ws_url = ws_url(base_url)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_message_bytes = max_message_bytes
        self._offered = [ENCODINGS[encoding].subprotocol, JSON.subprotocol] if extensions else []
        self._codec: Codec = JSON
        self._ws: ClientConnection | None = None
        self._next_id = 0

    @property
    def extended(self) -> bool:
        """True once connected to a server that speaks the openenv-gym extensions."""
        return self._ws is not None and self._ws.subprotocol in CODECS

    @property
    def encoding(self) -> Codec:
        """The frame encoding of this connection (JSON unless msgpack was negotiated)."""
        return self._codec

    @property
    def connected(self) -> bool:
        return self._ws is not None

    async def connect(self) -> EnvClient:
        """Open the session (idempotent)."""
        if self._ws is not None:
            return self
        loopback = _is_loopback(urlsplit(self.ws_url).hostname)
        try:
            self._ws = await websockets.connect(
                self.ws_url, subprotocols=[Subprotocol(p) for p in dict.fromkeys(self._offered)] or None,
                open_timeout=self.connect_timeout, max_size=self.max_message_bytes,
                compression=None if loopback else "deflate", ping_interval=None,
                proxy=None if loopback else True)
        except (TimeoutError, asyncio.TimeoutError) as exc:
            raise RequestTimeoutError(
                f"no WebSocket handshake from {self.ws_url} within {self.connect_timeout}s") from exc
        except (OSError, InvalidHandshake) as exc:
            raise TransportError(f"cannot open a session at {self.ws_url}: {exc}") from exc
        self._codec = CODECS.get(self._ws.subprotocol or "", JSON)
        return self

    async def reset(self, **kwargs: Any) -> StepResult[dict[str, Any]]:
        """Start a new episode; ``kwargs`` (``seed``, ``episode_id``, env-specific) go to ``reset``."""
        return result_from_reply(await self.request({"type": "reset", "data": kwargs}))

    async def step(self, action: Mapping[str, Any] | BaseModel) -> StepResult[dict[str, Any]]:
        """Apply one action (a dict of the Action's fields, or the Action model)."""
        return result_from_reply(await self.request({"type": "step", "data": _payload(action)}))

    async def state(self) -> dict[str, Any]:
        """The episode's state (``episode_id``, ``step_count`` and the env's own fields)."""
        return check_reply(await self.request({"type": "state"}), "state")

    async def render(self) -> str | None:
        """The environment's text rendering; ``None`` if it has none or the server is upstream."""
        if not self.extended:
            return None
        return check_reply(await self.request({"type": "render"}), "render")["text"]

    async def open_sessions(self, count: int) -> list[int]:
        """Open ``count`` more sessions on this connection (extension ``batch``); their indices."""
        self._require_extensions("open")
        reply = await self.request({"type": "open", "data": {"count": count}})
        return list(check_reply(reply, "opened")["sessions"])

    async def batch(self, requests: list[dict[str, Any]]) -> list[Any]:
        """Send many sessions' requests in one frame (``{"session": i, "type": ..., "data": ...}``).

        Returns each request's raw reply, in order; an error reply fails only its own request
        (see :func:`~openenv_gym.protocol.result_from_reply`).
        """
        self._require_extensions("batch")
        return list(check_reply(await self.request({"type": "batch", "data": requests}), "batch"))

    def _require_extensions(self, what: str) -> None:
        if self._ws is not None and not self.extended:
            raise ProtocolError(f"{self.base_url} is not an openenv-gym server: no {what!r} messages")

    async def schema(self) -> dict[str, Any]:
        """The server's ``GET /schema``: JSON Schemas of action, observation and state."""
        loopback = _is_loopback(urlsplit(self.base_url).hostname)
        try:
            async with httpx.AsyncClient(timeout=self.timeout, trust_env=not loopback) as http:
                response = await http.get(self.base_url + "/schema")
                response.raise_for_status()
        except httpx.HTTPError as exc:
            raise TransportError(f"cannot read {self.base_url}/schema: {exc}") from exc
        return response.json()

    async def close(self) -> None:
        """End the session (idempotent); the server closes its environment."""
        ws, self._ws = self._ws, None
        if ws is None:
            return
        try:
            await asyncio.wait_for(ws.send(self._codec.encode({"type": "close"})), self.connect_timeout)
        except (ConnectionClosed, TimeoutError, asyncio.TimeoutError, OSError):
            pass  # the server is gone or stuck: closing our end below is all that is left
        await ws.close()

    async def __aenter__(self) -> EnvClient:
        return await self.connect()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def sync(self) -> SyncEnvClient:
        """A synchronous facade over this client, with its own event loop."""
        return SyncEnvClient(self)

    async def request(self, message: dict[str, Any]) -> Any:
        """Send one message and return the server's raw reply (ids handled, errors not raised)."""
        ws = self._ws
        if ws is None:
            raise TransportError(f"no open session at {self.ws_url}: call connect() first "
                                 "(a session that failed is closed and must be reopened)")
        request_id = None
        if self.extended:
            self._next_id += 1
            request_id = message["id"] = self._next_id
        try:
            await ws.send(self._codec.encode(message))
            return await _within(self.timeout, self._reply(ws, request_id))
        except (TimeoutError, asyncio.TimeoutError) as exc:
            if request_id is None:  # upstream cannot match replies: drop the connection
                await self._abandon()
            raise RequestTimeoutError(
                f"no reply to {message['type']!r} from {self.ws_url} within {self.timeout}s") from exc
        except ConnectionClosed as exc:
            self._ws = None
            raise await self._closed_error(ws, exc) from exc

    async def _reply(self, ws: ClientConnection, request_id: int | None) -> Any:
        while True:
            try:
                reply = self._codec.decode(await ws.recv())
            except ValueError as exc:
                raise ProtocolError(f"{self.ws_url} sent a frame that is not JSON: {exc}") from exc
            reply_id = reply.get("id") if isinstance(reply, dict) else None
            if request_id is None or reply_id in (None, request_id):
                return reply
            # a late reply to a request that timed out earlier: not ours, drop it

    async def _closed_error(self, ws: ClientConnection, exc: ConnectionClosed) -> OpenEnvGymError:
        """Why the server closed: its last error frame (e.g. CAPACITY_REACHED), or the close code."""
        try:
            last = self._codec.decode(await ws.recv())
            check_reply(last, "error")
        except (ConnectionClosed, ValueError, ProtocolError):
            pass  # nothing buffered: the close code below is all the server said
        except ServerError as error:
            return error
        code = exc.rcvd.code if exc.rcvd else None
        if code == _CLOSE_MESSAGE_TOO_BIG:
            return MessageTooLargeError(f"{self.ws_url} closed the session: frame too large")
        reason = f" ({exc.rcvd.reason})" if exc.rcvd and exc.rcvd.reason else ""
        return TransportError(f"the session at {self.ws_url} was closed "
                              f"(code {code}{reason}); the episode is lost")

    async def _abandon(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            ws.transport.abort()


class SyncEnvClient:
    """The synchronous face of an :class:`EnvClient`, method by method.

    Each call runs on the client's private event loop in the calling thread (see
    :class:`~openenv_gym.loop.LoopRunner`), so a step costs no thread hop.
    """

    def __init__(self, client: EnvClient):
        self.client = client
        self._runner = LoopRunner()

    @property
    def base_url(self) -> str:
        return self.client.base_url

    @property
    def extended(self) -> bool:
        return self.client.extended

    def connect(self) -> SyncEnvClient:
        self._runner.run(self.client.connect())
        return self

    def reset(self, **kwargs: Any) -> StepResult[dict[str, Any]]:
        return self._runner.run(self.client.reset(**kwargs))

    def step(self, action: Mapping[str, Any] | BaseModel) -> StepResult[dict[str, Any]]:
        return self._runner.run(self.client.step(action))

    def state(self) -> dict[str, Any]:
        return self._runner.run(self.client.state())

    def render(self) -> str | None:
        return self._runner.run(self.client.render())

    def schema(self) -> dict[str, Any]:
        return self._runner.run(self.client.schema())

    def close(self) -> None:
        if self._runner.loop.is_closed():
            return
        try:
            self._runner.run(self.client.close())
        finally:
            self._runner.close()

    def __enter__(self) -> SyncEnvClient:
        return self.connect()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

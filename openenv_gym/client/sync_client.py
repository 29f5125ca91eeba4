"""The blocking client of one OpenEnv session: :class:`SyncEnvClient`.

websockets' Sans-I/O protocol over a plain blocking socket: no event loop and no thread per
call, so a step costs one ``sendall`` and the ``recv`` of its reply (about half the client CPU
of running an asyncio loop per call). Same methods, errors and extensions as the async
:class:`~openenv_gym.client.async_client.EnvClient`; both share :class:`~openenv_gym.client.base.ClientBase`.

It connects directly (no HTTP proxy); use the async client where a proxy is needed.
"""

from __future__ import annotations

import collections
import socket
import ssl
import time
from typing import Any

import httpx
from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import InvalidHandshake, InvalidState
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import Event, State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from ..errors import OpenEnvGymError, TransportError
from ..protocol import CLOSE, Dropped, RequestIds, calls
from .base import ClientBase
from .blocking import BlockingSession

_RECV_BYTES = 1 << 18


class _Closed(Exception):
    """The server closed the connection (or the socket died)."""


class SyncEnvClient(ClientBase, BlockingSession):
    """One session on an OpenEnv server, blocking; options as :class:`ClientBase`.

    >>> from openenv_gym.providers import ProcessProvider
    >>> with ProcessProvider("openenv_gym.envs.echo.app:app") as server:
    ...     with SyncEnvClient(server.start()) as client:
    ...         client.step({"message": "hi"}).observation["echoed_message"]
    'hi'
    """

    def __init__(self, base_url: str, **options: Any):
        super().__init__(base_url, **options)
        self._sock: socket.socket | None = None
        self._protocol: ClientProtocol | None = None
        self._inbox: collections.deque[str | bytes] = collections.deque()
        self._fragments: list[Frame] = []

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def connect(self) -> SyncEnvClient:
        """Open the session (idempotent)."""
        if self._sock is None:
            self._open(self.headers)
        return self

    def _open(self, headers: dict[str, str], *, resumed: bool = False, within: float | None = None) -> None:
        uri = parse_uri(self.ws_url)
        timeout = self.connect_timeout if within is None else min(self.connect_timeout, within)
        deadline = time.monotonic() + timeout
        try:
            sock = socket.create_connection((uri.host, uri.port), timeout=timeout)
        except OSError as exc:
            raise self._connect_error(exc) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if uri.secure:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=uri.host)
        self._sock = sock
        self._protocol = ClientProtocol(uri, subprotocols=[Subprotocol(p) for p in self.offered] or None,
                                        max_size=self.max_message_bytes)
        try:
            response = self._handshake(deadline, self._handshake_headers(headers))
        except (OSError, InvalidHandshake, _Closed) as exc:
            self._abandon()
            raise self._connect_error(exc) from exc
        if not self._opened(self._protocol.subprotocol, response, resumed=resumed):
            self.close()
            self._open(headers, resumed=resumed, within=within)

    def open_sessions(self, count: int) -> list[int]:
        """Open ``count`` more sessions on this connection (extension ``batch``); their indices."""
        self._resume_token = None  # a resumed connection would carry session 0 only
        return self.call(calls.open_sessions(count))

    def schema(self) -> dict[str, Any]:
        """The server's ``GET /schema``: JSON Schemas of action, observation and state."""
        try:
            response = httpx.get(self.base_url + "/schema", timeout=self.timeout,
                                 trust_env=not self.loopback, headers=self.headers)
        except httpx.HTTPError as exc:
            raise self._schema_unreachable(exc) from exc
        return self._schema_of(response)

    def close(self) -> None:
        """End the session (idempotent); the server closes its environment."""
        if self._sock is None or self._protocol is None:
            return
        try:
            self._send(self.codec.encode(CLOSE))
            self._protocol.send_close()
            self._flush()
        except (OSError, InvalidState):
            pass  # the server is gone: closing our end below is all that is left
        self._abandon()

    def __enter__(self) -> SyncEnvClient:
        return self.connect()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def request(self, message: dict[str, Any]) -> Any:
        """Send one message and return the server's raw reply (ids handled, errors not raised).

        If the connection drops, the session is resumed where the server allows it (see
        ``resume_timeout``) and the message sent again.
        """
        if self._sock is None:
            raise self._not_connected()
        request_id = self._stamp(message)
        try:
            return self._exchange(message, request_id)
        except Dropped as dropped:
            return self._resume(message, request_id, dropped.error)

    def _resume(self, message: dict[str, Any], request_id: int | None, lost: OpenEnvGymError) -> Any:
        headers, plan = self._resume_headers(lost), self._resume_plan(lost)
        while True:
            try:
                self._open(headers, resumed=True, within=plan.remaining())
                return self._exchange(message, request_id)
            except (TransportError, Dropped) as exc:
                time.sleep(plan.retry_after(exc))

    def _exchange(self, message: dict[str, Any], request_id: int | None) -> Any:
        deadline = time.monotonic() + self.timeout
        try:
            self._send(self.codec.encode(message))
            while True:
                reply = self._decode(self._next_message(deadline))
                if RequestIds.answers(reply, request_id):
                    return reply
        except TimeoutError as exc:
            if request_id is None:  # upstream cannot match replies: drop the connection
                self._abandon()
            raise self._timeout_error(message, self.timeout) from exc
        except (_Closed, OSError, InvalidState) as exc:
            code, _ = _close_of(self._protocol)
            raise self._dropped(self._closed(), code) from exc

    # -- bytes in, bytes out -------------------------------------------------------------------

    def _handshake(self, deadline: float, headers: dict[str, str]) -> Headers:
        """Send the upgrade request with ``headers``; the response's headers."""
        assert self._protocol is not None
        request = self._protocol.connect()
        for name, value in headers.items():
            request.headers[name] = value
        self._protocol.send_request(request)
        self._flush()
        while self._protocol.state is State.CONNECTING:
            self._receive(deadline)
            if self._protocol.handshake_exc is not None:
                raise self._protocol.handshake_exc
        events = self._protocol.events_received()  # the response, maybe a first frame too
        self._collect(events)
        return next(e for e in events if isinstance(e, Response)).headers

    def _send(self, data: str | bytes) -> None:
        assert self._protocol is not None
        if isinstance(data, str):
            self._protocol.send_text(data.encode())
        else:
            self._protocol.send_binary(data)
        self._flush()

    def _flush(self) -> None:
        assert self._protocol is not None and self._sock is not None
        for data in self._protocol.data_to_send():
            if data:
                self._sock.sendall(data)

    def _next_message(self, deadline: float) -> str | bytes:
        while not self._inbox:
            self._receive(deadline)
            self._collect()
        return self._inbox.popleft()

    def _receive(self, deadline: float) -> None:
        assert self._protocol is not None and self._sock is not None
        if self._protocol.state is State.CLOSED or self._protocol.close_rcvd is not None:
            raise _Closed
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self._sock.settimeout(remaining)
        data = self._sock.recv(_RECV_BYTES)
        if data:
            self._protocol.receive_data(data)
        else:
            self._protocol.receive_eof()
        self._flush()  # pongs and close replies the protocol queued

    def _collect(self, events: list[Event] | None = None) -> None:
        """Queue the complete messages among ``events`` (by default: those received)."""
        assert self._protocol is not None
        for event in self._protocol.events_received() if events is None else events:
            if not isinstance(event, Frame) or event.opcode not in (Opcode.TEXT, Opcode.BINARY,
                                                                     Opcode.CONT):
                continue
            self._fragments.append(event)
            if event.fin:
                first, data = self._fragments[0], b"".join(f.data for f in self._fragments)
                self._fragments = []
                self._inbox.append(data.decode() if first.opcode is Opcode.TEXT else data)

    def _closed(self) -> OpenEnvGymError:
        """Drop the connection; the error says why (the server's last error frame if any)."""
        protocol = self._protocol
        last = None
        try:
            self._collect()
            last = self._decode(self._inbox.popleft()) if self._inbox else None
        except OpenEnvGymError:
            last = None  # a garbled last frame: the close code is what we know
        self._abandon()
        code, reason = _close_of(protocol)
        return self._closed_error(code, reason, last)

    def _abandon(self) -> None:
        sock, self._sock, self._protocol = self._sock, None, None
        self._release_frames()
        self._inbox.clear()
        self._fragments = []
        if sock is not None:
            sock.close()


def _close_of(protocol: ClientProtocol | None) -> tuple[int | None, str]:
    """The server's close code and reason: from its close frame as soon as it came (the protocol
    says so only once the connection is closed, after the server's end of stream too)."""
    if protocol is None:
        return None, ""
    if protocol.close_rcvd is not None:
        return protocol.close_rcvd.code, protocol.close_rcvd.reason
    return protocol.close_code, protocol.close_reason or ""

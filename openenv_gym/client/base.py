"""What the async and the blocking client share: every decision that needs no I/O.

URLs, the offered subprotocols, request ids and the matching of replies to requests, and the
translation of a closed connection into an error live here once;
:class:`~openenv_gym.client.async_client.EnvClient` (asyncio) and
:class:`~openenv_gym.client.sync_client.SyncEnvClient` (blocking socket) only move bytes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from websockets.exceptions import InvalidStatus

from ..addresses import is_loopback
from ..errors import (
    AuthenticationError,
    ErrorCode,
    FactoryError,
    MessageTooLargeError,
    OpenEnvGymError,
    ProtocolError,
    RequestTimeoutError,
    ServerError,
    TransportError,
)
from ..protocol import RESUME_HEADER, Call, Dropped, RequestIds, ResumePlan, check_reply, may_resume
from ..protocol.frames import CODECS, ENCODINGS, JSON, Codec
from ..protocol.shared_frames import SHARED_MEMORY_HEADER, SHARED_MEMORY_VARIABLE, SharedFrames
from ..settings import resolve_token

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_MAX_MESSAGE_BYTES = 100 * 1024 * 1024
DEFAULT_RESUME_TIMEOUT = 10.0
"""Seconds a client keeps trying to resume its session after the connection dropped."""
DEFAULT_ENCODING = "msgpack"
"""Binary frames where the server speaks them: numpy arrays as raw bytes, strings as UTF-8."""
CLOSE_MESSAGE_TOO_BIG = 1009
AUTH_REFUSED = (401, 403)
"""HTTP statuses of a refused token: 401 from HTTP routes, 403 from a refused ``/ws`` upgrade."""


def refusal_detail(body: bytes | bytearray | None) -> str | None:
    """The ``detail`` of a refused handshake's JSON body (e.g. a ``Host`` the server does not
    answer to), else ``None`` (a refused token's handshake has no body).

    >>> refusal_detail(b'{"detail": "set X"}'), refusal_detail(b""), refusal_detail(b"<p>")
    ('set X', None, None)
    """
    try:
        detail = json.loads(body or b"null")
    except ValueError:
        return None
    return str(detail["detail"])[:500] if isinstance(detail, dict) and "detail" in detail else None


def _error_code(body: str) -> str | None:
    """The ``code`` of an HTTP error whose ``detail`` is an error frame's data (ours), else ``None``.

    >>> _error_code('{"detail": {"message": "no", "code": "FACTORY_ERROR"}}'), _error_code("<p>")
    ('FACTORY_ERROR', None)
    """
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        return None
    return detail.get("code") if isinstance(detail, dict) else None


def auth_headers(token: str | None) -> dict[str, str]:
    """The ``Authorization`` header for ``token`` (none without a token).

    >>> auth_headers(None), auth_headers("s3cret")
    ({}, {'Authorization': 'Bearer s3cret'})
    """
    return {"Authorization": f"Bearer {token}"} if token else {}


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


class ClientBase:
    """Options and protocol bookkeeping of one client connection.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8000`` (``ws://…/ws`` also works).
        timeout: seconds to wait for each reply.
        connect_timeout: seconds to wait for the WebSocket handshake.
        max_message_bytes: largest reply accepted.
        extensions: offer the openenv-gym extensions (False speaks upstream's baseline only).
        encoding: ``"msgpack"`` (default: binary frames, numpy arrays as raw bytes) or
            ``"json"``; used only where the server speaks the extensions (upstream: JSON).
        token: bearer token sent with the handshake and HTTP requests; by default
            ``$OPENENV_TOKEN``, none if unset (``""``: none even if set).
        resume_timeout: when the connection drops, keep trying this many seconds to get the
            same session back (servers with the ``resume`` extension), then resend the request
            that was cut off; the server answers it once, never twice. 0: give up at once.
        shared_memory: ask a server on this machine to send big arrays (frames) through shared
            memory instead of the socket (:mod:`~openenv_gym.protocol.shared_frames`); by default yes
            for msgpack on a loopback address, unless ``$OPENENV_SHARED_MEMORY`` is ``0``.
            Where the ring cannot be opened, the client connects again without it.
    """

    def __init__(self, base_url: str, *, timeout: float = DEFAULT_TIMEOUT,
                 connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, extensions: bool = True,
                 encoding: str = DEFAULT_ENCODING, token: str | None = None,
                 resume_timeout: float = DEFAULT_RESUME_TIMEOUT, shared_memory: bool | None = None):
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {sorted(ENCODINGS)}, got {encoding!r}")
        self.base_url = http_url(base_url)
        self.ws_url = ws_url(base_url)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_message_bytes = max_message_bytes
        self.resume_timeout = resume_timeout
        self._token = resolve_token(token)
        self.headers = auth_headers(self._token)
        self.options: dict[str, Any] = {"timeout": timeout, "connect_timeout": connect_timeout,
                                        "max_message_bytes": max_message_bytes,
                                        "extensions": extensions, "encoding": encoding,
                                        "token": self._token or "", "resume_timeout": resume_timeout,
                                        "shared_memory": shared_memory}
        self.offered = list(dict.fromkeys(
            [ENCODINGS[encoding].subprotocol, JSON.subprotocol] if extensions else []))
        self.loopback = is_loopback(urlsplit(self.ws_url).hostname)
        if shared_memory is None:
            shared_memory = self.loopback and os.environ.get(SHARED_MEMORY_VARIABLE) != "0"
        self._share = shared_memory and extensions and ENCODINGS[encoding].binary
        self.codec: Codec = JSON
        self.subprotocol: str | None = None
        self._ids = RequestIds()
        self._resume_token: str | None = None

    @property
    def extended(self) -> bool:
        """True once connected to a server that speaks the openenv-gym extensions."""
        return self.subprotocol in CODECS

    def _handshake_headers(self, headers: dict[str, str]) -> dict[str, str]:
        """``headers``, plus the request for shared memory where this client makes it."""
        return {**headers, SHARED_MEMORY_HEADER: "1"} if self._share else headers

    def _release_frames(self) -> None:
        """The connection is over: unmap its shared-memory ring (and its descriptor)."""
        frames = self.codec.frames
        if frames is not None:
            self.codec = dataclasses.replace(self.codec, frames=None)
            frames.close()

    def _opened(self, subprotocol: str | None, headers: Mapping[str, str], *, resumed: bool = False) -> bool:
        """A handshake succeeded; a resumed session goes on numbering its requests. False when
        the server's shared memory cannot be opened here: connect again (it is not asked twice)."""
        self._release_frames()
        self.subprotocol = subprotocol
        self.codec = CODECS.get(subprotocol or "", JSON)
        self._resume_token = headers.get(RESUME_HEADER) if self.extended else None
        if not resumed:
            self._ids = RequestIds()
        offered = headers.get(SHARED_MEMORY_HEADER) if self.codec.binary and self._share else None  # asked
        if offered is None:
            return True
        try:
            name, size = offered.split(" ")
            frames = SharedFrames.attach(name, int(size))
        except (OSError, ValueError):
            logger.info("shared memory offered by %s cannot be opened here: frames travel in the socket",
                        self.ws_url, exc_info=True)
            self._share = False
            return False
        frames.unlink()
        self.codec = dataclasses.replace(self.codec, frames=frames)
        return True

    def _resume_headers(self, lost: OpenEnvGymError) -> dict[str, str]:
        """The handshake headers that ask for this client's session back."""
        if self._resume_token is None:
            raise lost
        return {**self.headers, RESUME_HEADER: self._resume_token}

    def _dropped(self, error: OpenEnvGymError, close_code: int | None) -> Exception:
        """What to raise for a lost connection: :class:`Dropped` where resuming may help."""
        if may_resume(self._resume_token, self.resume_timeout, close_code):
            return Dropped(error)
        return error

    def _resume_plan(self, lost: OpenEnvGymError) -> ResumePlan:
        return ResumePlan(lost, self.resume_timeout)

    def _stamp(self, message: dict[str, Any]) -> int | None:
        """Give the request an id where the server echoes ids."""
        return self._ids.stamp(message, extended=self.extended)

    def _decode(self, data: str | bytes) -> Any:
        try:
            return self.codec.decode(data)
        except ValueError as exc:
            raise ProtocolError(f"{self.ws_url} sent a frame that is not {self.codec.subprotocol}: "
                                f"{exc}") from exc

    def _timeout_error(self, message: dict[str, Any], seconds: float) -> RequestTimeoutError:
        return RequestTimeoutError(
            f"no reply to {message.get('type')!r} from {self.ws_url} within {seconds}s")

    def _not_connected(self) -> TransportError:
        return TransportError(f"no open session at {self.ws_url}: call connect() first "
                              "(a session that failed is closed and must be reopened)")

    def _auth_error(self, where: str, status: int) -> AuthenticationError:
        """A refused token; the message says what to do and never holds the token."""
        why = ("the token was not accepted" if self._token
               else "it requires a token: pass token=... or set OPENENV_TOKEN")
        return AuthenticationError(f"{where} refused the request (HTTP {status}): {why}")

    def _connect_error(self, exc: BaseException) -> TransportError:
        if isinstance(exc, InvalidStatus) and (detail := refusal_detail(exc.response.body)):
            status = exc.response.status_code
            return TransportError(f"{self.ws_url} refused the session (HTTP {status}): {detail}")
        if isinstance(exc, InvalidStatus) and exc.response.status_code in AUTH_REFUSED:
            return self._auth_error(self.ws_url, exc.response.status_code)
        if isinstance(exc, TimeoutError):
            return RequestTimeoutError(
                f"no WebSocket handshake from {self.ws_url} within {self.connect_timeout}s")
        return TransportError(f"cannot open a session at {self.ws_url}: {exc}")

    def _closed_error(self, code: int | None, reason: str, last: Any) -> OpenEnvGymError:
        """Why the server closed: its last error frame (e.g. CAPACITY_REACHED), or the close code."""
        if last is not None:
            try:
                check_reply(last, "error")
            except ServerError as error:
                return error
            except ProtocolError:
                pass  # not an error frame: the close code below is what we know
        reason = f" ({reason})" if reason else ""  # e.g. the server's memory budget was spent
        if code == CLOSE_MESSAGE_TOO_BIG:
            return MessageTooLargeError(f"{self.ws_url} closed the session: frame too large{reason}")
        if code is None:
            return TransportError(f"the connection to {self.ws_url} was lost (no close frame: the "
                                  "server died or the network dropped); the episode is lost")
        return TransportError(f"the session at {self.ws_url} was closed "
                              f"(code {code}{reason}); the episode is lost")

    def _schema_of(self, response: httpx.Response) -> dict[str, Any]:
        """The JSON of a ``GET /schema`` response, or the error its status stands for."""
        if not response.is_error:
            return response.json()
        status, body = response.status_code, response.text
        if status in AUTH_REFUSED:
            raise self._auth_error(f"{self.base_url}/schema", status)
        if _error_code(body) == ErrorCode.FACTORY_ERROR or "cannot create the environment" in body:
            raise FactoryError(f"{self.base_url} cannot create its environment: {body[:500]}")
        raise TransportError(f"cannot read {self.base_url}/schema: HTTP {status} {body[:500]}")

    def _schema_unreachable(self, exc: httpx.HTTPError) -> TransportError:
        return TransportError(f"cannot read {self.base_url}/schema: {exc}")

    @property
    def connected(self) -> bool:
        raise NotImplementedError

    def _check_extension(self, call: Call[Any]) -> None:
        """Refuse a call the connected server cannot answer (an unconnected client fails later)."""
        if call.extension is not None and self.connected and not self.extended:
            raise ProtocolError(f"{self.base_url} is not an openenv-gym server: "
                                f"no {call.message['type']!r} messages")

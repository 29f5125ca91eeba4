"""The server's limits over plain HTTP: bounded bodies, and refusals with the WebSocket's codes.

- A request body may hold at most ``max_message_bytes`` (``OPENENV_MAX_MESSAGE_BYTES``, the
  limit of a WebSocket frame): one announced larger (``Content-Length``) is refused with 413
  before a byte of it is read, and a chunked one as soon as it grows past the limit; the
  connection is then closed, so the rest of the body is never read.
- A request that needs an environment (stateless ``/reset``, ``/step``, ``/state``, MCP tool
  calls, the task API, the web API, the first ``/metadata``) is refused when the server is at
  capacity (503) or the client holds its limit of sessions (429), as a WebSocket is.

Each refusal's ``detail`` is the ``data`` of the error frame a WebSocket client would get: its
``message`` (which limit, and what sets it), its ``code`` (``MESSAGE_TOO_LARGE``,
``CAPACITY_REACHED``, ``TOO_MANY_SESSIONS``) and the numbers behind it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from fastapi import HTTPException, Request
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openenv_gym.errors import (
    CapacityReachedError,
    ErrorCode,
    FactoryError,
    MessageTooLargeError,
    ServerError,
)

from .limits import MESSAGE_BYTES_VARIABLE

logger = logging.getLogger(__name__)

STATUS_OF_REFUSAL = {ErrorCode.CAPACITY_REACHED.value: 503, ErrorCode.TOO_MANY_SESSIONS.value: 429,
                     ErrorCode.MESSAGE_TOO_LARGE.value: 413}
REFUSALS: dict[int | str, dict[str, Any]] = {
    413: {"description": "The body is larger than the server's OPENENV_MAX_MESSAGE_BYTES"},
    429: {"description": "The client holds its limit of sessions (TOO_MANY_SESSIONS)"},
    503: {"description": "The server holds as many environments as its capacity (CAPACITY_REACHED)"},
}
"""The refusals, as the OpenAPI ``responses`` of a route that needs an environment."""


def client_of(request: Request) -> str:
    """The address of the request's client: what per-client limits count by."""
    return request.client.host if request.client else ""


def refusal(exc: ServerError) -> HTTPException:
    """The HTTP error for a limit's ``exc``: 503, 429 or 413 (else 500), the frame's data as detail.

    >>> from openenv_gym.errors import CapacityReachedError
    >>> error = refusal(CapacityReachedError("Server at capacity", details={"max_sessions": 2}))
    >>> error.status_code, error.detail
    (503, {'message': 'Server at capacity', 'code': 'CAPACITY_REACHED', 'max_sessions': 2})
    """
    return HTTPException(STATUS_OF_REFUSAL.get(exc.code, 500), detail=exc.to_frame()["data"])


@contextlib.contextmanager
def http_errors() -> Iterator[None]:
    """Around building an environment for a request: a refusal becomes its HTTP error (503, 429),
    an environment that cannot be built a 500 that says why.

    >>> from openenv_gym.errors import TooManySessionsError
    >>> with http_errors():
    ...     raise TooManySessionsError("over the limit")
    Traceback (most recent call last):
    fastapi.exceptions.HTTPException: 429: ...
    """
    try:
        yield
    except (CapacityReachedError, FactoryError) as exc:  # TOO_MANY_SESSIONS too; a factory that
        raise refusal(exc) from exc                       # fails: a 500 whose code says so


def too_large(size: int, limit: int) -> MessageTooLargeError:
    """The error of a body of (at least) ``size`` bytes over ``limit``.

    >>> error = too_large(20, 16)
    >>> error.message.split(" (")[0], error.details
    ("the request body of 20 bytes is over this server's limit of 16 bytes", {'max_message_bytes': 16})
    """
    return MessageTooLargeError(
        f"the request body of {size} bytes is over this server's limit of {limit} bytes (set "
        f"{MESSAGE_BYTES_VARIABLE} on the server to change it)", details={"max_message_bytes": limit})


class BodyLimit:
    """ASGI middleware: HTTP request bodies of at most ``max_bytes`` (413 beyond, connection closed).

    A body cut short (the client left, or the server closed a connection whose body missed its
    deadline: :mod:`.admission`) ends its request quietly: nobody is left to answer. WebSocket
    connections pass untouched (their frames have their own limit).
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        announced = _content_length(scope)
        if announced is not None and announced > self.max_bytes:
            await _refuse(scope, receive, send, too_large(announced, self.max_bytes))
            return
        body = _CountedBody(receive, send, self.max_bytes)
        try:
            await self.app(scope, body.receive, body.send)
        except ClientDisconnect:  # not the application's error: log no traceback
            logger.debug("%s %s: the connection closed before the request body was complete",
                         scope["method"], scope["path"])


class _CountedBody:
    """A body counted as it is read (one without a length, chunked, can grow past the limit):
    past the limit, ``receive`` raises the 413 (FastAPI lets an ``HTTPException`` from the body
    through to its handler) and the response closes the connection."""

    def __init__(self, receive: Receive, send: Send, limit: int):
        self._receive, self._send, self._limit = receive, send, limit
        self._received = 0

    async def receive(self) -> Message:
        message = await self._receive() if self._received <= self._limit else {}
        self._received += len(message.get("body", b""))
        if self._received > self._limit:
            raise refusal(too_large(self._received, self._limit))
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start" and self._received > self._limit:
            message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
        await self._send(message)


def _content_length(scope: Scope) -> int | None:
    """The request's ``Content-Length``, if it has a valid one.

    >>> _content_length({"type": "http", "headers": [(b"content-length", b"12")]})
    12
    """
    value = Headers(scope=scope).get("content-length")
    return int(value) if value is not None and value.isdigit() else None


async def _refuse(scope: Scope, receive: Receive, send: Send, error: MessageTooLargeError) -> None:
    """Answer 413 and close the connection (the unread rest of the body is never read)."""
    response = JSONResponse({"detail": error.to_frame()["data"]}, status_code=413,
                            headers={"Connection": "close"})
    await response(scope, receive, send)

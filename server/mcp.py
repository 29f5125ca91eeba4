"""MCP over JSON-RPC 2.0: ``POST /mcp`` and the ``{"type": "mcp"}`` WebSocket message, as upstream.

Methods: ``tools/list``, ``tools/call`` (``params.name``, ``params.arguments``),
``openenv/session/create`` (→ ``{"session_id"}``) and ``openenv/session/close``. Over HTTP,
``params.session_id`` addresses a session made by ``openenv/session/create`` (it counts toward
the server's capacity, as a WebSocket session does, and ``/ws?session_id=`` may attach to it);
without it a temporary environment is built for the one request and closed (it counts toward
the capacity and the client's limit while it lives: ``-32000`` when full). Over WebSocket
(the ``mcp`` message on ``/ws``, and ``WS /mcp``) the connection's own session answers.
Every answer is a JSON-RPC response object, never an HTTP or WebSocket error:

>>> import asyncio
>>> asyncio.run(respond({}, {}))["error"]["code"]
-32600
>>> asyncio.run(respond({"jsonrpc": "2.0", "method": "nope", "id": 3}, {}))["error"]
{'code': -32601, 'message': 'Method not found: nope', 'data': None}
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from openenv_gym.errors import ServerError, SessionError
from openenv_gym.excerpts import MESSAGE_CHARS, excerpt
from openenv_gym.mcp_types import CallToolAction, Tool, ToolErrorType
from openenv_gym.protocol import summarize_errors
from openenv_gym.protocol.tool_calls import TOOLS_CALL, TOOLS_LIST

from .environment import Environment

if TYPE_CHECKING:
    from .session import Session
    from .sessions import SessionManager

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[Any]]
SESSION_CREATE, SESSION_CLOSE = "openenv/session/create", "openenv/session/close"


class RpcCode(IntEnum):
    """JSON-RPC 2.0 error codes (upstream's ``JsonRpcErrorCode``)."""

    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    SERVER_ERROR = -32000


class RpcError(Exception):
    """Raised by a method handler; becomes the response's ``error``."""

    def __init__(self, code: RpcCode, message: str, data: Any = None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jsonrpc: Literal["2.0"]
    method: str
    params: dict[str, Any] = Field(default_factory=dict)
    id: str | int | None = None


def error_response(code: RpcCode, message: str, request_id: Any = None, data: Any = None) -> dict[str, Any]:
    """The one place a JSON-RPC error response is built.

    >>> error_response(RpcCode.PARSE_ERROR, "Parse error")
    {'jsonrpc': '2.0', 'id': None, 'error': {'code': -32700, 'message': 'Parse error', 'data': None}}
    """
    return {"jsonrpc": "2.0", "id": excerpt(request_id),  # at most an excerpt of any input
            "error": {"code": int(code), "message": excerpt(message, MESSAGE_CHARS), "data": excerpt(data)}}


def parse(body: bytes) -> Any:
    """Decode a request body; raises :class:`RpcError` (-32700) on bad JSON.

    >>> parse(b'{"a": 1}')
    {'a': 1}
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RpcError(RpcCode.PARSE_ERROR, "Parse error") from exc


async def respond(request: Any, handlers: Mapping[str, Handler]) -> dict[str, Any]:
    """Validate one decoded request, run its method's handler and wrap the outcome."""
    try:
        rpc = _Request.model_validate(request)
    except ValidationError as exc:
        return error_response(RpcCode.INVALID_REQUEST,
                              f"Invalid request: {summarize_errors(exc.errors(include_url=False))}")
    handler = handlers.get(rpc.method)
    if handler is None:
        return error_response(RpcCode.METHOD_NOT_FOUND, f"Method not found: {rpc.method}", rpc.id)
    try:
        return {"jsonrpc": "2.0", "id": rpc.id, "result": await handler(rpc.params)}
    except RpcError as exc:
        return error_response(exc.code, exc.message, rpc.id, exc.data)
    except Exception as exc:  # a failing environment is an internal error, as upstream
        logger.warning("MCP %s raised (params not logged)", rpc.method, exc_info=exc)
        return error_response(RpcCode.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}", rpc.id)


def _toolbox(env: Environment) -> Any:
    box = getattr(env, "tools", None)
    if not box:
        raise RpcError(RpcCode.INTERNAL_ERROR, "Environment does not support MCP")
    return box


def _tool_dump(spec: Tool) -> dict[str, Any]:
    """A tool as FastMCP dumps it (the keys upstream's ``MCPToolClient`` reads)."""
    return {"name": spec.name, "title": None, "description": spec.description,
            "input_schema": spec.input_schema, "output_schema": None}


def list_tools(env: Environment) -> dict[str, Any]:
    """The ``tools/list`` result for ``env``.

    >>> from openenv_gym.envs.echo import EchoEnvironment
    >>> [t["name"] for t in list_tools(EchoEnvironment())["tools"]]
    ['echo_message', 'echo_with_length']
    """
    return {"tools": [_tool_dump(spec) for spec in _toolbox(env).list().tools]}


_TOOL_ERROR_CODES = {ToolErrorType.INVALID_ARGS: RpcCode.INVALID_PARAMS}


def call_tool(env: Environment, params: dict[str, Any]) -> dict[str, Any]:
    """The ``tools/call`` result (a FastMCP ``CallToolResult`` dump; ``data`` holds the value).

    >>> from openenv_gym.envs.echo import EchoEnvironment
    >>> call_tool(EchoEnvironment(), {"name": "echo_message", "arguments": {"message": "hi"}})["data"]
    'hi'
    """
    box = _toolbox(env)
    name, arguments = params.get("name"), params.get("arguments") or {}
    if not name or not isinstance(name, str):
        raise RpcError(RpcCode.INVALID_PARAMS, "Missing 'name' in params")
    if not isinstance(arguments, dict):
        raise RpcError(RpcCode.INVALID_PARAMS, "'arguments' must be an object")
    observation = box.call(CallToolAction(tool_name=name, arguments=arguments))
    error = observation.error
    if error is not None and error.error_type is ToolErrorType.TOOL_NOT_FOUND:
        raise RpcError(RpcCode.INVALID_PARAMS, f"Tool not found: {name}")
    if error is not None:
        raise RpcError(_TOOL_ERROR_CODES.get(error.error_type, RpcCode.INTERNAL_ERROR), error.message)
    return {"meta": None, **observation.result}


def _server_error(exc: ServerError) -> RpcError:
    return RpcError(RpcCode.SERVER_ERROR, exc.message, exc.details or None)


def _unknown(session_id: Any) -> RpcError:
    return RpcError(RpcCode.INVALID_PARAMS, f"Unknown session_id: {str(session_id):.80}")


class HttpMcp:
    """``POST /mcp``: tools of a temporary environment, or of a shared session of the server's
    :class:`SessionManager` (``openenv/session/create``; see :mod:`.sessions`)."""

    def __init__(self, manager: SessionManager):
        self._manager = manager

    async def answer(self, body: bytes, client: str = "") -> dict[str, Any]:
        """The JSON-RPC response to one request body from ``client`` (an address: the sessions and
        temporary environments it makes count toward its per-client limit)."""
        try:
            request = parse(body)
        except RpcError as exc:
            return error_response(exc.code, exc.message)
        handlers: dict[str, Handler] = {TOOLS_LIST: functools.partial(self._list, client),
                                        TOOLS_CALL: functools.partial(self._call, client),
                                        SESSION_CREATE: functools.partial(self._create, client),
                                        SESSION_CLOSE: self._close}
        return await respond(request, handlers)

    @contextlib.asynccontextmanager
    async def _session(self, client: str, params: dict[str, Any]) -> AsyncIterator[Session]:
        """The shared session ``params["session_id"]`` (held exclusively), else a temporary one
        for ``client``."""
        session_id = params.get("session_id")
        if session_id:
            shared = self._shared(session_id)
            async with shared.exclusive():
                yield shared
            return
        try:
            async with self._manager.temporary(client) as session:
                yield session
        except ServerError as exc:  # at capacity, over the client's limit, or no environment
            raise _server_error(exc) from exc

    def _shared(self, session_id: Any) -> Session:
        try:
            return self._manager.shared(session_id)
        except SessionError as exc:
            raise RpcError(RpcCode.INVALID_PARAMS, exc.message) from None

    async def _list(self, client: str, params: dict[str, Any]) -> dict[str, Any]:
        async with self._session(client, params) as session:
            return await session.run(list_tools, session.env)

    async def _call(self, client: str, params: dict[str, Any]) -> dict[str, Any]:
        async with self._session(client, params) as session:
            return await session.run(call_tool, session.env, params)

    async def _create(self, client: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            session = await self._manager.open_shared(client)
        except ServerError as exc:
            raise _server_error(exc) from exc
        return {"session_id": session.session_id}

    async def _close(self, params: dict[str, Any]) -> dict[str, Any]:
        """Close a shared session; while a WebSocket is attached the close waits for it to leave."""
        session_id = params.get("session_id")
        if not session_id:
            raise RpcError(RpcCode.INVALID_PARAMS, "Invalid params - 'session_id' is required")
        try:
            closed = await self._manager.close_shared(session_id)
        except SessionError as exc:
            raise RpcError(RpcCode.INVALID_PARAMS, exc.message) from None
        if closed:
            return {"session_id": session_id, "closed": True}
        return {"session_id": session_id, "closed": False, "closing": True}


def session_handlers(session: Session) -> dict[str, Handler]:
    """The methods of a ``{"type": "mcp"}`` message, all bound to the connection's session."""

    async def tools(params: dict[str, Any]) -> dict[str, Any]:
        return await session.run(list_tools, session.env)

    async def call(params: dict[str, Any]) -> dict[str, Any]:
        return await session.run(call_tool, session.env, params)

    async def create(params: dict[str, Any]) -> dict[str, Any]:
        return {"session_id": session.session_id}

    async def close(params: dict[str, Any]) -> dict[str, Any]:
        if params.get("session_id") == session.session_id:
            raise RpcError(RpcCode.INVALID_REQUEST,
                           "Cannot close active WebSocket-managed session via MCP method")
        if not params.get("session_id"):
            raise RpcError(RpcCode.INVALID_PARAMS, "Invalid params - 'session_id' is required")
        raise _unknown(params["session_id"])

    return {TOOLS_LIST: tools, TOOLS_CALL: call, SESSION_CREATE: create, SESSION_CLOSE: close}

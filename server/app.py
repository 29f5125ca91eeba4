"""``create_app``: an environment class (or factory) becomes a FastAPI application."""

from __future__ import annotations

import contextlib
import functools
import hmac
import json
import os
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from openenv_gym.excerpts import excerpt
from openenv_gym.settings import ENV_KWARGS_VARIABLE, resolve_token
from openenv_gym.types import Action, Observation

from .budget import MemoryBudget
from .description import Description
from .environment import Environment
from .http_limits import BodyLimit
from .limits import MESSAGE_BYTES_VARIABLE, ClientSessions, RateLimit, setting
from .mcp_websocket import McpWebSocketEndpoint
from .modes import ServerMode, resolve_mode
from .origins import guard_origins
from .routes import build_router
from .sessions import DEFAULT_RESUME_GRACE, SessionManager
from .web import is_web_asset, mount_web, token_subprotocol, web_enabled, without_token_subprotocols
from .websocket import WebSocketEndpoint
from .workers import Workers

DEFAULT_MAX_SESSIONS = 1024
"""Capacity of a server whose environment supports concurrent sessions (upstream: 1)."""
MAX_SESSIONS_VARIABLE = "OPENENV_MAX_CONCURRENT_ENVS"
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
STEP_TIMEOUT_VARIABLE = "OPENENV_STEP_TIMEOUT"
SESSION_TIMEOUT_VARIABLE = "OPENENV_SESSION_TIMEOUT"
DEFAULT_SESSION_TIMEOUT = 900.0
"""Seconds a session may stay idle (no message, no tool call) before it is closed: every kind
(WebSocket, MCP ``openenv/session/create``, attached); parked sessions have ``resume_grace``."""
RESUME_GRACE_VARIABLE = "OPENENV_RESUME_GRACE"


def _supports_concurrency(factory: Callable[..., Environment]) -> bool | None:
    target = factory.func if isinstance(factory, functools.partial) else factory
    flag = getattr(target, "SUPPORTS_CONCURRENT_SESSIONS", None)
    return None if flag is None else bool(flag)


def _capacity(factory: Callable[..., Environment], requested: int | None) -> int:
    supported = _supports_concurrency(factory)
    if requested is None:
        return DEFAULT_MAX_SESSIONS if supported else 1
    if requested < 1:
        raise ValueError(f"max_concurrent_envs must be at least 1, got {requested}")
    if requested > 1 and supported is False:
        raise ValueError(
            f"max_concurrent_envs={requested} but {getattr(factory, '__name__', factory)} does "
            "not set SUPPORTS_CONCURRENT_SESSIONS = True; its sessions may share state. Set the "
            "flag on the class if instances are independent, or use max_concurrent_envs=1.")
    return requested


def _env_kwargs(given: dict[str, Any] | None) -> dict[str, Any]:
    if given is not None:
        return given
    raw = os.environ.get(ENV_KWARGS_VARIABLE)
    if not raw:
        return {}
    kwargs = json.loads(raw)
    if not isinstance(kwargs, dict):
        raise ValueError(f"{ENV_KWARGS_VARIABLE} must hold a JSON object, got {raw!r}")
    return kwargs


def _seconds(given: float | None, variable: str, default: float | None) -> float | None:
    """``given``, else the number of seconds in ``$variable`` (``""``/unset: ``default``).

    >>> _seconds(None, "OPENENV_UNSET_FOR_DOCTEST", 30.0), _seconds(5, "OPENENV_UNSET_FOR_DOCTEST", None)
    (30.0, 5.0)
    """
    given = setting(given, variable, float)
    if given is None:
        return default
    if given < 0:
        raise ValueError(f"{variable.removeprefix('OPENENV_').lower()} must not be negative, got {given}")
    return float(given)


class BearerAuth:
    """ASGI middleware: every request but ``GET /health`` needs ``Authorization: Bearer <token>``.

    HTTP requests without the token get 401 (``WWW-Authenticate: Bearer``); a WebSocket
    handshake without it is refused before it is accepted, which ASGI servers answer with
    HTTP 403 (no session, no environment is made). Tokens are compared in constant time and
    never logged or echoed. The web page's static files need no token (they hold no data); a
    browser's WebSocket, which cannot set headers, may offer the token as a subprotocol
    instead (see :mod:`openenv_gym.server.web.token`).

    >>> BearerAuth(None, "s3cret")._allows([(b"authorization", b"Bearer s3cret")])
    True
    >>> BearerAuth(None, "s3cret")._allows([(b"authorization", b"Bearer guess")])
    False
    """

    def __init__(self, app: ASGIApp, token: str):
        if not token.isascii() or not token.isprintable():
            raise ValueError("the token must be printable ASCII (it travels in an HTTP header)")
        self.app = app
        self._expected = f"Bearer {token}".encode()
        self._subprotocol = token_subprotocol(token).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or _is_public(scope) or self._allows(scope["headers"]):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket" and self._offered(scope.get("subprotocols", [])):
            await self.app(without_token_subprotocols(scope), receive, send)
        elif scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})
        else:
            response = JSONResponse({"detail": "missing or invalid bearer token"}, status_code=401,
                                    headers={"WWW-Authenticate": "Bearer"})
            await response(scope, receive, send)

    def _allows(self, headers: list[tuple[bytes, bytes]]) -> bool:
        given = next((value for name, value in headers if name.lower() == b"authorization"), b"")
        return hmac.compare_digest(given, self._expected)

    def _offered(self, subprotocols: list[str]) -> bool:
        return any(hmac.compare_digest(p.encode(), self._subprotocol) for p in subprotocols)


def _is_public(scope: Scope) -> bool:
    """``GET /health`` and the web page's files."""
    path = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    return (scope["type"] == "http" and scope["method"] in ("GET", "HEAD")
            and (path == "/health" or is_web_asset(path)))


async def _quoted_validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 for a request that does not validate, quoting an excerpt of each input."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": excerpt(exc.errors())}, status_code=422)


def create_app(
    env: Callable[..., Environment],
    action_type: type[Action],
    observation_type: type[Observation],
    *,
    env_name: str | None = None,
    max_concurrent_envs: int | None = None,
    session_timeout: float | None = None,
    step_timeout: float | None = None,
    resume_grace: float | None = None,
    max_message_bytes: int | None = None,
    max_inflight_bytes: int | None = None,
    max_sessions_per_client: int | None = None,
    rate_limit: float | None = None,
    rate_burst: int | None = None,
    env_kwargs: dict[str, Any] | None = None,
    token: str | None = None,
    web: bool | None = None,
    mode: ServerMode | str | None = None,
    allowed_hosts: str | Sequence[str] | None = None,
    allowed_origins: str | Sequence[str] | None = None,
) -> FastAPI:
    """Serve an environment over OpenEnv's protocol (HTTP routes and ``/ws``).

    Args:
        env: the environment class or a factory returning a new instance per session.
        action_type, observation_type: the environment's pydantic models.
        env_name: shown in the API title.
        max_concurrent_envs: session capacity; by default ``$OPENENV_MAX_CONCURRENT_ENVS``, else
            1024 for environments with ``SUPPORTS_CONCURRENT_SESSIONS = True`` and 1 otherwise.
        session_timeout: close sessions idle (no message, no tool call) for this many seconds,
            closing their socket (1001); by default ``$OPENENV_SESSION_TIMEOUT``, else 900
            (15 minutes); 0 turns it off.
        step_timeout: seconds a blocking (or async) ``reset``/``step`` may take before the
            client gets ``STEP_TIMEOUT`` and the session a fresh environment; by default
            ``$OPENENV_STEP_TIMEOUT``, else off. ``FAST_STEP`` environments are not timed.
        resume_grace: seconds the session of a dropped connection (extensions on) waits to be
            resumed; by default ``$OPENENV_RESUME_GRACE``, else 30; 0 turns resuming off.
        max_message_bytes: larger frames get a ``MESSAGE_TOO_LARGE`` error reply, larger HTTP
            bodies a 413 (``server/http_limits.py``); by default ``$OPENENV_MAX_MESSAGE_BYTES``,
            else 16 MiB.
        max_inflight_bytes: the memory all requests in flight may hold together, counted with
            what they decode to (``server/budget.py``); over it a frame gets ``MESSAGE_TOO_LARGE``
            (one still arriving: its connection is closed, 1009); by default
            ``$OPENENV_MAX_INFLIGHT_BYTES``, else four frames of the largest size per session for
            up to four sessions, at least 64 MiB.
        max_sessions_per_client: sessions one client address may hold (``TOO_MANY_SESSIONS``
            beyond); by default ``$OPENENV_MAX_SESSIONS_PER_CLIENT``, else 256 for remote
            clients and no limit but the capacity for this machine's (``server/limits.py``).
        rate_limit, rate_burst: messages per second per connection, and the burst allowed;
            by default ``$OPENENV_RATE_LIMIT`` (else off) and ``$OPENENV_RATE_BURST`` (else one
            second's worth). Over it a message gets ``RATE_LIMITED``; flooding on closes (1008).
        env_kwargs: keyword arguments for ``env``; by default read as JSON from the
            ``OPENENV_ENV_KWARGS`` environment variable (how providers configure a server).
        token: require ``Authorization: Bearer <token>`` on every route but ``GET /health``
            (see :class:`BearerAuth`); by default the ``OPENENV_TOKEN`` environment variable;
            unset or ``""``: open, as upstream.
        web: serve the web interface at ``/web`` (see :mod:`openenv_gym.server.web`); by default
            when ``ENABLE_WEB_INTERFACE`` is ``true``, ``1`` or ``yes``, as upstream.
        mode: ``"simulation"`` (default) or ``"production"``, which has no ``/reset``, ``/step``
            and ``/state`` (see :mod:`openenv_gym.server.modes`); by default ``$OPENENV_MODE``.
        allowed_hosts, allowed_origins: the ``Host`` names and page origins served besides this
            machine's names and the server's own origin (``"*"``: any; see
            :mod:`openenv_gym.server.origins`); by default ``$OPENENV_ALLOWED_HOSTS`` (unset:
            requests reaching a non-loopback address are not checked) and ``$OPENENV_ALLOWED_ORIGINS``.

    >>> from openenv_gym.envs.echo import EchoAction, EchoEnvironment, EchoObservation
    >>> app = create_app(EchoEnvironment, EchoAction, EchoObservation, env_name="echo")
    >>> [path for path in sorted(app.openapi()["paths"]) if "{" not in path]
    ['/capabilities', '/health', '/list_environments', '/metadata', '/reset', '/schema', '/state', '/step']
    """
    if isinstance(env, Environment):
        raise TypeError("create_app needs the environment class or a factory, not an instance")
    kwargs = _env_kwargs(env_kwargs)
    factory = functools.partial(env, **kwargs) if kwargs else env
    clients = ClientSessions.configured(max_sessions_per_client)
    executor = Workers()  # a thread per call in flight: sleeping sessions never delay another's step
    description = Description(action_type, observation_type)  # read from the first environment built
    capacity = _capacity(env, setting(max_concurrent_envs, MAX_SESSIONS_VARIABLE))
    manager = SessionManager(factory, action_type, max_sessions=capacity,
                             executor=executor, clients=clients, on_built=description.read,
                             session_timeout=_seconds(session_timeout, SESSION_TIMEOUT_VARIABLE,
                                                      DEFAULT_SESSION_TIMEOUT) or None,
                             step_timeout=_seconds(step_timeout, STEP_TIMEOUT_VARIABLE, None),
                             resume_grace=_seconds(resume_grace, RESUME_GRACE_VARIABLE,
                                                   DEFAULT_RESUME_GRACE) or 0.0)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await manager.shutdown()
        executor.shutdown(wait=False, cancel_futures=True)

    env_name = env_name or str(getattr(env, "__name__", "env"))
    app = FastAPI(title=f"OpenEnv Environment HTTP API ({env_name})",
                  version="1.0.0", lifespan=lifespan)
    app.add_exception_handler(RequestValidationError, _quoted_validation_error)
    app.state.sessions = manager
    app.state.description = description
    app.state.mode = resolve_mode(mode)
    max_message_bytes = setting(max_message_bytes, MESSAGE_BYTES_VARIABLE) or DEFAULT_MAX_MESSAGE_BYTES
    app.state.max_message_bytes = max_message_bytes
    app.include_router(build_router(description, manager, mode=app.state.mode, env_name=env_name))
    app.add_middleware(BodyLimit, max_bytes=max_message_bytes)  # HTTP bodies: 413 over the frame limit
    app.state.memory_budget = MemoryBudget.configured(max_inflight_bytes, max_message_bytes=max_message_bytes,
                                                      capacity=manager.max_sessions)  # serve.py's too
    limits: dict[str, Any] = {"max_message_bytes": max_message_bytes,  # shared by both sockets
                              "rate": RateLimit.configured(rate_limit, rate_burst),
                              "clients": clients, "budget": app.state.memory_budget}
    app.add_api_websocket_route("/ws", WebSocketEndpoint(manager, **limits))
    app.add_api_websocket_route("/mcp", McpWebSocketEndpoint(manager, **limits))
    if web_enabled(web):
        mount_web(app, action_type)
    required = resolve_token(token)
    app.state.requires_token = required is not None
    if required is not None:
        app.add_middleware(BearerAuth, token=required)
    guard_origins(app, allowed_hosts, allowed_origins)  # outermost: before the token is checked
    return app

"""One client's session: an environment instance and the handlers for its messages.

A :class:`Session` answers one decoded message at a time through a table of small handlers.
The WebSocket endpoint feeds it frames; the in-process provider feeds it the same messages
without a socket, so both paths share every validation and every error.

A blocking ``reset``/``step`` that runs longer than the server's ``step_timeout`` is answered
with a ``STEP_TIMEOUT`` error; the session gets a fresh environment at once (the hung one is
closed when its call returns), so it stays usable: the client resets and goes on.

An environment with a rubric is scored here (``server/rubrics/scoring.py``): the rubric is
reset after ``reset`` and applied after ``step`` (in the worker thread with the step when it
is sync, awaited on the event loop when it is async), unless the environment did it itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Executor
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from openenv_gym.errors import ErrorCode
from openenv_gym.mcp_types import MCP_ACTION_TYPES, CallToolAction, ListToolsAction
from openenv_gym.protocol import envelope, error_frame, summarize_errors
from openenv_gym.types import Action, Observation

from .environment import Environment
from .mcp import respond, session_handlers
from .requests import ResetRequest
from .rubrics import RubricScorer

logger = logging.getLogger(__name__)

Reply = dict[str, Any]
_MCP_ACTION: TypeAdapter[ListToolsAction | CallToolAction] = TypeAdapter(ListToolsAction | CallToolAction)
_MESSAGE_KEYS = {"reset": {"type", "data"}, "step": {"type", "data"}, "state": {"type"},
                 "close": {"type"}, "render": {"type", "data"}, "mcp": {"type", "data"}}
_EXTENDED_KEYS = {kind: keys | {"id"} for kind, keys in _MESSAGE_KEYS.items()}
_STEP_KEYS = _MESSAGE_KEYS["step"]
_FINGERPRINT_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class BadMessage(Exception):
    """A message that is not a valid request; answered with a VALIDATION_ERROR frame."""


class _Hung(Exception):
    """A call ran past the step timeout; ``call`` is still running in its worker thread."""

    def __init__(self, call: asyncio.Future[Any] | None):
        super().__init__()
        self.call = call


def _accepted_kwargs(function: Callable[..., Any], data: dict[str, Any]) -> dict[str, Any]:
    """Keep the keys ``function`` accepts as keywords (upstream filters reset kwargs the same
    way); never a name it binds otherwise (a method's ``self``, positional-only parameters)."""
    params = inspect.signature(function).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return {k: v for k, v in data.items() if k in params}
    unbound = inspect.signature(getattr(function, "__func__", function)).parameters
    taken = {name for name, p in unbound.items() if name not in params
             or p.kind is inspect.Parameter.POSITIONAL_ONLY}
    return {k: v for k, v in data.items() if k not in taken}


def is_request_id(value: Any) -> bool:
    """Can ``value`` be a request's ``id`` (none, a number or a string; never an array)?

    >>> is_request_id(7), is_request_id("a"), is_request_id(None), is_request_id([7])
    (True, True, True, False)
    """
    return isinstance(value, str | int | float | None)


def _reused_id(request_id: Any) -> Reply:
    reply = error_frame(ErrorCode.VALIDATION_ERROR, f"request id {request_id!r:.80} was just used for "
                        "another request; a resent request must be identical, a new one needs a new id")
    reply["id"] = request_id
    return reply


def _fingerprint(message: dict[str, Any]) -> bytes | None:
    """A digest of a request's content (``None`` if it cannot be serialized: never replayed).

    >>> _fingerprint({"type": "step", "id": 1}) == _fingerprint({"id": 1, "type": "step"})
    True
    """
    try:
        data = orjson.dumps(message, default=repr, option=_FINGERPRINT_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):  # e.g. nested deeper than orjson writes
        return None
    return hashlib.blake2b(data, digest_size=16).digest()


class Session:
    """An environment instance bound to one connection.

    Args:
        env: the session's own environment instance.
        action_type: the environment's Action model.
        extended: the client negotiated the openenv-gym extensions (request ids, info,
            truncated, render).
        executor: where blocking ``reset``/``step`` calls run; ``None`` calls them directly
            (the in-process provider, and environments with ``FAST_STEP``).
        step_timeout: seconds a ``reset``/``step`` in the executor (or an async one) may take.
        renew: builds the fresh environment that replaces one whose call timed out.

    Attributes:
        resume_token: the secret a new connection presents to take over this session (set by
            the :class:`~.sessions.SessionManager` for resumable sessions).
        client: the address of the client that holds it (per-client limits count it there).
    """

    def __init__(self, env: Environment, action_type: type[Action], *, session_id: str,
                 extended: bool, executor: Executor | None = None, step_timeout: float | None = None,
                 renew: Callable[[], Awaitable[Environment]] | None = None):
        self.session_id = session_id
        self.extended = extended
        self.resume_token: str | None = None
        self.client = ""
        self.created_at = self.last_activity = time.monotonic()
        self.action_type = action_type
        self._action = TypeAdapter(action_type)
        self._pool = executor
        self._step_timeout = step_timeout
        self._renew = renew
        self._lock = asyncio.Lock()
        self._last: tuple[Any, bytes | None, Reply | None] = (None, None, None)
        self._bind(env)
        self._keys = _EXTENDED_KEYS if extended else _MESSAGE_KEYS
        self._handlers: dict[str, Callable[[Any], Awaitable[Reply]]] = {
            "reset": self._reset, "step": self._step, "state": self._state, "mcp": self._mcp,
        }
        if extended:
            self._handlers["render"] = self._render

    def _bind(self, env: Environment) -> None:
        self.env = env
        self._executor = None if env.FAST_STEP else self._pool
        self._is_async = env.is_async
        scorer = self._scorer()
        self._rubric_is_async = scorer is not None and scorer.is_async

    @property
    def runs_inline(self) -> bool:
        """Every call returns without awaiting: ``handle`` can be driven without a loop."""
        return self._executor is None and not self._is_async and not self._rubric_is_async

    def batchable_step(self, message: Any) -> bool:
        """Is ``message`` a plain step this session can take with others of a batch (see
        :mod:`.batch`): inline, no request id, an action object that is not a tool call, and no
        other request of the session running."""
        if not (self.runs_inline and type(message) is dict and message.keys() == _STEP_KEYS
                and message["type"] == "step" and not self._lock.locked()):
            return False
        data = message["data"]
        return type(data) is dict and not (data.get("type") in MCP_ACTION_TYPES and self.env.tools)

    def begin_step(self) -> RubricScorer | None:
        """The environment's rubric scorer, told that a step starts (``None``: no rubric)."""
        scorer = self._scorer()
        if scorer is not None:
            scorer.begin()
        return scorer

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[Environment]:
        """The environment, held while no message of the session's socket runs (a tool call
        over HTTP ``/mcp`` on a shared session waits for the socket's step, and vice versa)."""
        async with self._lock:
            yield self.env

    async def handle(self, message: Any) -> Reply | None:
        """The reply to one decoded message, or ``None`` for ``close``.

        Requests are answered one at a time. A request whose id is the last one answered gets
        that answer again without running twice: a client that resumed after a drop resends
        its last request, not knowing whether it arrived. It must be the same request: the
        last id with other content is a ``VALIDATION_ERROR``, never the earlier reply.
        """
        request_id = message.get("id") if self.extended and isinstance(message, dict) else None
        if not is_request_id(request_id):
            return error_frame(ErrorCode.VALIDATION_ERROR, "a request id must be a number or a string")
        try:
            return await self._handle_in_turn(message, request_id)
        finally:
            self.last_activity = time.monotonic()  # the idle clock starts when the answer is ready

    @property
    def busy(self) -> bool:
        """A request is being answered (a session in a call is not idle, however long it takes)."""
        return self._lock.locked()

    async def _handle_in_turn(self, message: Any, request_id: Any) -> Reply | None:
        async with self._lock:
            if request_id is None:
                return await self._answer(message, None)
            fingerprint = _fingerprint(message)
            last_id, last_fingerprint, last_reply = self._last
            if last_id == request_id:
                if fingerprint is not None and fingerprint == last_fingerprint:
                    return last_reply
                return _reused_id(request_id)
            reply = await self._answer(message, request_id)
            self._last = (request_id, fingerprint, reply)
            return reply

    async def _answer(self, message: Any, request_id: Any) -> Reply | None:
        try:
            reply = await self._dispatch(message)
        except BadMessage as exc:
            reply = error_frame(ErrorCode.VALIDATION_ERROR, str(exc))
        except ValidationError as exc:
            errors = exc.errors(include_url=False)  # the frame quotes an excerpt of each input
            what = "action" if isinstance(message, dict) and message.get("type") == "step" else "message"
            reply = error_frame(ErrorCode.VALIDATION_ERROR, f"Invalid {what}: {summarize_errors(errors)}",
                                errors=errors)
        except _Hung as hung:
            reply = await self._replace_hung_env(hung, message)
        except Exception as exc:  # the environment raised: report it, keep the session
            reply = execution_error(self, message.get("type") if isinstance(message, dict) else None, exc)
        if reply is not None and request_id is not None:
            reply["id"] = request_id
        return reply

    async def _dispatch(self, message: Any) -> Reply | None:
        if not isinstance(message, dict):
            raise BadMessage(f"a message must be a JSON object, not {type(message).__name__}")
        kind = message.get("type")
        if not isinstance(kind, str):
            return error_frame(ErrorCode.UNKNOWN_TYPE, f"Unknown message type: {kind!r:.100}")
        if kind == "close":
            return None
        handler = self._handlers.get(kind)
        if handler is None:
            return error_frame(ErrorCode.UNKNOWN_TYPE, f"Unknown message type: {kind:.100}")
        allowed = self._keys[kind]
        if not message.keys() <= allowed:
            unexpected = sorted(repr(key) for key in set(message) - allowed)
            raise BadMessage(f"unexpected keys in a {kind!r} message: {', '.join(unexpected):.300}")
        self.last_activity = time.monotonic()
        return await handler(message.get("data"))

    async def _reset(self, data: Any) -> Reply:
        if data is None:
            data = {}
        if not isinstance(data, dict) or not all(isinstance(key, str) for key in data):
            raise BadMessage("reset 'data' must be an object of reset arguments (string keys)")
        ResetRequest.check(data)  # upstream's bounds: seed >= 0, episode_id <= 255 characters
        scorer = self._scorer()
        if scorer is not None:
            scorer.begin()
        if self._is_async:
            obs = await self._within(self.env.reset_async(**_accepted_kwargs(self.env.reset_async, data)))
        else:
            obs = await self._call(self.env.reset, **_accepted_kwargs(self.env.reset, data))
        if scorer is not None:
            scorer.reset_unless_done()
        return self._observation(obs)

    async def _step(self, data: Any) -> Reply:
        if not isinstance(data, dict):
            raise BadMessage("step 'data' must be the action object")
        if data.get("type") in MCP_ACTION_TYPES and self.env.tools:
            return self._observation(await self.run(self._call_tools, data))
        action = self._action.validate_python(data)
        scorer = self.begin_step()
        if self._is_async:
            obs = await self._within(self.env.step_async(action))
        elif self._executor is None:
            obs = self._step_and_score(action, scorer)
        else:
            obs = await self._call(self._step_and_score, action, scorer)
        if scorer is not None and not scorer.finished and isinstance(obs, Observation):
            await scorer.finish_async(action, obs)
        return self._observation(obs)

    def _step_and_score(self, action: Action, scorer: RubricScorer | None) -> Any:
        obs = self.env.step(action)
        if scorer is not None and not scorer.is_async and isinstance(obs, Observation):
            scorer.finish(action, obs)
        return obs

    def _scorer(self) -> RubricScorer | None:
        return getattr(self.env, "rubric_scorer", None)

    def _call_tools(self, data: dict[str, Any]) -> Observation:
        action = _MCP_ACTION.validate_python(data)
        if isinstance(action, ListToolsAction):
            return self.env.tools.list()
        return self.env.tools.call(action)

    async def _state(self, data: Any) -> Reply:
        return {"type": "state", "data": self.env.state.model_dump()}

    async def _mcp(self, data: Any) -> Reply:
        """``{"type": "mcp", "data": <JSON-RPC request>}`` → ``{"type": "mcp", "data": <response>}``."""
        return {"type": "mcp", "data": await respond(data, session_handlers(self))}

    async def _render(self, data: Any) -> Reply:
        mode = data.get("mode", "ansi") if isinstance(data, dict) else "ansi"
        if mode not in self.env.RENDER_MODES:
            raise BadMessage(f"render mode {mode!r} is not supported; modes: {list(self.env.RENDER_MODES)}")
        return {"type": "render", "data": {"mode": mode, "frame": await self._call(self.env.render, mode)}}

    async def run(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` where the environment's blocking calls run (a worker thread, or
        inline for ``FAST_STEP``), without the step timeout: MCP tool calls."""
        if self._executor is None:
            return function(*args)
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def _call(self, function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        if self._executor is None:
            return function(*args, **kwargs)
        loop = asyncio.get_running_loop()
        call = loop.run_in_executor(self._executor, lambda: function(*args, **kwargs))
        if self._step_timeout is None:
            return await call
        done, _ = await asyncio.wait([call], timeout=self._step_timeout)
        if not done:
            raise _Hung(call)
        return call.result()

    async def _within(self, call: Awaitable[Any]) -> Any:
        """Await an async environment's call, cancelled after the step timeout."""
        if self._step_timeout is None:
            return await call
        try:
            return await asyncio.wait_for(call, self._step_timeout)
        except TimeoutError:
            raise _Hung(None) from None

    async def _replace_hung_env(self, hung: _Hung, message: Any) -> Reply:
        """Answer STEP_TIMEOUT and put a fresh environment in the session."""
        kind = message.get("type") if isinstance(message, dict) else "request"
        logger.warning("session %s: %s took over %gs; replacing its environment", self.session_id, kind,
                       self._step_timeout)
        old = self.env
        if self._renew is None:
            return error_frame(ErrorCode.STEP_TIMEOUT, f"{kind} took over {self._step_timeout:g}s")
        self._bind(await self._renew())
        if hung.call is None:
            _close_quietly(old)
        else:
            hung.call.add_done_callback(lambda _: self._close_later(old))
        return error_frame(ErrorCode.STEP_TIMEOUT,
                           f"{kind} took over the server's step timeout of {self._step_timeout:g}s; the "
                           "episode was abandoned and the session has a fresh environment: reset() to go on")

    def _close_later(self, env: Environment) -> None:
        if self._pool is None:
            _close_quietly(env)
        else:
            self._pool.submit(_close_quietly, env)

    def _observation(self, obs: Observation) -> Reply:
        if not isinstance(obs, Observation):
            raise TypeError(f"the environment returned {type(obs).__name__}, not an Observation")
        return {"type": "observation", "data": envelope(obs, extended=self.extended)}


def execution_error(session: Session, kind: Any, exc: Exception) -> Reply:
    """The reply to a request whose environment call raised ``exc`` (logged; the session lives on)."""
    logger.warning("session %.8s: %r raised (payload not logged)", session.session_id, kind, exc_info=exc)
    return error_frame(ErrorCode.EXECUTION_ERROR, f"{type(exc).__name__}: {exc}")


def _close_quietly(env: Environment) -> None:
    """Close an abandoned environment; a failure is logged (nobody is waiting for it)."""
    try:
        env.close()
    except Exception:
        logger.exception("closing an abandoned environment raised")

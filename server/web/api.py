"""Upstream OpenEnv 0.10's web API: ``/web/metadata``, ``/web/reset``, ``/web/step``,
``/web/state`` and the ``WS /ws/ui`` push channel (:mod:`.channel`).

As upstream, the web API drives **one** environment that every caller shares, and the
episode it records (:mod:`.episode`) is pushed to ``/ws/ui`` clients after each reset and
step. Unlike upstream, whose web environment is an extra instance outside the server's
limits, ours is a session of the server's :class:`~openenv_gym.server.sessions.SessionManager`:

- it counts toward the capacity (an environment can be heavy: a chess engine, an emulator),
  so a full server answers 503 instead of building one more, and toward the limit of the
  client whose call opened it (429 over it), until it is closed;
- it is opened by the first ``/web/reset``, ``/web/step`` or ``/web/state``, not at start-up,
  so a server nobody opens the web API on has all its slots for ``/ws``;
- the idle timeout closes it (``/ws/ui`` clients then get an empty episode) and the next
  call opens a fresh one; the step timeout, rubric scoring and validation are those of
  ``/ws``; the server's shutdown closes it;
- it is private: no ``/ws`` connection can reach it (only MCP's shared sessions are
  addressable by id), and ``/ws`` sessions never see the web's episode.

The bodies and replies are upstream's: ``POST /web/reset`` takes reset arguments (optional),
``POST /web/step`` takes ``{"action": {...}}`` (or ``{"message": "..."}`` for chat
environments) and both return ``{"observation", "reward", "done"}`` (plus ``metadata`` when
the observation has some); ``GET /web/state`` returns the environment's state. Errors are
HTTP errors whose ``detail`` says what is wrong (an invalid action: 422 with pydantic's
errors, each naming its field), where upstream answers 500; the session goes on.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request
from pydantic import TypeAdapter, ValidationError
from starlette.responses import Response

from openenv_gym.excerpts import excerpt
from openenv_gym.mcp_types import MCP_ACTION_TYPES, CallToolAction, ListToolsAction
from openenv_gym.protocol.frames import json_dumps
from openenv_gym.types import Action, EnvironmentMetadata

from ..description import Description
from ..environment import Environment
from ..http_limits import REFUSALS, client_of, http_errors
from ..session import Reply, Session
from ..sessions import SessionManager
from .channel import UiChannel
from .episode import WebEpisode

_STATUS_OF_CODE = {"VALIDATION_ERROR": 422, "UNKNOWN_TYPE": 400, "STEP_TIMEOUT": 504, "SESSION_ERROR": 409}
_MCP_ACTION: TypeAdapter[ListToolsAction | CallToolAction] = TypeAdapter(ListToolsAction | CallToolAction)


class WebApi:
    """The web interface's environment (one session), its episode and its ``/ws/ui`` clients."""

    def __init__(self, action_type: type[Action], manager: SessionManager, description: Description):
        self._action = TypeAdapter(action_type)
        self._manager = manager
        self._description = description
        self._session: Session | None = None
        self._lock = asyncio.Lock()
        self.episode = WebEpisode()
        self.channel = UiChannel(self.episode.update)

    async def metadata(self, client: str = "") -> dict[str, Any]:
        """The environment's metadata, as ``/metadata`` has it (read once per server)."""
        with http_errors():
            described = await self._description.get(self._manager, client)
        return EnvironmentMetadata.model_validate(described["metadata"]).model_dump()

    async def reset(self, arguments: dict[str, Any], client: str = "") -> dict[str, Any]:
        """Reset the shared environment; the episode starts over and is pushed."""
        async with self._lock:
            session = await self._session_now(client)
            data = await self._ask(session, {"type": "reset", "data": arguments})
            state = await self._ask(session, {"type": "state"})
            self.episode.begin(state.get("episode_id"), data["observation"])
            await self.channel.broadcast(self.episode.update())
        return data

    async def step(self, body: dict[str, Any], client: str = "") -> dict[str, Any]:
        """Step the shared environment with the body's action; the step is logged and pushed."""
        async with self._lock:
            session = await self._session_now(client)
            action = _step_action(body, session.env)
            logged = self._validated(action)
            data = await self._ask(session, {"type": "step", "data": action})
            state = await self._ask(session, {"type": "state"})
            self.episode.record(logged, data["observation"], reward=data["reward"], done=bool(data["done"]),
                                step_count=state.get("step_count", 0), episode_id=state.get("episode_id"))
            await self.channel.broadcast(self.episode.update())
        return data

    async def state(self, client: str = "") -> dict[str, Any]:
        """The shared environment's state."""
        async with self._lock:
            return await self._ask(await self._session_now(client), {"type": "state"})

    def _validated(self, action: Any) -> dict[str, Any]:
        """The action as the log shows it (upstream: the model's dump without ``metadata``)."""
        if not isinstance(action, dict):
            raise HTTPException(422, detail=[{"loc": ["body", "action"], "type": "dict_type",
                                              "msg": "the action must be a JSON object"}])
        kind = _MCP_ACTION if action.get("type") in MCP_ACTION_TYPES else self._action
        try:
            return kind.validate_python(action).model_dump(mode="json", exclude={"metadata"})
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False)
            raise HTTPException(422, detail=excerpt(errors)) from exc  # an excerpt of each input

    async def _session_now(self, client: str) -> Session:
        """The web's session, opened for ``client`` on first use (again after the idle timeout
        closed it)."""
        if self._session is None:
            with http_errors():
                self._session = await self._manager.open_loose(client, on_reap=self._reaped)
        return self._session

    async def _reaped(self, session: Session) -> None:
        """The idle timeout ends the web's session: its episode is gone, and clients are told."""
        if session is self._session:
            self._session = None
            self.episode.clear()
            await self.channel.broadcast(self.episode.update())

    async def _ask(self, session: Session, message: dict[str, Any]) -> dict[str, Any]:
        """The reply's ``data``; an error frame becomes an HTTP error."""
        reply: Reply | None = await session.handle(message)
        assert reply is not None
        if reply["type"] != "error":
            return reply["data"]
        error = reply["data"]
        if error["code"] == "STEP_TIMEOUT":  # the session has a fresh environment: no episode
            self.episode.clear()
            await self.channel.broadcast(self.episode.update())
        status = 409 if message["type"] == "state" else 500  # upstream: state unavailable is 409
        raise HTTPException(_STATUS_OF_CODE.get(error["code"], status),
                            detail=error.get("errors", error["message"]))


def _step_action(body: dict[str, Any], env: Environment) -> Any:
    """The action in a ``/web/step`` body: ``body["action"]``, or a chat ``message`` (upstream)."""
    if "message" in body:
        convert = getattr(env, "message_to_action", None)
        if convert is None:
            return {"message": body["message"]}
        return convert(body["message"]).model_dump(mode="json", exclude={"metadata"})
    action = body.get("action", {})
    is_tool_call = isinstance(action, dict) and action.get("type") == "call_tool"
    if is_tool_call and isinstance(action.get("arguments"), str):
        try:  # upstream's web form sends tool arguments as JSON text
            return {**action, "arguments": json.loads(action["arguments"])}
        except ValueError:
            return action  # left as text: validation names the field
    return action


def _json(data: Any) -> Response:
    """A JSON reply that may hold numpy values (Atari frames), as ``/ws`` encodes them."""
    return Response(json_dumps(data), media_type="application/json")


def web_router(api: WebApi) -> APIRouter:
    """The HTTP routes and ``WS /ws/ui`` of :class:`WebApi` (register them before the page)."""
    router = APIRouter()

    @router.get("/web/metadata", response_model=EnvironmentMetadata, responses=REFUSALS)
    async def web_metadata(request: Request) -> dict[str, Any]:
        return await api.metadata(client_of(request))

    @router.post("/web/reset", responses=REFUSALS)
    async def web_reset(request: Request, body: dict[str, Any] | None = Body(default=None)) -> Response:
        return _json(await api.reset(body or {}, client_of(request)))

    @router.post("/web/step", responses=REFUSALS)
    async def web_step(request: Request, body: dict[str, Any] = Body(...)) -> Response:
        return _json(await api.step(body, client_of(request)))

    @router.get("/web/state", responses=REFUSALS)
    async def web_state(request: Request) -> Response:
        return _json(await api.state(client_of(request)))

    router.add_api_websocket_route("/ws/ui", api.channel)
    return router

"""The HTTP routes: health, metadata, schema, capabilities, MCP, the task API (``.tasks``) and
upstream's stateless reset/step.

As upstream, ``POST /reset``, ``POST /step`` and ``GET /state`` build a fresh environment for
each request and close it afterwards: only ``/ws`` holds an episode. A production server
(``.modes``) has none of the three. Their bodies are checked with upstream's bounds
(``.requests``): out of them, a 422 whose ``detail`` names the field.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request
from pydantic import BaseModel

from openenv_gym.errors import FactoryError
from openenv_gym.protocol import CAPABILITIES, SUBPROTOCOL
from openenv_gym.space_json import space_to_json
from openenv_gym.types import Action, EnvironmentMetadata, Observation, State

from .environment import Environment
from .mcp import HttpMcp
from .modes import ServerMode
from .requests import ResetRequest, StepRequest
from .sessions import SessionManager
from .tasks import task_router

_STATUS_OF_CODE = {"VALIDATION_ERROR": 422, "UNKNOWN_TYPE": 400, "EXECUTION_ERROR": 500}


class ErrorDetail(BaseModel):
    """An HTTP error body, as FastAPI writes it."""

    detail: str


_NOT_JSON: dict[int | str, dict[str, Any]] = {400: {"model": ErrorDetail, "description": "Not a JSON body"}}


def schema_of(action_type: type[Action], observation_type: type[Observation],
              env: Environment | None = None) -> dict[str, Any]:
    """What ``GET /schema`` returns: upstream's shape, plus ``"spaces"`` an environment declares.

    ``reset_observation`` is the model ``reset()`` returns (the environment's
    :attr:`~.Environment.RESET_OBSERVATION`, else the step observation), always sent, as
    ``openenv`` 0.10 does.
    """
    reset_type = (env.RESET_OBSERVATION if env is not None else None) or observation_type
    schema: dict[str, Any] = {"action": action_type.model_json_schema(),
              "observation": observation_type.model_json_schema(),
              "reset_observation": reset_type.model_json_schema(),
              "state": State.model_json_schema()}
    if env is None:
        return schema
    declared = env.declared_spaces()
    if declared:
        schema["spaces"] = {side: space_to_json(space) for side, space in declared.items()}
    schema["render_modes"] = list(env.RENDER_MODES)
    if env.RENDER_FPS is not None:
        schema["render_fps"] = env.RENDER_FPS
    return schema


def build_router(factory: Callable[[], Environment], action_type: type[Action],
                 observation_type: type[Observation], manager: SessionManager, *,
                 mode: ServerMode = ServerMode.SIMULATION, env_name: str = "env") -> APIRouter:
    """All HTTP routes of one environment server (``env_name``: its name in the task API)."""
    router = APIRouter()

    @cache
    def probe() -> dict[str, Any]:
        """Metadata and schema, read once from one environment instance."""
        try:
            env = factory()
        except Exception as exc:  # a misconfigured server: say why instead of a bare 500
            raise HTTPException(500, detail=f"cannot create the environment: "
                                            f"{type(exc).__name__}: {exc}") from exc
        try:
            return {"metadata": env.get_metadata().model_dump(),
                    "schema": schema_of(action_type, observation_type, env)}
        finally:
            env.close()

    @router.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "healthy"}

    @router.get("/metadata", response_model=EnvironmentMetadata)
    def get_metadata() -> dict[str, Any]:
        return probe()["metadata"]

    @router.get("/schema")
    def get_schema() -> dict[str, Any]:
        return probe()["schema"]

    @router.get("/capabilities")
    async def capabilities() -> dict[str, Any]:
        status = manager.status()
        return {"protocol": SUBPROTOCOL, "capabilities": list(CAPABILITIES),
                "active_sessions": status.active_sessions, "max_sessions": status.max_sessions}

    if mode is ServerMode.SIMULATION:
        router.include_router(_simulation_router(manager))
    router.include_router(task_router(factory, env_name))
    mcp = HttpMcp(manager)

    @router.post("/mcp", include_in_schema=False)
    async def mcp_endpoint(request: Request) -> dict[str, Any]:
        """JSON-RPC 2.0 MCP (``server/mcp.py``): always HTTP 200 with a result or an error."""
        return await mcp.answer(await request.body(), request.client.host if request.client else "")

    return router


def _simulation_router(manager: SessionManager) -> APIRouter:
    """Upstream's simulation controls: stateless ``POST /reset``, ``POST /step``, ``GET /state``."""
    router = APIRouter()

    async def one_shot(message: dict[str, Any]) -> Any:
        try:
            async with manager.temporary() as session:  # the environment's calls run off the event loop
                reply = await session.handle(message)
        except FactoryError as exc:
            raise HTTPException(500, detail=exc.message) from exc
        assert reply is not None
        if reply["type"] == "error":
            data = reply["data"]
            detail = data.get("errors", data["message"])
            raise HTTPException(_STATUS_OF_CODE.get(data["code"], 500), detail=detail)
        return reply["data"]

    @router.post("/reset", responses=_NOT_JSON)
    async def reset(body: ResetRequest = Body(default_factory=ResetRequest)) -> Any:
        return await one_shot({"type": "reset", "data": body.model_dump(exclude_unset=True)})

    @router.post("/step", responses=_NOT_JSON)
    async def step(body: StepRequest) -> Any:
        return await one_shot({"type": "step", "data": body.action})

    @router.get("/state")
    async def state() -> Any:
        return await one_shot({"type": "state"})

    return router

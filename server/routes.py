"""The HTTP routes: health, metadata, schema, capabilities, MCP, the task API (``.tasks``) and
upstream's stateless reset/step.

As upstream, ``POST /reset``, ``POST /step`` and ``GET /state`` build a fresh environment for
each request and close it afterwards: only ``/ws`` holds an episode. Unlike upstream, that
environment counts toward the capacity and the client's limit as a session does (refused with
503 or 429 when full: ``.http_limits``). A production server
(``.modes``) has none of the three. Their bodies are checked with upstream's bounds
(``.requests``): out of them, a 422 whose ``detail`` names the field.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request
from pydantic import BaseModel

from openenv_gym.protocol import CAPABILITIES, SUBPROTOCOL
from openenv_gym.types import EnvironmentMetadata

from .description import Description
from .http_limits import REFUSALS, client_of, http_errors
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


def build_router(description: Description, manager: SessionManager, *,
                 mode: ServerMode = ServerMode.SIMULATION, env_name: str = "env") -> APIRouter:
    """All HTTP routes of one environment server (``env_name``: its name in the task API)."""
    router = APIRouter()

    async def described(request: Request) -> dict[str, Any]:
        with http_errors():
            return await description.get(manager, client_of(request))

    @router.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "healthy"}

    @router.get("/metadata", response_model=EnvironmentMetadata, responses=REFUSALS)
    async def get_metadata(request: Request) -> dict[str, Any]:
        return (await described(request))["metadata"]

    @router.get("/schema", responses=REFUSALS)
    async def get_schema(request: Request) -> dict[str, Any]:
        return (await described(request))["schema"]

    @router.get("/capabilities")
    async def capabilities() -> dict[str, Any]:
        status = manager.status()
        return {"protocol": SUBPROTOCOL, "capabilities": list(CAPABILITIES),
                "active_sessions": status.active_sessions, "max_sessions": status.max_sessions}

    if mode is ServerMode.SIMULATION:
        router.include_router(_simulation_router(manager))
    router.include_router(task_router(manager, env_name))
    mcp = HttpMcp(manager)

    @router.post("/mcp", include_in_schema=False)
    async def mcp_endpoint(request: Request) -> dict[str, Any]:
        """JSON-RPC 2.0 MCP (``server/mcp.py``): always HTTP 200 with a result or an error."""
        return await mcp.answer(await request.body(), client_of(request))

    return router


def _simulation_router(manager: SessionManager) -> APIRouter:
    """Upstream's simulation controls: stateless ``POST /reset``, ``POST /step``, ``GET /state``."""
    router = APIRouter()

    async def one_shot(message: dict[str, Any], request: Request) -> Any:
        """The reply to ``message`` from an environment built for it, within the limits."""
        with http_errors():
            async with manager.temporary(client_of(request)) as session:  # calls run off the event loop
                reply = await session.handle(message)
        assert reply is not None
        if reply["type"] == "error":
            data = reply["data"]
            detail = data.get("errors", data["message"])
            raise HTTPException(_STATUS_OF_CODE.get(data["code"], 500), detail=detail)
        return reply["data"]

    @router.post("/reset", responses={**_NOT_JSON, **REFUSALS})
    async def reset(request: Request, body: ResetRequest = Body(default_factory=ResetRequest)) -> Any:
        return await one_shot({"type": "reset", "data": body.model_dump(exclude_unset=True)}, request)

    @router.post("/step", responses={**_NOT_JSON, **REFUSALS})
    async def step(request: Request, body: StepRequest) -> Any:
        return await one_shot({"type": "step", "data": body.action}, request)

    @router.get("/state", responses=REFUSALS)
    async def state(request: Request) -> Any:
        return await one_shot({"type": "state"}, request)

    return router

"""An upstream MCP tool environment of echo_env's kind, served by upstream's own server.

Its tools are FastMCP's (``echo_message``, ``echo_with_length``); actions are upstream's
``CallToolAction`` / ``ListToolsAction``, step observations ``CallToolObservation``, and reset
returns a plain ``Observation`` whose message is in ``metadata``. It imports only upstream's
``openenv`` and its dependencies (FastMCP, which upstream's echo_env builds its tools with, and
pydantic), so either release's venv serves it: ``uvicorn tests.interop.upstream_mcp_echo:app``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastmcp import FastMCP
from openenv.core.env_server import Observation, State, create_app
from openenv.core.env_server.mcp_environment import MCPEnvironment
from openenv.core.env_server.mcp_types import CallToolAction, CallToolObservation
from pydantic import Field

READY = "Echo environment ready!"


def _tools() -> FastMCP:
    mcp = FastMCP("echo_env")

    @mcp.tool()
    def echo_message(message: str) -> str:
        """Echo the message back."""
        return message

    @mcp.tool()
    def echo_with_length(message: str, repeat: Annotated[int, Field(ge=1, le=3)] = 1) -> dict[str, Any]:
        """Echo the message back (``repeat`` times) with its length."""
        echoed = message * repeat
        return {"message": echoed, "length": len(echoed)}

    return mcp


class EchoMcpEnvironment(MCPEnvironment):
    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self) -> None:
        super().__init__(_tools())
        self._state = State(step_count=0)

    def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> Observation:
        self._state = State(episode_id=episode_id, step_count=0)
        return Observation(done=False, reward=0.0, metadata={"status": "ready", "message": READY})

    def _step_impl(self, action: Any, timeout_s: float | None = None, **kwargs: Any) -> Observation:
        return Observation(done=False, reward=0.0, metadata={"error": f"unknown action {type(action).__name__}"})

    @property
    def state(self) -> State:
        return self._state


app = create_app(EchoMcpEnvironment, CallToolAction, CallToolObservation, env_name="echo_env",
                 max_concurrent_envs=4)

"""An upstream ``MCPEnvironment`` (FastMCP tools) served by upstream's server: ``add`` and ``shout``.

Serve it with ``uvicorn tests.interop.upstream_tools:app`` (or our ``ProcessProvider``).
"""

from __future__ import annotations

from typing import Any

from fastmcp import FastMCP
from openenv.core.env_server import Observation, State, create_app
from openenv.core.env_server.mcp_environment import MCPEnvironment
from openenv.core.env_server.mcp_types import CallToolAction, CallToolObservation


def _tools() -> FastMCP:
    mcp = FastMCP("upstream-tools")

    @mcp.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @mcp.tool()
    def shout(text: str) -> str:
        """The text in capitals."""
        return text.upper()

    return mcp


class ToolsEnv(MCPEnvironment):
    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self) -> None:
        super().__init__(_tools())
        self._state = State()

    def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> Observation:
        self._state = State(episode_id=episode_id)
        return Observation(reward=0.0)

    def _step_impl(self, action: Any, timeout_s: float | None = None, **kwargs: Any) -> Observation:
        return Observation(reward=0.0, metadata={"error": "only tool calls"})

    @property
    def state(self) -> State:
        return self._state


app = create_app(ToolsEnv, CallToolAction, CallToolObservation, env_name="upstream_tools", max_concurrent_envs=4)

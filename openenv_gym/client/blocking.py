"""The session methods of a client whose ``request`` blocks, written once.

:class:`~openenv_gym.client.sync_client.SyncEnvClient` (a blocking socket) and
:class:`~openenv_gym.providers.InProcessClient` (no socket) only implement ``request``; what
each method sends and how its reply is read comes from :mod:`openenv_gym.protocol.calls`.
The async :class:`~openenv_gym.client.async_client.EnvClient` has the same methods, awaited.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from ..mcp_types import Tool
from ..protocol import calls
from ..protocol.calls import Call
from ..protocol.tool_calls import TOOLS_CALL, TOOLS_LIST, tool_value, tools_of
from ..types import StepResult

T = TypeVar("T")


class BlockingSession:
    """``reset``, ``step``, ``state``, ``render``, batches and MCP tools over a blocking ``request``."""

    _mcp_id = 0

    @property
    def extended(self) -> bool:
        """Does the server speak the openenv-gym extensions?"""
        raise NotImplementedError

    def request(self, message: dict[str, Any]) -> Any:
        """Send one message; the server's raw reply."""
        raise NotImplementedError

    def call(self, call: Call[T]) -> T:
        """Make one request; its parsed reply (the server's error raised)."""
        self._check_extension(call)
        return call.parse(self.request(call.message))

    def _check_extension(self, call: Call[Any]) -> None:
        """Refuse a call that needs an extension the server lacks (clients on a socket check)."""

    def reset(self, **kwargs: Any) -> StepResult[dict[str, Any]]:
        """Start a new episode; ``kwargs`` (``seed``, ``episode_id``, env-specific) go to reset."""
        return self.call(calls.reset(kwargs))

    def step(self, action: Mapping[str, Any] | BaseModel) -> StepResult[dict[str, Any]]:
        """Apply one action (a dict of the Action's fields, or the Action model)."""
        return self.call(calls.step(action))

    def state(self) -> dict[str, Any]:
        """The episode's state (``episode_id``, ``step_count`` and the env's own fields)."""
        return self.call(calls.state())

    def render(self, mode: str = "ansi") -> Any:
        """The environment's rendering (text, or an RGB array); ``None`` from upstream servers."""
        return self.call(calls.render(mode)) if self.extended else None

    def batch(self, requests: list[dict[str, Any]]) -> list[Any]:
        """Many sessions' requests in one frame; each request's raw reply, in order."""
        return self.call(calls.batch(requests))

    def mcp(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """One JSON-RPC request to the session's environment; its ``result``."""
        self._mcp_id += 1
        return self.call(calls.mcp(method, params, self._mcp_id))

    def list_tools(self) -> list[Tool]:
        """The environment's MCP tools (name, description, JSON Schema of the arguments)."""
        return tools_of(self.mcp(TOOLS_LIST))

    def call_tool(self, name: str, **arguments: Any) -> Any:
        """Call the tool ``name``; what it returned. Raises :class:`~openenv_gym.errors.ToolCallError`."""
        return tool_value(self.mcp(TOOLS_CALL, {"name": name, "arguments": arguments}))

"""MCP-style tool actions and observations, as upstream's ``mcp_types`` (same JSON shapes).

An environment with tools answers ``{"type": "list_tools"}`` and
``{"type": "call_tool", "tool_name": ..., "arguments": {...}}`` step actions with these
observations, so upstream's ``MCPToolClient`` can drive it.

>>> CallToolAction(tool_name="echo_message", arguments={"message": "hi"}).type
'call_tool'
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .types import Action, Observation

MCP_ACTION_TYPES = ("list_tools", "call_tool")


class Tool(BaseModel):
    """A tool's name, description and JSON Schema of its arguments."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str
    input_schema: dict[str, Any]


class ToolErrorType(str, Enum):
    """Why a tool call failed before or outside the tool itself."""

    EXECUTION_ERROR = "execution_error"
    INVALID_ARGS = "invalid_args"
    TRANSPORT_ERROR = "transport_error"
    TOOL_NOT_FOUND = "tool_not_found"
    TIMEOUT = "timeout"


class ToolError(BaseModel):
    """A framework error of a tool call (the tool's own errors go in ``result``)."""

    model_config = ConfigDict(extra="forbid")

    error_type: ToolErrorType
    message: str


class ListToolsAction(Action):
    """Ask for the environment's tools."""

    type: Literal["list_tools"] = "list_tools"


class CallToolAction(Action):
    """Call one tool by name."""

    type: Literal["call_tool"] = "call_tool"
    tool_name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ListToolsObservation(Observation):
    """The environment's tools."""

    tools: list[Tool]


class CallToolObservation(Observation):
    """A tool's result (``{"data": ..., "content": [...], ...}``) or a framework error."""

    tool_name: str
    result: Any = None
    error: ToolError | None = None

"""Tools an environment offers through MCP-style ``list_tools`` / ``call_tool`` actions.

Mark methods of an :class:`~openenv_gym.server.Environment` with :func:`tool`; the argument
schema comes from the signature::

    class EchoEnvironment(Environment):
        @tool
        def echo_message(self, message: str) -> str:
            "Echo the message back."
            return message

>>> class T:
...     @tool
...     def add(self, a: int, b: int = 1) -> int:
...         "Add two numbers."
...         return a + b
>>> box = ToolBox.of(T())
>>> box.call(CallToolAction(tool_name="add", arguments={"a": 2})).result["data"]
3
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError, create_model

from openenv_gym.mcp_types import (
    CallToolAction,
    CallToolObservation,
    ListToolsObservation,
    Tool,
    ToolError,
    ToolErrorType,
)

logger = logging.getLogger(__name__)

_TOOL_MARK = "__openenv_tool__"


def tool(method: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an environment method as a tool (its docstring is the description)."""
    setattr(method, _TOOL_MARK, True)
    return method


@dataclass(frozen=True)
class _BoundTool:
    function: Callable[..., Any]
    arguments: type[BaseModel]
    spec: Tool


def _bind(name: str, function: Callable[..., Any]) -> _BoundTool:
    fields: dict[str, Any] = {}
    for param in inspect.signature(function).parameters.values():
        annotation = Any if param.annotation is inspect.Parameter.empty else param.annotation
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    arguments = create_model(f"{name}_arguments", **fields)
    description = inspect.getdoc(function) or name
    return _BoundTool(function, arguments, Tool(name=name, description=description,
                                                input_schema=arguments.model_json_schema()))


def _result(value: Any) -> dict[str, Any]:
    """The shape of a FastMCP ``CallToolResult`` dump, which upstream clients unpack."""
    text = value if isinstance(value, str) else repr(value)
    return {
        "content": [{"type": "text", "text": text}],
        "structured_content": {"result": value},
        "data": value,
        "is_error": False,
    }


class ToolBox:
    """The tools of one environment instance."""

    def __init__(self, tools: dict[str, _BoundTool]):
        self._tools = tools

    @classmethod
    def of(cls, owner: object) -> ToolBox:
        """Collect the :func:`tool`-marked methods of ``owner``."""
        found = {}
        for name, member in inspect.getmembers(type(owner), callable):
            if getattr(member, _TOOL_MARK, False):
                found[name] = _bind(name, getattr(owner, name))
        return cls(found)

    def __bool__(self) -> bool:
        return bool(self._tools)

    def list(self) -> ListToolsObservation:
        """All tools with their argument schemas."""
        return ListToolsObservation(tools=[t.spec for t in self._tools.values()])

    def call(self, action: CallToolAction) -> CallToolObservation:
        """Run one tool; every failure is a value in the observation, never an exception."""
        bound = self._tools.get(action.tool_name)
        if bound is None:
            known = ", ".join(sorted(self._tools))
            return self._failed(action, ToolErrorType.TOOL_NOT_FOUND,
                                f"no tool {action.tool_name!r}; tools: {known}")
        try:
            arguments = bound.arguments.model_validate(action.arguments)
        except ValidationError as exc:
            return self._failed(action, ToolErrorType.INVALID_ARGS, str(exc))
        try:
            value = bound.function(**dict(arguments))
        except Exception as exc:  # a tool's failure is reported to the caller, not raised
            logger.info("tool %r raised (arguments not logged)", action.tool_name, exc_info=exc)
            return self._failed(action, ToolErrorType.EXECUTION_ERROR, f"{type(exc).__name__}: {exc}")
        return CallToolObservation(tool_name=action.tool_name, result=_result(value))

    @staticmethod
    def _failed(action: CallToolAction, kind: ToolErrorType, message: str) -> CallToolObservation:
        return CallToolObservation(tool_name=action.tool_name,
                                   error=ToolError(error_type=kind, message=message))

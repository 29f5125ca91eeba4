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
import weakref
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
class _ToolDef:
    """What a tool of a class takes and how it is described: made once per class, not per instance."""

    arguments: type[BaseModel]
    spec: Tool


_DEFINITIONS: weakref.WeakKeyDictionary[type, dict[str, _ToolDef]] = weakref.WeakKeyDictionary()
"""Each class's tools. Building them (a pydantic model and its JSON Schema per tool) took ~3 ms, once
per environment instance: most of the server's CPU while 10,000 sessions connected."""


def _define(name: str, function: Callable[..., Any]) -> _ToolDef:
    fields: dict[str, Any] = {}
    for param in inspect.signature(function).parameters.values():
        annotation = Any if param.annotation is inspect.Parameter.empty else param.annotation
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    arguments = create_model(f"{name}_arguments", **fields)
    description = inspect.getdoc(function) or name
    return _ToolDef(arguments, Tool(name=name, description=description,
                                    input_schema=arguments.model_json_schema()))


def _definitions(owner: object) -> dict[str, _ToolDef]:
    """The :func:`tool`-marked methods of ``owner``'s class (signatures as bound to ``owner``)."""
    kind = type(owner)
    found = _DEFINITIONS.get(kind)
    if found is None:
        found = {name: _define(name, getattr(owner, name))
                 for name, member in inspect.getmembers(kind, callable) if getattr(member, _TOOL_MARK, False)}
        _DEFINITIONS[kind] = found
    return found


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

    def __init__(self, owner: object, tools: dict[str, _ToolDef]):
        self._owner = owner
        self._tools = tools

    @classmethod
    def of(cls, owner: object) -> ToolBox:
        """Collect the :func:`tool`-marked methods of ``owner``."""
        return cls(owner, _definitions(owner))

    def __bool__(self) -> bool:
        return bool(self._tools)

    def list(self) -> ListToolsObservation:
        """All tools with their argument schemas."""
        return ListToolsObservation(tools=[t.spec for t in self._tools.values()])

    def call(self, action: CallToolAction) -> CallToolObservation:
        """Run one tool; every failure is a value in the observation, never an exception."""
        definition = self._tools.get(action.tool_name)
        if definition is None:
            known = ", ".join(sorted(self._tools))
            return self._failed(action, ToolErrorType.TOOL_NOT_FOUND,
                                f"no tool {action.tool_name!r}; tools: {known}")
        try:
            arguments = definition.arguments.model_validate(action.arguments)
        except ValidationError as exc:
            return self._failed(action, ToolErrorType.INVALID_ARGS, str(exc))
        try:
            value = getattr(self._owner, action.tool_name)(**dict(arguments))
        except Exception as exc:  # a tool's failure is reported to the caller, not raised
            logger.info("tool %r raised (arguments not logged)", action.tool_name, exc_info=exc)
            return self._failed(action, ToolErrorType.EXECUTION_ERROR, f"{type(exc).__name__}: {exc}")
        return CallToolObservation(tool_name=action.tool_name, result=_result(value))

    @staticmethod
    def _failed(action: CallToolAction, kind: ToolErrorType, message: str) -> CallToolObservation:
        return CallToolObservation(tool_name=action.tool_name,
                                   error=ToolError(error_type=kind, message=message))

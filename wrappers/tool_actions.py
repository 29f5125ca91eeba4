"""MCP tool calls as Gym actions: ``OneOf`` over one ``Dict`` of arguments per tool.

An MCP tool environment (upstream's ``MCPEnvironment``: its action model is ``CallToolAction``)
takes ``{"type": "call_tool", "tool_name": ..., "arguments": {...}}``. Its Gym action space is
built from ``tools/list``: ``OneOf([Dict(arguments of tool 0), Dict(arguments of tool 1), ...])``,
each ``Dict`` mapped from the tool's input schema as any model (:mod:`.spaces`). A value is
``(tool index, arguments)``, so every sample names a real tool with arguments of the right
types. For agents that write their calls (LLMs), a call is also accepted as

- a dict ``{"tool_name": "add", "arguments": {"a": 1}}`` (``"name"`` for ``"tool_name"`` too),
- the same as JSON text (``arguments`` may itself be JSON text, as in OpenAI tool calls),
- ``("add", {"a": 1})``: the tool by name.

Why ``OneOf``: a call is one tool and *that* tool's arguments. A single ``Dict`` (a tool index
plus the union of every tool's arguments) would sample arguments the chosen tool does not take,
and could not hold two tools whose arguments share a name with different types; a ``Text`` of
JSON samples calls that are not JSON. ``OneOf`` is Gymnasium's own space for "one of these",
``check_env`` and the vector utilities know it, and ``sample(mask=...)`` can pin a tool.

A call that is none of these, or names no tool, raises :class:`InvalidActionError` saying what
to fix. Arguments are the tool's to judge: a wrong one comes back in the observation's
``error`` (``invalid_args``), as the environment answers it.

>>> from openenv_gym.mcp_types import Tool
>>> add = Tool(name="add", description="", input_schema={
...     "type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]})
>>> codec = tool_call_codec([add, Tool(name="ping", description="", input_schema={})])
>>> codec.space
OneOf(Dict('a': Box(-9007199254740992, 9007199254740992, (), int64)), Dict())
>>> codec.to_wire((0, {"a": np.int64(2)}))
{'type': 'call_tool', 'tool_name': 'add', 'arguments': {'a': 2}}
>>> codec.to_wire('{"tool_name": "ping"}')
{'type': 'call_tool', 'tool_name': 'ping', 'arguments': {}}
>>> codec.to_wire('{"tool_name": "sub", "arguments": {}}')
Traceback (most recent call last):
...
openenv_gym.errors.InvalidActionError: no tool 'sub' (the tools are add, ping).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from openenv_gym.errors import InvalidActionError, did_you_mean
from openenv_gym.mcp_types import Tool

from .schema import FieldCodec, dict_codec, model_fields

CALL_TOOL = "call_tool"
_CALL_KEYS = frozenset({"tool_name", "name", "arguments", "type", "metadata"})
_USAGE = 'write a tool call as {"tool_name": "<tool>", "arguments": {...}}'


def is_tool_call_model(action_schema: dict[str, Any]) -> bool:
    """Whether an action's JSON Schema is upstream's ``CallToolAction`` (an MCP tool environment).

    >>> from openenv_gym.mcp_types import CallToolAction
    >>> is_tool_call_model(CallToolAction.model_json_schema())
    True
    """
    fields = action_schema.get("properties", {})
    kind = fields.get("type", {})
    return ("tool_name" in fields and "arguments" in fields
            and kind.get("const", kind.get("default")) == CALL_TOOL)


def calls_tools(schema: dict[str, Any], tool_calls: bool | None) -> bool:
    """Are the actions tool calls: asked for (``True``), or by default on an MCP tool environment?"""
    return bool(tool_calls) or (tool_calls is None and is_tool_call_model(schema["action"]))


def tool_call_codec(tools: Sequence[Tool]) -> FieldCodec:
    """The action space and wire conversion of calls to ``tools`` (see the module docstring)."""
    if not tools:
        raise ValueError("the environment lists no tools, so it has no tool call actions")
    names = [tool.name for tool in tools]
    arguments = [dict_codec(model_fields(tool.input_schema)) for tool in tools]
    space = spaces.OneOf([codec.space for codec in arguments])

    def to_wire(action: Any) -> dict[str, Any]:
        index, args = _parse(action, names)
        if not isinstance(args, Mapping):
            raise InvalidActionError(f"the arguments of {names[index]!r} must be an object, "
                                     f"got {type(args).__name__}")
        try:
            wire = arguments[index].to_wire(args)
        except InvalidActionError as exc:
            raise InvalidActionError(f"{names[index]} arguments: {exc}") from None
        return {"type": CALL_TOOL, "tool_name": names[index], "arguments": dict(wire)}

    def to_gym(call: Any) -> tuple[int, Any]:
        index, args = _parse(call, names)
        return index, arguments[index].to_gym(args)

    return FieldCodec(space, to_gym, to_wire)


def _parse(action: Any, names: list[str]) -> tuple[int, Any]:
    """``(tool index, arguments)`` of a call in any accepted form."""
    if isinstance(action, str):
        action = _json(action, "a tool call given as text")
        if not isinstance(action, Mapping):
            raise InvalidActionError(f"a tool call given as text must be a JSON object, "
                                     f"not {type(action).__name__}; {_USAGE}")
    if isinstance(action, Mapping):
        return _from_mapping(action, names)
    if isinstance(action, tuple | list) and len(action) == 2:
        return _index(action[0], names), action[1]
    raise InvalidActionError(f"not a tool call: {action!r:.100}; pass (tool index, arguments) "
                             f"as sampled, a dict, or JSON text ({_USAGE})")


def _from_mapping(call: Mapping[str, Any], names: list[str]) -> tuple[int, Any]:
    unknown = set(call) - _CALL_KEYS
    if unknown:
        raise InvalidActionError(f"a tool call has no key {sorted(unknown)[0]!r}; {_USAGE}")
    name = call.get("tool_name", call.get("name"))
    if not isinstance(name, str):
        raise InvalidActionError(f"a tool call needs the tool's name as a string under 'tool_name'; {_USAGE}")
    args = call.get("arguments", {})
    if isinstance(args, str):  # OpenAI-style tool calls carry their arguments as JSON text
        args = _json(args, f"the arguments of {name!r}")
    return _index(name, names), {} if args is None else args


def _index(tool: Any, names: list[str]) -> int:
    if isinstance(tool, str):
        if tool not in names:
            raise InvalidActionError(f"no tool {tool!r} (the tools are {', '.join(names)})."
                                     f"{did_you_mean(tool, names)}")
        return names.index(tool)
    index = tool.item() if isinstance(tool, np.generic) else tool
    if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(names):
        return index
    raise InvalidActionError(f"tool index {tool!r} is out of range: {len(names)} tools ({', '.join(names)})")


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidActionError(f"{what} is not JSON ({exc}): {text!r:.80}; {_USAGE}") from None

"""``SpaceCodec``: an environment's Gym spaces, built from its ``GET /schema`` (its pydantic models
or the spaces it declares), and the conversions between Gym values and its wire format.

>>> from openenv_gym.envs.echo import EchoAction, EchoObservation
>>> codec = SpaceCodec.from_schema({"action": EchoAction.model_json_schema(),
...                                 "observation": EchoObservation.model_json_schema()})
>>> codec.action_space
UnicodeText(0, 65536)
>>> codec.action_to_wire("hi")
{'message': 'hi'}
>>> codec.observation_to_gym({"echoed_message": "hi", "message_length": 2})
{'echoed_message': 'hi', 'message_length': array(2)}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gymnasium import spaces

from openenv_gym.errors import InvalidActionError
from openenv_gym.mcp_types import CallToolObservation, Tool
from openenv_gym.protocol.space_json import space_from_json
from openenv_gym.types import ENVELOPE_FIELDS

from .schema import (
    FieldCodec,
    dict_codec,
    field_codec,
    field_to_wire,
    json_text_field,
    model_fields,
    object_codec,
    resolver,
    space_codec,
)
from .spaces import UnicodeText
from .tool_actions import is_tool_call_model, tool_call_codec

_ACTION_BASE_FIELDS = frozenset({"metadata"})


def _field_of(codec: FieldCodec, name: str) -> FieldCodec:
    """A declared non-``Dict`` observation space: the Gym observation is the model's one field."""

    def to_gym(value: Any) -> Any:
        return codec.to_gym((value or {}).get(name))

    def to_batch(values: list[Any]) -> Any:
        return codec.batch([(v or {}).get(name) for v in values])

    return FieldCodec(codec.space, to_gym, lambda v: {name: codec.to_wire(v)}, to_batch)


def _observations(schema: dict[str, Any], step: dict[str, Any],
                  declared: dict[str, spaces.Space[Any]]) -> FieldCodec:
    """The observation codec: a declared space, else the union of the reset and step models."""
    if "observation" not in declared:
        return _union(schema.get("reset_observation", schema["observation"]), step)
    observation = space_codec(declared["observation"])
    if isinstance(declared["observation"], spaces.Dict):
        return observation
    fields = [n for n in step.get("properties", {}) if n not in ENVELOPE_FIELDS]
    if len(fields) != 1:
        raise TypeError(f"a declared {type(declared['observation']).__name__} observation space "
                        f"needs an observation model with exactly one field, not {fields}")
    return _field_of(observation, fields[0])


def _union(reset: dict[str, Any], step: dict[str, Any]) -> FieldCodec:
    """A ``Dict`` over the fields of both models (one model if they are the same).

    A field of one model only holds its empty value ("" / NaN / ``None``...) in the other's
    observations; a field both models have with different spaces holds JSON text.
    """
    codecs = model_fields(reset, ENVELOPE_FIELDS) if reset != step else {}
    for name, codec in model_fields(step, ENVELOPE_FIELDS).items():
        known = codecs.get(name)
        codecs[name] = codec if known is None or known.space == codec.space else json_text_field({})
    return dict_codec(codecs) if codecs else json_text_field(step)


def _actions(schema: dict[str, Any], declared: dict[str, spaces.Space[Any]]) -> tuple[FieldCodec, str | None]:
    """The action codec, and the action's one field where it has one (echo's ``message``)."""
    resolve = resolver(schema)
    names = [n for n in schema.get("properties", {}) if n not in _ACTION_BASE_FIELDS]
    field = names[0] if len(names) == 1 else None
    if "action" in declared:
        return space_codec(declared["action"]), field
    if field is not None:
        return field_codec(schema["properties"][field], resolve), field
    return object_codec(schema, resolve, exclude=_ACTION_BASE_FIELDS), field


@dataclass(frozen=True)
class SpaceCodec:
    """An environment's Gym spaces and the conversions to and from its wire format.

    A model with a single action field (echo's ``message``) gets that field's space as its
    action space, and a plain value (``"hi"``) stands for ``{"message": "hi"}``; otherwise the
    action space is a ``Dict``. A ``dict`` action is always accepted as the action's fields.
    """

    observation: FieldCodec
    action: FieldCodec
    action_field: str | None
    render_modes: tuple[str, ...] = ("ansi",)
    render_fps: int | None = None
    """The environment's ``RENDER_FPS`` (``None``: a server that does not say, as upstream's)."""
    calls_tools: bool = False
    """The actions are MCP tool calls (:func:`~.tool_actions.tool_call_codec`)."""

    @property
    def observation_space(self) -> spaces.Space[Any]:
        return self.observation.space

    @property
    def action_space(self) -> spaces.Space[Any]:
        return self.action.space

    @classmethod
    def from_schema(cls, schema: dict[str, Any], tools: Sequence[Tool] | None = None) -> SpaceCodec:
        """Build from a ``GET /schema`` answer (``{"action": ..., "observation": ...}``).

        Args:
            schema: the answer; its ``"reset_observation"`` (``openenv`` 0.10), where it differs
                from ``"observation"``, adds the reset model's fields to the observation space.
            tools: the environment's MCP tools (``tools/list``): the actions are then calls
                to them (:mod:`.tool_actions`) and the step observations ``CallToolObservation``.
        """
        declared = {side: space_from_json(d, UnicodeText) for side, d in schema.get("spaces", {}).items()}
        render = (tuple(dict.fromkeys(["ansi", *schema.get("render_modes", ())])), schema.get("render_fps"))
        if tools is not None:
            step = (schema["observation"] if is_tool_call_model(schema["action"])
                    else CallToolObservation.model_json_schema())
            return cls(_observations(schema, step, declared), tool_call_codec(tools), None, *render,
                       calls_tools=True)
        action, field = _actions(schema["action"], declared)
        return cls(_observations(schema, schema["observation"], declared), action, field, *render)

    def observation_to_gym(self, observation: dict[str, Any]) -> Any:
        """The Gym observation for an observation dict from the wire."""
        return self.observation.to_gym(observation)

    def action_to_wire(self, action: Any) -> dict[str, Any]:
        """The action's JSON fields for a Gym action (a value of the space, or a dict)."""
        if self.calls_tools:
            return dict(self.action.to_wire(action))
        field = self.action_field
        if isinstance(action, Mapping):
            if field is not None and field in action:
                return {**action, field: field_to_wire(self.action, field, action[field])}
            return dict(self.action.to_wire(action)) if field is None else dict(action)
        if field is None:
            raise InvalidActionError(
                f"this environment's action has several fields "
                f"({', '.join(self.action_space.keys())}): pass a dict, "  # type: ignore[attr-defined]
                f"got {type(action).__name__}")
        return {field: field_to_wire(self.action, field, action)}

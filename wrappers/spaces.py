"""Gymnasium spaces built from an environment's JSON Schemas (its pydantic models).

One path for every server: a bundled environment's models and an upstream server's
``GET /schema`` both arrive here as JSON Schema.

==============================  =================================================
JSON Schema (pydantic type)     Gymnasium space (value)
==============================  =================================================
string (``str``)                :class:`UnicodeText` (``str``)
boolean (``bool``)              ``Discrete(2)`` (``int``)
enum / const (``Literal``)      ``Discrete(n)`` (index of the value)
integer with both bounds        ``Discrete(hi - lo + 1, start=lo)`` (``int``)
integer                         ``Box((), int64)`` (0-d array)
number (``float``)              ``Box((), float64)`` (0-d array; ``null`` is NaN)
array of strings                ``Sequence(UnicodeText)`` (tuple of ``str``)
array of numbers, fixed length  ``Box((n,))``
array of numbers                ``Sequence(Box(()), stack=True)`` (1-d array)
object with properties (model)  ``Dict`` of the above
``Optional`` model / choice     :class:`~.nullable.Nullable` of the above (``None`` or a value)
anything else                   :class:`JsonText` holding compact JSON
==============================  =================================================

Other ``Optional[X]`` map as ``X`` with ``None`` as its empty value ("" / NaN / lowest
value): a text or a number has an empty value no real one needs, a ``Dict`` or a ``Discrete``
does not (upstream's ``error: Optional[ToolError]`` read as ``error_type`` 0 before).

Where ``reset()`` returns its own model (``"reset_observation"`` in the schema, ``openenv``
0.10), the observation space is a ``Dict`` over the fields of both models: one space whose
values keep the field names, so ``obs["question"]`` after reset and ``obs["correct"]`` after a
step read as the environment sent them, vector envs batch them as any ``Dict``, and
``check_env`` finds reset's and step's observations in it. A field of one model only holds its
empty value in the other's observations. (Gymnasium's ``OneOf`` of the two models was the
alternative: its values are ``(kind, dict)`` tuples, which neither ``obs["question"]`` code nor
``AsyncVectorEnv``'s shared memory can take.) MCP tool actions: :mod:`.tool_actions`.

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

import json
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import concatenate, create_empty_array

from openenv_gym.errors import InvalidActionError
from openenv_gym.mcp_types import CallToolObservation, Tool
from openenv_gym.space_json import space_from_json
from openenv_gym.types import ENVELOPE_FIELDS

from .nullable import Nullable

MAX_TEXT_LENGTH = 65_536
"""Longest text of a string field without ``maxLength`` in its schema."""
INT_BOUND = 2**53
"""Bound of unbounded integer fields (exactly representable in JSON numbers)."""
MAX_DISCRETE = 2**31
SAMPLE_CHARSET = string.printable + "éèàüößçñ€✓→中文日本語한국어😀"
"""Characters ``UnicodeText.sample`` draws from: printable ASCII plus some Unicode."""
SAMPLE_MAX_LENGTH = 64
"""Longest string ``UnicodeText.sample`` draws without a mask."""
_SURROGATE = re.compile("[\ud800-\udfff]")
_ACTION_BASE_FIELDS = frozenset({"metadata"})


class UnicodeText(spaces.Text):
    """A ``Text`` space that contains any Unicode string of a valid length.

    Gymnasium's ``Text`` only contains characters of its charset (62 alphanumerics by
    default), so LLM output would fall outside it. This space contains every string that
    is valid UTF-8 (no lone surrogates) and samples from :data:`SAMPLE_CHARSET`. Without a
    mask, samples are at most :data:`SAMPLE_MAX_LENGTH` characters long, so random policies
    and ``check_env`` stay fast however large ``max_length`` is.

    >>> space = UnicodeText(16)
    >>> space.contains("héllo ✓ 😀"), space.contains("x" * 17), space.contains(b"bytes")
    (True, False, False)
    """

    def __init__(self, max_length: int = MAX_TEXT_LENGTH, *, min_length: int = 0,
                 charset: str = SAMPLE_CHARSET, seed: int | np.random.Generator | None = None):
        super().__init__(max_length, min_length=min_length, charset=charset, seed=seed)

    def contains(self, x: Any) -> bool:
        return (isinstance(x, str) and self.min_length <= len(x) <= self.max_length
                and _SURROGATE.search(x) is None)

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        if mask is None and probability is None:
            longest = max(self.min_length, min(self.max_length, SAMPLE_MAX_LENGTH))
            mask = (int(self.np_random.integers(self.min_length, longest + 1)), None)
        return super().sample(mask=mask, probability=probability)

    def __repr__(self) -> str:
        return f"UnicodeText({self.min_length}, {self.max_length})"


class JsonText(UnicodeText):
    """A :class:`UnicodeText` holding one JSON value, for fields no other space describes.

    It contains only valid JSON, and its samples are JSON of the type the field's schema names
    (``{}`` for an object, ``[]`` for an array, a quoted random string where the schema says
    nothing), so a random action is always JSON the server can read.

    >>> space = JsonText(kind="object")
    >>> space.sample(), space.contains('{"k": 1}'), space.contains("not json")
    ('{}', True, False)
    >>> JsonText(seed=1).sample().startswith('"')
    True
    """

    _SAMPLES = {"object": "{}", "array": "[]", "null": "null", "boolean": "false",
                "integer": "0", "number": "0.0"}

    def __init__(self, max_length: int = MAX_TEXT_LENGTH, *, kind: str | None = None,
                 seed: int | np.random.Generator | None = None):
        super().__init__(max_length, seed=seed)
        self.kind = kind

    def contains(self, x: Any) -> bool:
        if not super().contains(x):
            return False
        try:
            json.loads(x)
        except ValueError:
            return False
        return True

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        fixed = self._SAMPLES.get(self.kind or "")
        if fixed is not None and mask is None and probability is None:
            return fixed
        text = json.dumps(super().sample(mask=mask, probability=probability), ensure_ascii=False)
        return text if len(text) <= self.max_length else '""'

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, JsonText) and super().__eq__(other)

    def __repr__(self) -> str:
        return f"JsonText({self.min_length}, {self.max_length})"


@dataclass(frozen=True)
class FieldCodec:
    """A space and the conversions between its values and JSON values."""

    space: spaces.Space[Any]
    to_gym: Callable[[Any], Any]
    to_wire: Callable[[Any], Any]
    to_batch: Callable[[list[Any]], Any] | None = None

    def batch(self, values: list[Any]) -> Any:
        """Wire values of N environments as one value of the batched space.

        Equal to Gymnasium's ``concatenate`` of the single values, only faster.
        """
        if self.to_batch is not None:
            return self.to_batch(values)
        items = [self.to_gym(v) for v in values]
        out = create_empty_array(self.space, len(items))
        return concatenate(self.space, items, out)  # type: ignore[arg-type]


def _numbers(dtype: Any, to_number: Callable[[Any], Any]) -> Callable[[list[Any]], np.ndarray]:
    return lambda values: np.asarray([to_number(v) for v in values], dtype=dtype)


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic | np.ndarray) else value


def _as_int(value: Any) -> Any:
    """An int for whole numbers; anything else unchanged, for the server to reject."""
    value = _scalar(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _as_float(value: Any) -> Any:
    value = _scalar(value)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _as_bool(value: Any) -> Any:
    value = _scalar(value)
    return bool(value) if isinstance(value, int) and value in (0, 1) else value


def _text(schema: dict[str, Any]) -> FieldCodec:
    space = UnicodeText(schema.get("maxLength", MAX_TEXT_LENGTH), min_length=schema.get("minLength", 0))
    return FieldCodec(space, lambda v: "" if v is None else v, _scalar,
                      lambda values: tuple("" if v is None else v for v in values))


def _json_text(schema: dict[str, Any]) -> FieldCodec:
    def to_wire(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError as exc:
            raise InvalidActionError(f"expected JSON text, got {value!r:.60} ({exc})") from None

    def to_gym(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    kind = schema.get("type")
    return FieldCodec(JsonText(kind=kind if isinstance(kind, str) else None), to_gym, to_wire)


def _choice(values: list[Any]) -> FieldCodec:
    def to_wire(index: Any) -> Any:
        index = _scalar(index)
        if isinstance(index, int) and 0 <= index < len(values):
            return values[index]
        return index  # not an index: send it as is, the server says what is wrong

    def index(value: Any) -> int:
        return values.index(value) if value in values else 0

    return FieldCodec(spaces.Discrete(len(values)), index, to_wire, _numbers(np.int64, index))


def _bounds(schema: dict[str, Any]) -> tuple[float | None, float | None]:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    return low, high


def _integer(schema: dict[str, Any]) -> FieldCodec:
    low, high = _bounds(schema)
    if "exclusiveMinimum" in schema:
        low = int(low) + 1  # type: ignore[arg-type]
    if "exclusiveMaximum" in schema:
        high = int(high) - 1  # type: ignore[arg-type]
    if low is not None and high is not None and 0 < high - low + 1 <= MAX_DISCRETE:
        start = int(low)
        def to_int(value: Any) -> int:
            return start if value is None else int(value)

        return FieldCodec(spaces.Discrete(int(high) - start + 1, start=start), to_int, _as_int,
                          _numbers(np.int64, to_int))
    low = -INT_BOUND if low is None else low
    return _scalar_box(low, INT_BOUND if high is None else high, np.int64, low, _as_int)


def _number(schema: dict[str, Any]) -> FieldCodec:
    low, high = _bounds(schema)
    return _scalar_box(-np.inf if low is None else low, np.inf if high is None else high,
                       np.float64, np.nan, _as_float)


def _scalar_box(low: Any, high: Any, dtype: Any, empty: Any, to_wire: Callable[[Any], Any]) -> FieldCodec:
    """A 0-d ``Box``; ``None`` on the wire becomes ``empty``."""

    def to_number(value: Any) -> Any:
        return empty if value is None else value

    return FieldCodec(spaces.Box(low, high, shape=(), dtype=dtype),
                      lambda v: np.asarray(to_number(v), dtype=dtype), to_wire, _numbers(dtype, to_number))


def _boolean(schema: dict[str, Any]) -> FieldCodec:
    def to_int(value: Any) -> int:
        return int(bool(value))

    return FieldCodec(spaces.Discrete(2), to_int, _as_bool, _numbers(np.int64, to_int))


def _array(schema: dict[str, Any], resolve: Callable[[dict[str, Any]], dict[str, Any]]) -> FieldCodec:
    items = resolve(schema.get("items", {}))
    kind = items.get("type")
    if kind == "string":
        text = _text(items)
        return FieldCodec(spaces.Sequence(text.space), lambda v: tuple(v or ()), list)
    if kind in ("integer", "number"):
        dtype = np.int64 if kind == "integer" else np.float64
        length = schema.get("minItems")
        box: spaces.Space[Any]
        if length is not None and length == schema.get("maxItems"):
            low, high = _bounds(items)
            box = spaces.Box(-np.inf if low is None else low, np.inf if high is None else high,
                             shape=(length,), dtype=dtype)
        else:
            box = spaces.Sequence(spaces.Box(-np.inf, np.inf, shape=(), dtype=dtype), stack=True)
        return FieldCodec(box, lambda v: np.asarray(v or [], dtype=dtype),
                          lambda v: np.asarray(v).tolist())
    return _json_text(schema)


def _object(schema: dict[str, Any], resolve: Callable[[dict[str, Any]], dict[str, Any]],
            exclude: frozenset[str] = frozenset()) -> FieldCodec:
    codecs = {name: field_codec(sub, resolve)
              for name, sub in schema.get("properties", {}).items() if name not in exclude}
    return dict_codec(codecs) if codecs else _json_text(schema)


def model_fields(schema: dict[str, Any], exclude: frozenset[str] = frozenset()) -> dict[str, FieldCodec]:
    """The codecs of a model's fields (a JSON Schema with ``properties``), by name."""
    resolve = _resolver(schema)
    return {name: field_codec(sub, resolve)
            for name, sub in resolve(schema).get("properties", {}).items() if name not in exclude}


def dict_codec(codecs: dict[str, FieldCodec]) -> FieldCodec:
    """A ``Dict`` of these fields (none: the empty ``Dict``, whose one value is ``{}``)."""
    return _dict(spaces.Dict({name: f.space for name, f in codecs.items()}), codecs)


def _field_to_wire(codec: FieldCodec, name: str, value: Any) -> Any:
    """``codec.to_wire(value)``; an :class:`InvalidActionError` names the field (``name: ...``)."""
    try:
        return codec.to_wire(value)
    except InvalidActionError as exc:
        raise InvalidActionError(f"{name}: {exc}") from None


def _dict(space: spaces.Dict, codecs: dict[str, FieldCodec]) -> FieldCodec:
    fields = {name: codecs[name] for name in space.spaces}  # in the space's (sorted) key order

    def to_gym(value: Any) -> dict[str, Any]:
        value = value or {}
        return {name: f.to_gym(value.get(name)) for name, f in fields.items()}

    def to_wire(value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        return {k: _field_to_wire(fields[k], k, v) if k in fields else v for k, v in value.items()}

    def to_batch(values: list[Any]) -> dict[str, Any]:
        values = [v or {} for v in values]
        return {name: f.batch([v.get(name) for v in values]) for name, f in fields.items()}

    return FieldCodec(space, to_gym, to_wire, to_batch)


def space_codec(space: spaces.Space[Any]) -> FieldCodec:
    """The codec of a space an environment declared (``"spaces"`` in its schema)."""
    if isinstance(space, spaces.Dict):
        return _dict(space, {name: space_codec(sub) for name, sub in space.spaces.items()})
    if isinstance(space, spaces.Discrete):
        start = int(space.start)

        def to_int(value: Any) -> int:
            return start if value is None else int(value)

        return FieldCodec(space, to_int, _as_int, _numbers(np.int64, to_int))
    if isinstance(space, spaces.Text):
        return _text({"maxLength": space.max_length, "minLength": space.min_length})
    if isinstance(space, spaces.Box | spaces.MultiBinary | spaces.MultiDiscrete):
        dtype, shape = space.dtype, space.shape

        def to_array(value: Any) -> np.ndarray:
            """Writable: a copy of a read-only array (msgpack's views of a frame), else the array."""
            array = np.asarray(value, dtype=dtype).reshape(shape)
            return array if array.flags.writeable else array.copy()

        def to_batch(values: list[Any]) -> np.ndarray:  # one copy: the stack
            if not values:
                return np.empty((0, *shape), dtype)
            return np.stack([np.asarray(v, dtype=dtype).reshape(shape) for v in values])

        return FieldCodec(space, to_array, lambda v: np.asarray(v).tolist(), to_batch)
    raise TypeError(f"no codec for declared space {space!r}")


def _field_of(codec: FieldCodec, name: str) -> FieldCodec:
    """A declared non-``Dict`` observation space: the Gym observation is the model's one field."""

    def to_gym(value: Any) -> Any:
        return codec.to_gym((value or {}).get(name))

    def to_batch(values: list[Any]) -> Any:
        return codec.batch([(v or {}).get(name) for v in values])

    return FieldCodec(codec.space, to_gym, lambda v: {name: codec.to_wire(v)}, to_batch)


def _nullable(codec: FieldCodec) -> FieldCodec:
    """``Optional[X]`` where X's space has no empty value of its own (a ``Dict``, a ``Discrete``)."""

    def to_gym(value: Any) -> Any:
        return None if value is None else codec.to_gym(value)

    def to_wire(value: Any) -> Any:
        return None if value is None else codec.to_wire(value)

    return FieldCodec(Nullable(codec.space), to_gym, to_wire, lambda values: tuple(map(to_gym, values)))


def _optional_inner(schema: dict[str, Any]) -> dict[str, Any] | None:
    options = schema.get("anyOf")
    if not options:
        return None
    not_null = [o for o in options if o.get("type") != "null"]
    return not_null[0] if len(not_null) == 1 and len(options) == 2 else None


def field_codec(schema: dict[str, Any],
                resolve: Callable[[dict[str, Any]], dict[str, Any]]) -> FieldCodec:
    """The codec of one JSON Schema node (``resolve`` follows ``$ref``)."""
    schema = resolve(schema)
    inner = _optional_inner(schema)
    if inner is not None:
        codec = field_codec(inner, resolve)
        return _nullable(codec) if isinstance(codec.space, spaces.Dict | spaces.Discrete) else codec
    if "enum" in schema:
        return _choice(list(schema["enum"]))
    if "const" in schema:
        return _choice([schema["const"]])
    kind = schema.get("type")
    if kind == "string":
        return _text(schema)
    if kind == "boolean":
        return _boolean(schema)
    if kind == "integer":
        return _integer(schema)
    if kind == "number":
        return _number(schema)
    if kind == "array":
        return _array(schema, resolve)
    if kind == "object" and "properties" in schema:
        return _object(schema, resolve)
    return _json_text(schema)


def _resolver(root: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    definitions = root.get("$defs", root.get("definitions", {}))

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = definitions[node["$ref"].rsplit("/", 1)[-1]]
        return node

    return resolve


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
        codecs[name] = codec if known is None or known.space == codec.space else _json_text({})
    return dict_codec(codecs) if codecs else _json_text(step)


def _actions(schema: dict[str, Any], declared: dict[str, spaces.Space[Any]]) -> tuple[FieldCodec, str | None]:
    """The action codec, and the action's one field where it has one (echo's ``message``)."""
    resolve = _resolver(schema)
    names = [n for n in schema.get("properties", {}) if n not in _ACTION_BASE_FIELDS]
    field = names[0] if len(names) == 1 else None
    if "action" in declared:
        return space_codec(declared["action"]), field
    if field is not None:
        return field_codec(schema["properties"][field], resolve), field
    return _object(schema, resolve, exclude=_ACTION_BASE_FIELDS), field


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
                return {**action, field: _field_to_wire(self.action, field, action[field])}
            return dict(self.action.to_wire(action)) if field is None else dict(action)
        if field is None:
            raise InvalidActionError(
                f"this environment's action has several fields "
                f"({', '.join(self.action_space.keys())}): pass a dict, "  # type: ignore[attr-defined]
                f"got {type(action).__name__}")
        return {field: _field_to_wire(self.action, field, action)}


from . import shared_memory as _shared_memory  # noqa: E402, F401  (registers UnicodeText for AsyncVectorEnv)
from .tool_actions import is_tool_call_model, tool_call_codec  # noqa: E402  (it builds on this module)

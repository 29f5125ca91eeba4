"""The schema compiler: one JSON Schema node (a pydantic field) becomes a Gymnasium space and the
conversions between its values and JSON (a :class:`FieldCodec`).

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
``Optional`` model / choice     :class:`~.spaces.Nullable` of the above (``None`` or a value)
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
``AsyncVectorEnv``'s shared memory can take.) MCP tool actions: :mod:`.tool_actions`. A whole
environment's spaces (its action and observation models, or the spaces it declares):
:class:`~.space_codec.SpaceCodec`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import concatenate, create_empty_array

from openenv_gym.errors import InvalidActionError

from .spaces import MAX_TEXT_LENGTH, JsonText, Nullable, UnicodeText

INT_BOUND = 2**53
"""Bound of unbounded integer fields (exactly representable in JSON numbers)."""
MAX_DISCRETE = 2**31


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


def json_text_field(schema: dict[str, Any]) -> FieldCodec:
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
    return json_text_field(schema)


def object_codec(schema: dict[str, Any], resolve: Callable[[dict[str, Any]], dict[str, Any]],
            exclude: frozenset[str] = frozenset()) -> FieldCodec:
    codecs = {name: field_codec(sub, resolve)
              for name, sub in schema.get("properties", {}).items() if name not in exclude}
    return dict_codec(codecs) if codecs else json_text_field(schema)


def model_fields(schema: dict[str, Any], exclude: frozenset[str] = frozenset()) -> dict[str, FieldCodec]:
    """The codecs of a model's fields (a JSON Schema with ``properties``), by name."""
    resolve = resolver(schema)
    return {name: field_codec(sub, resolve)
            for name, sub in resolve(schema).get("properties", {}).items() if name not in exclude}


def dict_codec(codecs: dict[str, FieldCodec]) -> FieldCodec:
    """A ``Dict`` of these fields (none: the empty ``Dict``, whose one value is ``{}``)."""
    return _dict(spaces.Dict({name: f.space for name, f in codecs.items()}), codecs)


def field_to_wire(codec: FieldCodec, name: str, value: Any) -> Any:
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
        return {k: field_to_wire(fields[k], k, v) if k in fields else v for k, v in value.items()}

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
        return object_codec(schema, resolve)
    return json_text_field(schema)


def resolver(root: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    definitions = root.get("$defs", root.get("definitions", {}))

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = definitions[node["$ref"].rsplit("/", 1)[-1]]
        return node

    return resolve

"""Gymnasium spaces as JSON, so a server can declare exact spaces (extension ``spaces``).

An environment whose observations are images or boards declares its spaces; ``GET /schema``
then carries them under ``"spaces"`` and the client builds exactly these ``Box`` /
``Discrete`` spaces instead of guessing from JSON Schema.

>>> import numpy as np
>>> from gymnasium import spaces
>>> frame = spaces.Box(0, 255, (210, 160, 3), np.uint8)
>>> space_to_json(frame)
{'type': 'box', 'low': 0, 'high': 255, 'shape': [210, 160, 3], 'dtype': 'uint8'}
>>> space_from_json(space_to_json(frame)) == frame
True
>>> space_from_json(space_to_json(spaces.Dict({"board": spaces.MultiBinary(64), "turn": spaces.Discrete(2)})))
Dict('board': MultiBinary(64), 'turn': Discrete(2))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium import spaces

TextFactory = Callable[..., spaces.Space[Any]]


def _bound(values: np.ndarray) -> Any:
    """One number where every element is the same, else the nested list; inf as a string."""
    flat = np.unique(values)
    value = flat[0] if flat.size == 1 else values
    if isinstance(value, np.ndarray):
        return [_bound(v) if isinstance(v, np.ndarray) else _number(v) for v in value]
    return _number(value)


def _number(value: Any) -> Any:
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, float) and not np.isfinite(value):
        return "inf" if value > 0 else "-inf"
    return value


def space_to_json(space: spaces.Space[Any]) -> dict[str, Any]:
    """A JSON description of a Box, Discrete, MultiDiscrete, MultiBinary, Text or Dict space."""
    if isinstance(space, spaces.Box):
        return {"type": "box", "low": _bound(space.low), "high": _bound(space.high),
                "shape": list(space.shape), "dtype": space.dtype.name}
    if isinstance(space, spaces.Discrete):
        return {"type": "discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiDiscrete):
        return {"type": "multi_discrete", "nvec": space.nvec.tolist(), "dtype": space.dtype.name}
    if isinstance(space, spaces.MultiBinary):
        return {"type": "multi_binary", "n": np.asarray(space.n).tolist()}
    if isinstance(space, spaces.Text):
        return {"type": "text", "min_length": space.min_length, "max_length": space.max_length}
    if isinstance(space, spaces.Dict):
        return {"type": "dict", "spaces": {k: space_to_json(s) for k, s in space.spaces.items()}}
    raise TypeError(f"{type(space).__name__} cannot be declared over the wire; use Box, Discrete, "
                    "MultiDiscrete, MultiBinary, Text or Dict")


def _array(value: Any, dtype: str) -> Any:
    value = np.asarray(value, dtype=object)
    value[value == "inf"], value[value == "-inf"] = np.inf, -np.inf
    return value.astype(dtype) if value.shape else value.item()


def space_from_json(description: dict[str, Any], text: TextFactory = spaces.Text) -> spaces.Space[Any]:
    """The space a :func:`space_to_json` description stands for (``text`` builds Text spaces)."""
    kind = description.get("type")
    if kind == "box":
        dtype = description["dtype"]
        return spaces.Box(_array(description["low"], dtype), _array(description["high"], dtype),
                          shape=tuple(description["shape"]), dtype=np.dtype(dtype))
    if kind == "discrete":
        return spaces.Discrete(description["n"], start=description.get("start", 0))
    if kind == "multi_discrete":
        return spaces.MultiDiscrete(description["nvec"], dtype=description.get("dtype", "int64"))
    if kind == "multi_binary":
        return spaces.MultiBinary(description["n"])
    if kind == "text":
        return text(description["max_length"], min_length=description.get("min_length", 0))
    if kind == "dict":
        return spaces.Dict({k: space_from_json(v, text) for k, v in description["spaces"].items()})
    raise ValueError(f"unknown space description {description!r:.200}")

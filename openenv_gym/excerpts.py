"""What an error reply may quote of a client's input: a short excerpt, and how long it was.

Error replies name what was wrong, and pydantic's validation errors carry the ``input`` they
refused: a 15 MB ``message`` of the wrong type came back whole inside a ``VALIDATION_ERROR``.
Every error frame (:meth:`~openenv_gym.errors.ServerError.to_frame`,
:func:`~openenv_gym.protocol.error_frame`) and every JSON-RPC or HTTP error body the server
writes passes through :func:`excerpt`: strings and bytes longer than :data:`QUOTED_CHARS`
become their start and their length, containers keep their first :data:`QUOTED_ITEMS` items,
nesting stops at :data:`QUOTED_DEPTH`, and anything else is quoted as its (cut) text, so
the result is also what JSON can carry.

>>> quoted = excerpt({"input": "x" * 15_000_000, "loc": ["message"]})
>>> quoted["input"][195:], quoted["loc"]
('xxxxx… (15000000 characters)', ['message'])
>>> excerpt(list(range(25)))[-2:]
[19, '… (25 items)']
"""

from __future__ import annotations

from itertools import islice
from typing import Any

QUOTED_CHARS = 200
"""Characters of a string (or bytes of a binary) an error reply quotes at most."""
MESSAGE_CHARS = 500
"""Characters of an error's own message kept (ours are shorter; an environment's may quote input)."""
QUOTED_ITEMS = 20
"""Items of a list or object an error reply quotes at most."""
QUOTED_DEPTH = 8
"""Levels of nesting an error reply quotes at most."""


def excerpt(value: Any, chars: int = QUOTED_CHARS, depth: int = QUOTED_DEPTH) -> Any:
    """``value`` as an error reply may quote it (see the module docstring).

    >>> excerpt(b"\\xff" * 3), excerpt(ValueError("bad")), excerpt([[[1]]], depth=2)
    ('\\\\xff\\\\xff\\\\xff', 'bad', [['…']])
    """
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return _cut(bytes(value[:chars]).decode("utf-8", "backslashreplace"), len(value), chars, "bytes")
    if not isinstance(value, str) and depth <= 0:
        return "…"
    if isinstance(value, dict):
        items = [(excerpt(key, chars, 0), excerpt(item, chars, depth - 1))
                 for key, item in islice(value.items(), QUOTED_ITEMS)]
        return dict(items + ([("…", f"({len(value)} items)")] if len(value) > QUOTED_ITEMS else []))
    if isinstance(value, list | tuple | set | frozenset):
        return [excerpt(item, chars, depth - 1) for item in islice(value, QUOTED_ITEMS)] + (
            [f"… ({len(value)} items)"] if len(value) > QUOTED_ITEMS else [])
    text = value if isinstance(value, str) else str(value)
    return _cut(text, len(text), chars, "characters")


def _cut(text: str, length: int, chars: int, unit: str) -> str:
    return text if length <= chars else f"{text[:chars]}… ({length} {unit})"

"""The memory a frame takes once decoded, known before it is decoded.

A frame's length says little about the memory of what it decodes to: msgpack writes a
two-character string in 3 bytes, and Python holds it in 64 (56 for the string, 8 for its
place in a list), so a 16.5 MB frame of them decoded to 366 MB. A server weighs each frame
before decoding it, in two steps:

- :func:`bound`, free: any byte of the frame could start a new object, so its decoded objects
  take at most :data:`OBJECT_BYTES` per byte; enough for the short frames of ordinary steps;
- :func:`weigh`, counted: the values the frame holds (strings and numbers as well as objects
  and arrays) times :data:`OBJECT_BYTES`, plus the bytes of its strings, binaries and arrays.
  msgpack frames are walked type byte by type byte, building nothing; JSON frames get an upper
  bound counted in C (commas, colons and brackets, those inside strings too). Past
  ``max_objects`` values, :class:`MessageTooLargeError` at once.

Both count the frame itself (its ``bytes`` or ``str``), alive until the request is answered.

>>> import msgpack
>>> frame = msgpack.packb(["ab"] * 1000)
>>> len(frame), weigh(frame, binary=True, max_objects=10**6) < bound(frame)
(3003, True)
>>> weigh(frame, binary=True, max_objects=10**6) >= sys.getsizeof(msgpack.unpackb(frame)) + 1000 * 51
True
>>> try:
...     weigh(frame, binary=True, max_objects=100)
... except MessageTooLargeError as exc:
...     exc.details
{'max_objects': 100}
"""

from __future__ import annotations

import sys

from ..errors import MessageTooLargeError
from .frames import IN_PLACE_FROM

OBJECT_BYTES = 72
"""Most bytes one decoded value takes beyond the characters or bytes it holds: an empty dict
(64) and its place in its container (8); a short string takes 56, an int 32, a float 24."""
EXT_BYTES = 256
"""Bytes a decoded numpy extension takes beyond its payload (twice its payload if small: copied
out of it): the array, its view and the payload's ``bytes`` object."""
_WIDE = 4
"""Bytes per character of a Python string holding a character beyond U+FFFF."""
_SCALAR, _STR, _BIN, _EXT, _ARRAY, _MAP = range(6)


def bound(data: str | bytes) -> int:
    """Bytes the frame and its decoded objects take at most, with no look inside: each byte a value.

    >>> bound(b"\\x80") == sys.getsizeof(b"\\x80") + OBJECT_BYTES
    True
    """
    return sys.getsizeof(data) + len(data) * OBJECT_BYTES


def weigh(data: str | bytes, *, binary: bool, max_objects: int) -> int:
    """Bytes the frame and its decoded objects take (an upper bound, close for msgpack).

    Args:
        data: the frame; read as msgpack when ``binary`` and ``bytes``, else as JSON.
        max_objects: the most values a frame may hold.

    Raises:
        MessageTooLargeError: the frame holds more than ``max_objects`` values (JSON: may hold).
        ValueError: a msgpack frame that is not one (truncated, a byte msgpack never uses).
    """
    if binary and isinstance(data, bytes):
        objects, payload = _msgpack_contents(data, max_objects)
    else:
        objects, payload = _json_values(data), sys.getsizeof(data)  # strings hold no more than the text
        if objects > max_objects:
            raise _too_many(max_objects)
    return sys.getsizeof(data) + payload + objects * OBJECT_BYTES


def _too_many(limit: int) -> MessageTooLargeError:
    return MessageTooLargeError(f"the frame holds more than {limit} values (strings, numbers, objects and "
                                "arrays), this server's limit per message", details={"max_objects": limit})


def _json_values(text: str | bytes) -> int:
    """At most how many values a JSON text holds: each but the first of a container follows a
    comma, each key precedes a colon (counted in C; those inside strings count too).

    >>> _json_values('{"a": [1, 2, 3], "b": "x"}')  # exact here: no comma or colon in a string
    8
    """
    if isinstance(text, str):
        return text.count(",") + text.count(":") + text.count("[") + text.count("{") + 1
    return text.count(b",") + text.count(b":") + text.count(b"[") + text.count(b"{") + 1


def _markers() -> list[tuple[int, int, int, int] | None]:
    """For each first byte of a msgpack value: its kind, the bytes of its header, the bytes of
    the length field after the first byte (0: the length is in the first byte) and that length."""
    fixed = {0xC0: (_SCALAR, 1, 0), 0xC2: (_SCALAR, 1, 0), 0xC3: (_SCALAR, 1, 0),
             0xC4: (_BIN, 2, 1), 0xC5: (_BIN, 3, 2), 0xC6: (_BIN, 5, 4),
             0xC7: (_EXT, 3, 1), 0xC8: (_EXT, 4, 2), 0xC9: (_EXT, 6, 4),
             0xCA: (_SCALAR, 5, 0), 0xCB: (_SCALAR, 9, 0),
             0xCC: (_SCALAR, 2, 0), 0xCD: (_SCALAR, 3, 0), 0xCE: (_SCALAR, 5, 0), 0xCF: (_SCALAR, 9, 0),
             0xD0: (_SCALAR, 2, 0), 0xD1: (_SCALAR, 3, 0), 0xD2: (_SCALAR, 5, 0), 0xD3: (_SCALAR, 9, 0),
             0xD9: (_STR, 2, 1), 0xDA: (_STR, 3, 2), 0xDB: (_STR, 5, 4),
             0xDC: (_ARRAY, 3, 2), 0xDD: (_ARRAY, 5, 4), 0xDE: (_MAP, 3, 2), 0xDF: (_MAP, 5, 4)}
    table: list[tuple[int, int, int, int] | None] = []
    for byte in range(256):
        if byte <= 0x7F or byte >= 0xE0:
            table.append((_SCALAR, 1, 0, 0))  # fixint
        elif byte <= 0x8F:
            table.append((_MAP, 1, 0, byte & 0x0F))
        elif byte <= 0x9F:
            table.append((_ARRAY, 1, 0, byte & 0x0F))
        elif byte <= 0xBF:
            table.append((_STR, 1, 0, byte & 0x1F))
        elif 0xD4 <= byte <= 0xD8:
            table.append((_EXT, 2, 0, 1 << (byte - 0xD4)))  # fixext 1 to 16: marker, type, data
        else:
            kind = fixed.get(byte)  # None: 0xC1, which msgpack never uses
            table.append(None if kind is None else (*kind, 0))
    return table


_MARKERS = _markers()


def _msgpack_contents(data: bytes, limit: int) -> tuple[int, int]:
    """The values a msgpack frame holds and the bytes their contents take once decoded, found
    by walking it without building anything (a flat loop: a container adds its items to the
    values still to read); raises past ``limit`` values, or on a malformed frame."""
    markers, from_bytes = _MARKERS, int.from_bytes
    position, pending, objects, payload = 0, 1, 0, 0
    while pending:
        if objects == limit:
            raise _too_many(limit)
        try:
            kind, head, width, size = markers[data[position]]  # type: ignore[misc]
        except (IndexError, TypeError):  # past the end, or 0xC1: a byte msgpack never uses
            raise ValueError(f"not a msgpack frame (at byte {position} of {len(data)})") from None
        objects += 1
        pending -= 1
        if width:
            size = from_bytes(data[position + 1:position + 1 + width], "big")
        position += head
        if kind >= _ARRAY:
            pending += size if kind == _ARRAY else 2 * size
        elif kind:  # a string, binary or extension: its contents follow
            payload += _content_bytes(kind, data, position, size)
            position += size
    return objects, payload


def _content_bytes(kind: int, data: bytes, start: int, size: int) -> int:
    """Bytes the decoded string, binary or extension of ``size`` bytes at ``start`` takes."""
    if kind == _BIN:
        return size
    if kind == _EXT:
        return EXT_BYTES + (size if size >= IN_PLACE_FROM else 2 * size)  # a small array is a copy
    if size < 1024:  # a short string: assume its characters are wide, no need to look
        return _WIDE * size
    return size if data[start:start + size].isascii() else _WIDE * size

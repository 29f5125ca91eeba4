"""Shared memory for :class:`~openenv_gym.wrappers.spaces.UnicodeText`, so ``AsyncVectorEnv`` works.

Gymnasium's ``AsyncVectorEnv`` (with its default ``shared_memory=True``, also used by
``gym.make_vec(..., vectorization_mode="async")``) reads its observation buffer once, in
``__init__``, and returns that object after every ``reset``/``step``. For ``Box`` that object is a
live numpy view of the buffer, but for ``Text`` it is a tuple of ``str`` decoded from the empty
buffer, so every observation comes back as ``max_length`` copies of ``charset[0]`` (``'000…'``),
with no error. Writing also goes through ``flatten(Text)``, which fails on any character outside
the charset (``KeyError``) or on a string longer than ``max_length`` (``IndexError``).

This module registers ``UnicodeText`` with Gymnasium's ``create_shared_memory``,
``read_from_shared_memory`` and ``write_to_shared_memory``. Each environment gets a row of
``max_length + 1`` ``uint32``: the length, then the UTF-32 code points. Reading returns a
:class:`SharedTexts`, a live read-only sequence that decodes the buffer on access. Copying it
(``AsyncVectorEnv`` deep-copies observations unless ``copy=False``) gives a plain ``tuple`` of
``str``. With ``copy=False`` you get the live view itself: the same object after every step,
always showing the latest observations (like the numpy arrays of ``Box`` observations), and not a
``tuple`` (so ``envs.observation_space.contains`` says False); ``tuple()`` of it is a snapshot.

Importing :mod:`openenv_gym.wrappers.spaces` registers these functions, so they are in place in
every process that holds a ``UnicodeText``.

>>> import copy, multiprocessing as mp
>>> from gymnasium.vector.utils import create_shared_memory, read_from_shared_memory, write_to_shared_memory
>>> space = UnicodeText(16)
>>> memory = create_shared_memory(space, n=2, ctx=mp)
>>> texts = read_from_shared_memory(space, memory, n=2)
>>> write_to_shared_memory(space, 0, "héllo ✓ 中文 😀", memory)
>>> texts
SharedTexts(('héllo ✓ 中文 😀', ''))
>>> write_to_shared_memory(space, 1, "live", memory)
>>> texts[1], texts == ("héllo ✓ 中文 😀", "live"), copy.deepcopy(texts)
('live', True, ('héllo ✓ 中文 😀', 'live'))
>>> write_to_shared_memory(space, 1, "x" * 17, memory)
Traceback (most recent call last):
ValueError: observation text of 17 characters does not fit UnicodeText(0, 16): its max_length is 16
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

import numpy as np
from gymnasium.vector.utils import create_shared_memory, read_from_shared_memory, write_to_shared_memory

from .unicode_text import UnicodeText

_CODE = np.dtype("<u4")  # one UTF-32-LE code unit
_ENCODING = "utf-32-le"
_ERRORS = "surrogatepass"  # lone surrogates round-trip too, as they do without shared memory


def _rows(space: UnicodeText, memory: Any) -> np.ndarray:
    """The buffer as ``(n, max_length + 1)``: each row is a length, then the code points."""
    return np.frombuffer(memory.get_obj(), dtype=_CODE).reshape(-1, space.max_length + 1)


class SharedTexts(Sequence[str]):
    """A live, read-only view of the strings in a shared memory buffer (one per environment).

    Compares equal to the tuple of its strings; ``copy``, ``deepcopy`` and pickling give that tuple.
    """

    __slots__ = ("_rows",)

    def __init__(self, rows: np.ndarray):
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return tuple(self)[index]
        row = self._rows[index]
        return row[1:1 + int(row[0])].tobytes().decode(_ENCODING, _ERRORS)

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SharedTexts | tuple):
            return tuple(self) == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # the contents change

    def __repr__(self) -> str:
        return f"SharedTexts({tuple(self)!r})"

    def __copy__(self) -> tuple[str, ...]:
        return tuple(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> tuple[str, ...]:
        return tuple(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return tuple, (tuple(self),)


@create_shared_memory.register(UnicodeText)
def _create(space: UnicodeText, n: int = 1, ctx: ModuleType = mp) -> Any:
    return ctx.Array(_CODE.char, n * (space.max_length + 1))


@read_from_shared_memory.register(UnicodeText)
def _read(space: UnicodeText, shared_memory: Any, n: int = 1) -> SharedTexts:
    rows = _rows(space, shared_memory)
    rows.flags.writeable = False
    return SharedTexts(rows)


@write_to_shared_memory.register(UnicodeText)
def _write(space: UnicodeText, index: int, value: str, shared_memory: Any) -> None:
    if not isinstance(value, str):
        raise TypeError(f"observation text for {space} must be a str, got {type(value).__name__}")
    if len(value) > space.max_length:
        raise ValueError(f"observation text of {len(value)} characters does not fit {space}: "
                         f"its max_length is {space.max_length}")
    codes = np.frombuffer(value.encode(_ENCODING, _ERRORS), dtype=_CODE)
    row = _rows(space, shared_memory)[index]
    row[0] = len(codes)
    row[1:1 + len(codes)] = codes


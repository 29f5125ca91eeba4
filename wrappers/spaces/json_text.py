"""``JsonText``: a text space holding one JSON value, for fields no other space describes."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .unicode_text import MAX_TEXT_LENGTH, UnicodeText


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

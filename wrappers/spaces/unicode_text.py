"""``UnicodeText``: a Gymnasium ``Text`` space that contains any Unicode string (LLM output).

Its shared-memory layout, for ``AsyncVectorEnv``, is in :mod:`.shared_memory`.
"""

from __future__ import annotations

import re
import string
from typing import Any

import numpy as np
from gymnasium import spaces

MAX_TEXT_LENGTH = 65_536
"""Longest text of a string field without ``maxLength`` in its schema."""
SAMPLE_CHARSET = string.printable + "éèàüößçñ€✓→中文日本語한국어😀"
"""Characters ``UnicodeText.sample`` draws from: printable ASCII plus some Unicode."""
SAMPLE_MAX_LENGTH = 64
"""Longest string ``UnicodeText.sample`` draws without a mask."""
_SURROGATE = re.compile("[\ud800-\udfff]")


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

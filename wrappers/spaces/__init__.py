"""Our Gymnasium spaces, one per module: :class:`UnicodeText` (any Unicode string, for LLM text),
:class:`JsonText` (one JSON value) and :class:`Nullable` (``None`` or a value of another space).

Importing this package registers ``UnicodeText``'s shared-memory layout (:mod:`.shared_memory`),
so Gymnasium's ``AsyncVectorEnv`` returns the right text in every process that holds one.
"""

from . import shared_memory as _shared_memory  # noqa: F401  (registers UnicodeText for AsyncVectorEnv)
from .json_text import JsonText
from .nullable import Nullable
from .unicode_text import MAX_TEXT_LENGTH, SAMPLE_CHARSET, SAMPLE_MAX_LENGTH, UnicodeText

__all__ = ["MAX_TEXT_LENGTH", "SAMPLE_CHARSET", "SAMPLE_MAX_LENGTH", "JsonText", "Nullable", "UnicodeText"]

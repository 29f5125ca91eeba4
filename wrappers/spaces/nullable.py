"""``Nullable``: a space whose values are ``None`` or a value of another space.

Gymnasium has no optional space. An observation field such as upstream's
``error: Optional[ToolError]`` must be able to say "no error", which a ``Dict`` of the error's
fields cannot: every value of it is some error (``error_type`` 0 is ``execution_error``). A
``Nullable(Dict(...))`` holds ``None`` for "no error" and the error's ``Dict`` otherwise, so
``obs["error"] is None`` reads as it does on the wire.

>>> from gymnasium import spaces
>>> error = Nullable(spaces.Dict({"code": spaces.Discrete(3)}))
>>> error.contains(None), error.contains({"code": 2}), error.contains({"code": 7})
(True, True, False)
>>> error
Nullable(Dict('code': Discrete(3)))
>>> _ = error.seed(0)
>>> sorted({"None" if s is None else str(s["code"]) for s in (error.sample() for _ in range(50))})
['0', '1', '2', 'None']
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from gymnasium import spaces

NONE_PROBABILITY = 0.25
"""How often :meth:`Nullable.sample` draws ``None``."""


class Nullable(spaces.Space[Any]):
    """``None`` or a value of ``inner``.

    Samples are ``None`` with probability :data:`NONE_PROBABILITY`, else ``inner``'s samples.
    Batched by Gymnasium's vector utilities as any custom space (a ``Tuple`` of copies, values
    as a tuple); not flattenable, and ``AsyncVectorEnv`` needs ``shared_memory=False`` for it.

    Args:
        inner: the space of the values that are not ``None``.
        seed: seeds this space and ``inner``.
    """

    def __init__(self, inner: spaces.Space[Any], seed: int | np.random.Generator | None = None):
        self.inner = inner
        super().__init__(None, None, seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def seed(self, seed: int | None = None) -> tuple[int, Any]:
        """Seed this space (whether a sample is ``None``) and ``inner`` (the values)."""
        own = super().seed(seed)
        return own, self.inner.seed(int(self.np_random.integers(2**31)))

    def sample(self, mask: Any = None, probability: Any = None) -> Any:
        """``None`` now and then, else ``inner.sample(mask, probability)``."""
        if self.np_random.random() < NONE_PROBABILITY:
            return None
        return self.inner.sample(mask=mask, probability=probability)

    def contains(self, x: Any) -> bool:
        return x is None or self.inner.contains(x)

    def to_jsonable(self, sample_n: Iterable[Any]) -> list[Any]:
        return [None if x is None else self.inner.to_jsonable([x])[0] for x in sample_n]

    def from_jsonable(self, sample_n: list[Any]) -> list[Any]:
        return [None if x is None else self.inner.from_jsonable([x])[0] for x in sample_n]

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Nullable) and self.inner == other.inner

    def __repr__(self) -> str:
        return f"Nullable({self.inner!r})"

"""Containers that compose rubrics: ``Sequential``, ``Gate``, ``WeightedSum``, ``RubricList``, ``RubricDict``.

Same semantics as upstream's ``openenv.core.rubrics.containers``. A container's ``forward``
returns a float when all its children are sync, and a coroutine as soon as one of them is
async (an LLM judge), so a tree is only as async as its slowest part.

>>> class Score(Rubric):
...     def __init__(self, value):
...         super().__init__()
...         self.value = value
...     def forward(self, action, observation) -> float:
...         return self.value
>>> tree = Sequential(Gate(Score(1.0), threshold=1.0), WeightedSum([Score(1.0), Score(0.5)], [0.5, 0.5]))
>>> tree("a", None)
0.75
>>> {name: r.last_score for name, r in tree.named_rubrics()}  # doctest: +NORMALIZE_WHITESPACE
{'rubric_0': 1.0, 'rubric_0.rubric': 1.0, 'rubric_1': 0.75,
 'rubric_1.rubric_0': 1.0, 'rubric_1.rubric_1': 0.5}
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Iterator, Mapping, Sequence
from typing import Any

from .base import Rubric

WEIGHT_TOLERANCE = 1e-6


class Sequential(Rubric):
    """Run rubrics in order; the first score of ``0.0`` ends it with ``0.0``, else the last score.

    An empty ``Sequential`` scores 1.0. Async children are awaited one after the other.
    """

    def __init__(self, *rubrics: Rubric) -> None:
        super().__init__()
        for i, rubric in enumerate(rubrics):
            setattr(self, f"rubric_{i}", rubric)
        self._rubric_list = list(rubrics)

    def forward(self, action: Any, observation: Any) -> Any:
        remaining = iter(self._rubric_list)
        result: Any = 1.0
        for rubric in remaining:
            score = rubric(action, observation)
            if inspect.isawaitable(score):
                return self._finish_async(score, remaining, action, observation)
            if score == 0.0:
                return 0.0
            result = score
        return result

    @staticmethod
    async def _finish_async(pending: Awaitable[Any], remaining: Iterator[Rubric],
                            action: Any, observation: Any) -> Any:
        result = await pending
        if result == 0.0:
            return 0.0
        for rubric in remaining:
            score = rubric(action, observation)
            if inspect.isawaitable(score):
                score = await score
            if score == 0.0:
                return 0.0
            result = score
        return result

    def __len__(self) -> int:
        return len(self._rubric_list)

    def __getitem__(self, index: int) -> Rubric:
        return self._rubric_list[index]


class Gate(Rubric):
    """The child's score if it reaches ``threshold``, else ``0.0``."""

    def __init__(self, rubric: Rubric, threshold: float = 1.0) -> None:
        super().__init__()
        self.rubric = rubric
        self.threshold = threshold

    def forward(self, action: Any, observation: Any) -> Any:
        score = self.rubric(action, observation)
        if inspect.isawaitable(score):
            return self._gate_async(score)
        return self._gate(score)

    def _gate(self, score: Any) -> Any:
        return 0.0 if score < self.threshold else score

    async def _gate_async(self, pending: Awaitable[Any]) -> Any:
        return self._gate(await pending)


class WeightedSum(Rubric):
    """``sum(weight * score)`` over the children; async children run concurrently.

    Raises:
        ValueError: the numbers of rubrics and weights differ, or the weights do not sum to 1.

    >>> WeightedSum([], [0.5])
    Traceback (most recent call last):
    ...
    ValueError: Number of rubrics (0) must match number of weights (1)
    """

    def __init__(self, rubrics: Sequence[Rubric], weights: Sequence[float]) -> None:
        super().__init__()
        if len(rubrics) != len(weights):
            raise ValueError(f"Number of rubrics ({len(rubrics)}) must match "
                             f"number of weights ({len(weights)})")
        if abs(sum(weights) - 1.0) > WEIGHT_TOLERANCE:
            raise ValueError(f"Weights must sum to 1.0, got {sum(weights)} from {list(weights)}; "
                             "normalise them: [w / sum(weights) for w in weights]")
        for i, rubric in enumerate(rubrics):
            setattr(self, f"rubric_{i}", rubric)
        self._rubric_list = list(rubrics)
        self._weights = list(weights)

    def forward(self, action: Any, observation: Any) -> Any:
        scores: list[Any] = []
        try:
            for rubric in self._rubric_list:
                scores.append(rubric(action, observation))
        except BaseException:  # close the async children already started, then fail as the child did
            for score in scores:
                if inspect.iscoroutine(score):
                    score.close()
            raise
        if any(inspect.isawaitable(score) for score in scores):
            return self._sum_async(scores)
        return self._sum(scores)

    def _sum(self, scores: list[Any]) -> float:
        total = 0.0
        for score, weight in zip(scores, self._weights, strict=True):
            total += score * weight
        return total

    async def _sum_async(self, scores: list[Any]) -> float:
        waiting = [i for i, score in enumerate(scores) if inspect.isawaitable(score)]
        for i, score in zip(waiting, await asyncio.gather(*(scores[i] for i in waiting)), strict=True):
            scores[i] = score
        return self._sum(scores)

    @property
    def weights(self) -> list[float]:
        """A copy of the weights."""
        return list(self._weights)


class RubricList(Rubric):
    """A list of rubrics for a parent that aggregates them itself (as ``nn.ModuleList``)."""

    def __init__(self, rubrics: Sequence[Rubric] | None = None) -> None:
        super().__init__()
        self._rubrics: list[Rubric] = []
        self.extend(rubrics or [])

    def forward(self, action: Any, observation: Any) -> float:
        raise NotImplementedError("RubricList.forward() is not implemented. "
                                  "Use RubricList within a parent rubric that defines aggregation.")

    def append(self, rubric: Rubric) -> None:
        """Add a rubric (named ``rubric_<index>``)."""
        setattr(self, f"rubric_{len(self._rubrics)}", rubric)
        self._rubrics.append(rubric)

    def extend(self, rubrics: Sequence[Rubric]) -> None:
        """Add several rubrics."""
        for rubric in rubrics:
            self.append(rubric)

    def __len__(self) -> int:
        return len(self._rubrics)

    def __getitem__(self, index: int) -> Rubric:
        return self._rubrics[index]

    def __iter__(self) -> Iterator[Rubric]:
        return iter(self._rubrics)


class RubricDict(Rubric):
    """Rubrics by name for a parent that picks one (as ``nn.ModuleDict``).

    >>> RubricDict({"reset": Sequential()})
    Traceback (most recent call last):
    ...
    ValueError: RubricDict key 'reset' clashes with RubricDict.reset; choose another name
    """

    def __init__(self, rubrics: Mapping[str, Rubric] | None = None) -> None:
        super().__init__()
        self._rubric_dict: dict[str, Rubric] = {}
        self.update(rubrics or {})

    def forward(self, action: Any, observation: Any) -> float:
        raise NotImplementedError("RubricDict.forward() is not implemented. "
                                  "Use RubricDict within a parent rubric that defines aggregation.")

    def __setitem__(self, key: str, rubric: Rubric) -> None:
        if not isinstance(key, str) or not key or "." in key:
            raise ValueError(f"RubricDict keys are names without dots (they become dot paths), got {key!r}")
        if hasattr(type(self), key):
            raise ValueError(f"RubricDict key {key!r} clashes with RubricDict.{key}; choose another name")
        setattr(self, key, rubric)
        self._rubric_dict[key] = rubric

    def __getitem__(self, key: str) -> Rubric:
        return self._rubric_dict[key]

    def __contains__(self, key: object) -> bool:
        return key in self._rubric_dict

    def __len__(self) -> int:
        return len(self._rubric_dict)

    def __iter__(self) -> Iterator[str]:
        return iter(self._rubric_dict)

    def keys(self) -> Iterator[str]:
        """The names."""
        return iter(self._rubric_dict.keys())

    def values(self) -> Iterator[Rubric]:
        """The rubrics."""
        return iter(self._rubric_dict.values())

    def items(self) -> Iterator[tuple[str, Rubric]]:
        """``(name, rubric)`` pairs."""
        return iter(self._rubric_dict.items())

    def update(self, rubrics: Mapping[str, Rubric]) -> None:
        """Add or replace rubrics by name."""
        for name, rubric in rubrics.items():
            self[name] = rubric

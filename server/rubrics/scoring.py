"""Applying an environment's rubric to its steps, guarded, and reporting the scores in ``info``.

The server's session uses a :class:`RubricScorer` around every ``reset`` and ``step`` of an
environment that has a rubric: it resets the whole rubric tree on reset, sets ``obs.reward``
to the rubric's score after the step (unless the environment applied the rubric itself with
``_apply_rubric``), and writes into ``obs.metadata`` (the Gym user's ``info``):

- ``"rubric"``: ``{"total": reward, "<dot path>": last score, ...}`` for every rubric of the
  tree (``None``: not evaluated this step, e.g. skipped by ``Sequential``'s fail-fast);
- ``"rubric_step_rewards"``: on the step with ``done``, ``{"<path>": [credit per step]}`` for
  each trajectory rubric of the tree (the root's path is ``"total"``);
- ``"rubric_errors"``: ``{"<path>": "why"}`` for each rubric that failed, fell back or timed out.

A rubric that raises, returns NaN or a non-number, or is still running after ``timeout_s``
never fails the step: the reward is ``fallback``, the failure is logged and named in
``info["rubric_errors"]``. The timeout applies to async rubrics (LLM judges): Python cannot
interrupt a sync ``forward``, so keep those fast or make them ``async``.

>>> from openenv_gym.types import Observation
>>> from openenv_gym.server.rubrics import Gate, Rubric, Sequential
>>> class Length(Rubric):
...     def forward(self, action, observation) -> float:
...         return len(action) / 10
>>> scorer = RubricScorer(Sequential(Gate(Length(), threshold=0.2), Length()))
>>> obs = Observation()
>>> scorer.begin(); scorer.finish("hello", obs)
>>> obs.reward, obs.metadata["rubric"]
(0.5, {'total': 0.5, 'rubric_0': 0.5, 'rubric_0.rubric': 0.5, 'rubric_1': 0.5})
>>> scorer.begin(); scorer.finish("a", obs)
>>> obs.reward, obs.metadata["rubric"]
(0.0, {'total': 0.0, 'rubric_0': 0.0, 'rubric_0.rubric': 0.1, 'rubric_1': None})
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
from typing import Any

from openenv_gym.types import Observation

from .base import Rubric, check_score, describe
from .trajectory import TrajectoryRubric

logger = logging.getLogger(__name__)

ROOT = "total"
"""The name of the tree's root in ``info``."""
DEFAULT_TIMEOUT_S = 60.0


def is_async_tree(rubric: Rubric) -> bool:
    """True if calling ``rubric`` returns a coroutine: some forward or hook in its tree is async."""
    return any(r._is_async_call() for r in (rubric, *rubric.rubrics()))


class RubricScorer:
    """Scores one environment's steps with its rubric tree (see the module docstring).

    Args:
        rubric: the root of the tree.
        fallback: the reward of a step whose rubric failed.
        timeout_s: limit for an async rubric's evaluation.
        report: write the named scores into ``obs.metadata`` each step; trajectory credit
            and errors are reported regardless.
        owner: who the rubric belongs to, for log lines.
    """

    def __init__(self, rubric: Rubric, *, fallback: float = 0.0, timeout_s: float = DEFAULT_TIMEOUT_S,
                 report: bool = True, owner: str = "environment") -> None:
        if not isinstance(rubric, Rubric):
            raise TypeError(f"{owner}.rubric must be a Rubric (openenv_gym.server.rubrics), "
                            f"got {type(rubric).__name__}")
        self.rubric = rubric
        self.fallback = fallback
        self.timeout_s = timeout_s
        self.report = report
        self.owner = owner
        self.is_async = is_async_tree(rubric)
        self.reward: float = fallback
        self.errors: dict[str, str] = {}
        self._applied = self._reset_done = self._finished = False
        self._nodes = self._tree()

    def _tree(self) -> list[tuple[str, Rubric]]:
        """The tree's rubrics by path (read again at each reset: change a tree between episodes)."""
        return [(ROOT, self.rubric), *self.rubric.named_rubrics()]

    def begin(self) -> None:
        """A reset or a step of the environment starts (the session calls this)."""
        self._applied = self._reset_done = self._finished = False

    def reset(self) -> None:
        """Reset every rubric of the tree (upstream resets only the root)."""
        self._nodes = self._tree()
        seen: set[int] = set()
        for _, rubric in self._nodes:
            if id(rubric) not in seen:
                seen.add(id(rubric))
                rubric.reset()
        self._reset_done = True

    def reset_unless_done(self) -> None:
        """Reset the tree unless the environment did it during this reset (``_reset_rubric``)."""
        if not self._reset_done:
            self.reset()

    def score(self, action: Any, observation: Any) -> float:
        """The reward for one step, or ``fallback``; an async tree runs to completion here
        (only possible in a thread without a running event loop)."""
        self._prepare()
        try:
            result = self.rubric(action, observation)
            if type(result) not in (float, int) and inspect.isawaitable(result):
                result = self._run_coroutine(result)
            return self._accept(result)
        except Exception as exc:  # a failing rubric costs the step its reward, not the step: logged
            return self._fail(exc)

    async def score_async(self, action: Any, observation: Any) -> float:
        """The reward for one step, or ``fallback``; async rubrics are awaited within ``timeout_s``."""
        self._prepare()
        try:
            result = self.rubric(action, observation)
            if type(result) is not float and inspect.isawaitable(result):
                result = await asyncio.wait_for(result, self.timeout_s)
            return self._accept(result)
        except Exception as exc:  # a failing rubric costs the step its reward, not the step: logged
            return self._fail(exc)

    @property
    def finished(self) -> bool:
        """This step was scored and annotated (by :meth:`finish` or :meth:`finish_async`)."""
        return self._finished

    def finish(self, action: Any, observation: Observation) -> None:
        """Score the step (unless the environment did) and annotate the observation; once per step."""
        if not self._finished:
            if not self._applied:
                _set_reward(observation, self.score(action, observation))
            self.annotate(observation)

    async def finish_async(self, action: Any, observation: Observation) -> None:
        """:meth:`finish` for async trees (and async environments); once per step."""
        if not self._finished:
            if not self._applied:
                _set_reward(observation, await self.score_async(action, observation))
            self.annotate(observation)

    def annotate(self, observation: Observation) -> None:
        """Write the scores, the step credit and the errors into ``observation.metadata``."""
        self._finished = True
        credit = self._step_credit() if getattr(observation, "done", False) else {}
        if not (self.report or credit or self.errors):
            return
        info = dict(observation.metadata)
        if self.report:
            info["rubric"] = {path: rubric.last_score for path, rubric in self._nodes}
            info["rubric"][ROOT] = self.reward
        if credit:
            info["rubric_step_rewards"] = credit
        if self.errors:
            info["rubric_errors"] = dict(self.errors)
        observation.metadata = info

    def _prepare(self) -> None:
        self._applied = True
        if self.errors:
            self.errors = {}
        for _, rubric in self._nodes:
            state = rubric.__dict__
            state["last_score"] = state["last_error"] = None

    def _run_coroutine(self, coroutine: Any) -> Any:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(asyncio.wait_for(coroutine, self.timeout_s))
        coroutine.close()
        raise TypeError(f"{self.owner}'s rubric is async and cannot be awaited in a sync step on the "
                        "event loop: call `await self._apply_rubric_async(...)` in step_async, or "
                        "leave scoring to the server (remove the _apply_rubric call)")

    def _accept(self, result: Any) -> float:
        self.reward = result if type(result) is float and math.isfinite(result) else float(
            check_score(self.rubric, result))
        for _, rubric in self._nodes:
            if rubric.last_error:  # a rubric that fell back gracefully (an LLM judge): report it
                self._collect_errors(None)
                break
        return self.reward

    def _fail(self, error: Exception) -> float:
        self.reward = self.fallback
        self._collect_errors(error)
        return self.fallback

    def _collect_errors(self, error: Exception | None) -> None:
        """Name the rubrics that failed themselves (not merely through a failing child)."""
        timed_out = isinstance(error, asyncio.TimeoutError | TimeoutError)
        for path, rubric in self._nodes:
            if rubric.last_error and not any(child.last_error for child in rubric.children()):
                cancelled = rubric.last_error.startswith("CancelledError")
                self.errors[path] = (f"did not finish within {self.timeout_s}s" if timed_out and cancelled
                                     else rubric.last_error)
        if error is not None and not self.errors:
            self.errors[ROOT] = f"did not finish within {self.timeout_s}s" if timed_out else describe(error)
        if self.errors:
            logger.warning("%s's rubric: %s; reward %s", self.owner,
                           "; ".join(f"{path}: {why}" for path, why in self.errors.items()), self.reward,
                           exc_info=None if timed_out else error)

    def _step_credit(self) -> dict[str, list[float]]:
        credit: dict[str, list[float]] = {}
        for path, rubric in self._nodes:
            if isinstance(rubric, TrajectoryRubric):
                try:
                    credit[path] = [float(r) for r in rubric.compute_step_rewards()]
                except Exception as exc:  # reported like any rubric failure; the step goes on
                    self.errors[path] = f"compute_step_rewards: {describe(exc)}"
                    logger.warning("%s's rubric %s: compute_step_rewards raised", self.owner, path,
                                   exc_info=exc)
        return credit


def _set_reward(observation: Observation, reward: float) -> None:
    """``observation.reward = reward`` without pydantic's assignment validation (~1 us a step):
    ``reward`` is a finite float, which the field accepts."""
    observation.__dict__["reward"] = reward
    observation.__pydantic_fields_set__.add("reward")

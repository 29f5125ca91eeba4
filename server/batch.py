"""Serving the items of a ``batch`` frame (see :mod:`.connection` for the message).

The plain steps of a batch, to sessions whose environments answer inline (``FAST_STEP``),
are taken together, :data:`STEPS_TOGETHER` at a time: their actions validated with one
``TypeAdapter(list[Action])`` call, the environments stepped through
:meth:`~.environment.Environment.step_batch` (one call per environment class), the
observations dumped with one call. Every other item (a reset, a
request with an id, a tool call, an action that fails validation, a session in worker threads)
is answered by its session one message at a time, exactly as when it comes alone. Either
way each item gets the reply the single request would have got, errors included.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from openenv_gym.protocol import envelopes
from openenv_gym.types import Action, Observation

from .environment import Environment
from .rubrics import RubricScorer
from .session import Reply, Session, execution_error

STEPS_TOGETHER = 32
"""Most steps taken together. What a chunk allocates lives until it is dumped; all 256 steps of a
batch at once outlived several young collections per batch, which made full collections five
times as frequent (in-process at 256 sessions: p99 133 ms against 4.4 ms in chunks of 32)."""
Target = tuple[Session, dict[str, Any]] | Reply
"""A batch item's session and message, or the error reply the item already has."""


async def serve_items(targets: Sequence[Target]) -> list[Reply | None]:
    """Each item's reply, in order; every session addressed at most once."""
    replies: list[Reply | None] = [t if isinstance(t, dict) else None for t in targets]
    pending = {p: t for p, t in enumerate(targets) if not isinstance(t, dict)}
    steps = [p for p, t in pending.items() if t[0].batchable_step(t[1])]
    for start in range(0, len(steps), STEPS_TOGETHER):
        chunk = steps[start:start + STEPS_TOGETHER]
        together = _step_together([pending[p] for p in chunk])
        if together is not None:
            for position, reply in zip(chunk, together, strict=True):
                replies[position] = reply
                del pending[position]
    if all(session.runs_inline for session, _ in pending.values()):
        for position, (session, message) in pending.items():
            replies[position] = await session.handle(message)
    else:  # sessions in worker threads: side by side
        answers = await asyncio.gather(*(session.handle(message) for session, message in pending.values()))
        for position, answer in zip(pending, answers, strict=True):
            replies[position] = answer
    return replies


def _step_together(items: list[tuple[Session, dict[str, Any]]]) -> list[Reply] | None:
    """The replies to plain steps, or ``None`` when there is only one, or their actions do not
    all validate (each is then answered on its own, with its own error)."""
    if len(items) < 2:
        return None
    action_type = items[0][0].action_type
    if any(session.action_type is not action_type for session, _ in items):
        return None
    try:
        actions = _list_of(action_type).validate_python([message["data"] for _, message in items])
    except ValidationError:
        return None
    now = time.monotonic()
    sessions = [session for session, _ in items]
    for session in sessions:
        session.last_activity = now
    results = _step_environments(sessions, actions)
    observations = [r for r in results if isinstance(r, Observation)]
    dumped = iter(envelopes(observations))
    return [{"type": "observation", "data": next(dumped)} if isinstance(result, Observation)
            else execution_error(session, "step", result)
            for session, result in zip(sessions, results, strict=True)]


def _step_environments(sessions: list[Session], actions: list[Action]) -> list[Observation | Exception]:
    """Each session's environment stepped (one ``step_batch`` call per environment class) and scored."""
    results: list[Observation | Exception] = [TypeError("not stepped")] * len(sessions)
    by_class: dict[type[Environment[Any, Any, Any]], list[int]] = {}
    for position, session in enumerate(sessions):
        by_class.setdefault(type(session.env), []).append(position)
    for cls, positions in by_class.items():
        scorers = [sessions[p].begin_step() for p in positions]
        try:
            stepped = cls.step_batch([sessions[p].env for p in positions], [actions[p] for p in positions])
            if len(stepped) != len(positions):
                raise TypeError(f"{cls.__name__}.step_batch returned {len(stepped)} results for "
                                f"{len(positions)} actions")
        except Exception as exc:  # the hook itself failed: every item of it gets the error
            stepped = [exc] * len(positions)
        for position, scorer, result in zip(positions, scorers, stepped, strict=True):
            results[position] = _scored(result, scorer, actions[position])
    return results


def _scored(result: Any, scorer: RubricScorer | None, action: Action) -> Observation | Exception:
    if isinstance(result, Exception):
        return result
    if not isinstance(result, Observation):
        return TypeError(f"the environment returned {type(result).__name__}, not an Observation")
    if scorer is not None:
        scorer.finish(action, result)
    return result


@lru_cache(maxsize=64)
def _list_of(action_type: type[Action]) -> TypeAdapter[list[Action]]:
    return TypeAdapter(list[action_type])  # type: ignore[valid-type]

"""An environment built only from upstream ``openenv-core`` classes, served by upstream's server.

A counter: the action ``{"delta": int}`` adds to the value, the observation is
``{"value": int, "note": str}``, the reward is the delta and the episode is done once the
value reaches :data:`TARGET`. ``{"delta": 999}`` sleeps :data:`SLOW_SECONDS` first (for the
timeout tests). ``reset(start=n)`` starts counting at ``n``.

Serve it with ``uvicorn tests.interop.upstream_counter:app`` (or our ``ProcessProvider``).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from openenv.core.env_server import Action, Environment, Observation, State, create_app

TARGET = 10
SLOW_DELTA = 999
SLOW_SECONDS = 1.5
MAX_SESSIONS = 4


class CounterAction(Action):
    delta: int


class CounterObservation(Observation):
    value: int = 0
    note: str = ""


class CounterState(State):
    value: int = 0


class CounterEnv(Environment[CounterAction, CounterObservation, CounterState]):
    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self) -> None:
        super().__init__()
        self._state = CounterState(episode_id=str(uuid.uuid4()))

    def reset(self, seed: int | None = None, episode_id: str | None = None, start: int = 0,
              **kwargs: Any) -> CounterObservation:
        self._state = CounterState(episode_id=episode_id or str(uuid.uuid4()), value=start)
        return CounterObservation(value=start, note="reset")

    def step(self, action: CounterAction, timeout_s: float | None = None,
             **kwargs: Any) -> CounterObservation:
        if action.delta == SLOW_DELTA:
            time.sleep(SLOW_SECONDS)
        self._state.step_count += 1
        self._state.value += action.delta
        done = self._state.value >= TARGET
        return CounterObservation(value=self._state.value, note="done" if done else f"{action.delta:+d}",
                                  reward=action.delta, done=done)

    @property
    def state(self) -> CounterState:
        return self._state


app = create_app(CounterEnv, CounterAction, CounterObservation, max_concurrent_envs=MAX_SESSIONS)

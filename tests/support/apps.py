"""Test servers: ``python -m openenv_gym.server tests.support.apps:<name>``."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from gymnasium import spaces

from openenv_gym.envs.echo import EchoAction, EchoEnvironment, EchoObservation
from openenv_gym.server import Environment, create_app
from openenv_gym.types import Action, Observation, State


class SleepAction(Action):
    message: str = ""
    sleep: float = 0.0
    fail: bool = False


class SleepyEnvironment(Environment[SleepAction, EchoObservation, State]):
    """Echoes after sleeping ``sleep`` seconds in a worker thread; raises when ``fail``."""

    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self) -> None:
        super().__init__()
        self._state = State()

    def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> EchoObservation:
        self._state = State(episode_id=episode_id)
        return EchoObservation(echoed_message=f"seed={seed}")

    def step(self, action: SleepAction, timeout_s: float | None = None, **kwargs: Any) -> EchoObservation:
        time.sleep(action.sleep)
        if action.fail:
            raise RuntimeError("boom: the environment failed")
        self._state.step_count += 1
        return EchoObservation(echoed_message=action.message, message_length=len(action.message),
                               done=action.message == "done", truncated=action.message == "cut")

    @property
    def state(self) -> State:
        return self._state


class SingleSessionEcho(EchoEnvironment):
    SUPPORTS_CONCURRENT_SESSIONS = False


sleepy = create_app(SleepyEnvironment, SleepAction, EchoObservation, max_concurrent_envs=8)
single = create_app(SingleSessionEcho, EchoAction, EchoObservation)
small_frames = create_app(EchoEnvironment, EchoAction, EchoObservation, max_message_bytes=4096)
idle = create_app(EchoEnvironment, EchoAction, EchoObservation, session_timeout=0.3)


class SlowCloseEcho(EchoEnvironment):
    """Echo whose ``close()`` takes a second: a server shutting down (SIGTERM) has closed its
    sockets but its process stays alive a while, as a SIGKILLed one does for a few ms."""

    FAST_STEP = False

    def close(self) -> None:
        time.sleep(1.0)
        super().close()


slow_close = create_app(SlowCloseEcho, EchoAction, EchoObservation)


class GridAction(Action):
    cell: int


class GridObservation(Observation):
    cells: list[list[int]]
    moves: int = 0


GRID_OBSERVATION = spaces.Dict({"cells": spaces.Box(0, 1, (3, 3), np.uint8), "moves": spaces.Discrete(100)})


class GridEnvironment(Environment[GridAction, GridObservation, State]):
    """Marks a cell of the top row of a 3x3 grid; declares exact spaces (Box of uint8, Discrete)."""

    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self) -> None:
        super().__init__()
        self._cells = np.zeros((3, 3), np.uint8)
        self._moves = 0

    def declared_spaces(self) -> dict[str, spaces.Space[Any]]:
        return {"observation": GRID_OBSERVATION, "action": spaces.Discrete(4)}

    def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> GridObservation:
        self._cells[:], self._moves = 0, 0
        return GridObservation(cells=self._cells.tolist())

    def step(self, action: GridAction, timeout_s: float | None = None, **kwargs: Any) -> GridObservation:
        self._cells[0, min(action.cell, 2)] = 1
        self._moves += 1
        return GridObservation(cells=self._cells.tolist(), moves=self._moves, reward=1.0)

    @property
    def state(self) -> State:
        return State(step_count=self._moves)


grid = create_app(GridEnvironment, GridAction, GridObservation)

"""Test servers: ``python -m openenv_gym.server tests.support.apps:<name>``."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from openenv_gym.envs.echo import EchoAction, EchoEnvironment, EchoObservation
from openenv_gym.server import Environment, create_app, tool
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

    @tool
    def nap(self, seconds: float) -> str:
        """Sleep ``seconds``, then say so (a slow MCP tool)."""
        time.sleep(seconds)
        return "rested"

    @property
    def state(self) -> State:
        return self._state


class HeldObservation(Observation):
    peak: int = 0
    """The most environments alive at once in the server process so far."""


class HeldEnvironment(SleepyEnvironment):
    """Sleepy, counting its instances alive at once in the server process (built and not yet
    closed): each observation reports the most there ever were, seen from inside the server."""

    alive = 0
    peak = 0
    _counting = threading.Lock()

    def __init__(self) -> None:
        super().__init__()
        with HeldEnvironment._counting:
            HeldEnvironment.alive += 1
            HeldEnvironment.peak = max(HeldEnvironment.peak, HeldEnvironment.alive)

    def close(self) -> None:
        with HeldEnvironment._counting:
            HeldEnvironment.alive -= 1
        super().close()

    def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> HeldObservation:
        super().reset(seed, episode_id)
        return HeldObservation(peak=HeldEnvironment.peak)

    def step(self, action: SleepAction, timeout_s: float | None = None, **kwargs: Any) -> HeldObservation:
        super().step(action)
        return HeldObservation(peak=HeldEnvironment.peak)


held = create_app(HeldEnvironment, SleepAction, HeldObservation, env_name="held", max_concurrent_envs=2, web=True)
"""Capacity 2, every entry point on (web interface too): the tests count its environments."""


class SingleSessionEcho(EchoEnvironment):
    SUPPORTS_CONCURRENT_SESSIONS = False


sleepy = create_app(SleepyEnvironment, SleepAction, EchoObservation, max_concurrent_envs=8)
crowded = create_app(SleepyEnvironment, SleepAction, EchoObservation, max_concurrent_envs=64)
"""Sleepy with room for 64 sessions: more than a fixed worker pool of ``cpu + 4`` threads."""
single = create_app(SingleSessionEcho, EchoAction, EchoObservation)
small_frames = create_app(EchoEnvironment, EchoAction, EchoObservation, max_message_bytes=4096)
idle = create_app(EchoEnvironment, EchoAction, EchoObservation, session_timeout=0.3)
sleepy_idle = create_app(SleepyEnvironment, SleepAction, EchoObservation, session_timeout=0.3)
"""Steps that sleep longer than the idle limit (test_websocket.py)."""
behind_a_name = create_app(EchoEnvironment, EchoAction, EchoObservation, allowed_hosts=["envs.example"],
                           allowed_origins="https://app.example")
"""Answers to ``Host: envs.example`` too; pages of https://app.example may use it (test_origins.py)."""
one_per_client = create_app(EchoEnvironment, EchoAction, EchoObservation, max_sessions_per_client=1,
                            rate_limit=1, rate_burst=2)


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


# --- rubrics (tests/server/test_rubrics*.py) ---------------------------------------------

import asyncio  # noqa: E402
import math  # noqa: E402
from typing import Literal  # noqa: E402

from openenv_gym.server.rubrics import (  # noqa: E402
    ChatClient,
    ExponentialDiscountingTrajectoryRubric,
    Gate,
    LLMJudge,
    Rubric,
    Sequential,
    WeightedSum,
)


class CodeAction(Action):
    """What the "program" did, scripted by the test: exit code, share of tests passed, style."""

    code: str
    exit_code: int = 0
    tests: float = 1.0
    style: float = 1.0


class CodeObservation(Observation):
    exit_code: int = 0
    tests_passed: float = 0.0
    style: float = 0.0


class Compiles(Rubric):
    def forward(self, action: Any, observation: Any) -> float:
        return 1.0 if observation.exit_code == 0 else 0.0


class TestsPassed(Rubric):
    def forward(self, action: Any, observation: Any) -> float:
        return observation.tests_passed


class Style(Rubric):
    def forward(self, action: Any, observation: Any) -> float:
        return observation.style


def code_rubric() -> Rubric:
    """The issue's tree: compile gate, then 0.8 tests + 0.2 style."""
    return Sequential(Gate(Compiles(), threshold=1.0), WeightedSum([TestsPassed(), Style()], [0.8, 0.2]))


class CodeEnvironment(Environment[CodeAction, CodeObservation, State]):
    """Runs no code: the action says what happened; the rubric (given to the base) scores it."""

    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self) -> None:
        super().__init__(rubric=code_rubric())
        self._state = State()

    def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> CodeObservation:
        self._state = State(episode_id=episode_id)
        return CodeObservation()

    def step(self, action: CodeAction, timeout_s: float | None = None, **kwargs: Any) -> CodeObservation:
        self._state.step_count += 1
        return CodeObservation(exit_code=action.exit_code, tests_passed=action.tests, style=action.style,
                               metadata={"ran": action.code})

    @property
    def state(self) -> State:
        return self._state


class FlakyAction(Action):
    target: Literal["sync", "async"] = "sync"
    mode: Literal["ok", "raise", "nan", "none", "hang"] = "ok"


BAD_SCORES = {"nan": math.nan, "none": None}


class SyncFlaky(Rubric):
    def forward(self, action: Any, observation: Any) -> Any:
        mode = action.mode if action.target == "sync" else "ok"
        if mode == "raise":
            raise RuntimeError("flaky rubric failed")
        if mode == "hang":
            raise ValueError("a sync rubric cannot be interrupted: the tests hang async ones")
        return BAD_SCORES.get(mode, 0.5)


class AsyncFlaky(Rubric):
    async def forward(self, action: Any, observation: Any) -> Any:
        mode = action.mode if action.target == "async" else "ok"
        if mode == "hang":
            await asyncio.sleep(3600)
        if mode == "raise":
            raise RuntimeError("async flaky rubric failed")
        return BAD_SCORES.get(mode, 0.25)


class FlakyEnvironment(Environment[FlakyAction, EchoObservation, State]):
    """Its rubric fails on request; fallback -1.0, async rubrics time out after 0.5 s."""

    SUPPORTS_CONCURRENT_SESSIONS = True
    FAST_STEP = True
    RUBRIC_FALLBACK = -1.0
    RUBRIC_TIMEOUT_S = 0.5

    def __init__(self) -> None:
        super().__init__(rubric=WeightedSum([SyncFlaky(), AsyncFlaky()], [0.5, 0.5]))

    def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> EchoObservation:
        return EchoObservation()

    def step(self, action: FlakyAction, timeout_s: float | None = None, **kwargs: Any) -> EchoObservation:
        return EchoObservation(echoed_message=f"{action.target}:{action.mode}")

    @property
    def state(self) -> State:
        return State()


class MoveAction(Action):
    move: str


class GameObservation(Observation):
    moves: int = 0


class WonIfMate(ExponentialDiscountingTrajectoryRubric):
    """1.0 if the game ended with "mate", 0.5 for "draw", else 0.0; credit halves per step back."""

    def score_trajectory(self, trajectory: list[tuple[Any, Any]]) -> float:
        last_action, _ = trajectory[-1]
        return {"mate": 1.0, "draw": 0.5}.get(last_action.move, 0.0)


class GameEnvironment(Environment[MoveAction, GameObservation, State]):
    """A game that ends on "mate", "draw" or "resign"; a trajectory rubric rewards the outcome."""

    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self, gamma: float = 0.5) -> None:
        super().__init__(rubric=WonIfMate(gamma=gamma))
        self._moves = 0

    def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> GameObservation:
        self._moves = 0
        return GameObservation()

    def step(self, action: MoveAction, timeout_s: float | None = None, **kwargs: Any) -> GameObservation:
        self._moves += 1
        return GameObservation(moves=self._moves, done=action.move in ("mate", "draw", "resign"))

    @property
    def state(self) -> State:
        return State(step_count=self._moves)


class CallCount(Rubric):
    """Scores how often it was called this episode: applied twice a step, it shows."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, action: Any, observation: Any) -> float:
        self.calls += 1
        return float(self.calls)

    def reset(self) -> None:
        self.calls = 0


class PortedEnvironment(GameEnvironment):
    """Upstream style: resets and applies its rubric itself (in a worker thread: not FAST_STEP)."""

    def __init__(self) -> None:
        Environment.__init__(self, rubric=Sequential(CallCount()))
        self._moves = 0

    def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> GameObservation:
        self._reset_rubric()
        return super().reset(seed, episode_id)

    def step(self, action: MoveAction, timeout_s: float | None = None, **kwargs: Any) -> GameObservation:
        obs = super().step(action)
        obs.reward = self._apply_rubric(action, obs) * 10
        return obs


class JudgedEnvironment(Environment[EchoAction, EchoObservation, State]):
    """Echo whose reward is an LLM judge's (at ``judge_url``), averaged with a length score."""

    SUPPORTS_CONCURRENT_SESSIONS = True
    FAST_STEP = True
    RUBRIC_TIMEOUT_S = 5.0

    def __init__(self, judge_url: str, timeout_s: float = 0.5, retries: int = 1) -> None:
        client = ChatClient(judge_url, "judge-model", "sk-test", timeout_s=timeout_s, retries=retries,
                            backoff_s=0.05)
        judge = LLMJudge("Rate this answer from 0 to 1: {action.message}", client, default_score=0.1)
        super().__init__(rubric=WeightedSum([judge, Gate(NonEmpty(), threshold=1.0)], [0.5, 0.5]))

    def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> EchoObservation:
        return EchoObservation()

    def step(self, action: EchoAction, timeout_s: float | None = None, **kwargs: Any) -> EchoObservation:
        return EchoObservation(echoed_message=action.message, message_length=len(action.message))

    @property
    def state(self) -> State:
        return State()


class NonEmpty(Rubric):
    def forward(self, action: Any, observation: Any) -> float:
        return 1.0 if action.message else 0.0


class AddAction(Action):
    delta: int
    fail: bool = False


class TotalObservation(Observation):
    total: int = 0


class Doubled(Rubric):
    """Twice the action's delta."""

    def forward(self, action: Any, observation: Any) -> float:
        return 2.0 * action.delta


class Counter(Environment[AddAction, TotalObservation, State]):
    """Adds each action's delta to a total (rewarded by :class:`Doubled`); raises when ``fail``.
    Its steps are batched with the default hook, a loop over ``step``."""

    SUPPORTS_CONCURRENT_SESSIONS = True
    FAST_STEP = True

    def __init__(self) -> None:
        super().__init__(rubric=Doubled())
        self.total = 0

    def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> TotalObservation:
        self.total = seed or 0
        return TotalObservation(total=self.total)

    def step(self, action: AddAction, timeout_s: float | None = None, **kwargs: Any) -> TotalObservation:
        if action.fail:
            raise RuntimeError("boom: the environment failed")
        self.total += action.delta
        return TotalObservation(total=self.total, metadata={"delta": action.delta})

    @property
    def state(self) -> State:
        return State()


class BatchedCounter(Counter):
    """:class:`Counter` with its own batched hook, which records the batches it was given."""

    batches: list[int] = []

    @classmethod
    def step_batch(cls, envs: Sequence[Counter], actions: Sequence[AddAction]) -> list[Any]:
        cls.batches.append(len(envs))
        for env, action in zip(envs, actions, strict=True):
            env.total += 0 if action.fail else action.delta
        return [RuntimeError("boom: the environment failed") if action.fail
                else TotalObservation(total=env.total, metadata={"delta": action.delta})
                for env, action in zip(envs, actions, strict=True)]


class BrokenBatchCounter(Counter):
    """A batched hook that raises: every step of the batch fails with its error."""

    @classmethod
    def step_batch(cls, envs: Sequence[Counter], actions: Sequence[AddAction]) -> list[Any]:
        raise ValueError("the batch broke")


code = create_app(CodeEnvironment, CodeAction, CodeObservation)
counter = create_app(Counter, AddAction, TotalObservation)
batched_counter = create_app(BatchedCounter, AddAction, TotalObservation)
flaky = create_app(FlakyEnvironment, FlakyAction, EchoObservation)
game = create_app(GameEnvironment, MoveAction, GameObservation)
ported = create_app(PortedEnvironment, MoveAction, GameObservation)
judged = create_app(JudgedEnvironment, EchoAction, EchoObservation)


# --- the web interface's generated form (tests/server/test_web.py) --------------------------

from pydantic import BaseModel, Field  # noqa: E402


class Target(BaseModel):
    x: int = Field(ge=0, le=9, description="Column, 0 to 9.")
    y: int = Field(default=0, ge=0, le=9)


class FormAction(Action):
    """One field of every kind the web page builds an input for."""

    text: str = Field(max_length=40, description="Shown in the rendering.")
    count: int = Field(default=1, ge=1, le=10, description="How many times, 1 to 10.")
    scale: float = 0.5
    loud: bool = False
    colour: Literal["red", "green", "blue"] = "green"
    tags: list[int] = Field(default_factory=list)
    target: Target | None = None
    note: str | int | None = None


class FormObservation(Observation):
    received: dict[str, Any] = Field(default_factory=dict)


class FormEnvironment(Environment[FormAction, FormObservation, State]):
    """Echoes the action it got; reward = count * scale; "red" ends the episode; text rendering."""

    SUPPORTS_CONCURRENT_SESSIONS = True
    FAST_STEP = True

    def __init__(self) -> None:
        super().__init__()
        self._state = State()
        self._text = ""

    def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> FormObservation:
        self._state, self._text = State(episode_id=episode_id), f"seed {seed}"
        return FormObservation()

    def step(self, action: FormAction, timeout_s: float | None = None, **kwargs: Any) -> FormObservation:
        self._state.step_count += 1
        self._text = (action.text.upper() if action.loud else action.text) * action.count
        return FormObservation(received=action.model_dump(exclude={"metadata"}), reward=action.count * action.scale,
                               done=action.colour == "red")

    def render(self, mode: str = "ansi") -> str:
        return f"[{self._text}]"

    @property
    def state(self) -> State:
        return self._state


form = create_app(FormEnvironment, FormAction, FormObservation)


class CountingSleepy(SleepyEnvironment):
    """Sleepy, counting in ``info`` every step it really ran and every close."""

    closed = 0

    def step(self, action: SleepAction, timeout_s: float | None = None, **kwargs: Any) -> EchoObservation:
        obs = super().step(action)
        obs.metadata = {"steps_run": self._state.step_count}
        return obs

    def close(self) -> None:
        type(self).closed += 1


resilient = create_app(CountingSleepy, SleepAction, EchoObservation, max_concurrent_envs=4,
                       step_timeout=1.0, resume_grace=3.0)
"""Steps time out after 1 s; a dropped connection's session waits 3 s to be resumed."""

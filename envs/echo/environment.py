"""The echo environment: the smallest useful environment, for tests, demos and benchmarks."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter

from openenv_gym.server import Environment, tool
from openenv_gym.server.rubrics import Rubric
from openenv_gym.types import State

from .models import EchoAction, EchoObservation
from .rubrics import REWARD_PER_CHARACTER, MessageLengthRubric

__all__ = ["READY_MESSAGE", "REWARD_PER_CHARACTER", "EchoEnvironment"]

READY_MESSAGE = "Echo environment ready!"
_OBSERVATIONS = TypeAdapter(list[EchoObservation])


class EchoEnvironment(Environment[EchoAction, EchoObservation, State]):
    """Echoes each message back; the reward is 0.1 per character. Episodes never end.

    The reward comes from a rubric (:class:`~.rubrics.MessageLengthRubric` unless ``rubric=``
    is given). Echo applies a sync rubric in ``step`` itself (upstream's ``_apply_rubric``), so a
    direct ``env.step`` has its reward too; the server sees that and does not apply it again. Echo's
    ``info`` stays ``{"step": n}`` as upstream's (``RUBRIC_INFO = False``): its one rubric's
    score is the reward.

    Speaks both forms of upstream's echo environment: the message action
    (``{"message": "hi"}``) and the MCP-style tool actions ``list_tools`` and
    ``call_tool`` with the tools ``echo_message`` and ``echo_with_length``.

    >>> env = EchoEnvironment()
    >>> env.reset().echoed_message
    'Echo environment ready!'
    >>> obs = env.step(EchoAction(message="héllo ✓"))
    >>> obs.echoed_message, obs.message_length, obs.reward
    ('héllo ✓', 7, 0.7000000000000001)
    """

    SUPPORTS_CONCURRENT_SESSIONS = True
    FAST_STEP = True
    RUBRIC_INFO = False

    def __init__(self, rubric: Rubric | None = None) -> None:
        super().__init__(rubric=MessageLengthRubric() if rubric is None else rubric)
        self._episode_id = str(uuid.uuid4())
        self._steps = 0
        self._last = ""

    def reset(self, seed: int | None = None, episode_id: str | None = None,
              **kwargs: Any) -> EchoObservation:
        self._episode_id = episode_id or str(uuid.uuid4())
        self._steps = 0
        self._last = READY_MESSAGE
        return EchoObservation(echoed_message=READY_MESSAGE, message_length=0, reward=0.0)

    def step(self, action: EchoAction, timeout_s: float | None = None,
             **kwargs: Any) -> EchoObservation:
        return self._score(action, EchoObservation(**self._echo(action)))  # scored also without a server

    @classmethod
    def step_batch(cls, envs: Sequence[EchoEnvironment], actions: Sequence[EchoAction]) -> list[Any]:
        """Many instances' steps (a batch frame's), their observations built in one validation call."""
        fields = [env._echo(action) for env, action in zip(envs, actions, strict=True)]
        observations = _OBSERVATIONS.validate_python(fields)
        return [env._score(a, obs) for env, a, obs in zip(envs, actions, observations, strict=True)]

    def _echo(self, action: EchoAction) -> dict[str, Any]:
        """Take the step; the observation's fields."""
        self._steps += 1
        self._last = message = action.message
        return {"echoed_message": message, "message_length": len(message), "metadata": {"step": self._steps}}

    @property
    def state(self) -> State:
        return State(episode_id=self._episode_id, step_count=self._steps)

    def render(self, mode: str = "ansi") -> str:
        return self._last

    @tool
    def echo_message(self, message: str) -> str:
        """Echo the message back."""
        return message

    @tool
    def echo_with_length(self, message: str) -> dict[str, Any]:
        """Echo the message back with its length."""
        return {"message": message, "length": len(message)}

"""Echo's reward as a rubric: 0.1 per character of the message.

>>> from openenv_gym.envs.echo.models import EchoAction, EchoObservation
>>> MessageLengthRubric()(EchoAction(message="héllo"), EchoObservation())
0.5
"""

from __future__ import annotations

from typing import Any

from openenv_gym.server.rubrics import Rubric

REWARD_PER_CHARACTER = 0.1


class MessageLengthRubric(Rubric):
    """``per_character`` times the length of the action's message (in characters, not bytes)."""

    def __init__(self, per_character: float = REWARD_PER_CHARACTER) -> None:
        super().__init__()
        self.per_character = per_character

    def forward(self, action: Any, observation: Any) -> float:
        return len(action.message) * self.per_character

    def state_dict(self) -> dict[str, Any]:
        return {"per_character": self.per_character}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.per_character = state.get("per_character", self.per_character)

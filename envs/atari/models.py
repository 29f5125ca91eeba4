"""Atari's action, observation and state.

The observation holds the frame as a numpy array: with msgpack frames it travels as raw bytes
(dtype, shape, a memcpy); in JSON (upstream clients, ``encoding="json"``) as nested int lists.

>>> import numpy as np
>>> obs = AtariObservation(screen=np.zeros((2, 3), np.uint8), reward=1.0)
>>> obs.model_dump(exclude={"done", "reward", "metadata", "truncated"})["screen"].shape
(2, 3)
>>> obs.model_dump(mode="json")["screen"]
[[0, 0, 0], [0, 0, 0]]
>>> AtariAction(action_id=-1)
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for AtariAction
action_id
  Input should be greater than or equal to 0 ...
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field, PlainSerializer, WithJsonSchema

from openenv_gym.types import Action, Observation, State

Frame = Annotated[
    np.ndarray,
    WithJsonSchema({"type": "array", "description": "uint8 frame: (210, 160, 3) rgb, (210, 160) "
                    "grayscale or (128,) ram; exact Box in the declared spaces"}),
    PlainSerializer(lambda frame: frame.tolist(), when_used="json"),
]
"""A numpy array field: kept as the array in Python dumps, nested lists in JSON dumps."""


def _empty_frame() -> np.ndarray:
    return np.zeros((0,), np.uint8)


class AtariAction(Action):
    """An index into the game's action set (minimal, or all 18 with ``full_action_space``)."""

    action_id: int = Field(ge=0, description="Index into the game's action set.")


class AtariObservation(Observation):
    """The screen (or RAM) after the step; ``lives`` and the frame counters are in ``metadata``."""

    screen: Frame = Field(default_factory=_empty_frame, description="The frame as a uint8 array.")


class AtariState(State):
    """Episode state plus the game's set-up, its lives and ALE's frame counters."""

    game: str = ""
    obs_type: str = "rgb"
    frameskip: int | list[int] = 4
    action_meanings: list[str] = Field(default_factory=list)
    lives: int = 0
    episode_frame_number: int = 0
    frame_number: int = 0

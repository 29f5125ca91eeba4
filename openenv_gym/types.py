"""The pydantic models every environment speaks, with upstream OpenEnv's field names.

An upstream payload validates against these models unchanged, and what they dump is what an
upstream client expects.

>>> class CounterObservation(Observation):
...     value: int = 0
>>> obs = CounterObservation(value=3, reward=1.0)
>>> obs.done, obs.truncated, obs.reward, obs.value
(False, False, 1.0, 3)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field


class Action(BaseModel):
    """Base class of an environment's action; unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, arbitrary_types_allowed=True)

    metadata: dict[str, Any] = Field(default_factory=dict)


class Observation(BaseModel):
    """Base class of an environment's observation.

    ``done``, ``reward`` and ``truncated`` travel in the envelope around the observation, not
    inside it; ``metadata`` reaches a Gym user as ``info`` (from our servers and ``openenv``
    0.10's, which also keep it inside the observation; 0.3.0 drops it). ``truncated`` is ours
    (upstream has no such flag and it defaults to False).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, arbitrary_types_allowed=True)

    done: bool = False
    reward: bool | int | float | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    truncated: bool = False


ENVELOPE_FIELDS = frozenset({"done", "reward", "metadata", "truncated"})
"""Observation fields that travel in the envelope, not in the observation dict."""


class State(BaseModel):
    """Episode state: ``episode_id`` and ``step_count``; subclasses add their own fields."""

    model_config = ConfigDict(extra="allow", validate_assignment=True, arbitrary_types_allowed=True)

    episode_id: str | None = None
    step_count: int = Field(default=0, ge=0)


class EnvironmentMetadata(BaseModel):
    """What ``GET /metadata`` returns (upstream's fields)."""

    name: str
    description: str = ""
    readme_content: str | None = None
    version: str = "1.0.0"
    author: str | None = None
    documentation_url: str | None = None


ObsT = TypeVar("ObsT")


@dataclass
class StepResult(Generic[ObsT]):
    """One reset or step as the client sees it.

    ``reward`` is ``None`` where the server sent none (typical on reset); ``terminated`` is the
    server's ``done``; ``truncated`` and ``info`` are only filled by servers that speak the
    openenv-gym extensions (upstream servers have neither).

    >>> StepResult({"value": 1}, reward=None).reward_or_zero
    0.0
    """

    observation: ObsT
    reward: float | None = None
    done: bool = False
    truncated: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def terminated(self) -> bool:
        """The episode ended inside the environment (the server's ``done``)."""
        return self.done

    @property
    def reward_or_zero(self) -> float:
        """The reward as a float, 0.0 where the server sent ``null``."""
        return 0.0 if self.reward is None else float(self.reward)

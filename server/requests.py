"""The bodies of upstream's ``POST /reset`` and ``POST /step``, with upstream's bounds.

As upstream OpenEnv 0.10: a ``seed`` is not negative, an ``episode_id`` and a ``request_id``
hold at most 255 characters and a ``timeout_s`` is positive (types are strict: ``false`` is not
a seed); other keys are allowed (reset
arguments of the environment, extra step options). Over HTTP a body out of bounds is a 422
whose ``detail`` names the field (FastAPI's error list); over ``/ws`` the same reset data gets a
``VALIDATION_ERROR`` frame (:meth:`ResetRequest.check`).

>>> ResetRequest.check({"seed": 3, "task_index": 2})
>>> ResetRequest.check({"seed": -1})
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for ResetRequest
seed
  Input should be greater than or equal to 0 ...
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_ID_LENGTH = 255
"""Longest ``episode_id`` / ``request_id`` (upstream's bound)."""


def _not_a_bool(value: Any) -> Any:
    """JSON ``true``/``false`` is not a number here (pydantic would read it as 1/0)."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


class ResetRequest(BaseModel):
    """``POST /reset``'s body and a ``reset`` message's ``data``: reset arguments."""

    model_config = ConfigDict(extra="allow",
                              json_schema_extra={"examples": [{"seed": 42, "episode_id": "episode-001"}, {}]})

    seed: int | None = Field(default=None, ge=0, description="Random seed for a reproducible episode")
    episode_id: str | None = Field(default=None, max_length=MAX_ID_LENGTH,
                                   description="An identifier of the episode, chosen by the client")

    _seed_not_bool = field_validator("seed", mode="before")(_not_a_bool)

    @classmethod
    def check(cls, data: dict[str, Any]) -> None:
        """Raise pydantic's ``ValidationError`` if ``data`` breaks a bound (nothing is converted)."""
        cls.model_validate(data)


class StepRequest(BaseModel):
    """``POST /step``'s body: the action's fields under ``action`` (other keys allowed)."""

    model_config = ConfigDict(extra="allow")

    action: dict[str, Any] = Field(description="The action; it must conform to the action schema")
    timeout_s: float | None = Field(default=None, gt=0, description="Seconds the step may take")
    request_id: str | None = Field(default=None, max_length=MAX_ID_LENGTH,
                                   description="An identifier of the request, for tracking")

    _timeout_not_bool = field_validator("timeout_s", mode="before")(_not_a_bool)

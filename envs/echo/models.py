"""Echo's action and observation (the JSON shapes of upstream's echo environment)."""

from __future__ import annotations

from pydantic import Field

from openenv_gym.types import Action, Observation

MAX_MESSAGE_LENGTH = 65_536
"""Longest message; the echo therefore always fits the observation's text space."""


class EchoAction(Action):
    """A message to echo back."""

    message: str = Field(max_length=MAX_MESSAGE_LENGTH, description="The message to echo back.")


class EchoObservation(Observation):
    """The echoed message and its length."""

    echoed_message: str = Field(default="", description="The message, echoed back.")
    message_length: int = Field(default=0, ge=0, description="Length of the message.")

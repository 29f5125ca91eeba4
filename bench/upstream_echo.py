"""A message echo environment written only with upstream ``openenv-core`` classes.

The reference server for ``bench/step_latency.py``: same JSON shapes as our echo env
(action ``{"message": str}``, observation ``{"echoed_message": str, "message_length": int}``,
reward 0.1 per character), built on upstream's ``Environment`` and ``create_app``.

Serve it as upstream documents: ``uvicorn upstream_echo:app --app-dir bench --port 8000``.
"""

from __future__ import annotations

import uuid
from typing import Any

from openenv.core.env_server import Action, Environment, Observation, State, create_app
from pydantic import Field

READY_MESSAGE = "Echo environment ready!"
REWARD_PER_CHARACTER = 0.1


class UpstreamEchoAction(Action):
    message: str = Field(description="The message to echo back.")


class UpstreamEchoObservation(Observation):
    echoed_message: str = ""
    message_length: int = 0


class UpstreamEchoEnvironment(Environment[UpstreamEchoAction, UpstreamEchoObservation, State]):
    """Echoes each message back; reward 0.1 per character; episodes never end."""

    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self) -> None:
        super().__init__()
        self._state = State(episode_id=str(uuid.uuid4()), step_count=0)

    def reset(self, seed: int | None = None, episode_id: str | None = None,
              **kwargs: Any) -> UpstreamEchoObservation:
        self._state = State(episode_id=episode_id or str(uuid.uuid4()), step_count=0)
        return UpstreamEchoObservation(echoed_message=READY_MESSAGE, message_length=0, reward=0.0)

    def step(self, action: UpstreamEchoAction, timeout_s: float | None = None,
             **kwargs: Any) -> UpstreamEchoObservation:
        self._state.step_count += 1
        message = action.message
        return UpstreamEchoObservation(echoed_message=message, message_length=len(message),
                                       reward=len(message) * REWARD_PER_CHARACTER)

    @property
    def state(self) -> State:
        return self._state


# The benchmark opens two sessions here (upstream's client and our remote-v0); the default is 1.
app = create_app(UpstreamEchoEnvironment, UpstreamEchoAction, UpstreamEchoObservation,
                 env_name="upstream_echo", max_concurrent_envs=4)

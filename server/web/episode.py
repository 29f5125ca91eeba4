"""The web interface's record of its episode: what ``/ws/ui`` pushes and ``/web/*`` updates.

The models have upstream OpenEnv 0.10's field names and types (``EpisodeState`` and
``ActionLog`` of its web interface), so a client of upstream's ``/ws/ui`` reads ours:

>>> episode = WebEpisode()
>>> episode.begin("e-1", {"value": 0})
>>> episode.record({"delta": 2}, {"value": 2}, reward=2, done=False, step_count=1)
>>> update = episode.update()
>>> update["type"], update["episode_state"]["step_count"], update["episode_state"]["is_reset"]
('state_update', 1, False)
>>> update["episode_state"]["action_logs"][0]["reward"]
2.0

Upstream keeps the last 1,000 actions. So do we, and also at most :data:`MAX_LOG_BYTES` of
them as JSON: every update carries the whole log, and 1,000 Atari frames would make each push
hundreds of megabytes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from openenv_gym.protocol.frames import json_dumps

MAX_ACTION_LOGS = 1000
"""Most actions kept in the log (upstream's bound)."""
MAX_LOG_BYTES = 8 * 1024 * 1024
"""Most bytes of JSON the log may hold; the oldest entries go first (the newest always stays)."""


class ActionLog(BaseModel):
    """One step taken through ``POST /web/step``."""

    model_config = ConfigDict(extra="forbid")

    timestamp: str = Field(description="When the action was taken (ISO 8601, server's local time)")
    action: dict[str, Any] = Field(description="The action, as validated (without metadata)")
    observation: dict[str, Any] = Field(description="The observation the step returned")
    reward: float | None = Field(default=None, description="The step's reward")
    done: bool = Field(description="Whether the episode ended with this step")
    step_count: int = Field(description="The environment's step count after this step")


class EpisodeState(BaseModel):
    """The episode of the web interface's environment."""

    model_config = ConfigDict(extra="forbid")

    episode_id: str | None = Field(default=None, description="The episode's id (from the state)")
    step_count: int = Field(default=0, description="Steps taken in the episode")
    current_observation: dict[str, Any] | None = Field(default=None, description="The last observation")
    action_logs: list[ActionLog] = Field(default_factory=list, description="The actions taken, oldest first")
    is_reset: bool = Field(default=True, description="No step since the last reset")


class WebEpisode:
    """The :class:`EpisodeState` the web calls change, with the JSON size of its log."""

    def __init__(self) -> None:
        self.state = EpisodeState()
        self._sizes: list[int] = []

    def clear(self) -> None:
        """No episode: the state a fresh server starts with (also after the session ended)."""
        self.state = EpisodeState()
        self._sizes = []

    def begin(self, episode_id: str | None, observation: dict[str, Any]) -> None:
        """A reset: a new episode with an empty log."""
        self.state = EpisodeState(episode_id=episode_id, current_observation=observation)
        self._sizes = []

    def record(self, action: dict[str, Any], observation: dict[str, Any], *, reward: Any,
               done: bool, step_count: int, episode_id: str | None = None) -> None:
        """A step: log it and make its observation the current one."""
        entry = ActionLog(timestamp=datetime.now().isoformat(), action=action, observation=observation,
                          reward=None if reward is None else float(reward), done=done,
                          step_count=step_count)
        state = self.state
        state.episode_id = episode_id if episode_id is not None else state.episode_id
        state.step_count = step_count
        state.current_observation = observation
        state.is_reset = False
        state.action_logs.append(entry)
        self._sizes.append(len(json_dumps(entry.model_dump())))
        self._trim()

    def _trim(self) -> None:
        logs, sizes = self.state.action_logs, self._sizes
        drop = max(0, len(logs) - MAX_ACTION_LOGS)
        total = sum(sizes[drop:])
        while drop < len(logs) - 1 and total > MAX_LOG_BYTES:
            total -= sizes[drop]
            drop += 1
        if drop:
            del logs[:drop], sizes[:drop]

    def update(self) -> dict[str, Any]:
        """The ``/ws/ui`` message that carries the state (upstream's ``state_update``); encode it
        with :func:`~openenv_gym.protocol.frames.json_dumps` (observations may hold numpy values)."""
        return {"type": "state_update", "episode_state": self.state.model_dump()}

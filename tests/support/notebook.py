"""A one-session environment whose MCP tools and steps change the same state (a list of notes).

``write`` (a tool) and ``step`` both append a note; ``read`` (a tool) returns them; a step's
reward is the number of notes, so a client sees at once whether tools and steps reached one
environment. Serve it with ``python -m openenv_gym.server tests.support.notebook:app``.
"""

from __future__ import annotations

import time
from typing import Any

from openenv_gym.server import Environment, create_app, tool
from openenv_gym.types import Action, Observation, State

SLOW = "slow"


class NoteAction(Action):
    text: str


class NotebookObservation(Observation):
    notes: list[str] = []


class NotebookEnvironment(Environment[NoteAction, NotebookObservation, State]):
    """Notes written by tools and steps alike; one session per server (capacity 1)."""

    SUPPORTS_CONCURRENT_SESSIONS = False

    def __init__(self) -> None:
        super().__init__()
        self._notes: list[str] = []
        self._steps = 0

    def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> NotebookObservation:
        self._notes, self._steps = [], 0
        return NotebookObservation(notes=[], reward=0.0)

    def step(self, action: NoteAction, timeout_s: float | None = None, **kwargs: Any) -> NotebookObservation:
        if action.text == SLOW:  # two notes a second apart: a tool call in between would see one
            self._notes.append(SLOW + "-begin")
            time.sleep(1.0)
        self._notes.append(action.text)
        self._steps += 1
        return NotebookObservation(notes=list(self._notes), reward=float(len(self._notes)))

    @property
    def state(self) -> State:
        return State(step_count=self._steps)

    @tool
    def write(self, text: str) -> int:
        """Add a note; the number of notes."""
        self._notes.append(text)
        return len(self._notes)

    @tool
    def read(self) -> list[str]:
        """All notes, oldest first."""
        return list(self._notes)


app = create_app(NotebookEnvironment, NoteAction, NotebookObservation, env_name="notebook")
idle = create_app(NotebookEnvironment, NoteAction, NotebookObservation, env_name="notebook", session_timeout=0.5)

"""An upstream environment scored by an upstream rubric tree, reporting each rubric's score in
its observation's ``metadata`` (built only from upstream's ``openenv`` classes).

The action ``{"tests": x, "style": y}`` (shares in [0, 1]) is scored ``0.8 x + 0.2 y`` by a
``WeightedSum`` of two rubrics; ``metadata`` is ``{"rubric": {"total": r, "<path>": score}}``.
Serve it with upstream's server: ``uvicorn tests.interop.upstream_scored:app``.
"""

from __future__ import annotations

from typing import Any

from openenv.core.env_server import Action, Environment, Observation, State, create_app
from openenv.core.rubrics import Rubric, WeightedSum


class ScoredAction(Action):
    tests: float = 1.0
    style: float = 1.0


class ScoredObservation(Observation):
    tests: float = 0.0
    style: float = 0.0


class TestsPassed(Rubric):
    def forward(self, action: Any, observation: Any) -> float:
        return action.tests


class Style(Rubric):
    def forward(self, action: Any, observation: Any) -> float:
        return action.style


class ScoredEnv(Environment[ScoredAction, ScoredObservation, State]):
    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self) -> None:
        super().__init__(rubric=WeightedSum([TestsPassed(), Style()], [0.8, 0.2]))
        self._state = State()

    def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> ScoredObservation:
        self._state = State(episode_id=episode_id)
        return ScoredObservation(metadata={"episode": episode_id})

    def step(self, action: ScoredAction, timeout_s: float | None = None, **kwargs: Any) -> ScoredObservation:
        self._state.step_count += 1
        observation = ScoredObservation(tests=action.tests, style=action.style)
        observation.reward = self._apply_rubric(action, observation)
        scores = {path: r.last_score for path, r in self.rubric.named_rubrics()}
        observation.metadata = {"rubric": {"total": observation.reward, **scores}}
        return observation

    @property
    def state(self) -> State:
        return self._state


app = create_app(ScoredEnv, ScoredAction, ScoredObservation, max_concurrent_envs=4)

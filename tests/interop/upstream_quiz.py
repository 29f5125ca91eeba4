"""An upstream (``openenv`` 0.10) environment whose ``reset()`` returns its own model.

``reset`` returns a ``QuizQuestion`` (the task), ``step`` a ``QuizFeedback``; the server
declares both with ``create_app(..., reset_observation_cls=QuizQuestion)``, so ``GET /schema``
carries ``reset_observation``. Imports only upstream's ``openenv`` (0.10 or later):
``uvicorn tests.interop.upstream_quiz:app``.
"""

from __future__ import annotations

from typing import Any

from openenv.core.env_server import Action, Environment, Observation, State, create_app

QUESTION = "2+2"


class QuizAnswer(Action):
    answer: str


class QuizQuestion(Observation):
    question: str
    attempts_left: int = 3


class QuizFeedback(Observation):
    correct: bool = False
    feedback: str = ""


class QuizEnvironment(Environment):
    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self) -> None:
        super().__init__()
        self._state = State(step_count=0)

    def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> QuizQuestion:
        self._state = State(episode_id=episode_id, step_count=0)
        return QuizQuestion(question=QUESTION, reward=0.0)

    def step(self, action: QuizAnswer, timeout_s: float | None = None, **kwargs: Any) -> QuizFeedback:
        self._state.step_count += 1
        correct = action.answer.strip() == "4"
        return QuizFeedback(correct=correct, feedback="right" if correct else "try again",
                            reward=float(correct), done=correct)

    @property
    def state(self) -> State:
        return self._state


app = create_app(QuizEnvironment, QuizAnswer, QuizFeedback, env_name="quiz",
                 max_concurrent_envs=4, reset_observation_cls=QuizQuestion)

"""An environment whose ``reset()`` returns its own model: the agent sees the task.

Ours declares it with ``RESET_OBSERVATION`` (served at ``/schema`` as ``reset_observation``);
upstream ``openenv`` 0.10 with ``create_app(..., reset_observation_cls=...)``. Both through
``gym.make("openenv/remote-v0")`` on a real socket, and ours in-process too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import httpx
import pytest

import openenv_gym  # noqa: F401  (registers the ids)
from openenv_gym.providers import InProcessProvider
from openenv_gym.server import Environment, create_app
from openenv_gym.types import Action, Observation, State
from tests.support.checks import check_env_warnings
from tests.support.servers import serving
from tests.support.upstream import peer

QUESTION = "2+2"


class QuizAnswer(Action):
    answer: str


class QuizQuestion(Observation):
    question: str
    attempts_left: int = 3


class QuizFeedback(Observation):
    correct: bool = False
    feedback: str = ""


class QuizEnvironment(Environment[QuizAnswer, QuizFeedback, State]):
    """Asks 2+2; the episode ends with the right answer."""

    SUPPORTS_CONCURRENT_SESSIONS = True
    RESET_OBSERVATION = QuizQuestion

    def __init__(self) -> None:
        super().__init__()
        self._state = State()

    def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> Any:
        self._state = State(episode_id=episode_id)
        return QuizQuestion(question=QUESTION, reward=0.0)

    def step(self, action: QuizAnswer, timeout_s: float | None = None, **kwargs: Any) -> QuizFeedback:
        self._state.step_count += 1
        correct = action.answer.strip() == "4"
        return QuizFeedback(correct=correct, feedback="right" if correct else "try again",
                            reward=float(correct), done=correct)

    @property
    def state(self) -> State:
        return self._state


app = create_app(QuizEnvironment, QuizAnswer, QuizFeedback)


@pytest.fixture(scope="module")
def our_url() -> Iterator[str]:
    with serving("tests.wrappers.test_reset_observation:app") as server:
        yield server.start()


@pytest.fixture(scope="module")
def upstream_url() -> Iterator[str]:
    """Upstream 0.10's own server (``reset_observation_cls`` is new in 0.10)."""
    with peer("0.10.0").serve("tests.interop.upstream_quiz:app") as server:
        yield server.base_url


@pytest.fixture(params=["ours", "ours-inprocess", "upstream-0.10"])
def quiz(request: pytest.FixtureRequest) -> Iterator[gym.Env[Any, Any]]:
    if request.param == "ours-inprocess":
        env = gym.make("openenv/remote-v0", provider=InProcessProvider(QuizEnvironment, QuizAnswer, QuizFeedback))
    else:
        url = request.getfixturevalue("our_url" if request.param == "ours" else "upstream_url")
        env = gym.make("openenv/remote-v0", base_url=url)
    yield env
    env.close()


def test_our_schema_serves_the_reset_model(our_url):
    schema = httpx.get(our_url + "/schema").json()
    assert schema["reset_observation"]["title"] == "QuizQuestion"
    assert schema["observation"]["title"] == "QuizFeedback"


def test_reset_returns_the_task_and_steps_the_feedback(quiz):
    obs, _ = quiz.reset(seed=0)
    assert obs["question"] == QUESTION and obs["attempts_left"] == 3
    assert quiz.observation_space.contains(obs)
    obs, reward, terminated, _, _ = quiz.step("5")
    assert (obs["correct"], obs["feedback"], obs["question"], reward, terminated) == (0, "try again", "", 0.0, False)
    obs, reward, terminated, _, _ = quiz.step("4")
    assert (obs["correct"], obs["feedback"], reward, terminated) == (1, "right", 1.0, True)
    assert quiz.observation_space.contains(obs)


def test_the_observation_space_holds_both_models_fields(quiz):
    assert set(quiz.observation_space.keys()) == {"question", "attempts_left", "correct", "feedback"}


def test_check_env_passes(quiz):
    assert check_env_warnings(quiz, skip_render_check=True) == []


def test_a_vector_env_resets_to_the_task(our_url):
    envs = gym.make_vec("openenv/remote-v0", num_envs=2, base_url=our_url)
    try:
        obs, _ = envs.reset(seed=0)
        assert tuple(obs["question"]) == (QUESTION, QUESTION)
        obs, *_ = envs.step(["4", "5"])
        assert list(obs["correct"]) == [1, 0]
    finally:
        envs.close()

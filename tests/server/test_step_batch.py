"""A batch's plain steps are taken together (``server/batch.py``, ``Environment.step_batch``).

The counter environments (``tests.support.apps``) add each action's delta to a total, are
rewarded twice the delta by a rubric the server applies, and raise on ``fail``: ``Counter``
with the default hook (a loop over ``step``), ``BatchedCounter`` with its own. Stepped through
``GymVectorEnv`` in-process and over a socket, both give what stepping one at a time gives.
"""

from __future__ import annotations

import numpy as np
import pytest

from openenv_gym import ExecutionError, InvalidActionError
from openenv_gym.envs.echo import EchoObservation
from openenv_gym.protocol import envelope, envelopes
from openenv_gym.providers import InProcessProvider
from openenv_gym.wrappers.vector import GymVectorEnv
from tests.support.apps import AddAction, BatchedCounter, BrokenBatchCounter, Counter, TotalObservation

NUM_ENVS = 4
SCRIPT = [[1, 2, 3, 4], [10, -1, 0, 7], [5, 5, 5, 5]]


def counters(where: str, cls: type[Counter], serve, **options) -> GymVectorEnv:
    if where == "inprocess":
        provider = InProcessProvider(cls, AddAction, TotalObservation)
        return GymVectorEnv(num_envs=NUM_ENVS, provider=provider, **options)
    app = "batched_counter" if cls is BatchedCounter else "counter"
    return GymVectorEnv(num_envs=NUM_ENVS, base_url=serve(f"tests.support.apps:{app}").start(), **options)


def actions(deltas: list[int], fail: int | None = None) -> list[dict]:
    return [{"delta": d, "fail": i == fail} for i, d in enumerate(deltas)]


@pytest.fixture(params=["inprocess", "socket"])
def where(request) -> str:
    return request.param


@pytest.mark.parametrize("cls", [Counter, BatchedCounter])
def test_a_batch_of_steps_gives_what_single_steps_give(where, cls, serve):
    """Observations, rewards (the server's rubric) and infos as from ``Counter.step`` one by one."""
    BatchedCounter.batches.clear()
    envs = counters(where, cls, serve)
    try:
        obs, _ = envs.reset(seed=3)
        reference = [Counter() for _ in range(NUM_ENVS)]
        for env, seed in zip(reference, range(3, 3 + NUM_ENVS), strict=True):
            env.reset(seed=seed)
        for deltas in SCRIPT:
            obs, rewards, terminated, truncated, infos = envs.step(actions(deltas))
            expected = [env.step(AddAction(delta=d)).total for env, d in zip(reference, deltas, strict=True)]
            assert obs["total"].tolist() == expected
            assert rewards.tolist() == [2.0 * d for d in deltas]
            assert infos["delta"].tolist() == deltas
            assert not terminated.any() and not truncated.any()
    finally:
        envs.close()
    if where == "inprocess" and cls is BatchedCounter:
        assert BatchedCounter.batches == [NUM_ENVS] * len(SCRIPT), "the environment's own hook steps the batch"


@pytest.mark.parametrize("cls", [Counter, BatchedCounter])
def test_an_environment_error_in_one_item_names_its_sub_env_and_keeps_the_others(where, cls, serve):
    envs = counters(where, cls, serve)
    try:
        envs.reset(seed=0)
        with pytest.raises(ExecutionError, match=r"^sub-env 2 \(.*RuntimeError: boom"):
            envs.step(actions([1, 2, 3, 4], fail=2))
        obs, rewards, *_ = envs.step(actions([1, 1, 1, 1]))  # seeded 0, 1, 2, 3; the failed one autoresets
        assert obs["total"].tolist() == [2, 4, 0, 8], "the others' steps stood"
        assert rewards.tolist() == [2.0, 2.0, 0.0, 2.0]
    finally:
        envs.close()


def test_with_keep_going_the_failed_sub_env_is_truncated_and_the_others_carry_on(where, serve):
    envs = counters(where, BatchedCounter, serve, keep_going=True)
    try:
        envs.reset(seed=0)
        obs, rewards, _, truncated, infos = envs.step(actions([1, 2, 3, 4], fail=1))
        assert truncated.tolist() == [False, True, False, False]
        assert "RuntimeError: boom" in infos["error"][1] and infos["_error"].tolist() == [False, True, False, False]
        assert rewards.tolist() == [2.0, 0.0, 6.0, 8.0]
        assert obs["total"][[0, 2, 3]].tolist() == [1, 5, 7]  # seeded 0, 1, 2, 3
    finally:
        envs.close()


def test_an_invalid_action_in_one_item_names_its_sub_env_and_keeps_the_others(where, serve):
    envs = counters(where, BatchedCounter, serve)
    try:
        envs.reset(seed=0)
        bad = actions([1, 2, 3, 4])
        bad[3]["delta"] = "many"
        with pytest.raises(InvalidActionError, match=r"^sub-env 3 \(.*delta"):
            envs.step(bad)
        obs, *_ = envs.step(actions([0, 0, 0, 0]))  # seeded 0, 1, 2, 3; the refused one autoresets
        assert obs["total"].tolist() == [1, 3, 5, 0]
    finally:
        envs.close()


def test_a_batched_hook_that_raises_fails_each_of_its_steps_and_the_session_lives_on():
    envs = GymVectorEnv(num_envs=2, provider=InProcessProvider(BrokenBatchCounter, AddAction, TotalObservation))
    try:
        envs.reset(seed=0)
        with pytest.raises(ExecutionError, match=r"^sub-env 0 \(.*ValueError: the batch broke"):
            envs.step(actions([1, 2]))
        obs, _ = envs.reset(seed=5)
        assert np.array_equal(obs["total"], [5, 6])
    finally:
        envs.close()


@pytest.mark.parametrize("observations", [
    [TotalObservation(total=1, reward=0.5, metadata={"a": [1]}), TotalObservation(done=True, truncated=True)],
    [TotalObservation(total=2), EchoObservation(echoed_message="é", reward=None)],  # two models
])
def test_a_batch_of_observations_travels_as_each_would_alone(observations):
    assert envelopes(observations) == [envelope(o, extended=True) for o in observations]

"""The server-side step timeout: a hung step is answered, and the session stays usable."""

from __future__ import annotations

import threading
import time

import gymnasium as gym
import pytest

import openenv_gym  # noqa: F401  (registers the ids)
from openenv_gym import StepTimeoutError, SyncEnvClient

STEP_TIMEOUT = 1.0  # tests.support.apps:resilient


@pytest.fixture(scope="module")
def resilient():
    from tests.support.servers import serving

    with serving("tests.support.apps:resilient") as provider:
        yield provider


def test_a_hung_step_is_answered_and_the_session_goes_on(resilient):
    with SyncEnvClient(resilient.base_url) as client:
        client.reset()
        client.step({"message": "before"})
        started = time.monotonic()
        with pytest.raises(StepTimeoutError, match="step timeout of 1s.*reset\\(\\) to go on") as caught:
            client.step({"message": "hang", "sleep": 30})
        assert time.monotonic() - started < STEP_TIMEOUT + 3
        assert caught.value.code == "STEP_TIMEOUT" and isinstance(caught.value, TimeoutError)
        assert client.state()["step_count"] == 0  # a fresh environment, not the hung one
        client.reset(seed=2)
        assert client.step({"message": "after"}).observation["echoed_message"] == "after"


def test_other_sessions_are_served_while_one_hangs(resilient):
    with SyncEnvClient(resilient.base_url) as hung, SyncEnvClient(resilient.base_url) as other:
        hung.reset()
        other.reset()
        failure: list[BaseException] = []

        def hang() -> None:
            try:
                hung.step({"message": "hang", "sleep": 30})
            except StepTimeoutError as exc:
                failure.append(exc)

        thread = threading.Thread(target=hang)
        thread.start()
        time.sleep(0.2)
        for i in range(20):
            assert other.step({"message": str(i)}).observation["echoed_message"] == str(i)
        thread.join(timeout=10)
        assert len(failure) == 1


def test_a_gym_env_raises_it_and_a_keep_going_vector_env_truncates(resilient):
    env = gym.make("openenv/remote-v0", base_url=resilient.base_url)
    env.reset()
    with pytest.raises(StepTimeoutError):
        env.step({"message": "hang", "sleep": 30})
    env.reset()
    assert env.step({"message": "ok", "sleep": 0})[0]["echoed_message"] == "ok"
    env.close()

    envs = gym.make_vec("openenv/remote-v0", num_envs=2, base_url=resilient.base_url, keep_going=True)
    envs.reset(seed=0)
    actions = {"message": ("hang", "fine"), "sleep": (30.0, 0.0), "fail": (False, False)}
    _, _, terminated, truncated, infos = envs.step(actions)
    assert list(truncated) == [True, False] and not terminated.any()
    assert "STEP_TIMEOUT" in str(infos["error"][0])
    envs.close()

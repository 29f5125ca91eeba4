"""OUR client, Gym env and errors against an UPSTREAM openenv-core server (upstream_counter)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from openenv_gym import (
    CapacityReachedError,
    EnvClient,
    InvalidActionError,
    InvalidRequestError,
    RequestTimeoutError,
    TransportError,
)
from openenv_gym.providers import ProcessProvider

from .upstream_counter import MAX_SESSIONS, SLOW_DELTA, SLOW_SECONDS, TARGET

TIMEOUT = 0.5
DIES_WITHIN = 5.0


def make_env(url: str, **kwargs) -> gym.Env:
    return gym.make("openenv/remote-v0", base_url=url, **kwargs)


async def test_env_client_speaks_upstream_baseline(counter_url: str) -> None:
    async with EnvClient(counter_url) as client:
        assert client.extended is False  # upstream never selects our subprotocol
        reset = await client.reset(episode_id="ep-1", start=2)
        assert (reset.observation, reset.reward, reset.done) == ({"value": 2, "note": "reset"}, None, False)
        step = await client.step({"delta": 3})
        assert step.observation == {"value": 5, "note": "+3"}
        assert step.reward == 3.0 and isinstance(step.reward, float)  # upstream sends the int 3
        assert (step.done, step.truncated, step.info) == (False, False, {})
        # /ws state carries the env's own State subclass fields
        assert await client.state() == {"episode_id": "ep-1", "step_count": 1, "value": 5}


def test_gym_env_spaces_from_upstream_schema(counter_url: str) -> None:
    env = make_env(counter_url)
    try:
        assert isinstance(env.observation_space, spaces.Dict)
        assert set(env.observation_space.keys()) == {"value", "note"}  # done/reward/metadata lifted
        assert isinstance(env.observation_space["note"], spaces.Text)
        assert env.observation_space["value"].dtype == np.int64
        assert isinstance(env.action_space, spaces.Box)  # the single field "delta" is the action
        assert (env.action_space.shape, env.action_space.dtype) == ((), np.int64)
    finally:
        env.close()


def test_gym_env_episode_against_upstream(counter_url: str) -> None:
    env = make_env(counter_url)
    try:
        obs, info = env.reset(options={"start": TARGET - 5})
        assert (obs["value"], obs["note"], info) == (TARGET - 5, "reset", {})
        assert env.observation_space.contains(obs)
        obs, reward, terminated, truncated, info = env.step(np.array(3))
        assert (obs["value"], reward, terminated, truncated, info) == (TARGET - 2, 3.0, False, False, {})
        obs, reward, terminated, truncated, _ = env.step({"delta": 2})  # a dict works too
        assert (obs["value"], obs["note"], reward) == (TARGET, "done", 2.0)
        assert (terminated, truncated) == (True, False)
        assert env.unwrapped.state()["step_count"] == 2
    finally:
        env.close()


@pytest.mark.parametrize("action", [
    pytest.param({"delta": "abc"}, id="string-in-dict"),
    pytest.param("abc", id="string"),
    pytest.param({"delta": 1, "extra": 2}, id="unknown-field"),
    pytest.param({}, id="missing-field"),
])
def test_gym_invalid_action_raises_and_env_goes_on(counter_url: str, action) -> None:
    env = make_env(counter_url)
    try:
        env.reset()
        with pytest.raises(InvalidActionError):
            env.step(action)
        obs, reward, *_ = env.step({"delta": 1})  # the session survived
        assert (obs["value"], reward) == (1, 1.0)
    finally:
        env.close()


def test_upstream_rejects_fractional_delta(counter_url: str) -> None:
    """The baseline for the next test: upstream's server refuses delta=2.5."""
    client = EnvClient(counter_url).sync()
    with client:
        client.reset()
        with pytest.raises(InvalidRequestError):
            client.step({"delta": 2.5})


@pytest.mark.parametrize("action", [2.5, {"delta": 2.5}], ids=["float", "float-in-dict"])
def test_gym_fractional_action_is_not_silently_truncated(counter_url: str, action) -> None:
    env = make_env(counter_url)
    try:
        env.reset()
        with contextlib.suppress(InvalidActionError):  # the right outcome: the server refuses it
            env.step(action)
        assert env.unwrapped.state()["value"] == 0, "the counter moved: the action was truncated"
    finally:
        env.close()


def test_gym_invalid_action_message_names_the_field(counter_url: str) -> None:
    env = make_env(counter_url)
    try:
        env.reset()
        with pytest.raises(InvalidActionError, match="delta"):  # "delta: Field required"
            env.step({})
    finally:
        env.close()


async def test_capacity_of_upstream_server(own_counter: ProcessProvider) -> None:
    url = own_counter.base_url
    assert url is not None
    clients = [EnvClient(url) for _ in range(MAX_SESSIONS)]
    try:
        for client in clients:
            await client.connect()
            await client.reset()
        async with EnvClient(url) as extra:  # the upgrade succeeds; the refusal is the first reply
            with pytest.raises(CapacityReachedError) as refused:
                await extra.reset()
            assert refused.value.details == {"active_sessions": MAX_SESSIONS, "max_sessions": MAX_SESSIONS}
        await clients.pop().close()
        async with EnvClient(url) as again:
            assert (await again.reset()).observation == {"value": 0, "note": "reset"}
    finally:
        for client in clients:
            await client.close()


async def test_timeout_drops_the_upstream_connection(counter_url: str) -> None:
    client = EnvClient(counter_url, timeout=TIMEOUT)
    async with client:
        await client.reset()
        started = time.monotonic()
        with pytest.raises(RequestTimeoutError):
            await client.step({"delta": SLOW_DELTA})
        assert time.monotonic() - started < SLOW_SECONDS
        await asyncio.sleep(SLOW_SECONDS)  # by now the server has sent its late reply
        for call in (lambda: client.step({"delta": 1}), client.state, client.reset):
            with pytest.raises(TransportError) as dropped:
                await call()
            assert not isinstance(dropped.value, RequestTimeoutError)  # never read the late reply
    async with EnvClient(counter_url, timeout=10) as fresh:
        await fresh.reset()
        assert (await fresh.step({"delta": 1})).observation["value"] == 1


def test_gym_timeout_then_transport_error(counter_url: str) -> None:
    env = make_env(counter_url, timeout=TIMEOUT)
    try:
        env.reset()
        with pytest.raises(RequestTimeoutError):
            env.step(SLOW_DELTA)
        with pytest.raises(TransportError) as dropped:
            env.step(1)
        assert not isinstance(dropped.value, RequestTimeoutError)
    finally:
        env.close()


def test_killed_server_raises_transport_error_naming_it(own_counter: ProcessProvider) -> None:
    url = own_counter.base_url
    assert url is not None and own_counter.pid is not None
    env = make_env(url, timeout=30)
    env.reset()
    try:
        os.kill(own_counter.pid, signal.SIGKILL)
        started = time.monotonic()
        with pytest.raises(TransportError) as lost:
            env.step(1)
        assert time.monotonic() - started < DIES_WITHIN  # no hang until the 30 s timeout
        assert not isinstance(lost.value, RequestTimeoutError)
        assert url.removeprefix("http://") in str(lost.value)
    finally:
        env.close()  # closing a session on a dead server neither hangs nor raises



def test_vector_env_falls_back_to_one_session_per_env_on_upstream(counter_url: str) -> None:
    """No batches upstream: one connection per sub-env, all stepped at once, same Gym semantics."""
    envs = gym.make_vec("openenv/remote-v0", num_envs=3, base_url=counter_url)
    try:
        pool = envs.unwrapped._pool
        assert [type(g).__name__ for g in pool.groups] == ["ConcurrentGroup"]
        obs, _ = envs.reset(seed=0)
        obs, rewards, terminations, _, _ = envs.step(np.array([3, 5, TARGET]))
        assert obs["value"].tolist() == [3, 5, TARGET]
        assert rewards.tolist() == [3.0, 5.0, float(TARGET)]
        assert terminations.tolist() == [False, False, True]
        obs, rewards, *_ = envs.step(np.array([1, 1, 1]))  # NEXT_STEP: sub-env 2 is reset
        assert obs["value"].tolist() == [4, 6, 0] and rewards.tolist() == [1.0, 1.0, 0.0]
        obs, rewards, *_ = envs.step([{"delta": 2}, {"delta": 1}, {"delta": 3}])  # one dict per sub-env
        assert obs["value"].tolist() == [6, 7, 3] and rewards.tolist() == [2.0, 1.0, 3.0]
    finally:
        envs.close()


def test_upstream_metadata_is_the_gym_info_with_its_rubric_scores(upstream) -> None:
    """0.10 sends the observation's metadata (here an upstream rubric tree's scores); 0.3.0 drops it."""
    with upstream.serve("tests.interop.upstream_scored:app") as server:
        env = make_env(server.base_url)
        try:
            obs, info = env.reset(options={"episode_id": "ep-7"})
            assert info == ({"episode": "ep-7"} if upstream.is_010 else {})
            obs, reward, _, _, info = env.step({"tests": 0.5, "style": 1.0})
            assert reward == pytest.approx(0.6)
            assert "metadata" not in obs and env.observation_space.contains(obs)
            if upstream.is_010:
                assert info["rubric"] == pytest.approx({"total": 0.6, "rubric_0": 0.5, "rubric_1": 1.0})
            else:
                assert info == {}
        finally:
            env.close()

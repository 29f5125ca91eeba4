"""Two half-batches in flight on a group's connection give what one batch frame gives.

``pipelined`` makes every step of a batched group travel as two halves (normally only steps
after one that brought ``PIPELINED_FROM_BYTES``, e.g. Atari frames); ``one_frame`` never.
"""

from __future__ import annotations

import os
import signal
import threading

import gymnasium as gym
import numpy as np
import pytest

import openenv_gym  # noqa: F401  (registers the openenv/* ids)
from openenv_gym.client.async_client import EnvClient
from openenv_gym.errors import ExecutionError, MessageTooLargeError, TransportError
from openenv_gym.providers import ProcessProvider
from openenv_gym.types import StepResult
from openenv_gym.vector import groups, pool
from openenv_gym.wrappers.vector import GymVectorEnv
from tests.support.processes import process_gone
from tests.support.servers import REPO_ROOT, settled_sessions

TEXTS = [("a", "héllo ✓", "", "done", "e"), ("cut", "b", "x" * 300, "c", "d"), ("f", "g", "h", "i", "done")]


@pytest.fixture
def frames_sent(monkeypatch):
    """The number of frames of each ``EnvClient.pipeline`` call, in order."""
    sent: list[int] = []
    pipeline = EnvClient.pipeline

    async def counting(self, requests):
        sent.append(len(requests))
        return await pipeline(self, requests)

    monkeypatch.setattr(EnvClient, "pipeline", counting)
    return sent


@pytest.fixture(params=["one_frame", "pipelined"])
def mode(request, monkeypatch):
    monkeypatch.setattr(groups, "PIPELINED_FROM_BYTES", 0 if request.param == "pipelined" else 1 << 62)
    return request.param


@pytest.fixture
def sleepy_url(sleepy_server):
    assert settled_sessions(sleepy_server, 0) == 0  # it holds 8 sessions at most
    return sleepy_server.start()


def actions(texts, sleep=0.0, failing=()):
    n = len(texts)
    fail = np.zeros(n, dtype=np.int64)
    fail[list(failing)] = 1
    return {"message": tuple(texts), "sleep": np.full(n, sleep), "fail": fail}


def run_script(url):
    """Every step's 5-tuple of a 5-env vector env over the sleepy server (episodes end and
    autoreset on "done" and "cut"; one sub-env fails at the last step)."""
    envs = gym.make_vec("openenv/remote-v0", num_envs=5, base_url=url, keep_going=True)
    try:
        trace = [envs.reset(seed=3)]
        trace += [envs.step(actions(texts)) for texts in TEXTS]
        trace.append(envs.step(actions(TEXTS[0], failing=[3])))
        return trace
    finally:
        envs.close()


def test_pipelined_steps_give_exactly_what_one_frame_gives(sleepy_url, monkeypatch, frames_sent):
    monkeypatch.setattr(groups, "PIPELINED_FROM_BYTES", 1 << 62)
    one_frame = run_script(sleepy_url)
    assert set(frames_sent) == {1}
    frames_sent.clear()
    monkeypatch.setattr(groups, "PIPELINED_FROM_BYTES", 0)
    assert settled_sessions(sleepy_url, 0) == 0
    pipelined = run_script(sleepy_url)
    assert set(frames_sent) == {2}
    for step, (expected, actual) in enumerate(zip(one_frame, pipelined, strict=True)):
        for a, b in zip(expected, actual, strict=True):
            assert repr(a) == repr(b), f"step {step}"
    assert pipelined[-1][-1]["error"][3].startswith("ExecutionError")  # the error names its sub-env


async def test_a_frame_over_the_servers_limit_fails_only_its_half(serve, mode):
    server = serve("tests.support.apps:small_frames")  # 4096-byte frames at most
    group = await pool.group_at(server.astart, 4, {})
    try:
        results = await group.run({i: ("step", {"message": text})
                                   for i, text in enumerate(["a", "b", "x" * 5000, "c"])})
        if mode == "pipelined":  # halves [0, 1] and [2, 3]
            assert [r.observation["echoed_message"] for r in (results[0], results[1])] == ["a", "b"]
            assert all(isinstance(results[i], MessageTooLargeError) for i in (2, 3))
        else:
            assert all(isinstance(results[i], MessageTooLargeError) for i in range(4))
        results = await group.run({i: ("step", {"message": str(i)}) for i in range(4)})
        assert [r.observation["echoed_message"] for r in results.values()] == ["0", "1", "2", "3"]
    finally:
        await group.close()


async def test_an_item_error_fails_only_its_sub_env_in_either_half(sleepy_server, mode):
    group = await pool.group_at(sleepy_server.astart, 6, {})
    try:
        requests = {i: ("step", {"message": f"m{i}", "fail": i in (1, 4)}) for i in range(6)}
        results = await group.run(requests)
        assert list(results) == list(range(6))
        assert [type(r) for r in results.values()] == [StepResult, ExecutionError, StepResult,
                                                       StepResult, ExecutionError, StepResult]
        assert [results[i].observation["echoed_message"] for i in (0, 2, 3, 5)] == ["m0", "m2", "m3", "m5"]
    finally:
        await group.close()


def test_a_server_killed_mid_batch_fails_all_its_sub_envs_and_reset_reopens(monkeypatch, mode):
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))  # the server (and its restart) imports tests.support
    provider = ProcessProvider("tests.support.apps:sleepy")
    envs = GymVectorEnv(num_envs=4, provider=provider, keep_going=True)
    try:
        envs.reset(seed=0)
        pid = provider.pid
        assert pid is not None
        killer = threading.Timer(0.5, os.kill, (pid, signal.SIGKILL))
        killer.start()  # while the server sleeps in the first half's steps
        obs, rewards, terminations, truncations, infos = envs.step(actions(["a", "b", "c", "d"], sleep=2.0))
        killer.join()
        assert truncations.tolist() == [True] * 4 and not terminations.any()
        assert all(error.startswith("TransportError") for error in infos["error"])
        assert process_gone(pid)
        obs, _ = envs.reset(seed=1)
        assert obs["echoed_message"] == ("seed=1", "seed=2", "seed=3", "seed=4")  # seed + index, as Gym
        assert provider.pid not in (None, pid)  # started again
        obs, *_ = envs.step(actions(["e", "f", "g", "h"]))
        assert obs["echoed_message"] == ("e", "f", "g", "h")
    finally:
        envs.close()


async def test_a_lost_group_fails_every_request_with_a_transport_error(sleepy_server, mode):
    group = await pool.group_at(sleepy_server.astart, 4, {})
    await group.close()
    results = await group.run({i: ("state", None) for i in range(4)})
    assert all(isinstance(r, TransportError) for r in results.values())

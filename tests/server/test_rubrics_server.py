"""Rubrics applied by the server: through ``gym.make`` on real servers, on the wire, under bad rubrics."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import gymnasium as gym
import httpx
import pytest
import websockets

import openenv_gym  # noqa: F401 (registers the openenv/* ids)
from openenv_gym.envs.echo import EchoAction, EchoEnvironment, EchoObservation
from openenv_gym.protocol import SUBPROTOCOL
from openenv_gym.providers import InProcessProvider, ProcessProvider
from openenv_gym.server.rubrics import Rubric
from tests.support import apps
from tests.support.servers import serving


@pytest.fixture(scope="module")
def code_server() -> Iterator[ProcessProvider]:
    with serving("tests.support.apps:code") as provider:
        yield provider


@pytest.fixture(scope="module")
def game_server() -> Iterator[ProcessProvider]:
    with serving("tests.support.apps:game") as provider:
        yield provider


@pytest.fixture(scope="module")
def flaky_server() -> Iterator[ProcessProvider]:
    with serving("tests.support.apps:flaky") as provider:
        yield provider


@pytest.fixture
def make_gym():
    made = []

    def make(provider: ProcessProvider) -> gym.Env:
        made.append(gym.make("openenv/remote-v0", base_url=provider.start()))
        return made[-1]

    yield make
    for env in made:
        env.close()


def test_gym_users_get_the_rubric_reward_and_every_named_score_in_info(code_server, make_gym):
    env = make_gym(code_server)
    assert env.reset()[1] == {}
    obs, reward, terminated, truncated, info = env.step({"code": "print(1)", "tests": 0.9, "style": 0.0})
    assert reward == pytest.approx(0.72) and (terminated, truncated) == (False, False)
    assert info["ran"] == "print(1)"  # the environment's own metadata stays
    assert info["rubric"] == pytest.approx({"total": 0.72, "rubric_0": 1.0, "rubric_0.rubric": 1.0, "rubric_1": 0.72,
                                            "rubric_1.rubric_0": 0.9, "rubric_1.rubric_1": 0.0})
    _, reward, *_, info = env.step({"code": "syntax error", "exit_code": 1})
    assert reward == 0.0  # the gate failed: the weighted sum was never evaluated
    assert info["rubric"] == {"total": 0.0, "rubric_0": 0.0, "rubric_0.rubric": 0.0, "rubric_1": None,
                              "rubric_1.rubric_0": None, "rubric_1.rubric_1": None}


async def test_plain_upstream_clients_get_the_reward_and_the_baseline_envelope(code_server):
    async with websockets.connect(code_server.start().replace("http", "ws") + "/ws") as ws:
        await ws.send(json.dumps({"type": "step", "data": {"code": "x", "tests": 0.5, "style": 1.0}}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert set(reply["data"]) == {"observation", "reward", "done", "metadata"}  # as openenv 0.10
    assert reply["data"]["reward"] == pytest.approx(0.6)
    assert reply["data"]["metadata"]["rubric"]["total"] == pytest.approx(0.6)


def test_http_step_is_scored_too(code_server):
    reply = httpx.post(code_server.start() + "/step", json={"action": {"code": "x", "tests": 0.25, "style": 0.0}})
    assert reply.status_code == 200 and reply.json()["reward"] == pytest.approx(0.2)


def test_trajectory_credit_reaches_the_gym_user_at_the_end_of_each_episode(game_server, make_gym):
    env = make_gym(game_server)
    for moves, outcome in ((["e4", "Nf3", "Qh5"], "mate"), (["d4"], "draw")):
        env.reset()
        for move in moves:
            _, reward, terminated, _, info = env.step(move)
            assert (reward, terminated, info) == (0.0, False, {"rubric": {"total": 0.0}})
        _, reward, terminated, _, info = env.step(outcome)
        final = {"mate": 1.0, "draw": 0.5}[outcome]
        steps = len(moves) + 1  # the rubric was reset with the episode: only this episode's steps
        assert terminated and reward == final
        assert info["rubric_step_rewards"] == {"total": [final * 0.5 ** (steps - 1 - t) for t in range(steps)]}


async def test_trajectory_credit_travels_in_the_extended_envelope(game_server):
    async with websockets.connect(game_server.start().replace("http", "ws") + "/ws",
                                  subprotocols=[SUBPROTOCOL]) as ws:
        for move in ("e4", "resign"):
            await ws.send(json.dumps({"type": "step", "data": {"move": move}}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert reply["data"]["done"] is True
    assert reply["data"]["info"] == {"rubric": {"total": 0.0}, "rubric_step_rewards": {"total": [0.0, 0.0]}}


def test_a_ported_environment_applying_its_rubric_itself_is_not_scored_twice(serve):
    env = gym.make("openenv/remote-v0", base_url=serve("tests.support.apps:ported").start())
    try:
        for _ in range(2):
            env.reset()
            rewards = [env.step(move)[1] for move in ("e4", "e5", "Nf3")]
            assert rewards == [10.0, 20.0, 30.0]  # the env's own reward (10 x calls): one call a step
            assert env.step("mate")[4]["rubric"] == {"total": 4.0, "rubric_0": 4.0}
    finally:
        env.close()


@pytest.mark.parametrize(("action", "path", "why"), [
    ({"mode": "raise"}, "rubric_0", "RuntimeError: flaky rubric failed"),
    ({"mode": "nan"}, "rubric_0", "InvalidScoreError: SyncFlaky.forward returned nan; return a finite float"),
    ({"mode": "none"}, "rubric_0", "InvalidScoreError: SyncFlaky.forward returned None"),
    ({"target": "async", "mode": "raise"}, "rubric_1", "RuntimeError: async flaky rubric failed"),
    ({"target": "async", "mode": "none"}, "rubric_1", "InvalidScoreError: AsyncFlaky.forward returned None"),
    ({"target": "async", "mode": "hang"}, "rubric_1", "did not finish within 0.5s"),
], ids=["raises", "nan", "non-number", "async-raises", "async-non-number", "async-hangs"])
def test_a_failing_rubric_costs_the_reward_not_the_step(flaky_server, make_gym, action, path, why):
    env = make_gym(flaky_server)
    env.reset()
    started = time.monotonic()
    obs, reward, terminated, truncated, info = env.step(action)
    assert time.monotonic() - started < 5
    assert reward == -1.0  # FlakyEnvironment.RUBRIC_FALLBACK
    assert obs["echoed_message"].endswith(action["mode"])
    assert list(info["rubric_errors"]) == [path] and info["rubric_errors"][path].startswith(why)
    assert info["rubric"]["total"] == -1.0
    assert f"{path}: {why}" in flaky_server.log_tail(200)  # the server logged it
    _, reward, *_, info = env.step({})  # the session goes on, and the next step is scored again
    assert reward == pytest.approx(0.375) and "rubric_errors" not in info


class Shout(Rubric):
    def forward(self, action, observation):
        return 1.0 if action.message.isupper() else 0.0


def test_echo_takes_any_rubric_and_keeps_its_info():
    client = InProcessProvider(lambda: EchoEnvironment(rubric=Shout()), EchoAction, EchoObservation).connect()
    client.reset()
    assert [(r.reward, r.info) for r in (client.step({"message": "HEY"}), client.step({"message": "hey"}))] == [
        (1.0, {"step": 1}), (0.0, {"step": 2})]
    client.close()


def test_an_async_rubric_in_process_runs_on_the_providers_loop():
    with_judge = InProcessProvider(apps.FlakyEnvironment, apps.FlakyAction, apps.EchoObservation).connect()
    try:
        with_judge.reset()
        assert with_judge.step({}).reward == pytest.approx(0.375)
        assert with_judge.step({"target": "async", "mode": "hang"}).info["rubric_errors"] == {
            "rubric_1": "did not finish within 0.5s"}
    finally:
        with_judge.close()

"""Upstream's task API on our servers (the coding environment's ten tasks), from Gym, and our
task client on an upstream ``openenv`` 0.10 server."""

from __future__ import annotations

import gymnasium as gym
import httpx
import pytest

import openenv_gym  # noqa: F401  (registers the ids)
from openenv_gym.client.tasks import TaskClient
from openenv_gym.envs.coding import CodingEnvironment
from openenv_gym.errors import InvalidRequestError, ProtocolError
from tests.support.servers import serving
from tests.support.upstream import peer

CODING_APP = "openenv_gym.envs.coding.app:app"


def expected_tasks() -> list[dict]:
    env = CodingEnvironment()
    try:
        return env.list_tasks("train")
    finally:
        env.close()


@pytest.fixture(scope="module")
def coding_url():
    with serving(CODING_APP) as server:
        yield server.base_url


def test_the_routes_answer_with_upstreams_shapes(coding_url):
    tasks = expected_tasks()
    assert len(tasks) == 10
    assert httpx.get(coding_url + "/list_environments").json() == ["coding"]
    assert httpx.get(coding_url + "/coding/splits").json() == [{"name": "train", "type": "train"}]
    assert httpx.post(coding_url + "/coding/tasks", json={"split": "train"}).json() == {
        "tasks": tasks, "env_name": "coding"}
    assert httpx.post(coding_url + "/Coding/num_tasks", json={"split": "train"}).json() == {"num_tasks": 10}
    assert httpx.post(coding_url + "/coding/task", json={"split": "train", "index": 3}).json() == {
        "task": tasks[3]}
    assert httpx.post(coding_url + "/coding/task_range",
                      json={"split": "train", "start": 2, "stop": 4}).json() == {"tasks": tasks[2:4]}


def test_tasks_never_show_the_expected_values(coding_url):
    task = httpx.post(coding_url + "/coding/task", json={"split": "train", "index": 0}).json()["task"]
    assert set(task) == {"name", "prompt", "function", "num_tests"}


@pytest.mark.parametrize(("path", "body", "status", "detail"), [
    ("/coding/task", {"split": "train", "index": 10}, 400, "Invalid task index"),
    ("/coding/task", {"split": "train", "index": -1}, 400, "Invalid task index"),
    ("/coding/tasks", {"split": "trian"}, 400, "unknown split 'trian'. Did you mean 'train'? Splits: ['train']"),
    ("/chess/tasks", {"split": "train"}, 404, "unknown environment 'chess'"),
])
def test_bad_requests_are_answered_as_upstream(coding_url, path, body, status, detail):
    response = httpx.post(coding_url + path, json=body)
    assert (response.status_code, response.json()["detail"]) == (status, detail)


def test_a_request_without_a_split_is_a_422_naming_it(coding_url):
    response = httpx.post(coding_url + "/coding/tasks", json={})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "split"]


def test_an_environment_without_tasks_answers_501():
    with serving("openenv_gym.envs.echo.app:app") as server:
        response = httpx.get(server.base_url + "/echo/splits")
        assert response.status_code == 501
        assert response.json()["detail"] == "list_splits is not supported for this environment"
        with pytest.raises(ProtocolError, match="no task API"):
            TaskClient(server.base_url).tasks()


def test_a_production_server_keeps_the_task_api():
    with serving(CODING_APP, environment={"OPENENV_MODE": "production"}) as server:
        assert httpx.post(server.base_url + "/coding/num_tasks", json={"split": "train"}).json() == {"num_tasks": 10}
        assert httpx.post(server.base_url + "/step", json={"action": {"code": "1"}}).status_code == 404


@pytest.mark.parametrize("provider", ["process", "inprocess"])
def test_gym_lists_the_tasks_and_resets_into_one(provider):
    tasks = expected_tasks()
    env = gym.make("openenv/coding-v0", provider=provider)
    try:
        assert env.unwrapped.list_tasks() == tasks == env.unwrapped.list_tasks("train")
        obs, _ = env.reset(options={"task_index": 4})
        assert (obs["task"], obs["prompt"]) == (tasks[4]["name"], tasks[4]["prompt"])
        assert obs["tests_total"] == tasks[4]["num_tests"]
        obs, _ = env.reset(options={"split": "train", "index": 1})  # upstream's reset arguments
        assert obs["task"] == tasks[1]["name"]
    finally:
        env.close()


def test_our_task_client_reads_an_upstream_server():
    with peer("0.10.0").serve("tests.interop.upstream_tasks:app") as server:
        client = TaskClient(server.base_url)
        assert client.environments() == ["arithmetic"]
        assert [split["name"] for split in client.splits()] == ["train", "test"]
        assert client.tasks() == [{"question": "2+2", "answer": 4}, {"question": "3*3", "answer": 9}]
        assert client.num_tasks("test") == 1 and client.task(0, "test") == {"question": "10-7", "answer": 3}
        assert client.task_range("train", 1) == [{"question": "3*3", "answer": 9}]
        with pytest.raises(InvalidRequestError, match="Invalid task index"):
            client.task(5)
        env = gym.make("openenv/remote-v0", base_url=server.base_url)
        try:
            assert env.unwrapped.list_tasks("test") == [{"question": "10-7", "answer": 3}]
            obs, _ = env.reset(options={"split": "test", "index": 0})
            assert obs["question"] == "10-7"
        finally:
            env.close()

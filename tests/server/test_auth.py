"""Bearer-token access control on a real server: HTTP routes, the /ws upgrade, our clients."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import gymnasium as gym
import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

import openenv_gym  # noqa: F401  (registers the openenv/* ids)
from openenv_gym.client import EnvClient, SyncEnvClient
from openenv_gym.errors import AuthenticationError, TransportError
from openenv_gym.providers import ProcessProvider
from openenv_gym.wrappers.env import GymEnv
from openenv_gym.wrappers.vector import GymVectorEnv
from tests.support import servers

TOKEN = "tok-7f3c9a1e-right"
WRONG = "tok-0b5d2e88-wrong"
ECHO = "openenv_gym.envs.echo.app:app"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(autouse=True)
def no_token_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENENV_TOKEN", raising=False)


@pytest.fixture(scope="module")
def guarded() -> Iterator[ProcessProvider]:
    """The echo server requiring TOKEN, logging at debug level (to look for leaks)."""
    with ProcessProvider(ECHO, token=TOKEN, log_level="debug") as provider:
        provider.start()
        yield provider


def active_sessions(provider: ProcessProvider) -> int:
    return servers.active_sessions(provider, headers=BEARER)


def test_a_server_without_a_token_is_open(echo_server):
    url = echo_server.start()
    assert httpx.get(url + "/schema").status_code == 200
    with SyncEnvClient(url, token="") as client:
        assert client.step({"message": "hi"}).observation["echoed_message"] == "hi"


def test_health_needs_no_token(guarded):
    assert httpx.get(guarded.start() + "/health").json() == {"status": "healthy"}


@pytest.mark.parametrize(("method", "path"), [("GET", "/schema"), ("GET", "/metadata"),
                                              ("GET", "/capabilities"), ("POST", "/reset"),
                                              ("GET", "/state"), ("GET", "/openapi.json"),
                                              ("POST", "/mcp")])
def test_every_other_route_needs_the_token(guarded, method, path):
    url = guarded.start() + path
    for headers in ({}, {"Authorization": f"Bearer {WRONG}"}, {"Authorization": TOKEN}):
        response = httpx.request(method, url, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert TOKEN not in response.text and WRONG not in response.text
    assert httpx.request(method, url, headers=BEARER).status_code == 200


@pytest.mark.parametrize("headers", [None, {"Authorization": f"Bearer {WRONG}"}], ids=["none", "wrong"])
async def test_the_websocket_upgrade_is_refused_with_403(guarded, headers):
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(guarded.start().replace("http", "ws") + "/ws",
                                 additional_headers=headers)
    assert refused.value.response.status_code == 403
    assert active_sessions(guarded) == 0


@pytest.mark.parametrize("token", [None, WRONG], ids=["none", "wrong"])
async def test_clients_raise_authentication_error_without_the_token(guarded, token):
    url = guarded.start()
    errors = []
    with pytest.raises(AuthenticationError) as sync_error:
        SyncEnvClient(url, token=token).connect()
    errors.append(sync_error.value)
    with pytest.raises(AuthenticationError) as async_error:
        await EnvClient(url, token=token).connect()
    errors.append(async_error.value)
    with pytest.raises(AuthenticationError) as schema_error:
        SyncEnvClient(url, token=token).schema()
    errors.append(schema_error.value)
    for error in errors:
        assert isinstance(error, TransportError)
        assert "refused" in str(error) and ("token" in str(error))
        assert TOKEN not in str(error) and WRONG not in str(error)


async def test_clients_with_the_token_work(guarded, monkeypatch):
    url = guarded.start()
    with SyncEnvClient(url, token=TOKEN) as client:
        assert client.step({"message": "sync"}).observation["echoed_message"] == "sync"
        assert "action" in client.schema()
    async with EnvClient(url, token=TOKEN) as client:
        assert (await client.step({"message": "async"})).observation["echoed_message"] == "async"
        assert "action" in await client.schema()
    monkeypatch.setenv("OPENENV_TOKEN", TOKEN)  # the default for every client
    async with EnvClient(url) as client:
        await client.reset()
        with client.sync() as blocking:
            assert blocking.reset().done is False
    await asyncio.sleep(0.1)
    assert active_sessions(guarded) == 0


def test_gym_env_and_vector_env_pass_the_token(guarded):
    url = guarded.start()
    env = gym.make("openenv/remote-v0", base_url=url, token=TOKEN)
    env.reset(seed=0)
    assert env.step("hi")[0]["echoed_message"] == "hi"
    env.close()
    envs = GymVectorEnv(base_url=url, num_envs=3, token=TOKEN)
    envs.reset(seed=0)
    assert envs.step(["a", "b", "c"])[0]["echoed_message"] == ("a", "b", "c")
    envs.close()
    with pytest.raises(AuthenticationError):
        GymEnv(base_url=url)


def test_started_servers_require_the_token_they_were_given():
    env = GymEnv("echo", token=TOKEN)
    try:
        url = env._provider.start()  # type: ignore[attr-defined]
        assert httpx.get(url + "/schema").status_code == 401
        env.reset()
        assert env.step("hi")[0]["echoed_message"] == "hi"
    finally:
        env.close()
    envs = gym.make_vec("openenv/echo-v0", num_envs=2, token=TOKEN, num_servers=1)
    envs.reset(seed=0)
    assert envs.step(["x", "y"])[0]["echoed_message"] == ("x", "y")
    envs.close()


def test_no_token_in_the_server_log(guarded):
    httpx.get(guarded.start() + "/schema", headers={"Authorization": f"Bearer {WRONG}"})
    with pytest.raises(AuthenticationError):
        SyncEnvClient(guarded.start(), token=WRONG).connect()
    log = guarded.log_tail(10_000)
    assert "/schema" in log  # the log is there (access log at debug level)
    assert TOKEN not in log and WRONG not in log

"""Session resume: a dropped network connection comes back to the same episode, on real sockets.

The client talks to the server through a TCP proxy (:mod:`tests.support.proxy`) whose connections
the test resets: both ends see a dropped network, not a WebSocket close.
"""

from __future__ import annotations

import threading

import pytest
import websockets

from openenv_gym import EnvClient, SessionError, SyncEnvClient, TransportError
from openenv_gym.protocol import RESUME_HEADER
from tests.support.proxy import proxy_to
from tests.support.servers import active_sessions, settled_sessions

GRACE = 3.0  # tests.support.apps:resilient


@pytest.fixture(scope="module")
def resilient():
    from tests.support.servers import serving

    with serving("tests.support.apps:resilient") as provider:
        yield provider


def settled(server, expected: int, within: float = GRACE + 5) -> int:
    return settled_sessions(server, expected, within)


def test_a_dropped_connection_resumes_the_same_episode(resilient):
    before = settled(resilient, 0)
    with proxy_to(resilient.base_url) as proxy, SyncEnvClient(proxy.url, encoding="json") as client:
        client.reset(seed=1)
        assert client.step({"message": "one"}).info == {"steps_run": 1}
        proxy.cut()
        result = client.step({"message": "two"})  # resumes, then sends the step again
        assert (result.observation["echoed_message"], result.info) == ("two", {"steps_run": 2})
        assert client.state()["step_count"] == 2
        assert active_sessions(resilient) == before + 1  # the same session, not a second one
    assert settled(resilient, before) == before


def test_a_step_cut_off_in_flight_runs_once(resilient):
    with proxy_to(resilient.base_url) as proxy, SyncEnvClient(proxy.url) as client:
        client.reset()
        threading.Timer(0.3, proxy.cut).start()  # while the server sleeps in the step
        result = client.step({"message": "slow", "sleep": 0.8})
        assert result.info == {"steps_run": 1}  # the resent request got the answer, not a rerun
        assert client.state()["step_count"] == 1


async def test_the_async_client_resumes_too(resilient):
    with proxy_to(resilient.base_url) as proxy:
        async with EnvClient(proxy.url) as client:
            await client.reset()
            await client.step({"message": "a"})
            proxy.cut()
            assert (await client.step({"message": "b"})).info == {"steps_run": 2}


def test_after_the_grace_period_the_session_is_gone_and_its_slot_free(resilient):
    before = settled(resilient, 0)
    with proxy_to(resilient.base_url) as proxy:
        client = SyncEnvClient(proxy.url, resume_timeout=1.0).connect()
        client.reset()
        proxy.cut()
        assert settled(resilient, before + 1, within=1) == before + 1  # parked, slot kept
        assert settled(resilient, before) == before  # expired after the grace period
        with pytest.raises(SessionError, match="token is unknown or it expired"):
            client.step({"message": "too late"})
        client.close()


def test_a_wrong_token_resumes_nothing_and_opens_nothing(resilient):
    before = settled(resilient, 0)
    url = resilient.base_url.replace("http", "ws") + "/ws"

    async def attempt():
        async with websockets.connect(url, subprotocols=["openenv-gym.v1"],
                                      additional_headers={RESUME_HEADER: "guess"}) as ws:
            return await ws.recv()

    import asyncio

    reply = asyncio.run(attempt())
    assert '"SESSION_ERROR"' in reply and "cannot resume" in reply
    assert active_sessions(resilient) == before


def test_a_client_that_closes_leaves_nothing_to_resume(resilient):
    before = settled(resilient, 0)
    with SyncEnvClient(resilient.base_url) as client:
        client.reset()
    assert settled(resilient, before, within=1) == before  # freed at once, not after the grace


def test_resume_off_gives_the_clear_lost_connection_error(resilient):
    with proxy_to(resilient.base_url) as proxy, SyncEnvClient(proxy.url, resume_timeout=0) as client:
        client.reset()
        proxy.cut()
        with pytest.raises(TransportError, match="the episode is lost"):
            client.step({"message": "x"})

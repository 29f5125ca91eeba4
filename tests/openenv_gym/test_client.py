"""EnvClient against real servers: extensions, timeouts that never desynchronise, dead servers."""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest

from openenv_gym import (
    CapacityReachedError,
    EnvClient,
    ExecutionError,
    InvalidRequestError,
    RequestTimeoutError,
    TransportError,
)


def test_our_server_speaks_the_extensions(echo_server):
    with EnvClient(echo_server.start()).sync() as client:
        assert client.extended
        assert client.reset().observation["echoed_message"] == "Echo environment ready!"
        result = client.step({"message": "héllo ✓"})
        assert (result.observation["echoed_message"], result.info, result.truncated) == ("héllo ✓", {"step": 1}, False)
        assert client.state()["step_count"] == 1
        assert client.render() == "héllo ✓"


def test_baseline_only_client_gets_upstreams_envelope(echo_server):
    with EnvClient(echo_server.start(), extensions=False).sync() as client:
        assert not client.extended
        raw = client.request({"type": "step", "data": {"message": "hi"}})["data"]
        # openenv 0.10's envelope: metadata inside the observation and beside it, no truncated
        assert raw["metadata"] == raw["observation"]["metadata"] == {"step": 1} and "truncated" not in raw
        result = client.step({"message": "hi"})
        assert "metadata" not in result.observation  # lifted out of the observation, into info
        assert result.info == {"step": 2} and result.reward == pytest.approx(0.2)
        assert client.render() is None


async def test_async_client_and_truncated_flag(sleepy_server):
    async with EnvClient(sleepy_server.start()) as client:
        assert (await client.reset(seed=7)).observation["echoed_message"] == "seed=7"
        cut = await client.step({"message": "cut"})
        done = await client.step({"message": "done"})
        assert (cut.truncated, cut.terminated, done.terminated) == (True, False, True)


def test_a_late_reply_is_never_taken_for_the_next_one(sleepy_server):
    with EnvClient(sleepy_server.start(), timeout=0.3).sync() as client:
        with pytest.raises(RequestTimeoutError, match="no reply to 'step'"):
            client.step({"message": "slow", "sleep": 1.0})
        client.timeout = 5
        assert client.step({"message": "next"}).observation["echoed_message"] == "next"


def test_without_request_ids_a_timeout_drops_the_connection(sleepy_server):
    client = EnvClient(sleepy_server.start(), timeout=0.3, extensions=False).sync().connect()
    with pytest.raises(RequestTimeoutError):
        client.step({"message": "slow", "sleep": 1.0})
    with pytest.raises(TransportError, match="connect"):
        client.step({"message": "next"})
    client.close()


def test_server_errors_are_typed_and_the_session_survives(sleepy_server):
    with EnvClient(sleepy_server.start()).sync() as client:
        with pytest.raises(ExecutionError, match="boom"):
            client.step({"fail": True})
        with pytest.raises(InvalidRequestError, match="sleep: Input should be a valid number") as info:
            client.step({"sleep": "long"})
        assert info.value.details["errors"][0]["loc"] == ["sleep"]
        assert client.step({"message": "ok"}).observation["echoed_message"] == "ok"


def test_capacity_reached_is_raised_on_connect_use(serve):
    server = serve("tests.support.apps:single")
    with EnvClient(server.start()).sync() as first:
        first.reset()
        second = EnvClient(server.start()).sync().connect()
        with pytest.raises(CapacityReachedError, match="1/1"):
            second.reset()
        second.close()


def test_a_killed_server_is_a_clear_error_not_a_hang(serve):
    server = serve("tests.support.apps:sleepy")
    with EnvClient(server.start(), timeout=30).sync() as client:
        client.reset()
        os.kill(server.pid, signal.SIGKILL)
        started = time.monotonic()
        with pytest.raises(TransportError, match=server.base_url.split("//")[1]):
            client.step({"message": "anyone?", "sleep": 0})
        assert time.monotonic() - started < 5


def test_nothing_listening_is_a_transport_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransportError, match=f"cannot open a session at ws://127.0.0.1:{port}/ws"):
        EnvClient(f"http://127.0.0.1:{port}").sync().connect()

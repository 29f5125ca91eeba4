"""Per-client limits on a real server: sessions per client, message rate, frame size; binding."""

from __future__ import annotations

import asyncio
import glob
import json
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from openenv_gym.client import SyncEnvClient
from openenv_gym.errors import CapacityReachedError, ProviderError, RateLimitedError, TooManySessionsError
from openenv_gym.protocol import SUBPROTOCOL
from openenv_gym.providers import ProcessProvider
from openenv_gym.server.serve import _bind
from tests.support.servers import REPO_ROOT, active_sessions, served_by, serving, ws_url

ECHO = "openenv_gym.envs.echo.app:app"
STEP = json.dumps({"type": "step", "data": {"message": "hi"}})


@pytest.fixture(scope="module")
def limited() -> Iterator[ProcessProvider]:
    """Echo with 3 sessions per client, 5 messages/s in bursts of 5 and 2 KiB frames, all set by
    environment variables, as for ``python -m openenv_gym.envs.echo``."""
    with serving(ECHO, {"OPENENV_MAX_SESSIONS_PER_CLIENT": "3", "OPENENV_RATE_LIMIT": "5",
                        "OPENENV_RATE_BURST": "5", "OPENENV_MAX_MESSAGE_BYTES": "2048"}) as provider:
        yield provider



def answer(ws: ClientConnection, frame: str) -> dict:
    ws.send(frame)
    return json.loads(ws.recv(timeout=10))


def test_sessions_per_client_are_capped_with_too_many_sessions(limited):
    with connect(ws_url(limited)) as one, connect(ws_url(limited)) as two, \
            connect(ws_url(limited), subprotocols=[SUBPROTOCOL]) as three:
        assert answer(one, STEP)["type"] == "observation"
        with connect(ws_url(limited)) as fourth:  # refused as upstream refuses at capacity
            refusal = json.loads(fourth.recv(timeout=10))["data"]
            with pytest.raises(ConnectionClosed):
                fourth.recv(timeout=10)
        assert refusal["code"] == "TOO_MANY_SESSIONS"
        assert refusal["client_sessions"] == 3 and refusal["max_sessions_per_client"] == 3
        assert "OPENENV_MAX_SESSIONS_PER_CLIENT" in refusal["message"]
        more = answer(three, json.dumps({"type": "open", "data": {"count": 1}}))["data"]
        assert more["code"] == "TOO_MANY_SESSIONS"  # the connection goes on
        assert answer(three, STEP)["data"]["observation"]["echoed_message"] == "hi"
        with SyncEnvClient(limited.start()) as client, pytest.raises(TooManySessionsError) as raised:
            client.reset()  # the upgrade succeeds; the refusal is the first reply, as at capacity
        assert isinstance(raised.value, CapacityReachedError)
        assert answer(two, STEP)["type"] == "observation"
    with SyncEnvClient(limited.start()) as client:  # the slots came back
        assert client.step({"message": "again"}).observation["echoed_message"] == "again"


def test_the_default_limit_leaves_this_machine_to_the_capacity(echo_server):
    with connect(ws_url(echo_server), subprotocols=[SUBPROTOCOL]) as ws:  # 1 + 300 > 256 per client
        reply = answer(ws, json.dumps({"type": "open", "data": {"count": 300}}))
        assert reply["type"] == "opened" and len(reply["data"]["sessions"]) == 300


def test_over_the_message_rate_a_message_gets_rate_limited_and_the_connection_goes_on(limited):
    with connect(ws_url(limited), subprotocols=[SUBPROTOCOL]) as ws:
        replies = [answer(ws, json.dumps({"type": "state", "id": i})) for i in range(6)]
        assert [r["type"] for r in replies] == ["state"] * 5 + ["error"]
        refusal = replies[-1]["data"]
        assert refusal["code"] == "RATE_LIMITED" and "5 messages/s" in refusal["message"]
        assert 0 < refusal["retry_after"] <= 0.2 + 0.05
        time.sleep(refusal["retry_after"])
        assert answer(ws, STEP)["data"]["observation"]["echoed_message"] == "hi"


def test_our_client_raises_rate_limited_error(limited):
    with SyncEnvClient(limited.start()) as client:
        with pytest.raises(RateLimitedError) as raised:
            for _ in range(7):
                client.step({"message": "fast"})
        assert raised.value.details["retry_after"] > 0


def test_a_client_that_keeps_flooding_is_disconnected_with_1008(limited):
    before = active_sessions(limited)
    with connect(ws_url(limited)) as ws:
        for _ in range(30):  # 5 answered, 5 refused, then the connection is closed
            ws.send(STEP)
        kinds = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                kinds.append(json.loads(ws.recv(timeout=10))["type"])
        assert kinds == ["observation"] * 5 + ["error"] * 5
        assert closed.value.rcvd.code == 1008 and "rate limit" in closed.value.rcvd.reason
    assert active_sessions(limited) == before  # its session was closed, not kept for a resume


def test_frame_size_limit_from_the_environment_and_uvicorns_agree(limited):
    with connect(ws_url(limited), max_size=None) as ws:
        too_big = json.dumps({"type": "step", "data": {"message": "x" * 3000}})
        assert answer(ws, too_big)["data"]["code"] == "MESSAGE_TOO_LARGE"
        ws.send(json.dumps({"type": "step", "data": {"message": "x" * 9000}}))  # over 4 x 2048
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd.code == 1009


MAINS = sorted(Path(path).parent.name for path in glob.glob(str(REPO_ROOT / "envs" / "*" / "__main__.py")))


@pytest.mark.parametrize("command", [[f"openenv_gym.envs.{name}"] for name in MAINS]
                         + [["openenv_gym.server", ECHO]], ids=[*MAINS, "server"])
def test_servers_listen_on_loopback_only_unless_told(command):
    with served_by([sys.executable, "-m", *command, "--port", "{port}"], within=60) as url:
        port = int(url.rsplit(":", 1)[1])
        assert httpx.get(url + "/health").status_code == 200
        with pytest.raises(ConnectionRefusedError):  # 127.0.0.2 is this machine too: refused
            socket.create_connection(("127.0.0.2", port), timeout=5)  # unless bound to 0.0.0.0


async def test_accepted_sockets_send_small_replies_without_delay():
    """TCP_NODELAY on the server's connections: pipelined replies are not held back by Nagle."""
    sock = _bind("127.0.0.1", 0)
    accepted: asyncio.Future[socket.socket] = asyncio.get_running_loop().create_future()

    class Accept(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.set_result(transport.get_extra_info("socket"))

    server = await asyncio.get_running_loop().create_server(Accept, sock=sock)
    _, writer = await asyncio.open_connection(*sock.getsockname())
    try:
        assert (await asyncio.wait_for(accepted, 10)).getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        writer.close()
        server.close()


def test_limits_set_by_create_app_keywords(serve):
    server = serve("tests.support.apps:one_per_client")  # 1 session per client, 1 message/s, bursts of 2
    with connect(ws_url(server)) as first:
        replies = [answer(first, STEP)["data"] for _ in range(3)]
        assert "observation" in replies[1] and replies[2]["code"] == "RATE_LIMITED"
        with connect(ws_url(server)) as second:
            assert json.loads(second.recv(timeout=10))["data"]["code"] == "TOO_MANY_SESSIONS"


def test_a_malformed_limit_variable_stops_the_server_with_a_clear_message():
    with pytest.raises(ProviderError, match="OPENENV_RATE_LIMIT='fast' is not a valid float"):
        with serving(ECHO, {"OPENENV_RATE_LIMIT": "fast"}):
            pass

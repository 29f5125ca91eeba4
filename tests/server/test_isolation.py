"""Tenant isolation on a real server: slow sessions never hold up another session's step.

Each test runs the attack the way a tenant would (sessions whose steps sleep, a slow one-shot
HTTP step, a slow MCP tool call) and asserts what another tenant notices: its one-line step,
and ``GET /health``, still answer at once. The bound (0.5 s) is generous for a noisy shared
machine; without the fix each of them waited for the sleeping calls (2 s and more).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import msgpack
import pytest
import websockets

from openenv_gym.client import SyncEnvClient
from openenv_gym.providers import ProcessProvider
from tests.support.proxy import proxy_to
from tests.support.servers import active_sessions, served_by, serving, settled_sessions, ws_url

ECHO = "openenv_gym.envs.echo.app:app"
SLEEP = 2.0
PROMPT = 0.5
"""Seconds within which another tenant's one-line step (or /health) must answer."""


@pytest.fixture(scope="module")
def crowded() -> Iterator[ProcessProvider]:
    with serving("tests.support.apps:crowded") as provider:
        yield provider



async def timed(call) -> tuple[float, object]:
    started = time.perf_counter()
    result = await asyncio.wait_for(call, 30)
    return time.perf_counter() - started, result


async def step(ws, **action) -> dict:
    message = {"type": "step", "data": action}
    binary = ws.subprotocol == "openenv-gym.v1.msgpack"
    await ws.send(msgpack.packb(message) if binary else json.dumps(message))
    reply = await ws.recv()
    return msgpack.unpackb(reply) if binary else json.loads(reply)


async def one_line_step(ws) -> float:
    """Seconds a quick step of an open session takes."""
    elapsed, reply = await timed(step(ws, message="quick"))
    assert reply["data"]["observation"]["echoed_message"] == "quick"
    return elapsed


async def health(client: httpx.AsyncClient) -> float:
    elapsed, response = await timed(client.get("/health"))
    assert response.status_code == 200
    return elapsed


async def test_sleeping_sessions_do_not_delay_another_sessions_step(crowded):
    sleepers = [await websockets.connect(ws_url(crowded)) for _ in range(16)]  # a fixed pool had 6
    try:
        async with websockets.connect(ws_url(crowded)) as other:
            pending = [asyncio.ensure_future(step(ws, sleep=SLEEP, message="slept")) for ws in sleepers]
            await asyncio.sleep(0.3)  # every sleeper's step is running
            assert await one_line_step(other) < PROMPT
        assert all(r["data"]["observation"]["echoed_message"] == "slept" for r in await asyncio.gather(*pending))
    finally:
        await asyncio.gather(*(ws.close() for ws in sleepers))


async def test_a_slow_one_shot_http_step_stalls_nobody(crowded):
    async with httpx.AsyncClient(base_url=crowded.start(), timeout=30) as client, \
            websockets.connect(ws_url(crowded)) as other:
        slow = asyncio.ensure_future(client.post("/step", json={"action": {"sleep": SLEEP, "message": "x"}}))
        await asyncio.sleep(0.3)
        assert await health(client) < PROMPT
        assert await one_line_step(other) < PROMPT
        assert (await slow).json()["observation"]["echoed_message"] == "x"


@pytest.mark.parametrize("shared", [False, True], ids=["temporary-env", "shared-session"])
async def test_a_slow_mcp_tool_call_over_http_stalls_nobody(crowded, shared):
    async with httpx.AsyncClient(base_url=crowded.start(), timeout=30) as client, \
            websockets.connect(ws_url(crowded)) as other:
        params: dict = {"name": "nap", "arguments": {"seconds": SLEEP}}
        if shared:
            created = await client.post("/mcp", json={"jsonrpc": "2.0", "method": "openenv/session/create", "id": 1})
            params["session_id"] = created.json()["result"]["session_id"]
        slow = asyncio.ensure_future(client.post("/mcp", json={"jsonrpc": "2.0", "method": "tools/call",
                                                               "params": params, "id": 2}))
        await asyncio.sleep(0.3)
        assert await health(client) < PROMPT
        assert await one_line_step(other) < PROMPT
        assert (await slow).json()["result"]["data"] == "rested"
        if shared:
            await client.post("/mcp", json={"jsonrpc": "2.0", "method": "openenv/session/close",
                                            "params": {"session_id": params["session_id"]}, "id": 3})


async def test_a_slow_tool_call_over_websocket_stalls_nobody(crowded):
    call = {"type": "mcp", "data": {"jsonrpc": "2.0", "method": "tools/call", "id": 1,
                                    "params": {"name": "nap", "arguments": {"seconds": SLEEP}}}}
    async with websockets.connect(ws_url(crowded)) as ws, websockets.connect(ws_url(crowded)) as other, \
            httpx.AsyncClient(base_url=crowded.start()) as client:
        await ws.send(json.dumps(call))
        await asyncio.sleep(0.3)
        assert await health(client) < PROMPT
        assert await one_line_step(other) < PROMPT
        assert json.loads(await asyncio.wait_for(ws.recv(), 30))["data"]["result"]["data"] == "rested"


# -- batch amplification -------------------------------------------------------------------------

def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MB."""
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


AMPLIFIERS = {
    "msgpack-2MB-of-empty-maps": ("openenv-gym.v1.msgpack",
                                  msgpack.packb({"type": "batch", "data": [{}] * 2_000_000})),
    "json-3MB-of-empty-objects": ("openenv-gym.v1", json.dumps({"type": "batch", "data": [{}] * 10**6})),
}


@pytest.mark.parametrize(("protocol", "frame"), AMPLIFIERS.values(), ids=AMPLIFIERS)
async def test_a_huge_batch_frame_gets_a_clear_error_at_once_and_memory_stays_bounded(protocol, frame):
    with serving(ECHO) as server:  # fresh: its peak memory is this test's
        async with websockets.connect(ws_url(server), subprotocols=[protocol], max_size=None) as ws:
            before = peak_rss_mb(server.pid)
            await ws.send(frame)
            elapsed, reply = await timed(ws.recv())
            assert elapsed < 5
            assert len(reply) < 1024  # it was 100-178 MB: an error per item
            decoded = msgpack.unpackb(reply) if isinstance(reply, bytes) else json.loads(reply)
            assert decoded["data"]["code"] == "MESSAGE_TOO_LARGE"
            assert "objects and arrays" in decoded["data"]["message"]
            assert peak_rss_mb(server.pid) - before < 64  # it grew by 0.8-1.7 GB
            assert (await step(ws, message="still here"))["data"]["observation"]["echoed_message"] == "still here"


# -- sessions that never end ---------------------------------------------------------------------

def rpc(client: httpx.Client, method: str, **params) -> dict:
    return client.post("/mcp", json={"jsonrpc": "2.0", "method": method, "params": params, "id": 1}).json()


def settles(provider: ProcessProvider, expected: int, within: float = 10.0) -> bool:
    return settled_sessions(provider, expected, within) == expected


def test_every_server_has_an_idle_limit_by_default(monkeypatch):
    from openenv_gym.envs.echo import EchoAction, EchoEnvironment, EchoObservation
    from openenv_gym.server import create_app

    monkeypatch.delenv("OPENENV_SESSION_TIMEOUT", raising=False)
    assert create_app(EchoEnvironment, EchoAction, EchoObservation).state.sessions.session_timeout == 900
    monkeypatch.setenv("OPENENV_SESSION_TIMEOUT", "0")  # the way to turn it off
    assert create_app(EchoEnvironment, EchoAction, EchoObservation).state.sessions.session_timeout is None


def test_idle_http_mcp_sessions_are_reaped():
    with serving(ECHO, {"OPENENV_SESSION_TIMEOUT": "1"}) as server, \
            httpx.Client(base_url=server.start()) as client:
        made = [rpc(client, "openenv/session/create")["result"]["session_id"] for _ in range(3)]
        kept = made[0]
        for _ in range(6):  # a session in use stays
            assert rpc(client, "tools/call", name="echo_message", arguments={"message": "hi"},
                       session_id=kept)["result"]["data"] == "hi"
            time.sleep(0.4)
        assert active_sessions(server) == 1
        assert settles(server, 0)
        assert "Unknown session_id" in rpc(client, "tools/call", name="echo_message",
                                           arguments={"message": "hi"}, session_id=made[1])["error"]["message"]


def test_http_mcp_and_parked_sessions_count_toward_the_per_client_limit():
    with serving(ECHO, {"OPENENV_MAX_SESSIONS_PER_CLIENT": "2", "OPENENV_RESUME_GRACE": "30"}) as server, \
            httpx.Client(base_url=server.start()) as client:
        first = rpc(client, "openenv/session/create")["result"]["session_id"]
        rpc(client, "openenv/session/create")
        refused = rpc(client, "openenv/session/create")["error"]
        assert refused["code"] == -32000 and refused["data"]["max_sessions_per_client"] == 2
        assert "2 session(s)" in refused["message"]
        assert rpc(client, "openenv/session/close", session_id=first)["result"]["closed"] is True
        with proxy_to(server.start()) as proxy:  # a session parked for a resume still counts
            with SyncEnvClient(proxy.url) as env:
                env.reset()
                proxy.cut()
                assert settles(server, 2)  # parked, not closed
                assert "max_sessions_per_client" in rpc(client, "openenv/session/create")["error"]["data"]
                assert env.step({"message": "resumed"}).observation["echoed_message"] == "resumed"


def test_a_silent_peer_is_reclaimed():
    """A client behind a proxy that froze (it neither reads nor answers, the TCP connection stays
    up): its session is closed and its slot freed after the idle limit."""
    with serving(ECHO, {"OPENENV_SESSION_TIMEOUT": "1"}) as server, proxy_to(server.start()) as proxy, \
            SyncEnvClient(proxy.url) as env:
        env.reset()
        assert active_sessions(server) == 1
        proxy.freeze()
        assert settles(server, 0)
        with SyncEnvClient(server.start()) as other:  # the server is fine
            assert other.step({"message": "ok"}).observation["echoed_message"] == "ok"


def test_accepted_sockets_probe_a_vanished_peer_with_tcp_keepalive(echo_server):
    """A peer that vanished without a FIN (crashed host, cut network) stops answering keepalive
    probes; the kernel then drops the connection and the server closes its session."""
    port = urlsplit(echo_server.start()).port
    with SyncEnvClient(echo_server.start()) as env:
        env.reset()
        time.sleep(0.5)  # the reply is acknowledged: no retransmission timer hides the keepalive one
        sockets = subprocess.run(["ss", "-tnoH", "state", "established", f"( sport = :{port} )"],
                                 capture_output=True, text=True, check=True).stdout
    assert "timer:(keepalive" in sockets, sockets


# -- slowloris -----------------------------------------------------------------------------------

def trickle(url: str, count: int) -> list[socket.socket]:
    """``count`` connections that each send the first line of a WebSocket upgrade, and no more."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    opened = []
    for _ in range(count):
        with contextlib.suppress(OSError):
            sock = socket.create_connection((host, port), timeout=5)
            sock.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
            opened.append(sock)
    return opened


def test_a_slowloris_cannot_lock_new_clients_out_and_is_logged_once(tmp_path):
    """1,100 trickling upgrade handshakes against a server under ``ulimit -n 1024`` (they used to
    lock new clients out for 30 s+ and log 90,000 accept tracebacks)."""
    log = tmp_path / "server.log"
    command = ["bash", "-c", f"ulimit -n 1024 && exec {sys.executable} -m openenv_gym.server {ECHO} --port {{port}}"]
    with served_by(command, within=60, log=log) as url:
        slow = trickle(url, 1100)
        try:
            started = time.monotonic()
            while True:  # a new client gets in: the oldest handshakes were cut to make room
                with contextlib.suppress(OSError, httpx.HTTPError):
                    with SyncEnvClient(url, connect_timeout=2) as env:
                        assert env.step({"message": "in"}).observation["echoed_message"] == "in"
                        break
                assert time.monotonic() - started < 10, "new clients were locked out"
            for sock in slow:  # and keep trickling: no slow handshake outlives the 10 s deadline
                with contextlib.suppress(OSError):
                    sock.send(b"X")
        finally:
            for sock in slow:
                sock.close()
    lines = log.read_text().splitlines()
    assert len(lines) < 100, "\n".join(lines[:50])
    assert not any("Traceback" in line for line in lines)


def test_a_handshake_that_does_not_finish_in_time_is_cut():
    with serving(ECHO, {"OPENENV_HANDSHAKE_TIMEOUT": "1"}) as server:
        (sock,) = trickle(server.start(), 1)
        with sock:
            sock.settimeout(10)
            started = time.monotonic()
            sock.send(b"X-Slow: 1\r\n")
            assert sock.recv(100) == b""  # closed by the server
            assert time.monotonic() - started < 3
        with SyncEnvClient(server.start()) as env:  # a complete handshake is not affected
            time.sleep(1.5)
            assert env.step({"message": "ok"}).observation["echoed_message"] == "ok"


# -- slow bodies ---------------------------------------------------------------------------------

STEP_HEAD = (b"POST /step HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
             b"Content-Length: 100000\r\n\r\n{\"action\": ")


def trickle_bodies(url: str, count: int) -> list[socket.socket]:
    """``count`` connections that each send a complete ``POST /step`` head and the first bytes of
    its body, and no more."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    opened = []
    for _ in range(count):
        sock = socket.create_connection((host, port), timeout=5)
        sock.sendall(STEP_HEAD)
        opened.append(sock)
    return opened


def is_closed_by_the_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_trickling_bodies_cannot_lock_new_clients_out():
    """16 connections with a complete head and a body that never ends, on a server that takes 16
    (192 of them under ``ulimit -n 256`` kept every new client out for as long as they trickled)."""
    with serving(ECHO, {"OPENENV_MAX_CONNECTIONS": "16"}) as server:
        slow = trickle_bodies(server.start(), 16)
        try:
            time.sleep(1.0)  # every head is in: each connection now waits for its body
            started = time.monotonic()
            while True:  # a new client gets in: the oldest waiting body was cut to make room
                with contextlib.suppress(OSError, httpx.HTTPError):
                    with SyncEnvClient(server.start(), connect_timeout=2) as env:
                        assert env.step({"message": "in"}).observation["echoed_message"] == "in"
                        break
                assert time.monotonic() - started < 5, "new clients were locked out"
            assert is_closed_by_the_server(slow[0], within=1)
        finally:
            for sock in slow:
                sock.close()


def test_a_body_that_does_not_finish_in_time_is_cut_and_nothing_is_logged_as_an_error():
    with serving(ECHO, {"OPENENV_BODY_TIMEOUT": "1"}) as server:
        url = server.start()
        (sock,) = trickle_bodies(url, 1)
        with sock:
            started = time.monotonic()
            for _ in range(10):  # a byte every 0.3 s: still not done after the deadline
                time.sleep(0.3)
                with contextlib.suppress(OSError):
                    sock.send(b" ")
            assert is_closed_by_the_server(sock, within=5)
            assert time.monotonic() - started < 5
        body = b'{"action": {"message": "slow but in time"}}'
        with socket.create_connection((urlsplit(url).hostname, urlsplit(url).port), timeout=10) as ok:
            ok.sendall(STEP_HEAD.split(b"Content-Length")[0] + b"Content-Length: %d\r\n\r\n" % len(body))
            time.sleep(0.5)  # a body within the deadline is not affected
            ok.sendall(body)
            assert ok.recv(100).startswith(b"HTTP/1.1 200")
        assert "Exception in ASGI application" not in server.log_tail(1000)


# -- the resume token, and replayed request ids --------------------------------------------------

def test_the_resume_token_is_never_logged():
    """At debug level the WebSocket library logs every handshake header, the resume header too."""
    with ProcessProvider("tests.support.apps:resilient", log_level="debug") as server, \
            proxy_to(server.start()) as proxy, SyncEnvClient(proxy.url) as env:
        env.reset()
        token = env._resume_token
        proxy.cut()  # the client resumes: the token travels in a request header too
        assert env.step({"message": "back"}).observation["echoed_message"] == "back"
        log = server.log_tail(100_000)
    assert token and "x-openenv-resume" in log.lower()  # the header is logged, its value is not
    assert token not in log


@pytest.mark.parametrize("protocol", ["openenv-gym.v1", "openenv-gym.v1.msgpack"])
async def test_a_reused_request_id_with_other_content_is_a_validation_error(crowded, protocol):
    async with websockets.connect(ws_url(crowded), subprotocols=[protocol]) as ws:
        async def ask(message: dict) -> dict:
            binary = ws.subprotocol == "openenv-gym.v1.msgpack"
            await ws.send(msgpack.packb(message) if binary else json.dumps(message))
            reply = await asyncio.wait_for(ws.recv(), 10)
            return msgpack.unpackb(reply) if binary else json.loads(reply)

        first = {"type": "step", "id": 7, "data": {"message": "pay alice"}}
        assert (await ask(first))["data"]["observation"]["echoed_message"] == "pay alice"
        assert await ask(dict(reversed(first.items()))) == await ask(first)  # a resend: replayed, not rerun
        other = await ask({"type": "step", "id": 7, "data": {"message": "pay mallory"}})
        assert other["type"] == "error" and other["id"] == 7
        assert other["data"]["code"] == "VALIDATION_ERROR" and "request id 7 was just used" in other["data"]["message"]
        state = await ask({"type": "state", "id": 8})
        assert state["data"]["step_count"] == 1  # ran once

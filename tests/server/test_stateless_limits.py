"""Every way into an environment counts toward the capacity and the per-client limit, and HTTP
bodies are bounded (issue 22, point 3), attacked on real servers over real sockets.

Upstream's stateless ``POST /reset``, ``POST /step`` and ``GET /state`` (and MCP tool calls
without a session, the task API, the metadata probe) built an environment per request outside
every limit: 12 concurrent POSTs ran 12 sandboxes on a coding server of capacity 2 with one
session per client, and six 300 MB POSTs took the server to 4.9 GB. Here each of them holds a
slot while it runs and is refused like a WebSocket session when none is left: HTTP 503
(``CAPACITY_REACHED``) or 429 (``TOO_MANY_SESSIONS``), with the WebSocket error's data as its
``detail``; a body over ``OPENENV_MAX_MESSAGE_BYTES`` gets 413 before it is read.

``tests.support.apps:held`` (capacity 2) reports in each observation the most environments its
process ever held at once, counted in the environment's constructor and ``close()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from openenv_gym.envs.coding.launch import isolation_mode
from openenv_gym.providers import ProcessProvider
from tests.support.coding import descendants, processes
from tests.support.servers import serving, settled_sessions

HELD = "tests.support.apps:held"
STORM = 12
NAP = {"action": {"sleep": 1.5}}
"""A step that holds its environment long enough for every request of the storm to arrive."""
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


async def storm(url: str, path: str, body: dict, count: int = STORM) -> list[httpx.Response]:
    """``count`` concurrent ``POST``s of ``body`` to ``path``."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        return await asyncio.gather(*(client.post(path, json=body) for _ in range(count)))


def peak(replies: list[httpx.Response]) -> int:
    """The most environments the server held at once, as its answered steps saw it."""
    return max(reply.json()["observation"]["peak"] for reply in replies if reply.status_code == 200)


def refused_with(reply: httpx.Response, status: int, code: str) -> dict:
    assert reply.status_code == status, reply.text
    detail = reply.json()["detail"]
    assert detail["code"] == code
    return detail


@contextlib.contextmanager
def ws_session(url: str) -> Iterator[ClientConnection]:
    """An open WebSocket session (reset once, so its environment is built)."""
    with connect(url.replace("http", "ws", 1) + "/ws") as ws:
        ws.send(json.dumps({"type": "reset"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "observation"
        yield ws


def ws_step(ws: ClientConnection) -> dict:
    ws.send(json.dumps({"type": "step", "data": {"message": "still here"}}))
    reply = json.loads(ws.recv(timeout=10))
    assert reply["type"] == "observation", reply
    return reply["data"]["observation"]


@pytest.fixture
def held() -> Iterator[ProcessProvider]:
    """A fresh server for each test: its peak counts from zero."""
    with serving(HELD) as server:
        yield server


# -- the storm: concurrent stateless POSTs -------------------------------------------------------

def test_concurrent_stateless_steps_hold_no_more_environments_than_the_capacity(held):
    url = held.start()
    with ws_session(url) as other:  # a tenant already in
        replies = asyncio.run(storm(url, "/step", NAP))
        statuses = Counter(reply.status_code for reply in replies)
        assert set(statuses) == {200, 503}, statuses
        assert peak(replies) <= 2  # was 13: twelve temporary environments and the session's
        refusal = next(reply for reply in replies if reply.status_code == 503)
        detail = refused_with(refusal, 503, "CAPACITY_REACHED")
        assert detail["max_sessions"] == 2 and "max_concurrent_envs" in detail["message"]
        assert ws_step(other)["peak"] <= 2  # and the tenant was served throughout
    assert settled_sessions(held, 0) == 0


def test_concurrent_stateless_steps_of_one_client_count_toward_its_limit():
    with serving(HELD, {"OPENENV_MAX_SESSIONS_PER_CLIENT": "1"}) as server:
        url = server.start()
        replies = asyncio.run(storm(url, "/step", NAP))
        assert set(Counter(reply.status_code for reply in replies)) == {200, 429}
        assert peak(replies) == 1  # was 12
        refusal = next(reply for reply in replies if reply.status_code == 429)
        detail = refused_with(refusal, 429, "TOO_MANY_SESSIONS")
        assert detail["max_sessions_per_client"] == 1
        assert "OPENENV_MAX_SESSIONS_PER_CLIENT" in detail["message"]
        with ws_session(url) as ws:  # its one session: now its stateless calls are over the limit
            refused_with(httpx.post(url + "/reset", json={}), 429, "TOO_MANY_SESSIONS")
            refused_with(httpx.post(url + "/web/reset", json={}), 429, "TOO_MANY_SESSIONS")
            assert ws_step(ws)["peak"] == 1
        assert settled_sessions(server, 0) == 0
        assert httpx.post(url + "/reset", json={}).status_code == 200


@pytest.mark.skipif(os.geteuid() != 0 or isolation_mode() != "bwrap",
                    reason="counts sandboxes by their user ids: needs root and bubblewrap")
def test_twelve_concurrent_posts_run_at_most_two_sandboxes_on_a_coding_server_of_capacity_two():
    """The reported attack: a coding server of capacity 2 ran 12 sandboxes at once."""
    with serving("tests.support.coding:pair") as server:
        url, pid = server.start(), server.pid
        assert pid is not None
        seen, done = [0], threading.Event()

        def count_sandboxes() -> None:  # each sandbox runs as a user id of its own
            while not done.is_set():
                table = processes()
                uids = {table[p][1] for p in descendants(pid) if p in table and table[p][1] != 0}
                seen[0] = max(seen[0], len(uids))
                time.sleep(0.05)

        counter = threading.Thread(target=count_sandboxes)
        counter.start()
        try:
            replies = asyncio.run(storm(url, "/step", {"action": {"code": "import time; time.sleep(3)"}}))
        finally:
            done.set()
            counter.join()
        statuses = Counter(reply.status_code for reply in replies)
        assert statuses[503] >= STORM - 4 and set(statuses) == {200, 503}, statuses
        assert 1 <= seen[0] <= 2


# -- every entry point, on a full server ---------------------------------------------------------

@pytest.fixture(scope="module")
def full() -> Iterator[tuple[str, list[ClientConnection]]]:
    """A server whose two slots hold two WebSocket sessions."""
    with serving(HELD) as server:
        url = server.start()
        with ws_session(url) as first, ws_session(url) as second:
            yield url, [first, second]


NEEDS_AN_ENVIRONMENT = [("POST", "/reset", {}), ("POST", "/step", {"action": {"message": "x"}}),
                        ("GET", "/state", None), ("GET", "/held/splits", None),
                        ("POST", "/held/tasks", {"split": "train"}), ("POST", "/held/num_tasks", {"split": "train"}),
                        ("POST", "/held/task", {"split": "train", "index": 0}),
                        ("POST", "/held/task_range", {"split": "train"}),
                        ("POST", "/web/reset", {}), ("POST", "/web/step", {"action": {"message": "x"}}),
                        ("GET", "/web/state", None)]


@pytest.mark.parametrize(("method", "path", "body"), NEEDS_AN_ENVIRONMENT)
def test_a_full_server_refuses_every_http_way_to_a_new_environment_with_503(full, method, path, body):
    url, sessions = full
    reply = httpx.request(method, url + path, json=body, timeout=30)
    detail = refused_with(reply, 503, "CAPACITY_REACHED")
    assert (detail["active_sessions"], detail["max_sessions"]) == (2, 2)
    assert all(ws_step(ws)["peak"] == 2 for ws in sessions)  # the tenants go on, nothing was built


@pytest.mark.parametrize("method", ["tools/list", "tools/call"])
def test_a_full_server_refuses_mcp_tool_calls_without_a_session(full, method):
    url, sessions = full
    params = {"name": "nap", "arguments": {"seconds": 0}} if method == "tools/call" else {}
    reply = httpx.post(url + "/mcp", json={"jsonrpc": "2.0", "method": method, "params": params, "id": 1}).json()
    assert reply["error"]["code"] == -32000 and "at capacity" in reply["error"]["message"]
    assert reply["error"]["data"] == {"active_sessions": 2, "max_sessions": 2}
    assert all(ws_step(ws)["peak"] == 2 for ws in sessions)


@pytest.mark.parametrize("path", ["/schema", "/metadata", "/web/metadata"])
def test_a_full_server_describes_itself_without_an_environment_of_its_own(full, path):
    """Gym clients read ``/schema`` after their session opened: on a full server, too."""
    url, sessions = full
    assert httpx.get(url + path, timeout=30).status_code == 200
    assert all(ws_step(ws)["peak"] == 2 for ws in sessions)  # was 3: the probe built one more


# -- bodies --------------------------------------------------------------------------------------

def head(path: str, length: int) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


def response_to(url: str, request: bytes) -> bytes:
    """What the server answers to ``request`` (a head alone, here), read until it closes."""
    with socket.create_connection((urlsplit(url).hostname, urlsplit(url).port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):  # a timeout fails the test: the server waited for the body
            answer += chunk
        return answer


@pytest.mark.parametrize("path", ["/step", "/reset", "/mcp", "/echo/tasks", "/no/such/route"])
def test_a_body_announced_over_the_limit_is_refused_before_it_is_read(echo_server, path):
    answer = response_to(echo_server.start(), head(path, 300 * 1024 * 1024))
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 413") and b"connection: close" in status.lower()
    detail = json.loads(body)["detail"]
    assert detail["code"] == "MESSAGE_TOO_LARGE" and detail["max_message_bytes"] == MAX_MESSAGE_BYTES
    assert "OPENENV_MAX_MESSAGE_BYTES" in detail["message"]


def test_six_300_mb_posts_leave_the_servers_memory_alone():
    """The reported attack, with a real client: it gets its 413 within seconds (was: 330 s, and
    the server grew to 4.9 GB)."""
    body = b'{"action": {"message": "' + b"x" * (300 * 1024 * 1024) + b'"}}'
    with serving("openenv_gym.envs.echo.app:app") as server:
        url = server.start()
        before = peak_memory_mb(server)
        statuses: list[int] = []

        def post() -> None:
            reply = httpx.post(url + "/step", content=body, headers={"Content-Type": "application/json"},
                               timeout=60)
            statuses.append(reply.status_code)

        posts = [threading.Thread(target=post) for _ in range(6)]
        for thread in posts:
            thread.start()
        for thread in posts:
            thread.join()
        assert statuses == [413] * 6
        assert peak_memory_mb(server) - before < 100
        assert httpx.post(url + "/step", json={"action": {"message": "ok"}}).status_code == 200


def peak_memory_mb(server: ProcessProvider) -> int:
    """The server process's peak resident memory so far (``VmHWM``)."""
    with open(f"/proc/{server.pid}/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) // 1024


def test_a_chunked_body_is_cut_off_once_past_the_limit():
    """A body without a length is counted as it arrives: past the limit, 413 and the connection
    closes, so the server never reads the rest."""
    sent = [0]

    def chunks() -> Iterator[bytes]:
        for _ in range(1024):  # 64 MiB offered
            sent[0] += 65536
            yield b"x" * 65536

    with serving("openenv_gym.envs.echo.app:app", {"OPENENV_MAX_MESSAGE_BYTES": "65536"}) as server:
        reply = httpx.post(server.start() + "/mcp", content=chunks(), timeout=30,
                           headers={"Content-Type": "application/json"})
        refused_with(reply, 413, "MESSAGE_TOO_LARGE")
        assert sent[0] < 16 * 1024 * 1024  # far from the 64 MiB offered: the server stopped reading
        assert httpx.post(server.start() + "/mcp", json={"jsonrpc": "2.0", "method": "tools/list",
                                                         "id": 1}).json()["result"]["tools"]

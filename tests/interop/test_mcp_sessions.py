"""Sessions shared between HTTP ``/mcp`` and ``/ws?session_id=``, and WebSocket ``/mcp``.

Upstream's ``MCPToolClient`` runs in each upstream release's own venv against OUR capacity-1
notebook server (``tests/support/notebook.py``: tools and steps both write notes); the raw
protocol is played side by side against upstream's own server (``upstream_tools``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets

from openenv_gym.providers import ProcessProvider
from tests.support.servers import REPO_ROOT, active_sessions, serving
from tests.support.upstream import Peer

NOTEBOOK = "tests.support.notebook:app"
UPSTREAM_TOOLS = "tests.interop.upstream_tools:app"
TOKEN = "mcp-s3cret"


@pytest.fixture(scope="module")
def notebook_url() -> Iterator[str]:
    """Our capacity-1 notebook server (shared by a module; every test leaves it empty)."""
    with serving(NOTEBOOK) as server:
        assert server.base_url is not None
        yield server.base_url


@contextlib.contextmanager
def guarded() -> Iterator[str]:
    """A notebook server that requires the bearer token :data:`TOKEN`."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYTHONPATH", str(REPO_ROOT))
        with ProcessProvider(NOTEBOOK, token=TOKEN) as server:
            yield server.start()


def rpc(url: str, method: str, params: dict[str, Any] | None = None, *, request_id: Any = 1,
        headers: dict[str, str] | None = None) -> dict[str, Any]:
    """One JSON-RPC request to ``POST /mcp``; its response."""
    body = {"jsonrpc": "2.0", "method": method, "params": params or {}, "id": request_id}
    response = httpx.post(url + "/mcp", json=body, headers=headers, timeout=10, trust_env=False)
    assert response.status_code == 200
    return response.json()


def socket_url(url: str, path: str) -> str:
    return url.replace("http://", "ws://", 1) + path


async def ask(ws: Any, frame: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps(frame))
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


async def refusal(url: str) -> dict[str, Any]:
    """The one frame a server sends on a socket it will not serve, and that it closes."""
    async with websockets.connect(url) as ws:
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
    return reply


def eventually_unknown(url: str, session_id: str, within: float = 10.0) -> dict[str, Any]:
    """``tools/list`` on ``session_id`` once the server has let the session go."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        answer = rpc(url, "tools/list", {"session_id": session_id})
        if "error" in answer:
            return answer
        time.sleep(0.05)
    raise AssertionError(f"session {session_id} still answers after {within}s")


# --- upstream's MCPToolClient on our capacity-1 server ------------------------------------

TOOL_CLIENT = """
import asyncio, httpx
from pydantic import BaseModel
from openenv.core.mcp_client import MCPToolClient

class NoteAction(BaseModel):
    text: str

def active():
    return httpx.get(url + "/capabilities").json()["active_sessions"]

async def episode(word):
    async with MCPToolClient(base_url=url) as env:
        await env.reset()
        wrote = await env.call_tool("write", text=word + " by a tool")
        step = await env.step(NoteAction(text=word + " by a step"))
        notes = await env.call_tool("read")
        state = await env.state()
        tools = sorted(t.name for t in await env.list_tools())
        return {"wrote": wrote, "step_reward": step.reward, "notes": notes, "steps": state.step_count,
                "tools": tools, "active": active(), "production": env.use_production_mode}

async def main():
    first = await episode("first")
    second = await episode("second")  # the first one's session was given back
    return {"first": first, "second": second, "after": active()}

result = asyncio.run(main())
"""


def test_mcp_tool_client_reaches_one_environment_on_a_capacity_1_server(notebook_url: str,
                                                                         upstream: Peer) -> None:
    result = upstream.run(TOOL_CLIENT, url=notebook_url)
    for word in ("first", "second"):
        episode = result[word]
        assert episode["wrote"] == 1  # the tool wrote into the environment reset() had emptied
        assert episode["step_reward"] == 2.0  # the step saw the tool's note: one environment
        assert episode["notes"] == [f"{word} by a tool", f"{word} by a step"]
        assert episode["steps"] == 1
        assert episode["tools"] == ["read", "write"]
        assert episode["active"] == 1  # tools and reset/step share the server's one slot
        # 0.10: tools over HTTP /mcp, reset/step over /ws?session_id= (production mode);
        # 0.3.0: everything over one /ws session (its MCPToolClient has no production mode)
        assert episode["production"] is upstream.is_010
    assert result["after"] == 0


def test_mcp_tool_client_on_a_production_mode_server(openenv010: Peer) -> None:
    upstream = openenv010  # 0.3.0 has no production mode
    with serving(NOTEBOOK, {"OPENENV_MODE": "production"}) as server:
        assert httpx.post(f"{server.base_url}/reset", json={}, trust_env=False).status_code == 404
        result = upstream.run(TOOL_CLIENT, url=server.base_url)
    assert result["first"]["notes"] == ["first by a tool", "first by a step"]
    assert result["second"]["step_reward"] == 2.0
    assert result["after"] == 0


def test_mcp_tool_client_with_a_bearer_token(openenv010: Peer) -> None:
    upstream = openenv010  # 0.3.0's MCPToolClient takes no headers
    code = """
import asyncio
import contextlib
from openenv.core.mcp_client import MCPToolClient

async def main():
    try:
        async with MCPToolClient(base_url=url) as env:
            refused = None
    except Exception as exc:
        refused = type(exc).__name__
    async with MCPToolClient(base_url=url, headers={"Authorization": "Bearer " + token}) as env:
        await env.reset()
        return [refused, await env.call_tool("write", text="x"), (await env.step(Note(text="y"))).reward]

from pydantic import BaseModel
class Note(BaseModel):
    text: str
result = asyncio.run(main())
"""
    with guarded() as url:
        assert upstream.run(code, url=url, token=TOKEN) == ["HTTPStatusError", 1, 2.0]


# --- the raw protocol, side by side with upstream's server --------------------------------

async def attach_and_close(url: str) -> dict[str, Any]:
    """Create a session over HTTP, attach a socket, close the session while attached, try a
    second socket; what each step answered (the session id masked)."""
    session_id = rpc(url, "openenv/session/create")["result"]["session_id"]
    seen: dict[str, Any] = {}
    async with websockets.connect(socket_url(url, f"/ws?session_id={session_id}")) as ws:
        seen["reset"] = (await ask(ws, {"type": "reset", "data": {}}))["type"]
        seen["close"] = rpc(url, "openenv/session/close", {"session_id": session_id})["result"]
        seen["tools_while_closing"] = "result" in rpc(url, "tools/list", {"session_id": session_id})
        seen["second_socket"] = (await refusal(socket_url(url, f"/ws?session_id={session_id}")))["data"]
        seen["state_while_closing"] = (await ask(ws, {"type": "state"}))["type"]
        await ws.send(json.dumps({"type": "close"}))
    seen["after_detach"] = (await asyncio.to_thread(eventually_unknown, url, session_id))["error"]
    return json.loads(json.dumps(seen).replace(session_id, "<id>"))


ATTACHED_CLOSE = {
    "reset": "observation",
    "close": {"session_id": "<id>", "closed": False, "closing": True},
    "tools_while_closing": True,
    "second_socket": {"code": "SESSION_ERROR", "message": "Session <id> already has an attached WebSocket"},
    "state_while_closing": "state",
    "after_detach": {"code": -32602, "message": "Unknown session_id: <id>", "data": None},
}


async def test_close_while_attached_waits_for_the_socket(upstream: Peer) -> None:
    with serving(NOTEBOOK) as ours:
        assert await attach_and_close(ours.base_url) == ATTACHED_CLOSE
        assert active_sessions(ours.base_url) == 0
    with upstream.serve(UPSTREAM_TOOLS) as theirs:
        if upstream.is_010:
            assert await attach_and_close(theirs.base_url) == ATTACHED_CLOSE
        else:  # 0.3.0 ignores session_id: the socket has a session of its own, the close is at once
            session_id = rpc(theirs.base_url, "openenv/session/create")["result"]["session_id"]
            async with websockets.connect(socket_url(theirs.base_url, f"/ws?session_id={session_id}")):
                closed = rpc(theirs.base_url, "openenv/session/close", {"session_id": session_id})
            assert closed["result"] == {"session_id": session_id, "closed": True}


async def test_a_detached_session_lives_on_until_closed(notebook_url: str) -> None:
    session_id = rpc(notebook_url, "openenv/session/create")["result"]["session_id"]
    try:
        async with websockets.connect(socket_url(notebook_url, f"/ws?session_id={session_id}")) as ws:
            await ask(ws, {"type": "reset"})
            assert (await ask(ws, {"type": "step", "data": {"text": "kept"}}))["data"]["reward"] == 1.0
        # the socket is gone (dropped, no close message): the session and its notes are not
        assert rpc(notebook_url, "tools/call", {"session_id": session_id, "name": "read"})[
            "result"]["data"] == ["kept"]
        async with websockets.connect(socket_url(notebook_url, f"/ws?session_id={session_id}")) as ws:
            step = await ask(ws, {"type": "step", "data": {"text": "again"}})
            assert step["data"]["observation"]["notes"] == ["kept", "again"]
            own = await ask(ws, {"type": "mcp", "data": {"jsonrpc": "2.0", "method": "openenv/session/close",
                                                         "params": {"session_id": session_id}, "id": 2}})
            assert own["data"]["error"]["code"] == -32600  # not through the socket that holds it
    finally:
        closed = rpc(notebook_url, "openenv/session/close", {"session_id": session_id})
    assert closed["result"] == {"session_id": session_id, "closed": True}
    assert active_sessions(notebook_url) == 0


async def test_a_tool_call_over_http_waits_for_the_sockets_step_on_a_shared_session(notebook_url: str) -> None:
    session_id = rpc(notebook_url, "openenv/session/create")["result"]["session_id"]
    try:
        async with websockets.connect(socket_url(notebook_url, f"/ws?session_id={session_id}")) as ws:
            await ask(ws, {"type": "reset"})
            step = asyncio.create_task(ask(ws, {"type": "step", "data": {"text": "slow"}}))
            await asyncio.sleep(0.3)  # the step is half-way: one of its two notes is written
            read = await asyncio.to_thread(rpc, notebook_url, "tools/call",
                                           {"session_id": session_id, "name": "read"})
            assert read["result"]["data"] == ["slow-begin", "slow"]  # after the step, never inside it
            assert (await step)["data"]["observation"]["notes"] == ["slow-begin", "slow"]
    finally:
        rpc(notebook_url, "openenv/session/close", {"session_id": session_id})


async def test_an_attached_socket_speaks_the_baseline(notebook_url: str) -> None:
    session_id = rpc(notebook_url, "openenv/session/create")["result"]["session_id"]
    try:
        async with websockets.connect(socket_url(notebook_url, f"/ws?session_id={session_id}"),
                                      subprotocols=["openenv-gym.v1"]) as ws:
            assert ws.subprotocol is None  # no extensions: an extension-aware client falls back
            reply = await ask(ws, {"type": "step", "data": {"text": "plain"}})
            assert reply["type"] == "observation"
            assert "id" not in reply
    finally:
        rpc(notebook_url, "openenv/session/close", {"session_id": session_id})


# --- attackers ----------------------------------------------------------------------------

async def test_an_attacker_cannot_take_over_a_live_session(notebook_url: str) -> None:
    session_id = rpc(notebook_url, "openenv/session/create")["result"]["session_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", session_id)  # 128 bits, 122 of them random (uuid4)
    try:
        async with websockets.connect(socket_url(notebook_url, f"/ws?session_id={session_id}")) as victim:
            await ask(victim, {"type": "reset"})
            await ask(victim, {"type": "step", "data": {"text": "mine"}})
            for url, message in [
                (f"/ws?session_id={session_id}", f"Session {session_id} already has an attached WebSocket"),
                (f"/ws?session_id={session_id[:-1]}{'1' if session_id[-1] == '0' else '0'}", "Unknown session_id: "),
                ("/ws?session_id=" + "a" * 500, "Unknown session_id: " + "a" * 80 + "..."),
            ]:
                refused = await refusal(socket_url(notebook_url, url))
                assert refused["type"] == "error"
                assert refused["data"]["code"] == "SESSION_ERROR"
                assert refused["data"]["message"].startswith(message)
            guessed = rpc(notebook_url, "tools/call", {"session_id": "0" * 32, "name": "read"})
            assert guessed["error"]["code"] == -32602
            # the victim's session is untouched: same socket, same notes, still its slot
            step = await ask(victim, {"type": "step", "data": {"text": "still mine"}})
            assert step["data"]["observation"]["notes"] == ["mine", "still mine"]
            assert active_sessions(notebook_url) == 1
    finally:
        rpc(notebook_url, "openenv/session/close", {"session_id": session_id})


async def test_the_session_of_a_plain_socket_cannot_be_attached(notebook_url: str) -> None:
    async with websockets.connect(socket_url(notebook_url, "/ws")) as owner:
        named = await ask(owner, {"type": "mcp", "data": {"jsonrpc": "2.0", "method": "openenv/session/create",
                                                          "id": 1}})
        session_id = named["data"]["result"]["session_id"]
        refused = await refusal(socket_url(notebook_url, f"/ws?session_id={session_id}"))
        assert refused["data"] == {"code": "SESSION_ERROR", "message": f"Unknown session_id: {session_id}"}
        assert "error" in rpc(notebook_url, "openenv/session/close", {"session_id": session_id})
        assert (await ask(owner, {"type": "step", "data": {"text": "fine"}}))["type"] == "observation"

    async with websockets.connect(socket_url(notebook_url, "/mcp")) as owner:
        session_id = (await ask(owner, request("openenv/session/create")))["result"]["session_id"]
        assert "error" in rpc(notebook_url, "tools/list", {"session_id": session_id})
        refused = await refusal(socket_url(notebook_url, f"/ws?session_id={session_id}"))
        assert refused["data"]["code"] == "SESSION_ERROR"
        assert "result" in await ask(owner, request("tools/list"))


async def test_attaching_needs_the_token() -> None:
    with guarded() as url:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        session_id = rpc(url, "openenv/session/create", headers=auth)["result"]["session_id"]
        for path in (f"/ws?session_id={session_id}", "/mcp"):
            with pytest.raises(websockets.InvalidStatus):
                async with websockets.connect(socket_url(url, path)):
                    pass
        async with websockets.connect(socket_url(url, f"/ws?session_id={session_id}"),
                                      additional_headers=auth) as ws:
            assert (await ask(ws, {"type": "reset"}))["type"] == "observation"


# --- idle sessions -------------------------------------------------------------------------

async def test_idle_shared_sessions_are_reaped() -> None:
    with serving("tests.support.notebook:idle") as server:
        url = server.base_url
        alone = rpc(url, "openenv/session/create")["result"]["session_id"]
        await asyncio.sleep(0.2)
        assert "result" in rpc(url, "tools/list", {"session_id": alone})  # a tool call is activity
        for _ in range(100):
            if active_sessions(url) == 0:
                break
            await asyncio.sleep(0.05)
        assert rpc(url, "tools/list", {"session_id": alone})["error"]["code"] == -32602
        attached = rpc(url, "openenv/session/create")["result"]["session_id"]
        async with websockets.connect(socket_url(url, f"/ws?session_id={attached}")) as ws:
            await ask(ws, {"type": "reset"})
            with pytest.raises(websockets.ConnectionClosed):  # idle: the server closes the socket
                await asyncio.wait_for(ws.recv(), 10)
        assert "error" in rpc(url, "tools/list", {"session_id": attached})
        assert active_sessions(url) == 0


# --- WebSocket /mcp -------------------------------------------------------------------------

def request(method: str, params: dict[str, Any] | None = None, request_id: Any = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params or {}, "id": request_id}


async def mcp_socket_answers(url: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """What ``WS /mcp`` answers to a list, a call, and the usual mistakes (an unknown tool's error
    code is the HTTP endpoint's: ours -32602 as upstream's plain tools, FastMCP's -32603)."""
    async with websockets.connect(socket_url(url, "/mcp")) as ws:
        listed = await ask(ws, request("tools/list", request_id="l"))
        called = await ask(ws, request("tools/call", {"name": tool, "arguments": arguments}, 2))
        own = (await ask(ws, request("openenv/session/create", request_id=3)))["result"]
        await ws.send("{not json")
        parse_error = json.loads(await asyncio.wait_for(ws.recv(), 10))
        seen = {
            "listed": (listed["id"], tool in [t["name"] for t in listed["result"]["tools"]]),
            "called": (called["id"], called["result"]["data"]),
            "own_id": isinstance(own["session_id"], str),
            "close_own": (await ask(ws, request("openenv/session/close", own, 4)))["error"],
            "unknown_method": (await ask(ws, request("nope", request_id=5)))["error"]["code"],
            "unknown_tool": "error" in await ask(ws, request("tools/call", {"name": "nope"}, 6)),
            "parse_error": (parse_error["id"], parse_error["error"]["code"]),
            "invalid": (await ask(ws, {"jsonrpc": "2.0", "id": 7}))["error"]["code"],
        }
    return seen


async def test_websocket_mcp_matches_upstreams(upstream: Peer) -> None:
    with serving("openenv_gym.envs.echo.app:app") as ours:
        mine = await mcp_socket_answers(ours.base_url, "echo_message", {"message": "hé"})
    with upstream.serve(UPSTREAM_TOOLS) as theirs:
        their = await mcp_socket_answers(theirs.base_url, "add", {"a": 2, "b": 3})
    assert mine.pop("called") == (2, "hé")
    assert their.pop("called") == (2, 5)
    assert mine == their
    assert mine["close_own"] == {"code": -32600, "data": None,
                                 "message": "Cannot close active WebSocket-managed session via MCP method"}
    assert mine["parse_error"] == (None, -32700)


async def test_websocket_mcp_holds_one_session_within_capacity(notebook_url: str) -> None:
    async with websockets.connect(socket_url(notebook_url, "/mcp")) as ws:
        assert active_sessions(notebook_url) == 1
        called = await ask(ws, request("tools/call", {"name": "write", "arguments": {"text": "a"}}))
        assert called["result"]["data"] == 1
        again = await ask(ws, request("tools/call", {"name": "write", "arguments": {"text": "b"}}))
        assert again["result"]["data"] == 2  # one environment for the socket's lifetime
        full = await refusal(socket_url(notebook_url, "/mcp"))
        assert full["error"]["code"] == -32000
        assert full["error"]["data"] == {"active_sessions": 1, "max_sessions": 1}
        assert "at capacity" in full["error"]["message"]
        assert (await refusal(socket_url(notebook_url, "/ws")))["data"]["code"] == "CAPACITY_REACHED"
    for _ in range(100):  # the socket's session ends with it
        if active_sessions(notebook_url) == 0:
            break
        await asyncio.sleep(0.05)
    assert active_sessions(notebook_url) == 0


async def test_websocket_mcp_keeps_the_servers_limits() -> None:
    limits = {"OPENENV_RATE_LIMIT": "1", "OPENENV_RATE_BURST": "2", "OPENENV_MAX_SESSIONS_PER_CLIENT": "1",
              "OPENENV_MAX_MESSAGE_BYTES": "2048"}
    with serving("openenv_gym.envs.echo.app:app", limits) as server:
        url = server.base_url
        async with websockets.connect(socket_url(url, "/mcp")) as ws:
            too_many = await refusal(socket_url(url, "/mcp"))
            assert too_many["error"]["code"] == -32000
            assert too_many["error"]["data"]["max_sessions_per_client"] == 1
            big = await ask(ws, request("tools/call", {"name": "echo_message",
                                                       "arguments": {"message": "x" * 4096}}))
            assert big["error"]["data"]["code"] == "MESSAGE_TOO_LARGE"
            assert "result" in await ask(ws, request("tools/list"))
            limited = await ask(ws, request("tools/list"))
            assert limited["error"]["code"] == -32000
            assert limited["error"]["data"]["code"] == "RATE_LIMITED"
            assert limited["error"]["data"]["retry_after"] > 0

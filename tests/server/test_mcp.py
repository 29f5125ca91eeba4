"""MCP over JSON-RPC 2.0: ``POST /mcp`` and the ``{"type": "mcp"}`` message on ``/ws``, on real servers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets

from openenv_gym.server import Environment, tool
from openenv_gym.server.mcp import call_tool
from openenv_gym.types import State
from tests.support.servers import active_sessions

ECHO_LENGTH = {"message": "ab", "length": 2}
JSON_BODY = {"Content-Type": "application/json"}  # raw bytes, declared JSON as MCP clients do


def rpc(method: str, params: dict[str, Any] | None = None, request_id: Any = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params or {}, "id": request_id}


def post(server, body: Any) -> dict[str, Any]:
    """POST a request (bytes as they are); every answer is HTTP 200 and JSON-RPC."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = httpx.post(server.start() + "/mcp", content=content, headers=JSON_BODY, timeout=10)
    assert response.status_code == 200
    answer = response.json()
    assert answer["jsonrpc"] == "2.0"
    assert ("result" in answer) != ("error" in answer)
    return answer


def error_code(answer: dict[str, Any]) -> int:
    return answer["error"]["code"]


def test_tools_list(echo_server):
    answer = post(echo_server, rpc("tools/list", request_id="a"))
    assert answer["id"] == "a"
    tools = {t["name"]: t for t in answer["result"]["tools"]}
    assert set(tools) == {"echo_message", "echo_with_length"}
    assert tools["echo_message"]["description"] == "Echo the message back."
    assert tools["echo_message"]["input_schema"]["required"] == ["message"]


def test_tools_call(echo_server):
    answer = post(echo_server, rpc("tools/call", {"name": "echo_with_length", "arguments": {"message": "ab"}}, 7))
    assert answer["id"] == 7
    result = answer["result"]
    assert result["data"] == ECHO_LENGTH
    assert result["structured_content"] == {"result": ECHO_LENGTH}
    assert result["is_error"] is False
    assert post(echo_server, rpc("tools/call", {"name": "echo_message", "arguments": {"message": "é"}}))[
        "result"]["content"] == [{"type": "text", "text": "é"}]


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        (b"{not json", -32700, "Parse error"),
        ({}, -32600, "Invalid request"),
        ({"jsonrpc": "1.0", "method": "tools/list", "id": 1}, -32600, "jsonrpc"),
        ({**rpc("tools/list"), "extra": 1}, -32600, "extra"),
        ({"jsonrpc": "2.0", "method": "tools/list", "params": [1], "id": 1}, -32600, "params"),
        (rpc("resources/list"), -32601, "Method not found: resources/list"),
        (rpc("tools/call", {"arguments": {}}), -32602, "Missing 'name' in params"),
        (rpc("tools/call", {"name": "nope"}), -32602, "Tool not found: nope"),
        (rpc("tools/call", {"name": "echo_message", "arguments": {"message": 5}}), -32602, "valid string"),
        (rpc("tools/call", {"name": "echo_message", "arguments": [1]}), -32602, "'arguments' must be"),
        (rpc("tools/list", {"session_id": "nope"}), -32602, "Unknown session_id: nope"),
        (rpc("openenv/session/close", {"session_id": "nope"}), -32602, "Unknown session_id: nope"),
        (rpc("openenv/session/close"), -32602, "'session_id' is required"),
    ],
    ids=["parse", "empty-body", "wrong-version", "extra-key", "params-not-object", "unknown-method",
         "missing-name", "unknown-tool", "bad-arguments", "arguments-not-object", "unknown-session",
         "close-unknown-session", "close-without-id"],
)
def test_errors(echo_server, body, code, fragment):
    answer = post(echo_server, body)
    assert error_code(answer) == code
    assert fragment in answer["error"]["message"]
    expected_id = body.get("id") if isinstance(body, dict) and code not in (-32700, -32600) else None
    assert answer["id"] == expected_id


def test_environment_without_tools_is_an_internal_error(serve):
    server = serve("tests.support.apps:grid")
    for method in ("tools/list", "tools/call"):
        answer = post(server, rpc(method, {"name": "x"}, 5))
        assert answer["error"]["code"] == -32603
        assert answer["error"]["message"] == "Environment does not support MCP"
        assert answer["id"] == 5


def test_session_lifecycle(echo_server):
    before = active_sessions(echo_server)
    session_id = post(echo_server, rpc("openenv/session/create"))["result"]["session_id"]
    assert active_sessions(echo_server) == before + 1
    try:
        params = {"session_id": session_id}
        assert {t["name"] for t in post(echo_server, rpc("tools/list", params))["result"]["tools"]} == {
            "echo_message", "echo_with_length"}
        call = rpc("tools/call", {**params, "name": "echo_message", "arguments": {"message": "hi"}})
        assert post(echo_server, call)["result"]["data"] == "hi"
    finally:
        closed = post(echo_server, rpc("openenv/session/close", {"session_id": session_id}))
    assert closed["result"] == {"session_id": session_id, "closed": True}
    assert active_sessions(echo_server) == before
    gone = post(echo_server, rpc("tools/list", {"session_id": session_id}))
    assert error_code(gone) == -32602


async def test_mcp_sessions_count_toward_capacity(serve):
    server = serve("tests.support.apps:single")  # capacity 1
    session_id = post(server, rpc("openenv/session/create"))["result"]["session_id"]
    full = post(server, rpc("openenv/session/create", request_id=2))
    assert full["id"] == 2
    assert error_code(full) == -32000
    assert "at capacity" in full["error"]["message"]
    assert full["error"]["data"] == {"active_sessions": 1, "max_sessions": 1}
    async with websockets.connect(server.start().replace("http", "ws") + "/ws") as ws:
        refused = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert refused["data"]["code"] == "CAPACITY_REACHED"
    refused = post(server, rpc("tools/list"))  # a temporary environment needs a slot too
    assert error_code(refused) == -32000 and "at capacity" in refused["error"]["message"]
    post(server, rpc("openenv/session/close", {"session_id": session_id}))
    assert active_sessions(server) == 0
    assert post(server, rpc("tools/list"))["result"]["tools"]  # its slot is free again
    async with websockets.connect(server.start().replace("http", "ws") + "/ws") as ws:
        await ws.send(json.dumps({"type": "reset"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "observation"


async def exchange(ws, frame: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps(frame))
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


async def test_websocket_mcp_message(echo_server):
    async with websockets.connect(echo_server.start().replace("http", "ws") + "/ws") as ws:
        listed = await exchange(ws, {"type": "mcp", "data": rpc("tools/list", request_id=3)})
        assert listed["type"] == "mcp"
        assert listed["data"]["id"] == 3
        assert len(listed["data"]["result"]["tools"]) == 2
        called = await exchange(ws, {"type": "mcp", "data": rpc(
            "tools/call", {"name": "echo_with_length", "arguments": {"message": "ab"}})})
        assert called["data"]["result"]["data"] == ECHO_LENGTH
        own = (await exchange(ws, {"type": "mcp", "data": rpc("openenv/session/create")}))["data"]["result"]
        closing = await exchange(ws, {"type": "mcp", "data": rpc("openenv/session/close", own)})
        assert closing["data"]["error"]["code"] == -32600
        for data, code in [({}, -32600), ("x", -32600), (rpc("nope"), -32601),
                           (rpc("tools/call", {"name": "nope"}), -32602)]:
            reply = await exchange(ws, {"type": "mcp", "data": data})
            assert reply["type"] == "mcp"
            assert reply["data"]["error"]["code"] == code
        step = await exchange(ws, {"type": "step", "data": {"message": "still here"}})
        assert step["data"]["observation"]["echoed_message"] == "still here"


async def test_websocket_mcp_message_without_tools(serve):
    server = serve("tests.support.apps:grid")
    async with websockets.connect(server.start().replace("http", "ws") + "/ws") as ws:
        reply = await exchange(ws, {"type": "mcp", "data": rpc("tools/list")})
        assert reply["data"]["error"] == {"code": -32603, "message": "Environment does not support MCP",
                                          "data": None}


class _Failing(Environment):
    def reset(self, seed=None, episode_id=None, **kwargs):
        raise NotImplementedError

    def step(self, action, timeout_s=None, **kwargs):
        raise NotImplementedError

    @property
    def state(self) -> State:
        return State()

    @tool
    def explode(self) -> None:
        """Always fails."""
        raise ValueError("boom")


def test_a_failing_tool_is_an_internal_error():
    from openenv_gym.server.mcp import RpcCode, RpcError

    with pytest.raises(RpcError) as failed:
        call_tool(_Failing(), {"name": "explode"})
    assert failed.value.code is RpcCode.INTERNAL_ERROR
    assert failed.value.message == "ValueError: boom"

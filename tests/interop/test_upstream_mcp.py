"""MCP over HTTP ``/mcp``: upstream's ``MCPToolClient`` (production mode) against OUR echo server,
and our answers side by side with upstream's server (the counter, which has no tools)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from openenv.core.mcp_client import MCPToolClient

from tests.support.servers import active_sessions


def production_client(url: str) -> MCPToolClient:
    client = MCPToolClient(base_url=url)
    client.use_production_mode = True  # tools over HTTP /mcp sessions, no WebSocket
    return client


async def test_production_mode_lists_and_calls_tools_over_http(echo_url: str) -> None:
    before = active_sessions(echo_url)
    client = production_client(echo_url)
    try:
        tools = {t.name: t for t in await client.list_tools()}
        assert set(tools) == {"echo_message", "echo_with_length"}
        assert tools["echo_message"].description == "Echo the message back."
        assert tools["echo_message"].input_schema["required"] == ["message"]
        assert await client.call_tool("echo_message", message="hé") == "hé"
        assert await client.call_tool("echo_with_length", message="ab") == {"message": "ab", "length": 2}
        assert client._production_session_id is not None
        assert active_sessions(echo_url) == before + 1  # one HTTP MCP session, as upstream
        with pytest.raises(RuntimeError, match="Tool not found: nope"):
            await client.call_tool("nope")
    finally:
        await client.close()  # closes the server-side session
    assert active_sessions(echo_url) == before


def ask(url: str, body: Any) -> dict[str, Any]:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = httpx.post(url + "/mcp", content=content, headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize(
    "body",
    [b"{not json", {}, {"jsonrpc": "2.0", "method": "nope", "id": 4},
     {"jsonrpc": "2.0", "method": "tools/list", "params": {"session_id": "gone"}, "id": "s"},
     {"jsonrpc": "2.0", "method": "openenv/session/close", "params": {}, "id": 5},
     {"jsonrpc": "2.0", "method": "openenv/session/close", "params": {"session_id": "gone"}, "id": 6}],
    ids=["parse", "empty", "unknown-method", "unknown-session", "close-without-id", "close-unknown"],
)
def test_errors_match_upstreams_server(echo_url: str, counter_url: str, body: Any) -> None:
    ours, theirs = ask(echo_url, body), ask(counter_url, body)
    assert set(ours) == set(theirs)
    assert ours["id"] == theirs["id"]
    assert ours["error"]["code"] == theirs["error"]["code"]
    assert set(ours["error"]) == set(theirs["error"]) == {"code", "message", "data"}
    if theirs["error"]["code"] != -32600:  # upstream's -32600 message is pydantic's long text
        assert ours["error"]["message"] == theirs["error"]["message"]


def test_sessions_match_upstreams_server(echo_url: str, counter_url: str) -> None:
    for url in (echo_url, counter_url):
        created = ask(url, {"jsonrpc": "2.0", "method": "openenv/session/create", "id": 1})
        session_id = created["result"]["session_id"]
        closed = ask(url, {"jsonrpc": "2.0", "method": "openenv/session/close",
                           "params": {"session_id": session_id}, "id": 2})
        assert closed == {"jsonrpc": "2.0", "id": 2, "result": {"session_id": session_id, "closed": True}}


def test_no_tools_matches_upstreams_server(counter_url: str) -> None:
    answer = ask(counter_url, {"jsonrpc": "2.0", "method": "tools/list", "id": 1})
    assert answer["error"]["code"] == -32603
    assert answer["error"]["message"] == "Environment does not support MCP"  # ours: test_mcp.py

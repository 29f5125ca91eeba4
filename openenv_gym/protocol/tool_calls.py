"""MCP tools from the client side: list an environment's tools and call them.

Over the ``{"type": "mcp"}`` WebSocket message (JSON-RPC 2.0 in ``data``), which upstream
servers speak too; the session's own environment answers (:func:`openenv_gym.protocol.calls.mcp`).

>>> mcp_message("tools/call", {"name": "echo_message", "arguments": {"message": "hi"}}, 1)["data"]["method"]
'tools/call'
>>> mcp_result({"type": "mcp", "data": {"jsonrpc": "2.0", "id": 1, "result": {"data": "hi"}}})
{'data': 'hi'}
>>> mcp_result({"type": "mcp", "data": {"jsonrpc": "2.0", "id": 1,
...                                     "error": {"code": -32602, "message": "Tool not found: x"}}})
Traceback (most recent call last):
...
openenv_gym.errors.ToolCallError: Tool not found: x
"""

from __future__ import annotations

from typing import Any

from ..errors import ToolCallError
from ..mcp_types import Tool
from .replies import check_reply  # the module: protocol.calls imports this one

TOOLS_LIST, TOOLS_CALL = "tools/list", "tools/call"


def rpc_request(method: str, params: dict[str, Any] | None, request_id: int) -> dict[str, Any]:
    """One JSON-RPC 2.0 request."""
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}}


def mcp_message(method: str, params: dict[str, Any] | None, request_id: int) -> dict[str, Any]:
    """The ``{"type": "mcp"}`` message carrying one JSON-RPC request."""
    return {"type": "mcp", "data": rpc_request(method, params, request_id)}


def mcp_result(reply: Any) -> Any:
    """The ``result`` of an ``mcp`` reply; its JSON-RPC error raised as :class:`ToolCallError`."""
    return rpc_result(check_reply(reply, "mcp"))


def rpc_result(response: Any) -> Any:
    """The ``result`` of a JSON-RPC response; its error raised as :class:`ToolCallError`."""
    error = response.get("error") if isinstance(response, dict) else None
    if error is not None:
        raise ToolCallError(error.get("message", "MCP error"), rpc_code=error.get("code"),
                            data=error.get("data"))
    return response.get("result") if isinstance(response, dict) else None


def tools_of(result: Any) -> list[Tool]:
    """The tools of a ``tools/list`` result."""
    return [Tool(name=t["name"], description=t.get("description") or "",
                 input_schema=t.get("input_schema") or t.get("inputSchema") or {})
            for t in result["tools"]]


def tool_value(result: Any) -> Any:
    """What a tool returned: ``data`` of a ``tools/call`` result (as upstream's MCPToolClient)."""
    return result.get("data") if isinstance(result, dict) else result


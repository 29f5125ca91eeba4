"""MCP tools from the Gym layer: ``env.unwrapped.list_tools()`` / ``call_tool()``, ``envs.call(...)``.

Over our echo server (its tools ``echo_message`` and ``echo_with_length``), in-process, and over an
upstream ``MCPEnvironment`` served by upstream's own server.
"""

from __future__ import annotations

import gymnasium as gym
import pytest

import openenv_gym  # noqa: F401  (registers the ids)
from openenv_gym import EnvClient
from openenv_gym.errors import ToolCallError
from tests.support.servers import serving

ECHO_TOOLS = ["echo_message", "echo_with_length"]


@pytest.fixture(params=["process", "inprocess"])
def echo_env(request):
    env = gym.make("openenv/echo-v0", provider=request.param)
    yield env.unwrapped
    env.close()


def test_a_gym_env_lists_and_calls_its_tools(echo_env):
    tools = echo_env.list_tools()
    assert [t.name for t in tools] == ECHO_TOOLS
    assert tools[0].input_schema["properties"]["message"]["type"] == "string"
    assert echo_env.call_tool("echo_message", message="héllo ✓") == "héllo ✓"
    assert echo_env.call_tool("echo_with_length", message="abc") == {"message": "abc", "length": 3}


def test_tool_errors_are_tool_call_errors_and_the_session_goes_on(echo_env):
    with pytest.raises(ToolCallError, match="Tool not found: echo_mesage") as unknown:
        echo_env.call_tool("echo_mesage", message="x")
    assert unknown.value.rpc_code == -32602
    with pytest.raises(ToolCallError, match="message"):
        echo_env.call_tool("echo_message", text="wrong argument name")
    echo_env.reset(seed=0)
    assert echo_env.step("still here")[0]["echoed_message"] == "still here"


def test_an_env_without_tools_says_so(serve):
    env = gym.make("openenv/remote-v0", base_url=serve("tests.support.apps:grid").start())
    with pytest.raises(ToolCallError, match="does not support MCP"):
        env.unwrapped.list_tools()
    env.close()


def test_a_vector_env_calls_tools_on_every_sub_env():
    envs = gym.make_vec("openenv/echo-v0", num_envs=3, num_servers=2)
    try:
        assert [[t.name for t in tools] for tools in envs.call("list_tools")] == [ECHO_TOOLS] * 3
        assert envs.call("call_tool", "echo_message", message="hi") == ("hi", "hi", "hi")
        with pytest.raises(ToolCallError, match=r"^sub-env 0 \(.*\): Tool not found: nope"):
            envs.call("call_tool", "nope")
        with pytest.raises(AttributeError, match="call_tool\\(name"):
            envs.call("call_tool")
    finally:
        envs.close()


async def test_the_async_client_calls_tools(echo_server):
    async with EnvClient(echo_server.start()) as client:
        assert [t.name for t in await client.list_tools()] == ECHO_TOOLS
        assert await client.call_tool("echo_message", message="async") == "async"


def test_tools_of_an_upstream_mcp_environment_on_an_upstream_server():
    with serving("tests.interop.upstream_tools:app") as server:
        env = gym.make("openenv/remote-v0", base_url=server.start())
        try:
            assert [t.name for t in env.unwrapped.list_tools()] == ["add", "shout"]
            assert env.unwrapped.call_tool("add", a=2, b=40) == 42
            assert env.unwrapped.call_tool("shout", text="hé") == "HÉ"
            with pytest.raises(ToolCallError, match="nope"):
                env.unwrapped.call_tool("nope")
        finally:
            env.close()

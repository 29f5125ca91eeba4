"""The echo environment: its own behaviour, and servable the two documented ways."""

from __future__ import annotations

import sys

import pytest

from openenv_gym import EnvClient
from openenv_gym.envs.echo import EchoAction, EchoEnvironment
from openenv_gym.mcp_types import CallToolAction
from tests.support.servers import served_by


def test_echo_rewards_length_and_counts_steps():
    env = EchoEnvironment()
    assert env.reset(episode_id="e1").echoed_message == "Echo environment ready!"
    obs = env.step(EchoAction(message="abcd"))
    assert (obs.echoed_message, obs.message_length, obs.reward, obs.done) == ("abcd", 4, pytest.approx(0.4), False)
    assert env.state.model_dump() == {"episode_id": "e1", "step_count": 1}


def test_echo_tools_report_failures_as_values():
    env = EchoEnvironment()
    assert [t.name for t in env.tools.list().tools] == ["echo_message", "echo_with_length"]
    assert env.tools.call(CallToolAction(tool_name="echo_with_length", arguments={"message": "ab"})).result["data"] == {
        "message": "ab", "length": 2}
    missing = env.tools.call(CallToolAction(tool_name="nope"))
    assert missing.error.error_type == "tool_not_found" and "echo_message" in missing.error.message
    bad = env.tools.call(CallToolAction(tool_name="echo_message", arguments={}))
    assert bad.error.error_type == "invalid_args"


@pytest.mark.parametrize("command", [
    [sys.executable, "-m", "openenv_gym.envs.echo", "--host", "127.0.0.1", "--port", "{port}"],
    [sys.executable, "-m", "uvicorn", "openenv_gym.envs.echo.app:app", "--host", "127.0.0.1", "--port", "{port}"],
], ids=["python-m", "uvicorn"])
def test_echo_is_servable_on_its_own(command):
    with served_by(command) as url, EnvClient(url).sync() as client:
        assert client.step({"message": "served"}).observation["echoed_message"] == "served"

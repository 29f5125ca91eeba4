"""An upstream MCP tool environment (echo_env's kind) as a real Gymnasium environment.

Upstream's own server (``openenv-core`` 0.3.0 and ``openenv`` 0.10, each in its venv) runs
``tests/interop/upstream_mcp_echo.py``; ``gym.make("openenv/remote-v0")`` builds its action space
from ``tools/list``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import pytest
from gymnasium import spaces

import openenv_gym  # noqa: F401  (registers the ids)
from openenv_gym import InvalidActionError
from openenv_gym.wrappers.spaces import Nullable
from tests.support.checks import check_env_warnings
from tests.support.upstream import Peer

MCP_ECHO_APP = "tests.interop.upstream_mcp_echo:app"


@pytest.fixture(scope="module")
def mcp_echo_url(upstream: Peer) -> Iterator[str]:
    with upstream.serve(MCP_ECHO_APP) as server:
        yield server.base_url


@pytest.fixture
def env(mcp_echo_url: str) -> Iterator[gym.Env[Any, Any]]:
    made = gym.make("openenv/remote-v0", base_url=mcp_echo_url)
    yield made
    made.close()


def test_the_action_space_is_one_dict_of_arguments_per_tool(env):
    space = env.action_space
    assert isinstance(space, spaces.OneOf) and len(space.spaces) == 2
    assert list(space.spaces[0].keys()) == ["message"]
    assert space.spaces[1]["repeat"] == spaces.Discrete(3, start=1)  # Field(ge=1, le=3)
    assert isinstance(env.observation_space["error"], Nullable)


def test_reset_then_a_tool_call_with_no_error(env):
    obs, _ = env.reset(seed=0)
    assert obs["error"] is None and env.observation_space.contains(obs)
    obs, reward, terminated, truncated, _ = env.step((1, {"message": "hé ✓", "repeat": 2}))
    assert obs["tool_name"] == "echo_with_length" and obs["error"] is None
    assert json.loads(obs["result"])["data"] == {"message": "hé ✓hé ✓", "length": 8}
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert env.observation_space.contains(obs)


def test_check_env_passes(env):
    assert check_env_warnings(env, skip_render_check=True) == []


def test_a_thousand_random_actions_are_valid_tool_calls(env):
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(1000):
        obs, *_ = env.step(env.action_space.sample())
        assert obs["error"] is None, obs["error"]
        assert env.observation_space.contains(obs)


def test_an_llm_writes_its_tool_call_as_json_text(env):
    env.reset()
    obs, *_ = env.step('{"tool_name": "echo_message", "arguments": {"message": "from an LLM"}}')
    assert json.loads(obs["result"])["data"] == "from an LLM"
    obs, *_ = env.step('{"name": "echo_with_length", "arguments": "{\\"message\\": \\"openai\\"}"}')
    assert json.loads(obs["result"])["data"] == {"message": "openai", "length": 6}


@pytest.mark.parametrize(("text", "says"), [
    ("echo this", "not JSON"),
    ('{"tool_name": "echo_mesage", "arguments": {}}', "Did you mean 'echo_message'"),
    ('{"arguments": {"message": "x"}}', "tool_name"),
    ('["echo_message", {}]', "must be a JSON object"),
])
def test_invalid_text_is_an_invalid_action_error_saying_what_to_fix(env, text, says):
    env.reset()
    with pytest.raises(InvalidActionError, match=says) as raised:
        env.step(text)
    assert isinstance(raised.value, ValueError)
    obs, *_ = env.step('{"tool_name": "echo_message", "arguments": {"message": "still here"}}')
    assert json.loads(obs["result"])["data"] == "still here"


def test_a_failed_call_fills_error_and_the_next_one_clears_it(env):
    env.reset()
    obs, *_ = env.step({"tool_name": "echo_message", "arguments": {"text": "wrong argument name"}})
    assert obs["error"] is not None and obs["error"]["message"]
    assert env.observation_space.contains(obs)
    obs, *_ = env.step((0, {"message": "ok"}))
    assert obs["error"] is None


def test_a_vector_env_steps_per_tool_calls_sampled_or_written(mcp_echo_url):
    envs = gym.make_vec("openenv/remote-v0", num_envs=2, base_url=mcp_echo_url)
    try:
        assert isinstance(envs.single_action_space, spaces.OneOf)
        envs.reset(seed=0)
        envs.action_space.seed(0)
        for _ in range(20):
            obs, *_ = envs.step(envs.action_space.sample())
            assert obs["error"] == (None, None)
        obs, *_ = envs.step([{"tool_name": "echo_message", "arguments": {"message": "a"}},
                             '{"tool_name": "echo_with_length", "arguments": {"message": "b"}}'])
        assert obs["tool_name"] == ("echo_message", "echo_with_length")
    finally:
        envs.close()

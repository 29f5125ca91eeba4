"""Our echo's MCP tools as the Gym action space (``tool_calls=True``), and the spaces behind it.

The step observations are then ``CallToolObservation`` and reset's is echo's own, so the
observation space holds both models' fields (``error`` is ``None`` or the error).
"""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import openenv_gym  # noqa: F401  (registers the ids)
from openenv_gym import InvalidActionError
from openenv_gym.mcp_types import CallToolAction, CallToolObservation, Tool
from openenv_gym.wrappers import SpaceCodec
from openenv_gym.wrappers.spaces import JsonText, Nullable
from openenv_gym.wrappers.tool_actions import tool_call_codec
from tests.support.checks import check_env_warnings

MCP_SCHEMA = {"action": CallToolAction.model_json_schema(), "observation": CallToolObservation.model_json_schema()}


@pytest.fixture(params=["process", "inprocess"])
def echo_tools(request):
    env = gym.make("openenv/echo-v0", provider=request.param, tool_calls=True)
    yield env
    env.close()


def test_reset_is_echos_and_steps_are_tool_calls(echo_tools):
    obs, _ = echo_tools.reset(seed=0)
    assert obs["echoed_message"] == "Echo environment ready!" and obs["error"] is None
    obs, *_ = echo_tools.step((1, {"message": "héllo"}))
    assert (obs["tool_name"], obs["echoed_message"], obs["error"]) == ("echo_with_length", "", None)
    assert json.loads(obs["result"])["data"] == {"message": "héllo", "length": 5}
    assert echo_tools.observation_space.contains(obs)


def test_check_env_passes(echo_tools):
    assert check_env_warnings(echo_tools) == []


def test_a_thousand_samples_step_without_error(echo_tools):
    echo_tools.reset(seed=0)
    echo_tools.action_space.seed(1)
    for _ in range(1000):
        obs, *_ = echo_tools.step(echo_tools.action_space.sample())
        assert obs["error"] is None


def test_a_json_text_call_and_a_tool_error_in_the_observation(echo_tools):
    echo_tools.reset()
    obs, *_ = echo_tools.step('{"tool_name": "echo_message", "arguments": {"message": "hi"}}')
    assert json.loads(obs["result"])["data"] == "hi"
    obs, *_ = echo_tools.step({"tool_name": "echo_message", "arguments": {"message": 3}})
    assert obs["error"]["error_type"] == 1 and "valid string" in obs["error"]["message"]  # invalid_args
    with pytest.raises(InvalidActionError, match=r"no tool 'echo_mesage' .* Did you mean 'echo_message'\?"):
        echo_tools.step('{"tool_name": "echo_mesage", "arguments": {}}')


def test_without_tool_calls_echo_keeps_its_message_action():
    env = gym.make("openenv/echo-v0", provider="inprocess")
    assert not isinstance(env.action_space, spaces.OneOf)
    env.close()


def test_an_optional_error_says_none_and_round_trips():
    codec = SpaceCodec.from_schema(MCP_SCHEMA)
    error = codec.observation_space["error"]
    assert isinstance(error, Nullable) and isinstance(error.inner, spaces.Dict)
    none = codec.observation_to_gym({"tool_name": "t", "result": 1, "error": None})
    failed = codec.observation_to_gym({"tool_name": "t", "error": {"error_type": "timeout", "message": "slow"}})
    assert none["error"] is None and failed["error"] == {"error_type": 4, "message": "slow"}
    assert codec.observation_space.contains(none) and codec.observation_space.contains(failed)
    assert codec.observation.batch([{"error": None}, {"error": {"error_type": "timeout", "message": ""}}])["error"] \
        == (None, {"error_type": 4, "message": ""})


def test_json_text_samples_are_json_and_bad_json_names_the_field():
    codec = SpaceCodec.from_schema(MCP_SCHEMA)  # without tools: upstream's fields, arguments as JSON text
    assert isinstance(codec.action_space["arguments"], JsonText)
    codec.action_space.seed(0)
    for _ in range(100):
        assert isinstance(codec.action_to_wire(codec.action_space.sample())["arguments"], dict)
    with pytest.raises(InvalidActionError, match="^arguments: expected JSON text"):
        codec.action_to_wire({"tool_name": "x", "arguments": "{not json"})


def test_tool_argument_types_map_to_spaces():
    tool = Tool(name="move", description="", input_schema={"type": "object", "properties": {
        "piece": {"type": "string"}, "square": {"type": "integer", "minimum": 0, "maximum": 63},
        "promote": {"type": "boolean"}, "scores": {"type": "array", "items": {"type": "number"}},
        "extra": {"type": "object"}}})
    codec = tool_call_codec([tool])
    args = codec.space.spaces[0]
    assert (args["square"], args["promote"], type(args["extra"])) == (spaces.Discrete(64), spaces.Discrete(2), JsonText)
    wire = codec.to_wire((np.int64(0), {"piece": "N", "square": np.int64(12), "promote": np.int64(1),
                                        "scores": np.array([0.5]), "extra": "{}"}))
    assert wire == {"type": "call_tool", "tool_name": "move",
                    "arguments": {"piece": "N", "square": 12, "promote": True, "scores": [0.5], "extra": {}}}

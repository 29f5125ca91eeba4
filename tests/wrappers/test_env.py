"""gym.make("openenv/echo-v0") with every provider, as a Gym user sees it."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import openenv_gym
from openenv_gym import InvalidActionError, TransportError
from openenv_gym.wrappers import GymEnv, UnicodeText
from tests.support.processes import process_gone


@pytest.fixture(params=["process", "inprocess", "base_url"])
def make_echo(request, echo_server):
    made = []

    def make(**kwargs):
        if request.param == "base_url":
            kwargs["base_url"] = echo_server.start()
        else:
            kwargs["provider"] = request.param
        made.append(gym.make("openenv/echo-v0", **kwargs))
        return made[-1]

    yield make
    for env in made:
        env.close()


def test_the_readme_example(make_echo):
    env = make_echo()
    obs, info = env.reset(seed=0)
    assert obs["echoed_message"] == "Echo environment ready!"
    obs, reward, terminated, truncated, info = env.step("Hello, World!")
    assert obs["echoed_message"] == "Hello, World!"
    assert obs["message_length"] == 13 and reward == pytest.approx(1.3)
    assert (terminated, truncated, info) == (False, False, {"step": 1})
    assert env.observation_space.contains(obs)


def test_unicode_text_round_trips_and_stays_in_the_space(make_echo):
    env = make_echo()
    env.reset()
    message = "héllo ✓ — 中文 😀\n\ttabs"
    obs, *_ = env.step(message)
    assert obs["echoed_message"] == message
    assert env.observation_space.contains(obs) and env.action_space.contains(message)


def test_invalid_action_is_a_value_error_naming_the_field_and_the_session_survives(make_echo):
    env = make_echo()
    env.reset()
    with pytest.raises(InvalidActionError, match="message: Input should be a valid string") as info:
        env.step({"message": 42})
    assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidActionError, match="colour: Extra inputs are not permitted"):
        env.step({"message": "x", "colour": "red"})
    assert env.step("still fine")[0]["echoed_message"] == "still fine"


def test_state_render_and_dict_actions(make_echo):
    env = make_echo(render_mode="ansi")
    env.reset()
    env.step({"message": "as a dict"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Gymnasium's checker warns at the first render if no fps is declared
        assert env.render() == "as a dict"
    assert env.metadata["render_fps"] == 4
    assert env.unwrapped.state()["step_count"] == 1


def test_mcp_tool_actions_pass_through(make_echo):
    env = make_echo()
    env.reset()
    obs, *_ = env.step({"type": "call_tool", "tool_name": "echo_message", "arguments": {"message": "tool"}})
    assert obs["echoed_message"] == ""  # a tool observation has no echo fields ...
    assert env.unwrapped.state()["step_count"] == 0  # ... and tools do not step the episode


def test_passes_gymnasiums_env_checker(make_echo):
    env = make_echo()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)


def test_close_stops_the_server_and_is_idempotent():
    env = gym.make("openenv/echo-v0")
    provider = env.unwrapped._provider
    pid = provider.pid
    env.reset()
    env.close()
    env.close()
    assert provider.pid is None
    assert process_gone(pid)


def test_max_episode_steps_truncates_on_the_client():
    env = gym.make("openenv/echo-v0", provider="inprocess", max_episode_steps=2)
    env.reset()
    assert env.step("a")[3] is False
    assert env.step("b")[3] is True
    env.close()


def test_spaces_accept_unicode_and_sample_unicode():
    env = gym.make("openenv/echo-v0", provider="inprocess")
    assert isinstance(env.action_space, UnicodeText)
    env.action_space.seed(3)
    samples = [env.action_space.sample() for _ in range(20)]
    assert any(ord(ch) > 127 for s in samples for ch in s)
    assert isinstance(env.observation_space["message_length"], gym.spaces.Box)
    assert env.observation_space["message_length"].dtype == np.int64
    env.close()


@pytest.mark.parametrize(("env_id", "error"), [
    ("openenv/ecko-v0", "Did you mean: `echo`"),
    ("openenv/echo-v9", "doesn't exist"),
    ("nowhere/echo-v0", "Namespace nowhere not found"),
])
def test_wrong_ids_get_gymnasiums_helpful_errors(env_id, error):
    with pytest.raises(gym.error.Error, match=error):
        gym.make(env_id)


def test_remote_needs_a_base_url_and_a_reachable_server():
    with pytest.raises(ValueError, match="pass base_url"):
        gym.make("openenv/remote-v0")
    with pytest.raises(TransportError, match="cannot open a session"):
        gym.make("openenv/remote-v0", base_url="http://127.0.0.1:9")


def test_registration_is_idempotent_and_specs_are_json():
    assert "openenv/echo-v0" in openenv_gym.register_envs()
    spec = gym.spec("openenv/echo-v0")
    assert spec.entry_point == "openenv_gym.wrappers.env:GymEnv"
    assert gym.spec("openenv/remote-v0").nondeterministic
    assert "openenv/echo-v0" in spec.to_json()


@pytest.mark.parametrize("mode", ["human", "rgb_array"])
def test_a_render_mode_the_environment_lacks_is_a_warning_and_no_rendering(mode):
    with pytest.warns(UserWarning, match=rf"render_mode='{mode}' is not offered by echo \(it offers \['ansi'\]\)"):
        env = GymEnv("echo", provider="inprocess", render_mode=mode)
    env.reset(seed=0)
    assert env.render_mode is None and env.render() is None
    env.close()


@pytest.mark.parametrize("provider", ["process", "inprocess"])
def test_a_constructor_that_rejects_an_argument_raises_type_error_on_every_provider(provider):
    with pytest.raises(TypeError, match="unexpected keyword argument 'frameskip'"):
        gym.make("openenv/echo-v0", provider=provider, frameskip=4)

"""Stable-Baselines3 on our ids: its own ``make_vec_env``/``check_env``, and our batched vector
env through :mod:`openenv_gym.wrappers.sb3`, trained with a real ``PPO.learn`` for seconds."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.env_checker import check_env
from stable_baselines3.common.env_util import make_atari_env, make_vec_env
from stable_baselines3.common.vec_env import VecFrameStack

import openenv_gym
from openenv_gym.errors import UnsupportedSpaceError
from openenv_gym.wrappers.sb3 import SB3VecEnv, make_sb3_vec_env

SB3_IDS = ["openenv/finance-v0", "openenv/atari-v0", "openenv/atari-breakout-v0"]
"""Ids whose spaces SB3 takes (each Atari game id is atari-v0 with another ROM)."""
TEXT_IDS = ["openenv/echo-v0", "openenv/chess-v0", "openenv/coding-v0"]
"""Ids with Text observations or actions, which SB3 has no space for (SB3 issue 1704)."""


def test_every_bundled_id_is_known_to_fit_sb3_or_not():
    bundled = {i for i in openenv_gym.register_envs() if not i.startswith(("openenv/atari-", "openenv/remote"))}
    assert bundled | {"openenv/atari-v0"} == {i for i in SB3_IDS + TEXT_IDS if "breakout" not in i}


@pytest.mark.parametrize("env_id", SB3_IDS)
def test_sb3_make_vec_env_and_check_env(env_id):
    venv = make_vec_env(env_id, n_envs=2, seed=0, env_kwargs={"provider": "inprocess"})
    venv.reset()  # SB3 asked for render_mode="rgb_array": finance warns, renders nothing
    _, rewards, _, _ = venv.step(np.array([venv.action_space.sample() for _ in range(2)]))
    assert rewards.shape == (2,)
    venv.close()
    env = gym.make(env_id, provider="inprocess")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Your observation indicators has an unconventional shape")
        check_env(env.unwrapped)
    env.close()


@pytest.mark.parametrize("env_id", TEXT_IDS)
def test_text_ids_are_refused_naming_the_text_fields(env_id):
    with pytest.raises(UnsupportedSpaceError, match=rf"Stable-Baselines3 cannot use {env_id}: .*"
                                                    r"action \(UnicodeText\).*no Text \(SB3 issue 1704\)"):
        make_sb3_vec_env(env_id, n_envs=1, provider="inprocess")


def test_ppo_learns_on_finance_through_the_batched_vector_env():
    venv = make_sb3_vec_env("openenv/finance-v0", n_envs=2, seed=0, max_episode_steps=16)
    model = PPO("MultiInputPolicy", venv, n_steps=32, batch_size=64, n_epochs=1, seed=0)
    model.learn(total_timesteps=128)
    assert model.num_timesteps == 128
    assert [episode["l"] for episode in model.ep_info_buffer] == [16] * 8  # VecMonitor saw every episode
    venv.close()


def test_ppo_learns_on_atari_through_the_batched_vector_env():
    venv = make_sb3_vec_env("openenv/atari-pong-v0", n_envs=2, seed=0)
    model = PPO("CnnPolicy", venv, n_steps=16, batch_size=32, n_epochs=1, seed=0)
    model.learn(total_timesteps=32)
    assert model.num_timesteps == 32
    venv.close()


def test_sb3s_atari_recipe_trains_on_a_noframeskip_id():
    venv = VecFrameStack(make_atari_env("openenv/atari-breakout-NoFrameskip-v0", n_envs=2, seed=0), n_stack=4)
    assert venv.observation_space.shape == (84, 84, 4)  # AtariWrapper: noop, skip 4, lives, fire, 84x84 gray
    model = PPO("CnnPolicy", venv, n_steps=16, batch_size=32, n_epochs=1, seed=0)
    model.learn(total_timesteps=32)
    assert model.num_timesteps == 32
    venv.close()


def test_steps_equal_sb3s_own_dummy_vec_env():
    options = {"provider": "inprocess", "max_episode_steps": 3}
    ours = make_sb3_vec_env("openenv/finance-v0", n_envs=2, seed=7, monitor=False, **options)
    theirs = make_vec_env(lambda: gym.make("openenv/finance-v0", **options), n_envs=2, seed=7)
    assert_same(ours.reset(), theirs.reset())
    actions = np.random.default_rng(0).uniform(-1, 1, size=(6, 2, 5)).astype(np.float32)
    for step_actions in actions:
        obs, rewards, dones, infos = ours.step(step_actions)
        their_obs, their_rewards, their_dones, their_infos = theirs.step(step_actions)
        assert_same(obs, their_obs)
        np.testing.assert_allclose(rewards, their_rewards, rtol=1e-6)
        assert dones.tolist() == their_dones.tolist()
        for info, their_info in zip(infos, their_infos, strict=True):
            assert info["TimeLimit.truncated"] == their_info["TimeLimit.truncated"]
            assert info["portfolio_value"] == pytest.approx(their_info["portfolio_value"])
            assert ("terminal_observation" in info) == ("terminal_observation" in their_info)
            if "terminal_observation" in info:
                assert_same(info["terminal_observation"], their_info["terminal_observation"])
    assert dones.any()
    ours.close()
    theirs.close()


def assert_same(obs: dict, their_obs: dict) -> None:
    assert obs.keys() == their_obs.keys()
    for key in obs:
        np.testing.assert_allclose(obs[key], their_obs[key], rtol=1e-6)


def test_attributes_methods_and_seeds_reach_the_sessions():
    venv = make_sb3_vec_env("openenv/finance-v0", n_envs=2, monitor=False, provider="inprocess")
    venv.seed(3)
    first = venv.reset()
    venv.seed(3)
    assert_same(first, venv.reset())
    assert [state["step_count"] for state in venv.env_method("state")] == [0, 0]
    assert venv.get_attr("render_mode") == [None, None]
    venv.set_attr("temperature", 0.5, indices=[1])
    assert venv.get_attr("temperature") == [None, 0.5]
    assert venv.env_is_wrapped(gym.Wrapper) == [False, False]
    venv.close()


def test_gymnasiums_own_vector_envs_adapt_too():
    envs = gym.vector.SyncVectorEnv([lambda: gym.make("openenv/finance-v0", provider="inprocess", max_episode_steps=2)],
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    venv = SB3VecEnv(envs)
    venv.reset()
    infos = [venv.step(np.zeros((1, 5), np.float32))[3][0] for _ in range(2)]
    assert "terminal_observation" not in infos[0] and infos[1]["TimeLimit.truncated"]
    assert infos[1]["terminal_observation"]["prices"].shape == (5,)
    venv.close()


def test_a_next_step_vector_env_is_refused_with_the_fix():
    envs = gym.make_vec("openenv/finance-v0", num_envs=1, provider="inprocess")
    with pytest.raises(ValueError, match="autoreset_mode=AutoresetMode.SAME_STEP"):
        SB3VecEnv(envs)
    envs.close()

"""CleanRL's ``ppo_atari.py`` recipe on our id: its env construction (``make_env``: SB3's Atari
wrappers, Gymnasium's observation wrappers, ``SyncVectorEnv``), then PPO updates for seconds.

CleanRL pins Gymnasium 0.29; on 1.x its ``GrayScaleObservation`` and ``FrameStack`` are called
``GrayscaleObservation`` and ``FrameStackObservation``: the only other change is the id.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.atari_wrappers import (
    ClipRewardEnv,
    EpisodicLifeEnv,
    FireResetEnv,
    MaxAndSkipEnv,
    NoopResetEnv,
)
from torch import nn
from torch.distributions.categorical import Categorical

import openenv_gym  # noqa: F401  (registers the openenv/* ids)

ENV_ID = "openenv/atari-breakout-NoFrameskip-v0"  # CleanRL's default is BreakoutNoFrameskip-v4


def make_env(env_id: str, idx: int, capture_video: bool, run_name: str):
    """CleanRL's recipe: one Atari env, DeepMind-style."""
    def thunk() -> gym.Env:
        if capture_video and idx == 0:
            env = gym.make(env_id, render_mode="rgb_array")
            env = gym.wrappers.RecordVideo(env, f"videos/{run_name}")
        else:
            env = gym.make(env_id)
        env = gym.wrappers.RecordEpisodeStatistics(env)
        env = NoopResetEnv(env, noop_max=30)
        env = MaxAndSkipEnv(env, skip=4)
        env = EpisodicLifeEnv(env)
        if "FIRE" in env.unwrapped.get_action_meanings():
            env = FireResetEnv(env)
        env = ClipRewardEnv(env)
        env = gym.wrappers.ResizeObservation(env, (84, 84))
        env = gym.wrappers.GrayscaleObservation(env)
        env = gym.wrappers.FrameStackObservation(env, 4)
        return env

    return thunk


def agent(actions: int) -> nn.Module:
    """The Nature-DQN torso with a policy head, as CleanRL's ``Agent``."""
    return nn.Sequential(nn.Conv2d(4, 32, 8, stride=4), nn.ReLU(), nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
                         nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(), nn.Flatten(), nn.Linear(64 * 7 * 7, 512),
                         nn.ReLU(), nn.Linear(512, actions + 1))


def test_the_recipe_builds_steps_and_trains():
    envs = gym.vector.SyncVectorEnv([make_env(ENV_ID, i, False, "test") for i in range(2)])
    assert isinstance(envs.single_action_space, gym.spaces.Discrete)
    assert envs.single_observation_space.shape == (4, 84, 84)
    net = agent(int(envs.single_action_space.n))
    optimizer = torch.optim.Adam(net.parameters(), lr=2.5e-4, eps=1e-5)
    next_obs, _ = envs.reset(seed=1)
    for _ in range(2):  # two PPO-style iterations of 16 steps x 2 envs: collect, then update
        observations, actions, rewards = [], [], []
        for _ in range(16):
            obs = torch.Tensor(next_obs)
            with torch.no_grad():
                action = Categorical(logits=net(obs / 255.0)[:, :-1]).sample()
            next_obs, reward, terminations, truncations, infos = envs.step(action.numpy())
            observations.append(obs), actions.append(action), rewards.append(torch.tensor(reward))
        output = net(torch.cat(observations) / 255.0)
        returns = torch.cat(rewards).float()
        log_prob = Categorical(logits=output[:, :-1]).log_prob(torch.cat(actions))
        loss = -(log_prob * (returns - output[:, -1].detach())).mean() + ((output[:, -1] - returns) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert next_obs.shape == (2, 4, 84, 84) and next_obs.dtype == np.uint8
    assert torch.isfinite(loss)
    envs.close()

"""Tianshou on our ids: its vector envs (Dummy, Subproc, Shmem) over ``gym.make``, its Atari
recipe's id check and wrappers, and a real DQN trained for seconds on NoFrameskip Pong.

Tianshou 2.0.1's ``WarpFrame`` and ``FrameStack`` build a ``Box`` with dtype ``np.integer``,
which Gymnasium >= 1.2 refuses, so its ``make_atari_env`` fails on ale-py's own
``PongNoFrameskip-v4`` as on ours; the recipe here keeps its other wrappers and puts
Gymnasium's grayscale, resize and frame stack where those two were.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator

import gymnasium as gym
import numpy as np
import pytest
from tianshou.algorithm import DQN
from tianshou.algorithm.modelfree.dqn import DiscreteQLearningPolicy
from tianshou.algorithm.optim import AdamOptimizerFactory
from tianshou.data import Batch, Collector, VectorReplayBuffer
from tianshou.env import DummyVectorEnv, ShmemVectorEnv, SubprocVectorEnv
from tianshou.env.atari.atari_network import DQNet
from tianshou.env.atari.atari_wrapper import AtariEnvFactory, wrap_deepmind
from tianshou.trainer import OffPolicyTrainerParams

import openenv_gym  # noqa: F401  (registers the openenv/* ids)

PONG = "openenv/atari-pong-NoFrameskip-v0"


@pytest.fixture(autouse=True, scope="module")
def forked_workers() -> Iterator[None]:
    """Tianshou's workers as forks: importing TorchRL (whose tests may run first) makes ``spawn``
    the default start method, and a spawned worker imports torch and the rest again (~5 s each).
    Spawned workers work too (they import ``openenv_gym`` with this module), only slower."""
    before = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method("fork", force=True)
    yield
    multiprocessing.set_start_method(before, force=True)


def make_finance() -> gym.Env:
    return gym.make("openenv/finance-v0", max_episode_steps=3)


def make_pong() -> gym.Env:
    env = gym.wrappers.ResizeObservation(gym.wrappers.GrayscaleObservation(gym.make(PONG)), (84, 84))
    return gym.wrappers.FrameStackObservation(wrap_deepmind(env, warp_frame=False, frame_stack=0), 4)


@pytest.mark.parametrize("vector_env", [DummyVectorEnv, SubprocVectorEnv, ShmemVectorEnv])
def test_tianshou_vector_envs_step_and_reset_finished_sessions(vector_env):
    envs = vector_env([make_finance, make_finance])
    obs, info = envs.reset(seed=0)  # Dict observations and infos: one dict per env, batched by Batch
    assert Batch(obs).prices.shape == (2, 5) and Batch(info).portfolio_value.tolist() == [1e6, 1e6]
    for _ in range(3):
        obs, rewards, terminated, truncated, info = envs.step(np.full((2, 5), 0.5, np.float32))
    assert truncated.tolist() == [True, True] and rewards.shape == (2,)
    assert (Batch(obs).holdings > 0).all()
    obs, info = envs.reset(np.flatnonzero(truncated))
    assert Batch(obs).holdings.tolist() == [[0.0] * 5] * 2
    envs.close()


def test_the_atari_recipe_takes_our_noframeskip_ids():
    AtariEnvFactory(PONG, frame_stack=4)  # asserts "NoFrameskip" in task
    with pytest.raises(AssertionError):
        AtariEnvFactory("openenv/atari-pong-v0", frame_stack=4)


def test_dqn_trains_on_pong_in_shared_memory_subprocesses():
    envs = ShmemVectorEnv([make_pong, make_pong])
    space = envs.observation_space[0]
    assert space.shape == (4, 84, 84)
    action_space = envs.action_space[0]
    policy = DiscreteQLearningPolicy(model=DQNet(*space.shape, action_space.n), action_space=action_space,
                                     eps_training=0.5)
    algorithm = DQN(policy=policy, optim=AdamOptimizerFactory(lr=1e-4), target_update_freq=50)
    collector = Collector(algorithm, envs, VectorReplayBuffer(256, 2), exploration_noise=True)
    collector.reset()
    stats = algorithm.run_training(OffPolicyTrainerParams(
        training_collector=collector, test_collector=None, max_epochs=1, epoch_num_steps=32,
        collection_step_num_env_steps=16, batch_size=16, update_step_num_gradient_steps_per_sample=0.125,
        show_progress=False, verbose=False))
    assert stats.train_step == 32 and stats.update_step == 2
    envs.close()

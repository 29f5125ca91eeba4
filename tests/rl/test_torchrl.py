"""TorchRL on our ids: ``GymEnv``/``GymWrapper``, ``check_env_specs``, ``rollout``, and a PPO update
from a real ``Collector`` for seconds (on finance, through the default server process)."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch
from tensordict.nn import NormalParamExtractor, TensorDictModule
from torch import nn
from torchrl.collectors import Collector
from torchrl.envs import (
    CatTensors,
    Compose,
    FlattenObservation,
    GymEnv,
    GymWrapper,
    StepCounter,
    TransformedEnv,
)
from torchrl.envs.utils import check_env_specs
from torchrl.modules import ProbabilisticActor, TanhNormal, ValueOperator
from torchrl.objectives import ClipPPOLoss
from torchrl.objectives.value import GAE

import openenv_gym  # noqa: F401  (registers the openenv/* ids)

FINANCE_KEYS = ["cash", "holdings", "indicators", "prices"]


@pytest.mark.parametrize("env_id", ["openenv/echo-v0", "openenv/finance-v0",
                                    "openenv/atari-pong-NoFrameskip-v0", "openenv/coding-v0"])
def test_gym_env_passes_check_env_specs_and_rolls_out(env_id):
    env = GymEnv(env_id, provider="inprocess")  # TorchRL passes frameskip= first: a TypeError, retried
    check_env_specs(env)
    rollout = env.rollout(4)
    assert rollout.batch_size == torch.Size([4]) and rollout["next", "reward"].shape == (4, 1)
    env.close()


def test_chess_is_refused_by_torchrl_for_its_list_of_legal_moves():
    with pytest.raises(ValueError, match="Sequence spaces must have the stack argument set to ``True``"):
        GymEnv("openenv/chess-v0", provider="inprocess")  # legal_moves: Sequence(Text), not stackable


def test_gym_env_with_the_default_server_process():
    env = GymEnv("openenv/finance-v0")  # the FactoryError for frameskip= is a TypeError: retried without
    assert env.rollout(3)["next", "prices"].shape == (3, 5)
    env.close()


def test_gym_wrapper_over_gym_make_rolls_out_atari_frames():
    env = GymWrapper(gym.make("openenv/atari-breakout-NoFrameskip-v0", provider="inprocess"))
    check_env_specs(env)
    assert env.rollout(5)["pixels"].shape == (5, 210, 160, 3)
    env.close()


def test_ppo_trains_from_a_collector_on_finance():
    env = TransformedEnv(GymEnv("openenv/finance-v0"), Compose(
        FlattenObservation(-2, -1, in_keys=["indicators"]),
        CatTensors(in_keys=FINANCE_KEYS, out_key="observation"),
        StepCounter(max_steps=16)))
    actor = ProbabilisticActor(
        TensorDictModule(nn.Sequential(nn.LazyLinear(32), nn.Tanh(), nn.LazyLinear(2 * env.action_spec.shape[-1]),
                                       NormalParamExtractor()), in_keys=["observation"], out_keys=["loc", "scale"]),
        spec=env.action_spec, in_keys=["loc", "scale"], distribution_class=TanhNormal, return_log_prob=True,
        distribution_kwargs={"low": env.action_spec.space.low, "high": env.action_spec.space.high})
    value = ValueOperator(nn.Sequential(nn.LazyLinear(32), nn.Tanh(), nn.LazyLinear(1)), in_keys=["observation"])
    first = env.reset()
    actor(first), value(first)  # the lazy layers take their shapes
    loss, advantage = ClipPPOLoss(actor, value), GAE(gamma=0.99, lmbda=0.95, value_network=value)
    optimizer = torch.optim.Adam(loss.parameters(), lr=3e-4)
    collector = Collector(env, actor, frames_per_batch=32, total_frames=128, auto_register_policy_transforms=False)
    episodes = 0
    for batch in collector:
        advantage(batch)
        losses = loss(batch)
        (losses["loss_objective"] + losses["loss_critic"] + losses["loss_entropy"]).backward()
        optimizer.step()
        optimizer.zero_grad()
        episodes += int(batch["next", "done"].sum())
    assert episodes == 128 // 16
    collector.shutdown()
    env.close()

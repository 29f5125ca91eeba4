"""Roll out every bundled environment through ``gym.make``: the project's main job.

Run it with ``python examples/rollout.py`` (no Docker needed): each environment is started
as a local server process (the default provider) and, for comparison, in-process; a random
policy (random legal moves where the observation lists them) plays a few episodes through the
standard Gymnasium API.
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

import gymnasium as gym

import openenv_gym
from openenv_gym.catalog import BUNDLED


def random_action(env: gym.Env, obs: Any, rng: random.Random) -> Any:
    """A legal move where the observation lists them (chess), else a sample of the action space."""
    legal = obs.get("legal_moves") if isinstance(obs, dict) else None
    return rng.choice(legal) if legal else env.action_space.sample()


def rollout(env: gym.Env, episodes: int, steps: int, seed: int) -> tuple[int, float]:
    """Play ``episodes`` episodes of at most ``steps`` random steps; return (steps, return)."""
    total_steps, total_reward = 0, 0.0
    env.action_space.seed(seed)
    rng = random.Random(seed)
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        for _ in range(steps):
            obs, reward, terminated, truncated, _ = env.step(random_action(env, obs, rng))
            total_steps += 1
            total_reward += float(reward)
            if terminated or truncated:
                break
    return total_steps, total_reward


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--episodes", type=int, default=3)
    args.add_argument("--steps", type=int, default=200, help="steps per episode at most")
    args.add_argument("--seed", type=int, default=0)
    ns = args.parse_args()
    print(f"openenv-gym {openenv_gym.__version__}: {ns.episodes} episodes x {ns.steps} steps\n")
    print(f"{'environment':<22}{'provider':<11}{'steps':>7}{'return':>10}{'steps/s':>10}")
    for name in BUNDLED:
        for provider in ("process", "inprocess"):
            env = gym.make(f"openenv/{name}-v0", provider=provider)
            started = time.perf_counter()
            steps, ret = rollout(env, ns.episodes, ns.steps, ns.seed)
            elapsed = time.perf_counter() - started
            env.close()
            print(f"{'openenv/' + name + '-v0':<22}{provider:<11}{steps:>7}{ret:>10.1f}"
                  f"{steps / elapsed:>10.0f}")


if __name__ == "__main__":
    main()

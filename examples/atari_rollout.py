"""Roll out random actions in N Pong environments served by local processes, with progress.

    python examples/atari_rollout.py                       # 8 envs, 2,000 env-steps
    python examples/atari_rollout.py --game breakout --num-envs 4 --steps 4000

Frames travel between the servers and this process as raw bytes (msgpack), one batch per step.
"""

from __future__ import annotations

import argparse
import sys
import time

import gymnasium as gym
import numpy as np

import openenv_gym  # noqa: F401  (registers the openenv/* ids)


def progress(done: int, total: int, started: float, episodes: int) -> None:
    """One line of plain-text progress, rewritten in place."""
    width = 30
    filled = width * done // total
    rate = done / max(time.perf_counter() - started, 1e-9)
    sys.stdout.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} env-steps, "
                     f"{rate:,.0f}/s, {episodes} episodes ended")
    sys.stdout.flush()


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--game", default="pong")
    args.add_argument("--num-envs", type=int, default=8)
    args.add_argument("--steps", type=int, default=2000, help="env-steps in total (all envs)")
    ns = args.parse_args()
    envs = gym.make_vec("openenv/atari-v0", num_envs=ns.num_envs, game=ns.game)
    try:
        envs.reset(seed=0)
        started, done, episodes, returns = time.perf_counter(), 0, 0, np.zeros(ns.num_envs)
        while done < ns.steps:
            obs, rewards, terminations, truncations, infos = envs.step(envs.action_space.sample())
            returns += rewards
            episodes += int(np.sum(terminations | truncations))
            done += ns.num_envs
            if done % (ns.num_envs * 10) == 0 or done >= ns.steps:
                progress(min(done, ns.steps), ns.steps, started, episodes)
        elapsed = time.perf_counter() - started
        print(f"\nframes {obs.shape[1:]} {obs.dtype}; {done / elapsed:,.0f} env-steps/s = "
              f"{done * 4 / elapsed:,.0f} frames/s (frameskip 4); rewards so far {returns.tolist()}")
    finally:
        envs.close()


if __name__ == "__main__":
    main()

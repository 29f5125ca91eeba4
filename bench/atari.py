"""Atari (Pong) frames per second: ale-py natively, next to ours in-process, served and vectorized.

    python bench/atari.py                  # about a minute on 2 cores
    python bench/atari.py --seconds 1 --rounds 3 --servers 1 2

Every configuration steps ``ALE/Pong-v5``'s game with v5 settings (frameskip 4, sticky actions
0.25, raw 210x160x3 RGB frames, random actions, episodes reset as they end) for ``--seconds``
per round; the rounds are interleaved (A B C ... A B C ...) so that the machine's drift hits
every configuration alike, and the median round is reported. frames/s = env-steps/s x 4.

Configurations:
    native ALE/Pong-v5            gym.make, one env (the reference for single-env paths)
    native AsyncVectorEnv(8)      gym.make_vec(..., vectorization_mode="async") (vector reference)
    ale-py AtariVectorEnv(8)      C++ thread pool, raw RGB, no preprocessing (like for like)
    ours in-process               gym.make("openenv/atari-pong-v0", provider="inprocess")
    ours 1 server, msgpack        gym.make("openenv/atari-pong-v0"): frames as raw bytes
    ours make_vec(8), K servers   gym.make_vec(..., num_envs=8, num_servers=K), msgpack batches
    ours 1 server, JSON lists     encoding="json": frames as JSON int lists, upstream's way
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import ale_py
import gymnasium as gym
import numpy as np

import openenv_gym  # noqa: F401  (registers openenv/*)

gym.register_envs(ale_py)
FRAMESKIP = 4
NUM_ENVS = 8
ACTIONS = 6


class Single:
    """One gym.Env, reset whenever an episode ends."""

    def __init__(self, env: gym.Env[Any, Any]):
        self.env = env
        self.actions = np.random.default_rng(0).integers(ACTIONS, size=1 << 16)
        self.env.reset(seed=0)
        self.t = 0

    def run(self, seconds: float) -> float:
        steps, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            for _ in range(32):
                self.t = (self.t + 1) % len(self.actions)
                _, _, terminated, truncated, _ = self.env.step(int(self.actions[self.t]))
                if terminated or truncated:
                    self.env.reset()
            steps += 32
        return steps / elapsed

    def close(self) -> None:
        self.env.close()


class Vector:
    """A vector env of NUM_ENVS sub-environments (they autoreset)."""

    def __init__(self, envs: Any):
        self.envs = envs
        self.actions = np.random.default_rng(0).integers(ACTIONS, size=(1 << 12, NUM_ENVS))
        self.envs.reset(seed=0)
        self.t = 0

    def run(self, seconds: float) -> float:
        steps, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            for _ in range(8):
                self.t = (self.t + 1) % len(self.actions)
                self.envs.step(self.actions[self.t])
            steps += 8 * NUM_ENVS
        return steps / elapsed

    def close(self) -> None:
        self.envs.close()


def ale_vector() -> Vector:
    from ale_py.vector_env import AtariVectorEnv

    return Vector(AtariVectorEnv("pong", NUM_ENVS, img_height=210, img_width=160, grayscale=False,
                                 stack_num=1, maxpool=False, noop_max=0, reward_clipping=False,
                                 use_fire_reset=False, episodic_life=False, frameskip=FRAMESKIP,
                                 repeat_action_probability=0.25))


def configurations(servers: list[int]) -> dict[str, Callable[[], Single | Vector]]:
    made: dict[str, Callable[[], Single | Vector]] = {
        "native ALE/Pong-v5": lambda: Single(gym.make("ALE/Pong-v5")),
        f"native AsyncVectorEnv({NUM_ENVS})": lambda: Vector(
            gym.make_vec("ALE/Pong-v5", num_envs=NUM_ENVS, vectorization_mode="async")),
        f"ale-py AtariVectorEnv({NUM_ENVS}), raw RGB": ale_vector,
        "ours in-process": lambda: Single(gym.make("openenv/atari-pong-v0", provider="inprocess")),
        "ours 1 server, msgpack": lambda: Single(gym.make("openenv/atari-pong-v0")),
    }
    for k in servers:
        made[f"ours make_vec({NUM_ENVS}), {k} server{'s' * (k > 1)}, msgpack"] = (
            lambda k=k: Vector(gym.make_vec("openenv/atari-pong-v0", num_envs=NUM_ENVS, num_servers=k)))
    made["ours 1 server, JSON int lists"] = lambda: Single(gym.make("openenv/atari-pong-v0", encoding="json"))
    return made


def measure(seconds: float, rounds: int, servers: list[int]) -> dict[str, list[float]]:
    """Env-steps/s of every configuration, one list of rounds each (interleaved)."""
    runners = {name: make() for name, make in configurations(servers).items()}
    results: dict[str, list[float]] = {name: [] for name in runners}
    try:
        for runner in runners.values():
            runner.run(min(seconds, 0.3))  # warm up
        for _ in range(rounds):
            for name, runner in runners.items():
                results[name].append(runner.run(seconds))
    finally:
        for runner in runners.values():
            runner.close()
    return results


def ratio(results: dict[str, float], name: str, reference: str) -> str:
    return f"{results[name] / results[reference]:.0%} of {reference}"


def report(results: dict[str, list[float]]) -> str:
    median = {name: statistics.median(rounds) for name, rounds in results.items()}
    single, vector = "native ALE/Pong-v5", f"native AsyncVectorEnv({NUM_ENVS})"
    lines = ["| configuration | env-steps/s | frames/s | compared |", "|---|---:|---:|---|"]
    for name, steps in median.items():
        if name.startswith("ours make_vec") or name.startswith("ale-py"):
            compared = ratio(median, name, vector)
        elif name.startswith("ours") and "JSON" not in name:
            compared = ratio(median, name, single)
        elif "JSON" in name:
            compared = f"binary is {median['ours 1 server, msgpack'] / steps:.0f}x faster"
        else:
            compared = "reference"
        spread = f" (rounds {min(results[name]):,.0f}-{max(results[name]):,.0f})"
        lines.append(f"| {name} | {steps:,.0f}{spread} | {steps * FRAMESKIP:,.0f} | {compared} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--seconds", type=float, default=1.5, help="seconds per configuration per round")
    args.add_argument("--rounds", type=int, default=5)
    args.add_argument("--servers", type=int, nargs="+", default=[1, 2],
                      help="server processes for make_vec (one row each)")
    ns = args.parse_args(argv)
    print(report(measure(ns.seconds, ns.rounds, ns.servers)))


if __name__ == "__main__":
    main()

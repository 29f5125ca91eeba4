"""Atari (Pong) frames per second: ale-py natively, next to ours in-process, served and vectorized.

    python bench/atari.py                  # about two minutes on 2 cores
    python bench/atari.py --seconds 1 --rounds 3 --servers 1 --plot docs/atari.png

Every configuration steps ``ALE/Pong-v5``'s game with v5 settings (frameskip 4, sticky actions
0.25, random actions, episodes reset as they end) for ``--seconds`` per round; the rounds are
interleaved (A B C ... A B C ...) so that the machine's drift hits every configuration alike,
and the median round is reported. frames/s = env-steps/s x 4.

Configurations (raw: 210x160x3 RGB frames; preprocessed: AtariVectorEnv's defaults, 84x84
grayscale, frame stack 4, max-pool, up to 30 no-ops, FIRE on reset, clipped rewards):
    native ALE/Pong-v5            gym.make, one env (the reference for single-env paths)
    native AsyncVectorEnv(8)      gym.make_vec(..., vectorization_mode="async")
    ale-py AtariVectorEnv(8)      C++ thread pool, raw, and preprocessed (the vector references)
    ours in-process               gym.make("openenv/atari-pong-v0", provider="inprocess")
    ours 1 server                 gym.make("openenv/atari-pong-v0"): default provider
    ours make_vec(8), vector      gym.make_vec(..., num_envs=8, engine="vector"): raw and
                                  preprocessed, default provider (frames in shared memory), and
                                  raw with OPENENV_SHARED_MEMORY=0 (frames in the socket), and
                                  both with provider="inprocess" (no server, no socket)
    ours make_vec(8), default     gym.make_vec(..., num_envs=8): what a user gets (the python
                                  engine on a server per core: Atari is compute_bound)
    ours make_vec(8), K servers   the default engine="python" on K server processes
    ours 1 server, JSON lists     encoding="json": frames as JSON int lists, upstream's way
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import ale_py
import gymnasium as gym
import numpy as np
from _common import loopback_round_trip_us

import openenv_gym  # noqa: F401  (registers openenv/*)
from openenv_gym.providers import make_provider

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


RAW = {"img_height": 210, "img_width": 160, "grayscale": False, "stack_num": 1, "maxpool": False,
       "noop_max": 0, "reward_clipping": False, "use_fire_reset": False, "episodic_life": False}
PREPROCESSED = {"img_height": 84, "img_width": 84, "grayscale": True, "stack_num": 4, "maxpool": True,
                "noop_max": 30, "reward_clipping": True, "use_fire_reset": True, "episodic_life": False}
"""AtariVectorEnv's own defaults (what its users train on)."""


def ale_vector(options: dict[str, Any]) -> Vector:
    from ale_py.vector_env import AtariVectorEnv

    return Vector(AtariVectorEnv("pong", NUM_ENVS, frameskip=FRAMESKIP, repeat_action_probability=0.25,
                                 **options))


def ours_vector(options: dict[str, Any], shared_memory: bool = True, provider: str = "process") -> Vector:
    """make_vec on the C++ vector engine with AtariVectorEnv's options (default provider)."""
    kwargs = {key: value for key, value in options.items() if key != "grayscale"}
    with _shared_memory(shared_memory):
        return Vector(gym.make_vec("openenv/atari-pong-v0", num_envs=NUM_ENVS, engine="vector",
                                   provider=provider, obs_type="grayscale" if options["grayscale"] else "rgb",
                                   **kwargs))


@contextlib.contextmanager
def _shared_memory(on: bool) -> Any:
    """Clients made inside ask for shared memory (the default) or not (``OPENENV_SHARED_MEMORY=0``)."""
    os.environ["OPENENV_SHARED_MEMORY"] = "1" if on else "0"
    try:
        yield
    finally:
        del os.environ["OPENENV_SHARED_MEMORY"]


def configurations(servers: list[int]) -> dict[str, Callable[[], Single | Vector]]:
    made: dict[str, Callable[[], Single | Vector]] = {
        "native ALE/Pong-v5": lambda: Single(gym.make("ALE/Pong-v5")),
        f"native AsyncVectorEnv({NUM_ENVS})": lambda: Vector(
            gym.make_vec("ALE/Pong-v5", num_envs=NUM_ENVS, vectorization_mode="async")),
        RAW_REFERENCE: lambda: ale_vector(RAW),
        PRE_REFERENCE: lambda: ale_vector(PREPROCESSED),
        "ours in-process": lambda: Single(gym.make("openenv/atari-pong-v0", provider="inprocess")),
        "ours 1 server": lambda: Single(gym.make("openenv/atari-pong-v0")),
        f"ours make_vec({NUM_ENVS}), vector engine, raw": lambda: ours_vector(RAW),
        f"ours make_vec({NUM_ENVS}), vector engine, preprocessed": lambda: ours_vector(PREPROCESSED),
        f"ours make_vec({NUM_ENVS}), vector engine, raw, frames in the socket": (
            lambda: ours_vector(RAW, shared_memory=False)),
        f"ours make_vec({NUM_ENVS}), vector engine, raw, in-process": (
            lambda: ours_vector(RAW, provider="inprocess")),
        f"ours make_vec({NUM_ENVS}), vector engine, preprocessed, in-process": (
            lambda: ours_vector(PREPROCESSED, provider="inprocess")),
    }
    default = min(NUM_ENVS, make_provider("atari").servers_by_default())
    made[f"ours make_vec({NUM_ENVS}), default (python engine, {default} server{'s' * (default > 1)})"] = (
        lambda: Vector(gym.make_vec("openenv/atari-pong-v0", num_envs=NUM_ENVS)))
    for k in servers:
        made[f"ours make_vec({NUM_ENVS}), python engine, {k} server{'s' * (k > 1)}"] = (
            lambda k=k: Vector(gym.make_vec("openenv/atari-pong-v0", num_envs=NUM_ENVS, num_servers=k)))
    made["ours 1 server, JSON int lists"] = lambda: Single(gym.make("openenv/atari-pong-v0", encoding="json"))
    return made


RAW_REFERENCE = f"ale-py AtariVectorEnv({NUM_ENVS}), raw"
PRE_REFERENCE = f"ale-py AtariVectorEnv({NUM_ENVS}), preprocessed"


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


def reference_of(name: str) -> str | None:
    """The configuration ``name`` is compared with (None: it is a reference)."""
    if name.startswith(("native", "ale-py")):
        return None
    if "preprocessed" in name:
        return PRE_REFERENCE
    if name.startswith("ours make_vec"):
        return RAW_REFERENCE
    return "ours 1 server" if "JSON" in name else "native ALE/Pong-v5"


def report(results: dict[str, list[float]]) -> str:
    median = {name: statistics.median(rounds) for name, rounds in results.items()}
    lines = ["| configuration | env-steps/s (min-max) | frames/s | compared |", "|---|---:|---:|---|"]
    for name, steps in median.items():
        reference = reference_of(name)
        compared = "reference" if reference is None else f"{steps / median[reference]:.2f}x of {reference}"
        spread = f" ({min(results[name]):,.0f}-{max(results[name]):,.0f})"
        lines.append(f"| {name} | {steps:,.0f}{spread} | {steps * FRAMESKIP:,.0f} | {compared} |")
    return "\n".join(lines)


def plot(results: dict[str, list[float]], path: str) -> None:
    """Each of ours as a ratio of its reference, every round's ratio a dot, the median a bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ours = [name for name in results if reference_of(name) is not None and "JSON" not in name]
    ratios = [[r / ref for r, ref in zip(results[name], results[reference_of(name) or name], strict=True)]
              for name in ours]
    figure, axes = plt.subplots(figsize=(11, 0.45 * len(ours) + 1.2))
    axes.barh(range(len(ours)), [statistics.median(r) for r in ratios], color="#4c72b0")
    for y, r in enumerate(ratios):
        axes.plot(r, [y] * len(r), "k.", markersize=4)
    axes.axvline(1.0, color="gray", linewidth=1)
    axes.set_yticks(range(len(ours)), [f"{name}\n(vs {reference_of(name)})" for name in ours], fontsize=7)
    axes.invert_yaxis()
    axes.set_xlabel("env-steps/s as a ratio of the reference (rounds interleaved; dots: rounds)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--seconds", type=float, default=1.5, help="seconds per configuration per round")
    args.add_argument("--rounds", type=int, default=5)
    args.add_argument("--servers", type=int, nargs="+", default=[1, 2],
                      help="server processes for make_vec on the python engine (one row each)")
    args.add_argument("--plot", help="write a chart of the ratios to this PNG")
    ns = args.parse_args(argv)
    results = measure(ns.seconds, ns.rounds, ns.servers)
    print(report(results))
    native_us = 1e6 / statistics.median(results["native ALE/Pong-v5"])
    print(f"\nA bare 64-byte TCP round trip between two processes here: {loopback_round_trip_us():.0f} µs "
          f"(a native Pong step: {native_us:.0f} µs)")
    if ns.plot:
        plot(results, ns.plot)


if __name__ == "__main__":
    main()

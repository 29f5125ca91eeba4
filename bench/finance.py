"""Finance environment steps per second: the bare environment next to its Gym faces.

Every configuration trades the five default S&P 500 stocks with the same trade sizes each day
(``[0.1, -0.1, 0.2, 0.0, 0.3]``), resetting when the one-year window ends:

  a. ``FinanceEnvironment.step`` called directly: no protocol, no Gym (the reference)
  b. ``gym.make("openenv/finance-v0", provider="inprocess")``
  c. ``gym.make("openenv/finance-v0")``: a local server process, WebSocket
  d. ``gym.make_vec("openenv/finance-v0", num_envs=16, provider="inprocess")`` (env-steps/s)

Configurations run one after another in each round (the order rotates); the table gives the
median over rounds. Run from the repository root (defaults take about 30 s)::

    python bench/finance.py
    python bench/finance.py --steps 20000 --rounds 5
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
from _common import header, machine

import openenv_gym  # noqa: F401  (registers openenv/finance-v0)
from openenv_gym.envs.finance import FinanceAction, FinanceEnvironment

TRADES = [0.1, -0.1, 0.2, 0.0, 0.3]
VECTOR_ENVS = 16
PACKAGES = ("openenv-gym", "gymnasium", "pydantic", "numpy", "websockets", "uvicorn")

Step = Callable[[], int]
"""One call of the agent; returns how many environment steps it made."""


def bare(stack: contextlib.ExitStack) -> Step:
    env, action = FinanceEnvironment(), FinanceAction(actions=TRADES)
    env.reset(seed=0)

    def step() -> int:
        if env.step(action).truncated:
            env.reset()
        return 1

    return step


def single(**kwargs: object) -> Callable[[contextlib.ExitStack], Step]:
    def build(stack: contextlib.ExitStack) -> Step:
        env = gym.make("openenv/finance-v0", **kwargs)
        stack.callback(env.close)
        env.reset(seed=0)
        action = np.array(TRADES, np.float32)

        def step() -> int:
            if env.step(action)[3]:
                env.reset()
            return 1

        return step

    return build


def vector(stack: contextlib.ExitStack) -> Step:
    envs = gym.make_vec("openenv/finance-v0", num_envs=VECTOR_ENVS, provider="inprocess")
    stack.callback(envs.close)
    envs.reset(seed=0)
    actions = np.tile(np.array(TRADES, np.float32), (VECTOR_ENVS, 1))

    def step() -> int:
        envs.step(actions)  # next-step autoreset at the end of a window
        return VECTOR_ENVS

    return step


CONFIGS: dict[str, tuple[str, Callable[[contextlib.ExitStack], Step]]] = {
    "a": ("FinanceEnvironment.step, direct (reference)", bare),
    "b": ("gym.make, provider='inprocess'", single(provider="inprocess")),
    "c": ("gym.make, local server process (WebSocket)", single()),
    "d": (f"gym.make_vec({VECTOR_ENVS}, provider='inprocess')", vector),
}


def rate(step: Step, steps: int) -> float:
    done, started = 0, time.perf_counter()
    while done < steps:
        done += step()
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10_000, help="timed env-steps per round (default 10000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    args = parser.parse_args()
    print(header(machine(PACKAGES)))
    rates: dict[str, list[float]] = {key: [] for key in CONFIGS}
    with contextlib.ExitStack() as stack:
        steps = {key: build(stack) for key, (_, build) in CONFIGS.items()}
        for index in range(args.rounds):
            keys = list(CONFIGS)[index % len(CONFIGS):] + list(CONFIGS)[:index % len(CONFIGS)]
            for key in keys:
                rate(steps[key], args.steps // 10)  # warm-up
                rates[key].append(rate(steps[key], args.steps))
    reference = statistics.median(rates["a"])
    print("| config | env-steps/s (median) | range over rounds | vs direct (a) |\n|---|---:|---:|---:|")
    for key, (label, _) in CONFIGS.items():
        median = statistics.median(rates[key])
        print(f"| {key}. {label} | {median:,.0f} | {min(rates[key]):,.0f}-{max(rates[key]):,.0f} "
              f"| {median / reference:.0%} |")


if __name__ == "__main__":
    main()

"""Step latency of the coding environment: what the sandbox costs per step.

Every configuration runs the step ``x += 1`` (after ``x = 0``) over and over, each step timed
on its own:

  a. ``exec("x += 1", namespace)`` in this process: no sandbox (the reference)
  b. ``CodingEnvironment.step`` called directly: a round trip to the worker process over pipes
  c. ``gym.make("openenv/coding-v0", provider="inprocess")``
  d. ``gym.make("openenv/coding-v0")``: a local server process, WebSocket
  e. ``gym.make(..., provider="inprocess", task="fibonacci")``: a task episode, whose steps also
     call the task's function on its test cases (a second round trip)

and ``reset`` (a fresh interpreter: a new worker process, its namespaces and scratch directory)
in-process. Configurations run one after another in each round (the order rotates); the table
gives the median over rounds of each round's median and p99. Run from the repository root
(defaults take about 10 s)::

    python bench/coding.py
    python bench/coding.py --steps 5000 --rounds 5
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
from _common import header, machine

import openenv_gym  # noqa: F401  (registers openenv/coding-v0)
from openenv_gym.benchmark import percentile
from openenv_gym.envs.coding import CodingAction, CodingEnvironment

CODE = "x += 1"
PACKAGES = ("openenv-gym", "gymnasium", "pydantic", "websockets", "uvicorn")
RESETS_PER_ROUND = 20

Step = Callable[[], Any]


def plain_exec(stack: contextlib.ExitStack) -> Step:
    namespace: dict[str, Any] = {"x": 0}
    code = compile(CODE, "<cell>", "exec")
    return lambda: exec(code, namespace)


def direct(stack: contextlib.ExitStack) -> Step:
    env = CodingEnvironment()
    stack.callback(env.close)
    env.reset()
    env.step(CodingAction(code="x = 0"))
    action = CodingAction(code=CODE)
    return lambda: env.step(action)


def gym_env(**kwargs: Any) -> Callable[[contextlib.ExitStack], Step]:
    def build(stack: contextlib.ExitStack) -> Step:
        env = gym.make("openenv/coding-v0", **kwargs)
        stack.callback(env.close)
        env.reset(seed=0)
        env.step("x = 0")
        return lambda: env.step(CODE)

    return build


def resets(stack: contextlib.ExitStack) -> Step:
    env = CodingEnvironment()
    stack.callback(env.close)
    return env.reset


CONFIGS: dict[str, tuple[str, Callable[[contextlib.ExitStack], Step]]] = {
    "a": ("exec() in this process, no sandbox (reference)", plain_exec),
    "b": ("CodingEnvironment.step, direct", direct),
    "c": ("gym.make, provider='inprocess'", gym_env(provider="inprocess")),
    "d": ("gym.make, local server process (WebSocket)", gym_env()),
    "e": ("gym.make, provider='inprocess', task='fibonacci'",
          gym_env(provider="inprocess", task="fibonacci")),
    "r": ("reset: a fresh interpreter (in-process)", resets),
}


def timings(step: Step, steps: int) -> list[float]:
    samples = []
    for _ in range(steps):
        started = time.perf_counter()
        step()
        samples.append(time.perf_counter() - started)
    return sorted(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000, help="timed steps per round (default 2000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    args = parser.parse_args()
    print(header(machine(PACKAGES)))
    results: dict[str, list[tuple[float, float]]] = {key: [] for key in CONFIGS}
    with contextlib.ExitStack() as stack:
        steps = {key: build(stack) for key, (_, build) in CONFIGS.items()}
        for index in range(args.rounds):
            keys = list(CONFIGS)[index % len(CONFIGS):] + list(CONFIGS)[:index % len(CONFIGS)]
            for key in keys:
                count = RESETS_PER_ROUND if key == "r" else args.steps
                timings(steps[key], max(count // 10, 1))  # warm-up
                samples = timings(steps[key], count)
                results[key].append((statistics.median(samples), percentile(samples, 0.99)))
    print("| config | median | p99 | steps/s |\n|---|---:|---:|---:|")
    for key, (label, _) in CONFIGS.items():
        median = statistics.median(m for m, _ in results[key])
        p99 = statistics.median(p for _, p in results[key])
        print(f"| {key}. {label} | {median * 1e6:,.1f} µs | {p99 * 1e6:,.1f} µs | {1 / median:,.0f} |")


if __name__ == "__main__":
    main()

"""What a container costs: start time and per-step latency, Docker next to a local process.

Measured in one run, on the echo environment (the server's own work is negligible, so the
differences are the providers'):

* start time: ``provider.start()`` until ``/health`` answers, the image already built, for
  ``ProcessProvider``, ``DockerProvider`` (isolated network: the container's own address) and
  ``DockerProvider(internet=True)`` (a loopback published port, through Docker's proxy);
* per-step latency of ``gym.make("openenv/echo-v0", provider=...)`` over each of the three,
  interleaved in rounds (the order rotates) like ``bench/step_latency.py``.

Needs a Docker engine (``.ci/docker-engine.sh``). (Not ``bench/docker.py``: run as a script, that
name would hide the ``docker`` package.) Run from the repository root::

    python bench/containers.py
    python bench/containers.py --starts 10 --steps 5000 --rounds 5 --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
from _common import header, machine
from step_latency import time_steps

import openenv_gym  # noqa: F401  (registers the ids)
from openenv_gym.catalog import bundled
from openenv_gym.providers import DockerProvider, ProcessProvider, ServerProvider, build_image

CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "process": ("local process (ProcessProvider)", {}),
    "docker": ("Docker, isolated network (default)", {}),
    "docker-port": ("Docker, internet=True (loopback published port)", {"internet": True}),
}


def make_server(key: str, image: str) -> ServerProvider:
    if key == "process":
        return ProcessProvider(bundled("echo").app)
    return DockerProvider("echo", image=image, **CONFIGS[key][1])


def start_times(image: str, starts: int) -> dict[str, list[float]]:
    """Seconds from ``start()`` to a healthy server, ``starts`` times each (interleaved)."""
    times: dict[str, list[float]] = {key: [] for key in CONFIGS}
    for _ in range(starts):
        for key in CONFIGS:
            server = make_server(key, image)
            began = time.perf_counter()
            server.start()
            times[key].append(time.perf_counter() - began)
            server.stop()
    return times


def step_rounds(image: str, steps: int, rounds: int, warmup: int) -> dict[str, list[dict[str, float]]]:
    """Per-step timings of ``gym.make`` over each provider, rounds interleaved."""
    measured: dict[str, list[dict[str, float]]] = {key: [] for key in CONFIGS}
    with contextlib.ExitStack() as stack:
        step_of: dict[str, Callable[[], Any]] = {}
        for key in CONFIGS:
            server = stack.enter_context(make_server(key, image))
            env = gym.make("openenv/echo-v0", provider=server)
            stack.callback(env.close)
            env.reset(seed=0)
            step_of[key] = lambda env=env: env.step("hello")
        keys = list(CONFIGS)
        for index in range(rounds):
            for key in keys[index % len(keys):] + keys[:index % len(keys)]:
                for _ in range(warmup):
                    step_of[key]()
                gc.collect()
                measured[key].append(time_steps(step_of[key], steps))
    return measured


def summary(starts: dict[str, list[float]], steps: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    rows = {key: {"label": CONFIGS[key][0], "start_s": statistics.median(starts[key]),
                  **{stat: statistics.median(r[stat] for r in steps[key]) for stat in steps[key][0]}}
            for key in CONFIGS}
    base = rows["process"]
    for row in rows.values():
        row["start_vs_process"] = row["start_s"] / base["start_s"]
        row["step_vs_process"] = row["median_us"] / base["median_us"]
    return rows


def markdown_table(rows: dict[str, Any]) -> str:
    lines = ["| provider | start, s | x process | step median µs | p99 µs | steps/s | x process (median) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows.values():
        lines.append(f"| {row['label']} | {row['start_s']:.2f} | {row['start_vs_process']:.2f}x "
                     f"| {row['median_us']:.0f} | {row['p99_us']:.0f} | {row['steps_per_s']:,.0f} "
                     f"| {row['step_vs_process']:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=5, help="starts per provider (default 5)")
    parser.add_argument("--steps", type=int, default=2000, help="timed steps per round (default 2000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--warmup", type=int, default=100, help="untimed steps per round (default 100)")
    parser.add_argument("--tag", default="openenv-gym/echo:latest", help="the echo image to build and run")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    info = machine(("openenv-gym", "docker", "uvicorn", "websockets"))
    image = build_image("echo", args.tag)
    starts = start_times(image, args.starts)
    rows = summary(starts, step_rounds(image, args.steps, args.rounds, args.warmup))
    print(header(info))
    print(f"echo image {image}; {args.starts} starts each, {args.rounds} rounds x {args.steps} steps\n")
    print(markdown_table(rows))
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "args": vars(args) | {"json": str(args.json)},
                                         "starts": starts, "results": rows}, indent=1))


if __name__ == "__main__":
    main()

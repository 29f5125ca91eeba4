"""Sessions of untrusted code over containers: all in one container, or one container each.

``gym.make_vec("openenv/coding-v0", num_envs=N, provider="docker")`` with ``num_servers=1``
(every session in one container, each in bubblewrap as a user id of its own: the default here,
one server per core but one) and ``num_servers=N`` (one container per session). For each:

* start: ``make_vec`` and the first ``reset`` until every session is ready, seconds;
* memory: the containers' memory use after a reset and a step, per session (the engine's
  ``stats``: what counts against each container's ``memory`` limit);
* steps/s: of the vector env, stepping ``x = 1`` in every sub-env, interleaved rounds.

Run from the repository root (needs a Docker engine; the image is built if missing, under
``--tag``, so the one other checkouts use is not replaced)::

    python bench/coding_containers.py --envs 8 --steps 200 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
from _common import header, machine

import openenv_gym  # noqa: F401  (registers the ids)
from openenv_gym.providers import build_image
from openenv_gym.providers.containers.engine import docker_client, owner_label


def containers() -> list[Any]:
    return docker_client().containers.list(filters={"label": [f"openenv-gym.owner={owner_label()}",
                                                              "openenv-gym.env=coding"]})


def memory_mb() -> float:
    """Memory the coding containers of this process use now, MB (page cache excluded)."""
    total = 0
    for container in containers():
        stats = container.stats(stream=False, one_shot=True)["memory_stats"]
        total += stats["usage"] - stats.get("stats", {}).get("cache", 0)
    return total / 2**20


def open_vector(image: str, envs: int, servers: int) -> tuple[Any, float]:
    began = time.perf_counter()
    vector = gym.make_vec("openenv/coding-v0", num_envs=envs, provider="docker", num_servers=servers,
                          provider_options={"image": image})
    vector.reset(seed=0)
    return vector, time.perf_counter() - began


def steps_per_s(vector: Any, envs: int, steps: int) -> float:
    actions = ["x = 1"] * envs
    for _ in range(10):
        vector.step(actions)
    began = time.perf_counter()
    for _ in range(steps):
        vector.step(actions)
    return steps * envs / (time.perf_counter() - began)


def measure(image: str, envs: int, servers: int, steps: int) -> dict[str, float]:
    vector, start_s = open_vector(image, envs, servers)
    try:
        vector.step(["print(1)"] * envs)
        memory = memory_mb()
        return {"start_s": start_s, "memory_mb_per_session": memory / envs, "steps_per_s": steps_per_s(
            vector, envs, steps), "containers": len(containers())}
    finally:
        vector.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=200, help="timed vector steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tag", default="openenv-gym/coding:latest", help="the image to build and run")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    info = machine(("openenv-gym", "docker", "uvicorn", "websockets"))
    image = build_image("coding", args.tag)
    layouts = {"one container, a bubblewrap sandbox per session": 1,
               "one container per session": args.envs}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in layouts}
    for _ in range(args.rounds):
        for name, servers in layouts.items():
            runs[name].append(measure(image, args.envs, servers, args.steps))
    print(header(info))
    print(f"{image}; make_vec({args.envs}); {args.rounds} rounds x {args.steps} vector steps; medians\n")
    print("| layout | containers | start, s | memory per session, MB | steps/s |\n|---|---:|---:|---:|---:|")
    for name, rows in runs.items():
        med = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
        print(f"| {name} | {med['containers']:.0f} | {med['start_s']:.2f} "
              f"| {med['memory_mb_per_session']:.0f} | {med['steps_per_s']:,.0f} |")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()

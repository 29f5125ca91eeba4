"""``make_vec(N)`` on Ray next to the process provider: env-steps/s and start-up time.

A three-node Ray cluster runs on this machine (``ray.cluster_utils.Cluster``: one raylet per
node, 2 logical CPUs each). Configurations, each a ``gym.make_vec("openenv/echo-v0",
num_envs=N)``:

  a. ``provider="process"``: the default (one server per core but one)
  b. ``provider="process", num_servers=3``: as many servers as the Ray run has
  c. ``provider="ray"``: one server actor per node (three), placed by Ray

All are opened first (the seconds to ``make_vec`` + the first ``reset`` are reported), then
measured in interleaved rounds (the order rotates each round) so that a busy machine's noise
hits them alike: a short warm-up, then vector steps for ``--seconds``; the median across rounds
of env-steps/s, and each one's ratio to (a).

Run from the repository root (needs the ``[ray]`` extra; about a minute)::

    python bench/ray_cluster.py
    python bench/ray_cluster.py --envs 64 --seconds 3 --rounds 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import ray
from _common import header, machine
from ray.cluster_utils import Cluster

import openenv_gym  # noqa: F401  (registers the ids)

CONFIGS: dict[str, dict[str, Any]] = {
    "process (default servers)": {"provider": "process"},
    "process, 3 servers": {"provider": "process", "num_servers": 3},
    "ray, 3 nodes": {"provider": "ray"},
}


def open_all(num_envs: int) -> tuple[dict[str, Any], dict[str, float]]:
    envs, startup = {}, {}
    for name, options in CONFIGS.items():
        started = time.perf_counter()
        envs[name] = gym.make_vec("openenv/echo-v0", num_envs=num_envs, **options)
        envs[name].reset(seed=0)
        startup[name] = time.perf_counter() - started
    return envs, startup


def steps_per_second(envs: Any, seconds: float) -> float:
    actions = ["hello"] * envs.num_envs
    for _ in range(20):
        envs.step(actions)
    steps, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        envs.step(actions)
        steps += 1
    return steps * envs.num_envs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
    for _ in range(2):
        cluster.add_node(num_cpus=2)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    envs: dict[str, Any] = {}
    try:
        envs, startup = open_all(args.envs)
        rates: dict[str, list[float]] = {name: [] for name in CONFIGS}
        names = list(CONFIGS)
        for round_ in range(args.rounds):
            for name in names[round_ % len(names):] + names[:round_ % len(names)]:
                rates[name].append(steps_per_second(envs[name], args.seconds))
    finally:
        for vector in envs.values():
            vector.close()
        ray.shutdown()
        cluster.shutdown()

    info = machine(("openenv-gym", "gymnasium", "ray", "uvicorn", "websockets"))
    base = statistics.median(rates[names[0]])
    print(header(info))
    print(f"make_vec('openenv/echo-v0', num_envs={args.envs}); {args.rounds} rounds of {args.seconds:g} s\n")
    print(f"{'configuration':<28}{'env-steps/s':>14}{'vs a.':>8}{'start + reset':>16}")
    results = {}
    for name in names:
        median = statistics.median(rates[name])
        results[name] = {"env_steps_per_s": median, "ratio": median / base, "startup_s": startup[name],
                         "rounds": rates[name]}
        print(f"{name:<28}{median:>14,.0f}{median / base:>7.2f}x{startup[name]:>15.2f}s")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "envs": args.envs, "results": results}, indent=1))


if __name__ == "__main__":
    main()

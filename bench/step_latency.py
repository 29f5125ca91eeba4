"""Per-step latency of one echo environment: openenv-gym next to upstream openenv-core.

One session steps the message "hello" over and over; every step is timed on its own. Five
configurations are measured in the same run:

  a. ``gym.make("openenv/echo-v0", provider="inprocess")``: ours, no socket
  b. ``gym.make("openenv/echo-v0")``: ours, a local server process over WebSocket
  c. upstream: an echo env on upstream's ``create_app``, served by ``uvicorn`` in a child
     process (as upstream documents it), driven by upstream's ``GenericEnvClient(...).sync()``
  d. ``gym.make("openenv/remote-v0", base_url=...)``: our Gym layer over that upstream server
  e. ``openenv_gym.EnvClient(url).sync()``: our raw client on our echo server (no Gym layer)

The configurations are interleaved in rounds (the order rotates each round) so that the noise
of a busy machine hits them all alike. In each round each configuration takes ``--warmup``
untimed steps, then ``--steps`` timed ones. The table gives, per configuration, the median
across rounds of the round's median latency, p99 latency and steps/s, and the ratios versus
upstream (c) (above 1 means faster than upstream).

Run from the repository root (defaults take well under two minutes)::

    python bench/step_latency.py
    python bench/step_latency.py --steps 20000 --rounds 7 --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
from _common import header, machine, start_upstream_server

import openenv_gym
from openenv_gym.providers import ProcessProvider

MESSAGE = "hello"
ACTION = {"message": MESSAGE}
OUR_ECHO_APP = "openenv_gym.envs.echo.app:app"
REFERENCE = "c"

Step = Callable[[], Any]


@dataclass
class Config:
    """One configuration: how to build its step function, and its timings."""

    key: str
    label: str
    build: Callable[[contextlib.ExitStack, str], Step]
    step: Step | None = None
    rounds: list[dict[str, float]] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        """Medians across rounds of each per-round statistic."""
        return {stat: statistics.median(r[stat] for r in self.rounds) for stat in self.rounds[0]}


# --- servers -----------------------------------------------------------------------------

def start_our_server(stack: contextlib.ExitStack) -> str:
    """Our echo server in a child process (what ``gym.make`` starts); returns its URL."""
    provider = ProcessProvider(OUR_ECHO_APP)
    stack.callback(provider.stop)
    return provider.start()


# --- the five configurations -----------------------------------------------------------

def _gym_env(stack: contextlib.ExitStack, env_id: str, **kwargs: Any) -> Step:
    env = gym.make(env_id, **kwargs)
    stack.callback(env.close)
    env.reset(seed=0)
    return lambda: env.step(MESSAGE)


def _sync_client(stack: contextlib.ExitStack, client: Any) -> Step:
    stack.callback(client.close)
    client.connect()
    client.reset()
    return lambda: client.step(ACTION)


def build_inprocess(stack: contextlib.ExitStack, upstream_url: str) -> Step:
    return _gym_env(stack, "openenv/echo-v0", provider="inprocess")


def build_process(stack: contextlib.ExitStack, upstream_url: str) -> Step:
    return _gym_env(stack, "openenv/echo-v0")


def build_upstream(stack: contextlib.ExitStack, upstream_url: str) -> Step:
    from openenv.core import GenericEnvClient

    return _sync_client(stack, GenericEnvClient(base_url=upstream_url).sync())


def build_remote_upstream(stack: contextlib.ExitStack, upstream_url: str) -> Step:
    return _gym_env(stack, "openenv/remote-v0", base_url=upstream_url)


def build_raw_client(stack: contextlib.ExitStack, upstream_url: str) -> Step:
    return _sync_client(stack, openenv_gym.EnvClient(start_our_server(stack)).sync())


CONFIGS = [
    ("a", "ours, gym.make inprocess (no socket)", build_inprocess),
    ("b", "ours, gym.make (local server process, WebSocket)", build_process),
    ("c", "upstream server + upstream GenericEnvClient.sync()", build_upstream),
    ("d", "ours, gym.make remote-v0 on the upstream server", build_remote_upstream),
    ("e", "ours, raw EnvClient.sync() on our server (no Gym)", build_raw_client),
]


def _echoed(result: Any) -> str:
    observation = result[0] if isinstance(result, tuple) else result.observation
    return observation["echoed_message"]


# --- measuring ---------------------------------------------------------------------------

def time_steps(step: Step, steps: int) -> dict[str, float]:
    """Time ``steps`` calls of ``step`` one by one: median and p99 (µs) and steps/s."""
    clock = time.perf_counter_ns
    samples = [0] * steps
    start = clock()
    for i in range(steps):
        t0 = clock()
        step()
        samples[i] = clock() - t0
    elapsed_s = (clock() - start) / 1e9
    samples.sort()
    return {"median_us": samples[len(samples) // 2] / 1e3,
            "p99_us": samples[min(len(samples) - 1, int(len(samples) * 0.99))] / 1e3,
            "steps_per_s": steps / elapsed_s}


def run_round(configs: list[Config], index: int, steps: int, warmup: int) -> None:
    """One round: every configuration in turn, starting one further along each round."""
    for config in configs[index % len(configs):] + configs[:index % len(configs)]:
        assert config.step is not None
        for _ in range(warmup):
            config.step()
        gc.collect()  # the previous configuration's garbage is not this one's to pay for
        config.rounds.append(time_steps(config.step, steps))


def build_all(stack: contextlib.ExitStack) -> list[Config]:
    upstream_url = start_upstream_server(stack)
    configs = [Config(key, label, build) for key, label, build in CONFIGS]
    for config in configs:
        config.step = config.build(stack, upstream_url)
        echoed = _echoed(config.step())
        if echoed != MESSAGE:
            raise RuntimeError(f"({config.key}) echoed {echoed!r}, not {MESSAGE!r}")
    return configs


# --- reporting ---------------------------------------------------------------------------

def results(configs: list[Config]) -> dict[str, dict[str, Any]]:
    reference = next(c for c in configs if c.key == REFERENCE).summary()
    out = {}
    for config in configs:
        summary = config.summary()
        out[config.key] = {
            "label": config.label, **summary,
            "latency_vs_upstream": reference["median_us"] / summary["median_us"],
            "throughput_vs_upstream": summary["steps_per_s"] / reference["steps_per_s"],
            "rounds": config.rounds,
        }
    return out


def markdown_table(rows: dict[str, dict[str, Any]]) -> str:
    lines = ["| config | median µs | p99 µs | steps/s | speed-up vs (c), median | vs (c), steps/s |",
             "|---|---:|---:|---:|---:|---:|"]
    for key, row in rows.items():
        lines.append(f"| {key}. {row['label']} | {row['median_us']:.1f} | {row['p99_us']:.1f} "
                     f"| {row['steps_per_s']:,.0f} | {row['latency_vs_upstream']:.2f}x "
                     f"| {row['throughput_vs_upstream']:.2f}x |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5000, help="timed steps per round (default 5000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--warmup", type=int, default=200,
                        help="untimed steps before each timed block (default 200)")
    parser.add_argument("--json", type=Path, help="also write the results (with every round) here")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--steps and --rounds must be >= 1, --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    info = machine()
    print(header(info))
    print(f"message {MESSAGE!r}: {args.rounds} rounds x {args.steps} timed steps "
          f"(+{args.warmup} warm-up) per configuration\n")
    with contextlib.ExitStack() as stack:  # closes every client, then every server
        configs = build_all(stack)
        for index in range(args.rounds):
            started = time.perf_counter()
            run_round(configs, index, args.steps, args.warmup)
            print(f"round {index + 1}/{args.rounds}: {time.perf_counter() - started:.1f} s",
                  file=sys.stderr)
    rows = results(configs)
    print(markdown_table(rows))
    if args.json is not None:
        report = {"machine": info, "message": MESSAGE, "steps": args.steps, "rounds": args.rounds,
                  "warmup": args.warmup, "results": rows}
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()

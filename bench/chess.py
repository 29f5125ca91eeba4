"""Random-vs-random chess, plies per second: our environment next to a bare python-chess loop.

Every configuration does the same work per ply: pick a uniformly random legal move, play it,
check whether the game is over (and start a new game when it is, or after 500 plies):

  a. bare python-chess: ``list(board.legal_moves)``, ``random.choice``, ``board.push``,
     ``board.outcome()``; no environment at all (the reference)
  b. ``gym.make("openenv/chess-v0", provider="inprocess", opponent="none")``: the agent picks
     from ``obs["legal_moves"]`` and sends the UCI string
  c. the same with ``action_format="discrete"``: the agent picks from ``obs["action_mask"]``
  d. ``gym.make("openenv/chess-v0", opponent="none")``: a local server process, WebSocket
  e. ``gym.make_vec("openenv/chess-v0", num_envs=16, opponent="none")``: local server processes
  f. the same vector env with ``provider="inprocess"``

The configurations are interleaved in rounds (the order rotates each round), so that the
noise of a busy machine hits them all alike; each round runs ``--warmup`` untimed plies and then
``--plies`` timed plies per configuration. The table gives the median plies/s across rounds and
the ratio to the bare loop (a). The target: in-process (b) at >= 50% of the bare loop.

Run from the repository root (defaults take about 35 s)::

    python bench/chess.py
    python bench/chess.py --plies 20000 --rounds 7 --json out.json
"""

# ruff: noqa: E402  (the path fix below must run before `import chess`)
from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.append(sys.path.pop(0))  # run as bench/chess.py: `import chess` must find python-chess first

import argparse
import contextlib
import gc
import json
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import chess
import gymnasium as gym
import numpy as np
from _common import header, machine

import openenv_gym  # noqa: F401  (registers openenv/chess-v0)

MAX_PLIES = 500
VECTOR_ENVS = 16
REFERENCE = "a"
PACKAGES = ("openenv-gym", "chess", "gymnasium", "pydantic", "websockets", "uvicorn", "numpy")

Step = Callable[[], int]
"""One decision of the agent(s); returns how many plies it played."""


@dataclass
class Config:
    key: str
    label: str
    build: Callable[[contextlib.ExitStack], Step]
    step: Step | None = None
    rates: list[float] = field(default_factory=list)


def build_bare(stack: contextlib.ExitStack) -> Step:
    rng, board = random.Random(0), chess.Board()

    def step() -> int:
        nonlocal board
        board.push(rng.choice(list(board.legal_moves)))
        if board.outcome() is not None or board.ply() >= MAX_PLIES:
            board = chess.Board()
        return 1

    return step


def _gym_env(stack: contextlib.ExitStack, **kwargs: Any) -> tuple[Any, Any]:
    env = gym.make("openenv/chess-v0", opponent="none", max_plies=MAX_PLIES, **kwargs)
    stack.callback(env.close)
    obs, _ = env.reset(seed=0)
    return env, obs


def build_gym(**kwargs: Any) -> Callable[[contextlib.ExitStack], Step]:
    def build(stack: contextlib.ExitStack) -> Step:
        env, obs = _gym_env(stack, **kwargs)
        rng = random.Random(0)

        def step() -> int:
            nonlocal obs
            obs, _, terminated, truncated, _ = env.step(rng.choice(obs["legal_moves"]))
            if terminated or truncated:
                obs, _ = env.reset()
            return 1

        return step

    return build


def build_discrete(stack: contextlib.ExitStack) -> Step:
    env, obs = _gym_env(stack, provider="inprocess", action_format="discrete")
    rng = random.Random(0)

    def step() -> int:
        nonlocal obs
        action = int(rng.choice(np.flatnonzero(obs["action_mask"])))
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            obs, _ = env.reset()
        return 1

    return step


def build_vector(**kwargs: Any) -> Callable[[contextlib.ExitStack], Step]:
    def build(stack: contextlib.ExitStack) -> Step:
        envs = gym.make_vec("openenv/chess-v0", num_envs=VECTOR_ENVS, opponent="none",
                            max_plies=MAX_PLIES, **kwargs)
        stack.callback(envs.close)
        obs, _ = envs.reset(seed=0)
        rng = random.Random(0)

        def step() -> int:
            nonlocal obs
            # NEXT_STEP autoreset: the step after a game's end resets it (any move is ignored)
            obs, *_ = envs.step([rng.choice(moves) if moves else "" for moves in obs["legal_moves"]])
            return VECTOR_ENVS

        return step

    return build


def configs() -> list[Config]:
    return [
        Config("a", "bare python-chess loop (reference)", build_bare),
        Config("b", "ours, gym.make inprocess, text (UCI from obs['legal_moves'])",
               build_gym(provider="inprocess")),
        Config("c", "ours, gym.make inprocess, discrete (from obs['action_mask'])", build_discrete),
        Config("d", "ours, gym.make (local server process, WebSocket), text", build_gym()),
        Config("e", f"ours, gym.make_vec({VECTOR_ENVS}) (local server processes), text", build_vector()),
        Config("f", f"ours, gym.make_vec({VECTOR_ENVS}, provider='inprocess'), text",
               build_vector(provider="inprocess")),
    ]


def run_plies(step: Step, plies: int) -> float:
    """Plies/s of at least ``plies`` plies."""
    done, started = 0, time.perf_counter()
    while done < plies:
        done += step()
    return done / (time.perf_counter() - started)


def run_round(configs: list[Config], index: int, plies: int, warmup: int) -> None:
    order = configs[index % len(configs):] + configs[:index % len(configs)]
    for config in order:
        assert config.step is not None
        run_plies(config.step, warmup)
        gc.collect()
        gc.disable()
        try:
            config.rates.append(run_plies(config.step, plies))
        finally:
            gc.enable()


def results(configs: list[Config]) -> dict[str, dict[str, Any]]:
    reference = statistics.median(next(c for c in configs if c.key == REFERENCE).rates)
    rows = {}
    for config in configs:
        rate = statistics.median(config.rates)
        rows[config.key] = {"label": config.label, "plies_per_s": rate, "vs_bare": rate / reference,
                            "min": min(config.rates), "max": max(config.rates), "rounds": config.rates}
    return rows


def markdown_table(rows: dict[str, dict[str, Any]]) -> str:
    lines = ["| config | plies/s (median) | range over rounds | vs bare loop (a) |", "|---|---:|---:|---:|"]
    for key, row in rows.items():
        lines.append(f"| {key}. {row['label']} | {row['plies_per_s']:,.0f} "
                     f"| {row['min']:,.0f}-{row['max']:,.0f} | {row['vs_bare']:.0%} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plies", type=int, default=10_000, help="timed plies per round (default 10000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--warmup", type=int, default=500, help="untimed plies per block (default 500)")
    parser.add_argument("--json", type=Path, help="also write the results (with every round) here")
    args = parser.parse_args(argv)
    if args.plies < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--plies and --rounds must be >= 1, --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    info = machine(PACKAGES)
    print(header(info))
    print(f"random vs random: {args.rounds} rounds x {args.plies} timed plies (+{args.warmup} warm-up)\n")
    all_configs = configs()
    with contextlib.ExitStack() as stack:
        for config in all_configs:
            config.step = config.build(stack)
        for index in range(args.rounds):
            started = time.perf_counter()
            run_round(all_configs, index, args.plies, args.warmup)
            print(f"round {index + 1}/{args.rounds}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    rows = results(all_configs)
    print(markdown_table(rows))
    target = rows["b"]["vs_bare"]
    print(f"\ntarget (b >= 50% of a): {'met' if target >= 0.5 else 'MISSED'} ({target:.0%})")
    if args.json is not None:
        args.json.write_text(json.dumps({"machine": info, "plies": args.plies, "rounds": args.rounds,
                                         "warmup": args.warmup, "results": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()

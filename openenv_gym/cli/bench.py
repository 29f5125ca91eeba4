"""``openenv-gym bench ENV_ID``: env-steps/s of a Gym id's vector environment on this machine.

For each ``--num-envs`` N: ``gym.make_vec(ENV_ID, num_envs=N, provider=...)``, a reset, a short
warm-up, then ``--steps`` timed vector steps (each steps all N sessions once, with one batch of
actions: ``--action`` for every sub-environment, or a seeded sample of the action space) behind
a progress bar (tqdm); only the ``step`` calls are timed. Prints the machine, then a table:
env-steps/s and the p50/p99 time of one vector step.
``--plot`` draws env-steps/s against N (matplotlib, in the ``[bench]`` extra).

The repository's ``bench/`` scripts compare configurations side by side; this command measures
one environment the way a user runs it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from ..benchmark import header, machine, percentile, significant
from ..errors import UsageError, did_you_mean

WARMUP_STEPS = 10


def add_parser(commands: argparse._SubParsersAction) -> None:
    from ..providers import providers

    parser = commands.add_parser(
        "bench", help="measure env-steps/s of a Gym id",
        description="Step a vector environment of ENV_ID (random actions from its action space, or "
                    "--action) and report env-steps/s and step latency for each number of envs.")
    parser.add_argument("env_id", metavar="ENV_ID", help="a registered id, e.g. openenv/echo-v0")
    parser.add_argument("--num-envs", default="64",
                        help="number(s) of sub-environments, comma-separated (default 64; e.g. 1,8,64)")
    parser.add_argument("--steps", type=int, default=1000, help="timed vector steps per size (default 1000)")
    parser.add_argument("--provider", default="process", choices=sorted(providers()),
                        help="where the servers run (default process)")
    parser.add_argument("--action", help="step every sub-environment with this action (JSON, or plain text) "
                        "instead of one seeded random batch")
    parser.add_argument("--plot", type=Path, help="write a PNG of env-steps/s against N (needs matplotlib)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    sizes = _sizes(args.num_envs)
    if args.steps < 1:
        raise UsageError(f"--steps must be at least 1, got {args.steps}")
    _check_id(args.env_id)
    if args.plot is not None:
        _require_matplotlib()
    info = machine()
    print(header(info) + "\n")
    rows = [measure(args.env_id, n, args.steps, args.provider, _action(args.action)) for n in sizes]
    print(table(args.env_id, args.provider, rows))
    if args.plot is not None:
        plot(rows, args.plot, f"{args.env_id}, provider {args.provider}; {info['cpus']} CPUs, "
                              f"commit {info['commit']}, {info['date']}")
        print(f"plot: {args.plot}")
    if args.json is not None:
        args.json.write_text(json.dumps({"machine": info, "env_id": args.env_id, "provider": args.provider,
                                         "steps": args.steps, "results": rows}, indent=1) + "\n")
    return 0


def measure(env_id: str, num_envs: int, steps: int, provider: str, action: Any = None) -> dict[str, Any]:
    """Time ``steps`` vector steps of ``num_envs`` sub-environments (after a reset and a warm-up)."""
    import gymnasium as gym
    from tqdm import tqdm

    envs = gym.make_vec(env_id, num_envs=num_envs, provider=provider)
    try:
        envs.reset(seed=0)
        envs.action_space.seed(0)
        batch = [action] * num_envs if action is not None else envs.action_space.sample()
        for _ in range(WARMUP_STEPS):
            envs.step(batch)
        samples = []
        with tqdm(total=steps * num_envs, unit=" env-steps", unit_scale=True, leave=False,
                  desc=f"N={num_envs}") as bar:
            for _ in range(steps):
                started = time.perf_counter()
                envs.step(batch)
                samples.append(time.perf_counter() - started)
                bar.update(num_envs)
    finally:
        envs.close()
    elapsed = sum(samples)
    samples.sort()
    return {"num_envs": num_envs, "env_steps_per_s": steps * num_envs / elapsed,
            "p50_ms": percentile(samples, 0.5) * 1e3, "p99_ms": percentile(samples, 0.99) * 1e3}


def table(env_id: str, provider: str, rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table."""
    lines = [f"{env_id}, provider {provider}", "",
             "| N | env-steps/s | p50 ms per vector step | p99 ms |", "|---:|---:|---:|---:|"]
    lines += [f"| {r['num_envs']} | {significant(r['env_steps_per_s'])} | {significant(r['p50_ms'])} "
              f"| {significant(r['p99_ms'])} |" for r in rows]
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """env-steps/s against N, log-log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 5), dpi=110)
    sizes = [r["num_envs"] for r in rows]
    axes.plot(sizes, [r["env_steps_per_s"] for r in rows], "-o")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xticks(sizes, [str(n) for n in sizes])
    axes.set_xlabel("N (sub-environments)")
    axes.set_ylabel("env-steps/s")
    axes.set_title(title, fontsize=9)
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(part) for part in text.split(",")})
    except ValueError:
        raise UsageError(f"--num-envs takes numbers separated by commas (e.g. 1,8,64), "
                         f"not {text!r}") from None
    if sizes[0] < 1:
        raise UsageError("--num-envs must be at least 1")
    return sizes


def _check_id(env_id: str) -> None:
    import gymnasium as gym

    import openenv_gym  # noqa: F401  (registers the openenv/* ids)

    if env_id not in gym.registry:
        hint = did_you_mean(env_id, (i for i in gym.registry if i.startswith("openenv/")))
        raise UsageError(f"no Gym id {env_id!r}.{hint} 'openenv-gym list' shows them")


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'openenv-gym[bench]'") from None


def _action(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text

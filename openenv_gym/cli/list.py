"""``openenv-gym list``: the registered ``openenv/*`` ids and the environments behind them.

Fast by default (manifests only, nothing imported); ``--spaces`` builds each environment in this
process to show its Gym spaces.
"""

from __future__ import annotations

import argparse

import gymnasium as gym

from ..catalog import BUNDLED, CatalogEnv, known
from ..errors import OpenEnvGymError


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "list", help="registered ids and installed environments",
        description="List the openenv/* Gym ids, the environment behind each (bundled or installed "
                    "through the openenv_gym.envs entry point) and, with --spaces, their spaces.")
    parser.add_argument("--spaces", action="store_true",
                        help="also build each environment (in this process) and show its spaces")
    parser.add_argument("--all", action="store_true", help="list every Atari game's id too")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    rows = [("ID", "ENVIRONMENT", "SOURCE", "PACKAGE")]
    by_env = _ids_by_env()
    for name, env in known().items():
        ids = by_env.get(name, [])
        main, games = ids[:1], ids[1:]
        source = "bundled" if name in BUNDLED else "installed"
        rows += [(env_id, name, source, env.module) for env_id in main]
        if games and args.all:
            rows += [(env_id, name, source, env.module) for env_id in games]
        elif games:
            for kind in ("", "-NoFrameskip"):  # ALE v5's options; one frame per step, no sticky actions
                some = [i for i in games if i.endswith("-NoFrameskip-v0") == bool(kind)]
                rows.append((f"openenv/{name}-<game>{kind}-v0", name, source,
                             f"{len(some)} games, e.g. {some[0]} (--all lists them)"))
    rows.append(("openenv/remote-v0", "any server", "base_url=...", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[3])
    if args.spaces:
        for name, env in known().items():
            print(f"\n{name}:\n{_spaces(env)}")
    return 0


def _ids_by_env() -> dict[str, list[str]]:
    """Registered ``openenv/*`` ids by the environment they make, the environment's own id first."""
    found: dict[str, list[str]] = {}
    for env_id, spec in gym.registry.items():
        name = spec.kwargs.get("env")
        if spec.namespace == "openenv" and name:
            found.setdefault(name, []).append(env_id)
    for ids in found.values():
        ids.sort(key=lambda env_id: (len(gym.registry[env_id].kwargs), env_id))
    return found


def _spaces(env: CatalogEnv) -> str:
    """The environment's action and observation spaces, or why they could not be built."""
    from openenv_gym.providers import InProcessProvider
    from openenv_gym.wrappers import SpaceCodec

    try:
        client = InProcessProvider(env).connect()
    except (ImportError, OpenEnvGymError) as exc:
        return f"  unavailable: {type(exc).__name__}: {exc}"
    try:
        codec = SpaceCodec.from_schema(client.schema())
    finally:
        client.close()
    return f"  action:      {codec.action_space}\n  observation: {codec.observation_space}"

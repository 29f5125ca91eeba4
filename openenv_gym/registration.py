"""Gymnasium ids of openenv-gym, registered when ``openenv_gym`` is imported.

Gymnasium 1.x has no plugin auto-registration: ``import openenv_gym`` first (or use the id
``"openenv_gym:openenv/echo-v0"``, which makes ``gym.make`` import it).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from .catalog import BUNDLED
from .envs.atari.roms import ROM_IDS

NAMESPACE = "openenv"
ENTRY_POINT = "openenv_gym.wrappers.env:GymEnv"
VECTOR_ENTRY_POINT = "openenv_gym.wrappers.vector:GymVectorEnv"
ENTRY_POINTS = {"atari": "openenv_gym.wrappers.atari:AtariGymEnv"}
"""Bundled environments whose Gym face has more than ``GymEnv`` (Atari: ``ale`` for its wrappers)."""


def _register(env_id: str, entry_point: str = ENTRY_POINT, **options: Any) -> None:
    if env_id not in gym.registry:
        gym.register(env_id, entry_point=entry_point, vector_entry_point=VECTOR_ENTRY_POINT, **options)


def register_envs() -> list[str]:
    """Register every id (idempotent) and return them."""
    ids = []
    for name in BUNDLED:
        ids.append(f"{NAMESPACE}/{name}-v0")
        _register(ids[-1], ENTRY_POINTS.get(name, ENTRY_POINT), kwargs={"env": name})
    for game in ROM_IDS:  # one id per Atari game: openenv/atari-pong-v0, ... (ale-py imported on use)
        ids.append(f"{NAMESPACE}/atari-{game}-v0")
        _register(ids[-1], ENTRY_POINTS["atari"], kwargs={"env": "atari", "game": game})
    ids.append(f"{NAMESPACE}/remote-v0")
    _register(ids[-1], kwargs={}, nondeterministic=True)
    return ids

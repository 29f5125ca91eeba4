"""Gymnasium ids of openenv-gym, registered when ``openenv_gym`` is imported.

Gymnasium 1.x has no plugin auto-registration: ``import openenv_gym`` first (or use the id
``"openenv_gym:openenv/echo-v0"``, which makes ``gym.make`` import it).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from .catalog import BUNDLED

NAMESPACE = "openenv"
ENTRY_POINT = "openenv_gym.wrappers.env:GymEnv"
VECTOR_ENTRY_POINT = "openenv_gym.wrappers.vector:GymVectorEnv"


def _register(env_id: str, **options: Any) -> None:
    if env_id not in gym.registry:
        gym.register(env_id, entry_point=ENTRY_POINT, vector_entry_point=VECTOR_ENTRY_POINT, **options)


def register_envs() -> list[str]:
    """Register every id (idempotent) and return them."""
    ids = []
    for name in BUNDLED:
        ids.append(f"{NAMESPACE}/{name}-v0")
        _register(ids[-1], kwargs={"env": name})
    ids.append(f"{NAMESPACE}/remote-v0")
    _register(ids[-1], kwargs={}, nondeterministic=True)
    return ids

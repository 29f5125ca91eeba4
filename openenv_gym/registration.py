"""Gymnasium ids of openenv-gym, registered when ``openenv_gym`` is imported.

Gymnasium 1.x has no plugin auto-registration: ``import openenv_gym`` first (or use the id
``"openenv_gym:openenv/echo-v0"``, which makes ``gym.make`` import it).

Each environment, bundled or installed (see :mod:`openenv_gym.catalog`), is registered as its
manifest's ``gym:`` section says (default: ``openenv/<name>-v0``, no step limit).

Each Atari game has two ids: ``openenv/atari-<game>-v0`` (ALE v5: frame skip 4, sticky actions
0.25) and ``openenv/atari-<game>-NoFrameskip-v0`` (one frame per step, no sticky actions), the
kind DQN-style recipes wrap with their own ``MaxAndSkipEnv`` and recognise by name (Tianshou's
``make_atari_env`` asserts ``"NoFrameskip" in task``).

>>> gym.spec("openenv/atari-pong-NoFrameskip-v0").kwargs
{'env': 'atari', 'game': 'pong', 'frameskip': 1, 'repeat_action_probability': 0.0}
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from .catalog import CatalogEnv, known
from .envs.atari.roms import ROM_IDS
from .manifest import GymSection

NAMESPACE = "openenv"
NO_FRAMESKIP = {"frameskip": 1, "repeat_action_probability": 0.0}
"""The options of the NoFrameskip Atari ids (ale-py's ``<Game>NoFrameskip-v4``)."""
ENTRY_POINT = "openenv_gym.wrappers.env:GymEnv"
VECTOR_ENTRY_POINT = "openenv_gym.wrappers.vector:GymVectorEnv"


def _register(env_id: str, entry_point: str = ENTRY_POINT, **options: Any) -> None:
    if env_id not in gym.registry:
        gym.register(env_id, entry_point=entry_point, vector_entry_point=VECTOR_ENTRY_POINT, **options)


def gym_section(env: CatalogEnv) -> GymSection:
    """How ``env`` is registered: its manifest's ``gym:`` section, or ``openenv/<name>-v0``."""
    return env.manifest().gym or GymSection(id=f"{NAMESPACE}/{env.name}-v0")


def register_envs() -> list[str]:
    """Register every id (idempotent) and return them."""
    sections = {name: gym_section(env) for name, env in known().items()}
    for name, section in sections.items():
        _register(section.id, section.entry_point or ENTRY_POINT, kwargs={"env": name, **section.kwargs},
                  max_episode_steps=section.max_episode_steps, nondeterministic=section.nondeterministic)
    ids = [section.id for section in sections.values()]
    atari = sections["atari"].entry_point or ENTRY_POINT
    for game in ROM_IDS:  # ids per Atari game: openenv/atari-pong-v0, ... (ale-py imported on use)
        ids += [f"{NAMESPACE}/atari-{game}-v0", f"{NAMESPACE}/atari-{game}-NoFrameskip-v0"]
        _register(ids[-2], atari, kwargs={"env": "atari", "game": game})
        _register(ids[-1], atari, kwargs={"env": "atari", "game": game, **NO_FRAMESKIP})
    ids.append(f"{NAMESPACE}/remote-v0")
    _register(ids[-1], kwargs={}, nondeterministic=True)
    return ids

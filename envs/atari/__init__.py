"""The Atari environments (``openenv/atari-v0``, ``openenv/atari-<game>-v0``).

Importing this package is light: ale-py is imported only when the environment is used, so
the Gym ids can be registered where ale-py is not installed (``pip install openenv-gym[atari]``).

>>> from openenv_gym.envs.atari import AtariAction, AtariEnvironment
>>> env = AtariEnvironment("breakout", obs_type="ram")
>>> env.reset(seed=0).screen.shape, env.action_meanings
((128,), ['NOOP', 'FIRE', 'RIGHT', 'LEFT'])
"""

from __future__ import annotations

from typing import Any

from .models import AtariAction, AtariObservation, AtariState
from .roms import ROM_IDS, rom_id

__all__ = ["ROM_IDS", "AtariAction", "AtariEnvironment", "AtariObservation", "AtariState", "rom_id"]


def __getattr__(name: str) -> Any:
    if name == "AtariEnvironment":
        from .environment import AtariEnvironment

        return AtariEnvironment
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

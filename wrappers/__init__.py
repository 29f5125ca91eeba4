"""The Gymnasium face of OpenEnv environments: ``GymEnv`` and spaces from pydantic models."""

from .env import GymEnv
from .spaces import SpaceCodec, UnicodeText

__all__ = ["GymEnv", "SpaceCodec", "UnicodeText"]

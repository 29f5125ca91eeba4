"""The Gymnasium face of OpenEnv environments: ``GymEnv`` and spaces from pydantic models."""

from .env import GymEnv
from .spaces import SpaceCodec, UnicodeText
from .vector import GymVectorEnv

__all__ = ["GymEnv", "GymVectorEnv", "SpaceCodec", "UnicodeText"]

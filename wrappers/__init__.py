"""The Gymnasium face of OpenEnv environments: ``GymEnv`` and spaces from pydantic models."""

from .env import GymEnv
from .space_codec import SpaceCodec
from .spaces import UnicodeText
from .vector import GymVectorEnv

__all__ = ["GymEnv", "GymVectorEnv", "SpaceCodec", "UnicodeText"]

"""The Atari server's ASGI app: ``uvicorn openenv_gym.envs.atari.app:app``.

The game and its options come from ``OPENENV_ENV_KWARGS`` (JSON), e.g.
``OPENENV_ENV_KWARGS='{"game": "breakout", "obs_type": "grayscale"}'``; Pong by default.
"""

from openenv_gym.server import create_app

from .environment import AtariEnvironment
from .models import AtariAction, AtariObservation

app = create_app(AtariEnvironment, AtariAction, AtariObservation, env_name="atari")

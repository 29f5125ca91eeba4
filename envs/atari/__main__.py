"""``python -m openenv_gym.envs.atari --host 127.0.0.1 --port 8000`` serves the Atari environment.

The game and its options come from ``OPENENV_ENV_KWARGS`` (JSON); Pong by default.
"""

from openenv_gym.server.serve import main

main("openenv_gym.envs.atari.app:app")

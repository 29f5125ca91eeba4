"""``python -m openenv_gym.envs.chess --host 127.0.0.1 --port 8000`` serves the chess environment."""

from openenv_gym.server.serve import main

main("openenv_gym.envs.chess.app:app")

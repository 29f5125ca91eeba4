"""``python -m openenv_gym.envs.coding --host 127.0.0.1 --port 8000`` serves the coding environment."""

from openenv_gym.server.serve import main

main("openenv_gym.envs.coding.app:app")

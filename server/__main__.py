"""``python -m openenv_gym.server module:app`` serves any environment app."""

from .serve import main

main()

"""``python -m openenv_gym.envs.finance --host 127.0.0.1 --port 8000`` serves the finance environment.

The data and options come from ``OPENENV_ENV_KWARGS`` (JSON); five S&P 500 stocks by default.
"""

from openenv_gym.server.serve import main

main("openenv_gym.envs.finance.app:app")

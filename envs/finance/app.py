"""The finance server's ASGI app: ``uvicorn openenv_gym.envs.finance.app:app``.

The data and options come from ``OPENENV_ENV_KWARGS`` (JSON), e.g.
``OPENENV_ENV_KWARGS='{"data": "synthetic", "window": 100}'``; five S&P 500 stocks by default.
"""

from openenv_gym.server import create_app

from .environment import FinanceEnvironment
from .models import FinanceAction, FinanceObservation

app = create_app(FinanceEnvironment, FinanceAction, FinanceObservation, env_name="finance")

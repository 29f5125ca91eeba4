"""The chess server's ASGI app: ``uvicorn openenv_gym.envs.chess.app:app``.

Options (``opponent``, ``agent_color``, ...) come as JSON from ``$OPENENV_ENV_KWARGS``, e.g.
``OPENENV_ENV_KWARGS='{"opponent": "stockfish", "skill_level": 3}'``.
"""

from openenv_gym.server import create_app

from .environment import ChessEnvironment
from .models import ChessAction, ChessObservation

app = create_app(ChessEnvironment, ChessAction, ChessObservation, env_name="chess")

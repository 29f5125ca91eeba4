"""The coding server's ASGI app: ``uvicorn openenv_gym.envs.coding.app:app``.

Options (``task``, ``timeout_s``, ``memory_mb``, ...) come as JSON from ``$OPENENV_ENV_KWARGS``,
e.g. ``OPENENV_ENV_KWARGS='{"task": "random", "timeout_s": 5}'``.
"""

from openenv_gym.server import create_app

from .environment import CodingEnvironment
from .models import CodingAction, CodingObservation

app = create_app(CodingEnvironment, CodingAction, CodingObservation, env_name="coding")

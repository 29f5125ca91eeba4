"""The echo server's ASGI app: ``uvicorn openenv_gym.envs.echo.app:app``."""

from openenv_gym.server import create_app

from .environment import EchoEnvironment
from .models import EchoAction, EchoObservation

app = create_app(EchoEnvironment, EchoAction, EchoObservation, env_name="echo")

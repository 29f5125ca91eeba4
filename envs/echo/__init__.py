"""The echo environment (``openenv/echo-v0``).

>>> from openenv_gym.envs.echo import EchoAction, EchoEnvironment
>>> EchoEnvironment().step(EchoAction(message="hi")).echoed_message
'hi'
"""

from .environment import EchoEnvironment
from .models import EchoAction, EchoObservation

__all__ = ["EchoAction", "EchoEnvironment", "EchoObservation"]

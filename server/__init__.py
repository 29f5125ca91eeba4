"""The environment server runtime: the ``Environment`` base, ``create_app`` and its sessions.

>>> from openenv_gym.server import Environment, create_app, tool
"""

from .app import create_app
from .description import schema_of
from .environment import Environment
from .serve import serve
from .session import Session
from .sessions import SessionManager
from .tools import tool

__all__ = ["Environment", "Session", "SessionManager", "create_app", "schema_of", "serve", "tool"]

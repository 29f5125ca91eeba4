"""A server that is already running somewhere: ours or any upstream OpenEnv server."""

from __future__ import annotations

from ..client.base import http_url
from ..settings import resolve_token
from .base import ServerProvider


class RemoteProvider(ServerProvider):
    """Sessions on a running server; starts and stops nothing.

    ``token``: the server's bearer token (default ``$OPENENV_TOKEN``, none if unset).

    >>> RemoteProvider("ws://127.0.0.1:8000/ws").start()
    'http://127.0.0.1:8000'
    """

    def __init__(self, base_url: str, *, token: str | None = None):
        self.base_url = http_url(base_url)
        self.token = resolve_token(token)

    def start(self) -> str:
        return self.base_url

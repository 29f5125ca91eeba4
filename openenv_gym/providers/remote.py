"""A server that is already running somewhere: ours or any upstream OpenEnv server."""

from __future__ import annotations

from ..client import http_url
from .base import ServerProvider


class RemoteProvider(ServerProvider):
    """Sessions on a running server; starts and stops nothing.

    >>> RemoteProvider("ws://127.0.0.1:8000/ws").start()
    'http://127.0.0.1:8000'
    """

    def __init__(self, base_url: str):
        self.base_url = http_url(base_url)

    def start(self) -> str:
        return self.base_url

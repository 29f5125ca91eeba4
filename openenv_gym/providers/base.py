"""What every provider offers: a place where an environment server runs."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import BaseModel

from ..client import DEFAULT_TIMEOUT, SyncEnvClient
from ..client_base import DEFAULT_ENCODING
from ..mcp_types import Tool
from ..types import StepResult


class SessionClient(Protocol):
    """A synchronous session: what a Gym environment needs from a provider."""

    @property
    def extended(self) -> bool: ...

    def reset(self, **kwargs: Any) -> StepResult[dict[str, Any]]: ...

    def step(self, action: Mapping[str, Any] | BaseModel) -> StepResult[dict[str, Any]]: ...

    def state(self) -> dict[str, Any]: ...

    def render(self, mode: str = "ansi") -> Any: ...

    def schema(self) -> dict[str, Any]: ...

    def list_tools(self) -> list[Tool]: ...

    def call_tool(self, name: str, **arguments: Any) -> Any: ...

    def close(self) -> None: ...


class Provider(ABC):
    """Where an environment runs; hands out sessions on it.

    Providers are context managers: leaving the block stops what they started.
    """

    @abstractmethod
    def connect(self, *, timeout: float = DEFAULT_TIMEOUT, encoding: str = DEFAULT_ENCODING) -> SessionClient:
        """Open a new session (a new environment instance); ``encoding`` of frames, where any."""

    def stop(self) -> None:
        """Stop what this provider started (idempotent); nothing by default."""
        return None

    def __enter__(self) -> Provider:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class ServerProvider(Provider):
    """A provider whose environment is a server reachable at a base URL.

    Attributes:
        token: the bearer token its sessions send (``None``: none).
    """

    token: str | None = None

    @abstractmethod
    def start(self) -> str:
        """Start the server if needed, wait until it is healthy, return its base URL."""

    async def astart(self) -> str:
        """:meth:`start` without blocking the running event loop."""
        return await asyncio.to_thread(self.start)

    def restart(self) -> str:
        """Start anew after the server was found unreachable; by default just :meth:`start`."""
        return self.start()

    async def arestart(self) -> str:
        """:meth:`restart` without blocking the running event loop."""
        return await asyncio.to_thread(self.restart)

    def connect(self, *, timeout: float = DEFAULT_TIMEOUT, encoding: str = DEFAULT_ENCODING) -> SessionClient:
        return SyncEnvClient(self.start(), timeout=timeout, encoding=encoding,
                             token=self.token or "").connect()

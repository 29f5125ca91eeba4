"""What every provider offers: a place where an environment server runs."""

from __future__ import annotations

import asyncio
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import BaseModel

from ..catalog import CatalogEnv
from ..client import SyncEnvClient
from ..client.base import DEFAULT_ENCODING, DEFAULT_TIMEOUT
from ..mcp_types import Tool
from ..types import StepResult
from ..vector.pool import SessionPool, spread_over_servers


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
    """Where an environment runs; hands out sessions on it, one at a time (:meth:`connect`,
    for ``gym.make``) or N at once (:meth:`open_sessions`, for ``gym.make_vec``).

    Providers are context managers: leaving the block stops what they started. A new kind of
    provider is one subclass: with :meth:`from_catalog` and a name (in
    ``openenv_gym.providers.PROVIDERS``, or another package's entry point in the group
    ``openenv_gym.providers``), ``gym.make(..., provider="name")`` finds it.
    """

    @classmethod
    def from_catalog(cls, env: CatalogEnv, *, env_kwargs: dict[str, Any], token: str | None,
                     **options: Any) -> Provider:
        """The provider for a bundled or installed environment (``gym.make(provider=...)``);
        ``options`` are the keyword-only arguments of the class's constructor."""
        raise TypeError(f"{cls.__name__} is not made by name: construct one and pass it as provider=...")

    @abstractmethod
    def connect(self, *, timeout: float = DEFAULT_TIMEOUT, encoding: str = DEFAULT_ENCODING) -> SessionClient:
        """Open a new session (a new environment instance); ``encoding`` of frames, where any."""

    @abstractmethod
    async def open_sessions(self, num_envs: int, options: dict[str, Any],
                            num_servers: int | None = None) -> SessionPool:
        """Open ``num_envs`` sessions (a vector environment's), spread over ``num_servers``
        places where the provider can start several (``None``: its default). ``options``:
        the clients' keyword arguments (``timeout``, ``encoding``, ``token``). What the pool
        starts for itself it stops when it closes; this provider is the caller's to stop."""

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
        compute_bound: the environment's steps are its own computation (its manifest's
            ``gym.compute_bound``): a vector env takes a server per core by default.
    """

    token: str | None = None
    compute_bound: bool = False

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

    def servers_by_default(self) -> int:
        """How many servers a vector env spreads over when ``num_servers`` is not given: one
        per core but one, left to the client that steps them; one per core where the steps are
        the environment's own computation (:attr:`compute_bound`: the servers' share of the work
        is then far larger than the client's).

        >>> from openenv_gym.providers import make_provider
        >>> cores = os.cpu_count() or 1
        >>> make_provider("echo").servers_by_default() == max(1, cores - 1)
        True
        >>> make_provider("atari").servers_by_default() == cores
        True
        """
        cores = os.cpu_count() or 1
        return cores if self.compute_bound else max(1, cores - 1)

    def sibling(self) -> ServerProvider | None:
        """Another server like this one, for a vector env's sessions beyond this one's share
        (``None``: this provider cannot start more, e.g. a server already running)."""
        return None

    def connect(self, *, timeout: float = DEFAULT_TIMEOUT, encoding: str = DEFAULT_ENCODING) -> SessionClient:
        return SyncEnvClient(self.start(), timeout=timeout, encoding=encoding,
                             token=self.token or "").connect()

    async def open_sessions(self, num_envs: int, options: dict[str, Any],
                            num_servers: int | None = None) -> SessionPool:
        return await spread_over_servers(self, num_envs, num_servers, options)

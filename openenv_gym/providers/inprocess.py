"""Run the environment in this process: no server, no socket, the fastest path.

The session is the server's own :class:`~openenv_gym.server.Session`, fed the same messages
a WebSocket would carry, so validation, errors and replies are exactly the server's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ..catalog import CatalogEnv
from ..client.base import DEFAULT_TIMEOUT
from ..client.blocking import BlockingSession
from ..client.loop import LoopRunner
from ..protocol import by_kind, outcome
from ..types import Action, Observation
from ..vector.groups import Request, SessionGroup
from ..vector.pool import SessionPool
from .base import Provider

T = TypeVar("T")


def _drive(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends, without an event loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("an in-process session suspended; it needs an event loop")


class InProcessClient(BlockingSession):
    """One session on an environment instance held in this process."""

    @property
    def extended(self) -> bool:
        return True  # the server's own session: every extension

    def __init__(self, env: Any, action_type: type[Action], observation_type: type[Observation]):
        from openenv_gym.server import Session  # the one place the client side holds a server part

        self._session = Session(env, action_type, session_id=uuid.uuid4().hex, extended=True)
        self._runner = None if self._session.runs_inline else LoopRunner()
        self._types = (action_type, observation_type)
        self._closed = False

    @property
    def session(self) -> Any:
        """The server's session this client talks to."""
        return self._session

    @property
    def environment(self) -> Any:
        """The session's environment instance (it lives in this process)."""
        return self._session.env

    def request(self, message: dict[str, Any]) -> Any:
        """The server's raw reply to one message (what a WebSocket would carry)."""
        coro = self._session.handle(message)
        return _drive(coro) if self._runner is None else self._runner.run(coro)

    def schema(self) -> dict[str, Any]:
        from openenv_gym.server import schema_of

        return schema_of(*self._types, self.environment)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.environment.close()
        finally:
            if self._runner is not None:
                self._runner.close()


class InProcessProvider(Provider):
    """Environments built in this process from a class or factory.

    Args:
        env: a bundled environment, or an environment class / factory.
        action_type, observation_type: the models (taken from ``env`` if it is bundled).
        env_kwargs: keyword arguments for the environment's constructor.

    >>> from openenv_gym.catalog import bundled
    >>> client = InProcessProvider(bundled("echo")).connect()
    >>> client.step({"message": "hi"}).observation["echoed_message"]
    'hi'
    """

    def __init__(self, env: CatalogEnv | Callable[..., Any], action_type: type[Action] | None = None,
                 observation_type: type[Observation] | None = None, *,
                 env_kwargs: dict[str, Any] | None = None):
        factory: Callable[..., Any]
        if isinstance(env, CatalogEnv):
            factory, action_type, observation_type = env.load()
        else:
            factory = env
        if action_type is None or observation_type is None:
            raise TypeError("InProcessProvider needs action_type and observation_type")
        self._factory = factory
        self._action_type = action_type
        self._observation_type = observation_type
        self._env_kwargs = env_kwargs or {}

    @classmethod
    def from_catalog(cls, env: CatalogEnv, *, env_kwargs: dict[str, Any], token: str | None,
                     **options: Any) -> InProcessProvider:
        return cls(env, env_kwargs=env_kwargs, **options)  # no server: nothing needs the token

    def connect(self, *, timeout: float = DEFAULT_TIMEOUT, encoding: str = "none") -> InProcessClient:
        """A session on a new environment instance (no socket: ``timeout`` and ``encoding`` unused)."""
        return InProcessClient(self._factory(**self._env_kwargs), self._action_type, self._observation_type)

    async def open_sessions(self, num_envs: int, options: dict[str, Any],
                            num_servers: int | None = None) -> SessionPool:
        return SessionPool([InProcessGroup(self, num_envs)])


class InProcessGroup(SessionGroup):
    """Sessions on environment instances in this process."""

    def __init__(self, provider: InProcessProvider, size: int):
        self.size = size
        self.label = "in-process"
        self._clients: list[InProcessClient] = [provider.connect() for _ in range(size)]
        from openenv_gym.server.batch import serve_items  # the server's part, loaded with a group

        self._serve_items = serve_items

    async def run(self, requests: dict[int, Request]) -> dict[int, Any]:
        """The requests served as a server serves a batch frame's items (the steps of inline
        sessions together); sessions with an event loop of their own one by one on it."""
        calls = {i: by_kind(kind, payload) for i, (kind, payload) in requests.items()}
        sessions = {i: self._clients[i].session for i in calls}
        if all(session.runs_inline for session in sessions.values()):
            replies = await self._serve_items([(sessions[i], call.message) for i, call in calls.items()])
        else:
            replies = [self._clients[i].request(call.message) for i, call in calls.items()]
        return {i: outcome(call, reply) for (i, call), reply in zip(calls.items(), replies, strict=True)}

    async def reopen(self) -> None:
        return None  # in-process sessions cannot lose their connection

    async def schema(self) -> dict[str, Any]:
        return self._clients[0].schema()

    async def close(self) -> None:
        for client in self._clients:
            client.close()

"""The session manager: capacity, creation, teardown and idle reaping of sessions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from openenv_gym.errors import CapacityReachedError, FactoryError
from openenv_gym.types import Action

from .environment import Environment
from .session import Session

logger = logging.getLogger(__name__)

OnReap = Callable[[Session], Awaitable[None]]


@dataclass(frozen=True)
class CapacityStatus:
    """How many sessions are open out of how many allowed."""

    active_sessions: int
    max_sessions: int

    @property
    def is_at_capacity(self) -> bool:
        return self.active_sessions >= self.max_sessions


class SessionManager:
    """Opens and closes sessions within a capacity, and reaps idle ones.

    A slot is reserved before the environment is built and freed only after the session's
    environment is closed, so the server never holds more than ``max_sessions`` environments.
    An idle session is handed to its connection's ``on_reap`` (which closes the socket when it
    was the connection's last session) and closed; the client sees its socket closed, not a
    zombie session.
    """

    def __init__(self, factory: Callable[[], Environment], action_type: type[Action], *,
                 max_sessions: int, executor: Executor, session_timeout: float | None = None):
        self._factory = factory
        self._action_type = action_type
        self.max_sessions = max_sessions
        self.session_timeout = session_timeout
        self._executor = executor
        self._sessions: dict[str, tuple[Session, OnReap]] = {}
        self._reserved = 0
        self._reaper: asyncio.Task[None] | None = None

    def status(self) -> CapacityStatus:
        return CapacityStatus(self._reserved, self.max_sessions)

    async def open(self, *, extended: bool, on_reap: OnReap) -> Session:
        """Create a session; raises :class:`CapacityReachedError` or :class:`FactoryError`."""
        if self._reserved >= self.max_sessions:
            raise CapacityReachedError(
                f"Server at capacity: {self._reserved}/{self.max_sessions} sessions active. "
                "Cannot accept new connections.",
                details={"active_sessions": self._reserved, "max_sessions": self.max_sessions})
        self._reserved += 1
        try:
            env = await self._build()
        except Exception as exc:
            self._reserved -= 1
            logger.exception("environment factory failed")
            raise FactoryError(f"Failed to create environment: {type(exc).__name__}: {exc}",
                               details={"factory_name": getattr(self._factory, "__name__",
                                                                repr(self._factory))}) from exc
        session = Session(env, self._action_type, session_id=uuid.uuid4().hex,
                          extended=extended, executor=self._executor)
        self._sessions[session.session_id] = (session, on_reap)
        self._start_reaper()
        return session

    async def close(self, session: Session) -> None:
        """Close the session's environment and free its slot (idempotent)."""
        if self._sessions.pop(session.session_id, None) is None:
            return
        try:
            if session.env.FAST_STEP:
                session.env.close()
            else:
                await asyncio.get_running_loop().run_in_executor(self._executor, session.env.close)
        except Exception:  # a failing close must not keep the slot: log it and free the slot
            logger.exception("session %s: environment close() raised", session.session_id)
        finally:
            self._reserved -= 1

    async def shutdown(self) -> None:
        """Stop the reaper and close every open session."""
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for session, _ in list(self._sessions.values()):
            await self.close(session)

    async def _build(self) -> Environment:
        if getattr(self._factory, "FAST_STEP", False):
            return self._factory()
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._factory)

    def _start_reaper(self) -> None:
        if self.session_timeout is not None and self._reaper is None:
            self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    async def _reap_forever(self) -> None:
        assert self.session_timeout is not None
        interval = max(min(self.session_timeout / 4, 5.0), 0.05)
        while True:
            await asyncio.sleep(interval)
            await self.reap_idle()

    async def reap_idle(self) -> int:
        """Close the connections of sessions idle longer than ``session_timeout``."""
        if self.session_timeout is None:
            return 0
        deadline = time.monotonic() - self.session_timeout
        idle = [(s, reap) for s, reap in self._sessions.values() if s.last_activity < deadline]
        for session, reap in idle:
            logger.info("session %s idle for %.1fs: closing it", session.session_id,
                        time.monotonic() - session.last_activity)
            await reap(session)
            await self.close(session)
        return len(idle)


"""The session manager: capacity, creation, teardown, idle reaping and resumption of sessions.

A session of a connection that negotiated the extensions has a *resume token* (sent to the
client in the ``x-openenv-resume`` handshake header). When such a connection drops without a
``close`` message, its session is *parked* for ``resume_grace`` seconds, slot and environment
kept; a new connection that presents the token within that time gets the same environment
back, mid-episode. A token presented while the old connection still holds the session (it has
not noticed the drop yet) moves the session to the new connection.

A *shared* session is made by MCP's ``openenv/session/create`` (``POST /mcp``) and lives until
``openenv/session/close``, its idle timeout or the server's shutdown, not with a connection:
tools reach it over HTTP, and one WebSocket at a time may *attach* to it (``/ws?session_id=``)
for reset/step, as upstream 0.10. A close asked for while a socket is attached is deferred
until that socket detaches (upstream's ``{"closed": false, "closing": true}``). The session id
is the only credential of a shared session (122 random bits, as upstream's ``uuid4``); only
shared sessions can be addressed by id, never the session a WebSocket opened for itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from openenv_gym.errors import CapacityReachedError, FactoryError, SessionError
from openenv_gym.types import Action

from .environment import Environment
from .limits import ClientSessions
from .session import Session

logger = logging.getLogger(__name__)

OnReap = Callable[[Session], Awaitable[None]]
OnRelease = Callable[[Session], None]
OnBuilt = Callable[[Environment], None]
DEFAULT_RESUME_GRACE = 30.0
"""Seconds a dropped connection's session waits to be resumed before it is closed."""


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
    environment is closed, so the server never holds more than ``max_sessions`` environments:
    sessions, and the environments built for one HTTP request (:meth:`temporary_env`), which
    count toward their client's limit too.
    An idle session is handed to its connection's ``on_reap`` (which closes the socket when it
    was the connection's last session) and closed; the client sees its socket closed, not a
    zombie session.
    """

    def __init__(self, factory: Callable[[], Environment], action_type: type[Action], *,
                 max_sessions: int, executor: Executor, session_timeout: float | None = None,
                 step_timeout: float | None = None, resume_grace: float = DEFAULT_RESUME_GRACE,
                 clients: ClientSessions | None = None, on_built: OnBuilt | None = None):
        self._factory = factory
        self._on_built = on_built
        self.clients = clients or ClientSessions(None)
        self._action_type = action_type
        self.max_sessions = max_sessions
        self.session_timeout = session_timeout
        self.step_timeout = step_timeout
        self.resume_grace = resume_grace
        self._executor = executor
        self._sessions: dict[str, tuple[Session, OnReap]] = {}
        self._owners: dict[str, OnRelease] = {}
        self._tokens: dict[str, Session] = {}
        self._parked: dict[str, asyncio.TimerHandle] = {}
        self._expiring: set[asyncio.Task[None]] = set()
        self._reserved = 0
        self._reaper: asyncio.Task[None] | None = None
        self._shared: dict[str, Session] = {}
        self._attached: set[str] = set()
        self._closing: set[str] = set()

    def status(self) -> CapacityStatus:
        return CapacityStatus(self._reserved, self.max_sessions)

    async def open(self, *, extended: bool, on_reap: OnReap,
                   on_release: OnRelease | None = None, client: str = "") -> Session:
        """Create a session for ``client`` (an address); raises :class:`CapacityReachedError` or
        :class:`FactoryError`.

        ``on_reap`` is awaited when the session is reaped for idleness; ``on_release`` (given
        by owners of resumable sessions) when the session is resumed by another connection.
        """
        self._claim_slot()
        try:
            env = await self._new_env()
        except FactoryError:
            self._reserved -= 1
            raise
        session = Session(env, self._action_type, session_id=uuid.uuid4().hex,
                          extended=extended, executor=self._executor,
                          step_timeout=self.step_timeout, renew=self._build)
        session.client = client
        self._sessions[session.session_id] = (session, on_reap)
        if on_release is not None:
            session.resume_token = secrets.token_urlsafe(24)
            self._tokens[session.resume_token] = session
            self._owners[session.session_id] = on_release
        self._start_reaper()
        return session

    def park(self, session: Session) -> bool:
        """Keep a dropped connection's session for ``resume_grace`` seconds; False if it cannot be."""
        if session.resume_token is None or self.resume_grace <= 0 or session.session_id not in self._sessions:
            return False
        self._owners.pop(session.session_id, None)
        loop = asyncio.get_running_loop()
        self._parked[session.session_id] = loop.call_later(self.resume_grace, self._expire, session)
        self.clients.hold_loose(session.client, session.session_id)  # still its client's while parked
        return True

    def resume(self, token: str, *, on_reap: OnReap, on_release: OnRelease, client: str = "") -> Session:
        """The session holding ``token``, now owned by the caller; raises :class:`SessionError`."""
        session = self._tokens.get(token)
        if session is None or session.session_id not in self._sessions:
            raise SessionError(f"cannot resume the session: its token is unknown or it expired (sessions "
                               f"of dropped connections are kept {self.resume_grace:g}s)")
        parked = self._parked.pop(session.session_id, None)
        if parked is not None:
            parked.cancel()
        self.clients.drop_loose(session.client, session.session_id)
        session.client = client
        previous = self._owners.get(session.session_id)
        if previous is not None:
            previous(session)  # the old connection has not noticed the drop yet: it lets go
        self._sessions[session.session_id] = (session, on_reap)
        self._owners[session.session_id] = on_release
        session.last_activity = time.monotonic()
        logger.info("session %s resumed", _logged(session))
        return session

    async def open_loose(self, client: str = "", on_reap: OnReap | None = None) -> Session:
        """Create a session no connection holds (MCP's shared sessions, the web interface's) that
        counts toward ``client``'s limit until it is closed; raises like :meth:`open`, or
        :class:`TooManySessionsError`."""
        with self.clients.reserve(client, 1):
            session = await self.open(extended=False, on_reap=on_reap or _nothing_to_release, client=client)
            self.clients.hold_loose(client, session.session_id)
        return session

    async def open_shared(self, client: str = "") -> Session:
        """Create a shared session (MCP's ``openenv/session/create``); raises like :meth:`open_loose`."""
        session = await self.open_loose(client)
        self._shared[session.session_id] = session
        return session

    def shared(self, session_id: object) -> Session:
        """The shared session ``session_id`` (its last activity is now); raises :class:`SessionError`."""
        session = self._shared.get(session_id) if isinstance(session_id, str) else None
        if session is None:
            raise SessionError(f"Unknown session_id: {_shown(session_id)}")
        session.last_activity = time.monotonic()
        return session

    def attach(self, session_id: object, *, on_reap: OnReap) -> Session:
        """Bind the shared session ``session_id`` to a WebSocket; raises :class:`SessionError` when
        it is unknown or another socket is attached (a second client never takes it over)."""
        session = self.shared(session_id)
        if session.session_id in self._attached:
            raise SessionError(f"Session {_shown(session_id)} already has an attached WebSocket")
        self._attached.add(session.session_id)
        self._sessions[session.session_id] = (session, on_reap)
        return session

    async def detach(self, session: Session) -> None:
        """The attached socket is gone: keep the session, or close it if a close was deferred."""
        self._attached.discard(session.session_id)
        if session.session_id in self._closing:
            await self.close(session)
        elif session.session_id in self._sessions:
            self._sessions[session.session_id] = (session, _nothing_to_release)

    async def close_shared(self, session_id: object) -> bool:
        """Close a shared session: ``True``; ``False`` when a socket is attached (it closes when
        the socket detaches). Raises :class:`SessionError` for an unknown id."""
        session = self.shared(session_id)
        if session.session_id in self._attached:
            self._closing.add(session.session_id)
            return False
        await self.close(session)
        return True

    def _expire(self, session: Session) -> None:
        self._parked.pop(session.session_id, None)
        logger.info("session %s not resumed within %gs: closing it", _logged(session), self.resume_grace)
        task = asyncio.get_running_loop().create_task(self.close(session))
        self._expiring.add(task)
        task.add_done_callback(self._expiring.discard)

    async def close(self, session: Session) -> None:
        """Close the session's environment and free its slot (idempotent)."""
        if self._sessions.pop(session.session_id, None) is None:
            return
        self._owners.pop(session.session_id, None)
        self.clients.drop_loose(session.client, session.session_id)
        self._unshare(session.session_id)
        parked = self._parked.pop(session.session_id, None)
        if parked is not None:
            parked.cancel()
        if session.resume_token is not None:
            self._tokens.pop(session.resume_token, None)
        try:
            await self._close_env(session.env)
        except Exception:  # a failing close must not keep the slot: log it and free the slot
            logger.exception("session %s: environment close() raised", _logged(session))
        finally:
            self._reserved -= 1

    def _unshare(self, session_id: str) -> None:
        self._shared.pop(session_id, None)
        self._attached.discard(session_id)
        self._closing.discard(session_id)

    async def shutdown(self) -> None:
        """Stop the reaper and close every open session."""
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for session, _ in list(self._sessions.values()):
            await self.close(session)
        if self._expiring:
            await asyncio.gather(*self._expiring, return_exceptions=True)

    @contextlib.asynccontextmanager
    async def temporary(self, client: str = "") -> AsyncIterator[Session]:
        """A session for one request of ``client`` (upstream's one-shot ``POST /reset``, ``/step``,
        ``GET /state`` and ``POST /mcp`` without a session id), within the limits as
        :meth:`temporary_env`; its environment's calls run in a worker thread, never on the event
        loop."""
        async with self.temporary_env(client) as env:
            yield Session(env, self._action_type, session_id="http", extended=False,
                          executor=self._executor, step_timeout=self.step_timeout)

    @contextlib.asynccontextmanager
    async def temporary_env(self, client: str = "") -> AsyncIterator[Environment]:
        """An environment for one request of ``client``, built and closed in a worker thread.

        While it lives it holds a slot of the capacity and counts toward ``client``'s limit, as
        a session does. Raises :class:`TooManySessionsError`, :class:`CapacityReachedError` or
        :class:`FactoryError`.
        """
        with self.clients.reserve(client, 1):
            self._claim_slot()
            try:
                env = await self._new_env()
                try:
                    yield env
                finally:
                    await self._close_env(env)
            finally:
                self._reserved -= 1

    def _claim_slot(self) -> None:
        """Take a slot of the capacity; raises :class:`CapacityReachedError` when none is left."""
        if self._reserved >= self.max_sessions:
            raise CapacityReachedError(
                f"Server at capacity: {self._reserved}/{self.max_sessions} sessions active. "
                "Cannot accept new connections. Try again when a session has closed, or give the "
                "server a larger capacity (create_app(max_concurrent_envs=...)).",
                details={"active_sessions": self._reserved, "max_sessions": self.max_sessions})
        self._reserved += 1

    async def _close_env(self, env: Environment) -> None:
        if env.FAST_STEP:
            env.close()
        else:
            await asyncio.get_running_loop().run_in_executor(self._executor, env.close)

    async def _new_env(self) -> Environment:
        """A new environment; raises :class:`FactoryError` (logged with its traceback)."""
        try:
            return await self._build()
        except Exception as exc:
            logger.exception("environment factory failed")
            raise FactoryError(f"Failed to create environment: {type(exc).__name__}: {exc}",
                               details={"factory_name": getattr(self._factory, "__name__",
                                                                repr(self._factory))}) from exc

    async def _build(self) -> Environment:
        if getattr(self._factory, "FAST_STEP", False):
            return self._built()
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._built)

    def _built(self) -> Environment:
        """A new environment, shown to ``on_built`` in the thread that built it."""
        env = self._factory()
        if self._on_built is not None:
            self._on_built(env)
        return env

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
        idle = [(s, reap) for s, reap in self._sessions.values()
                if s.last_activity < deadline and not s.busy and s.session_id not in self._parked]
        for session, reap in idle:
            logger.info("session %s idle for %.1fs: closing it", _logged(session),
                        time.monotonic() - session.last_activity)
            await reap(session)
            await self.close(session)
        return len(idle)



async def _nothing_to_release(session: Session) -> None:
    """The reap callback of a shared session no socket holds: closing it is all there is."""


def _logged(session: Session) -> str:
    """A session as logs name it: the id of a shared session is its credential, so only a prefix."""
    return session.session_id[:8]


def _shown(session_id: object) -> str:
    """A client-given session id as an error message shows it (bounded: it is the client's input).

    >>> _shown("a" * 200)[-4:], _shown(7)
    ('a...', '7')
    """
    text = str(session_id)
    return text if len(text) <= 80 else text[:80] + "..."

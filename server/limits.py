"""Per-client limits: sessions per client address, and messages per second per connection.

Both are set by ``create_app(...)`` keywords or, for servers started from the command line
(``python -m openenv_gym.server``, ``python -m openenv_gym.envs.<name>``), by environment
variables read when the app is built:

=====================================  ==================================  ======================
variable                               ``create_app`` keyword              default
=====================================  ==================================  ======================
``OPENENV_MAX_SESSIONS_PER_CLIENT``    ``max_sessions_per_client``         256 per remote address
``OPENENV_RATE_LIMIT``                 ``rate_limit`` (messages/s)         off
``OPENENV_RATE_BURST``                 ``rate_burst`` (messages)           one second's worth
``OPENENV_MAX_MESSAGE_BYTES``          ``max_message_bytes``               16 MiB
``OPENENV_SHARED_MEMORY_BYTES``        (variable only)                     1 GiB of frame rings
``OPENENV_MAX_INFLIGHT_BYTES``         ``max_inflight_bytes``              256 MiB (:mod:`.budget`)
=====================================  ==================================  ======================

By default clients on this machine (loopback addresses) are limited only by the server's
capacity, so a vector environment or a load test with a thousand sessions works out of the
box; an explicit per-client limit applies to every address. Clients on this machine get
their frames through a shared-memory ring each (16 MiB, :mod:`openenv_gym.protocol.shared_frames`)
while the server's rings stay within ``OPENENV_SHARED_MEMORY_BYTES`` (tmpfs pages); further
connections get theirs through the socket. All connections together hold at most
``OPENENV_MAX_INFLIGHT_BYTES`` of requests in flight, decoded ones counted with what they
decode to (:mod:`.budget`).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from openenv_gym.addresses import is_loopback
from openenv_gym.errors import TooManySessionsError

MAX_OBJECTS_PER_MESSAGE = 2**18
"""Values one WebSocket message may hold, strings and numbers as well as objects and arrays (a
batch of 4,096 steps holds ~37,000): past it, ``MESSAGE_TOO_LARGE`` before the frame is decoded,
so a frame of empty maps or short strings cannot make the server build millions of objects
(1 to 3 bytes each in msgpack, ~64 in memory; :mod:`openenv_gym.protocol.decoded_size`)."""
DEFAULT_SESSIONS_PER_CLIENT = 256
SESSIONS_PER_CLIENT_VARIABLE = "OPENENV_MAX_SESSIONS_PER_CLIENT"
RATE_VARIABLE = "OPENENV_RATE_LIMIT"
BURST_VARIABLE = "OPENENV_RATE_BURST"
MESSAGE_BYTES_VARIABLE = "OPENENV_MAX_MESSAGE_BYTES"
SHARED_MEMORY_BYTES_VARIABLE = "OPENENV_SHARED_MEMORY_BYTES"
INFLIGHT_BYTES_VARIABLE = "OPENENV_MAX_INFLIGHT_BYTES"
DEFAULT_SHARED_MEMORY_BYTES = 1 << 30


def setting(given: float | None, variable: str, kind: Callable[[str], Any] = int) -> Any:
    """``given``, else the environment variable parsed by ``kind``, else ``None``.

    >>> setting(5, "OPENENV_UNSET_EXAMPLE"), setting(None, "OPENENV_UNSET_EXAMPLE")
    (5, None)
    """
    if given is not None:
        return given
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{variable}={raw!r} is not a valid {kind.__name__}") from None


class HoldsSessions(Protocol):
    """Anything whose ``sessions`` (each with a ``session_id``) count against its client (a
    :class:`.Connection`)."""

    @property
    def sessions(self) -> Mapping[int, Any]: ...


class ClientSessions:
    """Sessions held per client address, within ``limit`` each.

    A client's count is what its live connections hold right now (so a closed, reaped or
    resumed-elsewhere session stops counting by itself), plus the sessions no connection holds
    that it made (MCP ``openenv/session/create``, and its parked sessions awaiting a resume:
    :meth:`hold_loose`), plus the sessions being opened.

    Args:
        limit: sessions per client address; ``None``: only the server's capacity.
        exempt_loopback: clients on this machine are not limited.

    >>> clients = ClientSessions(limit=1)
    >>> with clients.reserve("10.0.0.7", 1):
    ...     clients.held("10.0.0.7"), clients.reserve("10.0.0.7", 1).__enter__()
    Traceback (most recent call last):
    openenv_gym.errors.TooManySessionsError: Client 10.0.0.7 holds 1 session(s) and asked for 1 more; ...
    """

    def __init__(self, limit: int | None, *, exempt_loopback: bool = False):
        if limit is not None and limit < 1:
            raise ValueError(f"max_sessions_per_client must be at least 1, got {limit}")
        self.limit = limit
        self.exempt_loopback = exempt_loopback
        self._holders: dict[str, list[HoldsSessions]] = {}
        self._loose: dict[str, set[str]] = {}
        self._opening: Counter[str] = Counter()

    @classmethod
    def configured(cls, limit: int | None = None) -> ClientSessions:
        """From ``limit`` or ``$OPENENV_MAX_SESSIONS_PER_CLIENT``; else 256 per remote address."""
        limit = setting(limit, SESSIONS_PER_CLIENT_VARIABLE)
        if limit is None:
            return cls(DEFAULT_SESSIONS_PER_CLIENT, exempt_loopback=True)
        return cls(limit)

    def held(self, client: str) -> int:
        """Sessions ``client`` holds or is opening (a session attached to a socket counts once)."""
        ids = {s.session_id for h in self._holders.get(client, ()) for s in h.sessions.values()}
        loose = self._loose.get(client, set())
        return self._opening[client] + len(ids) + sum(1 for key in loose if key not in ids)

    def hold_loose(self, client: str, session_id: str) -> None:
        """Count a session no connection holds against ``client`` until :meth:`drop_loose`."""
        self._loose.setdefault(client, set()).add(session_id)

    def drop_loose(self, client: str, session_id: str) -> None:
        """Stop counting the session (closed, or a connection holds it now); idempotent."""
        loose = self._loose.get(client)
        if loose is not None:
            loose.discard(session_id)
            if not loose:
                del self._loose[client]

    @contextlib.contextmanager
    def holding(self, client: str, holder: HoldsSessions) -> Iterator[None]:
        """Count ``holder``'s sessions against ``client`` while the block runs."""
        self._holders.setdefault(client, []).append(holder)
        try:
            yield
        finally:
            holders = self._holders[client]
            holders.remove(holder)
            if not holders:
                del self._holders[client]

    @contextlib.contextmanager
    def reserve(self, client: str, count: int) -> Iterator[None]:
        """Admit ``count`` more sessions for ``client`` while they are opened (they count once
        their holder has them); raises :class:`TooManySessionsError` over the limit."""
        if self.limit is not None and not (self.exempt_loopback and is_loopback(client)):
            held = self.held(client)
            if held + count > self.limit:
                raise TooManySessionsError(
                    f"Client {client} holds {held} session(s) and asked for {count} more; this server "
                    f"allows {self.limit} per client (set {SESSIONS_PER_CLIENT_VARIABLE} on the "
                    "server to change it).",
                    details={"client_sessions": held, "max_sessions_per_client": self.limit})
        self._opening[client] += count
        try:
            yield
        finally:
            self._opening[client] -= count
            if not self._opening[client]:
                del self._opening[client]


@dataclass(frozen=True)
class RateLimit:
    """Messages per second allowed on one connection, with bursts of ``burst`` messages.

    >>> RateLimit.configured(None, None) is None
    True
    >>> RateLimit.configured(50, None)
    RateLimit(rate=50.0, burst=50)
    """

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if not self.rate > 0 or self.burst < 1:
            raise ValueError(f"rate_limit must be > 0 and rate_burst >= 1, got {self.rate}, {self.burst}")

    @classmethod
    def configured(cls, rate: float | None, burst: int | None) -> RateLimit | None:
        """From the keywords or ``$OPENENV_RATE_LIMIT``/``$OPENENV_RATE_BURST``; ``None``: off."""
        rate = setting(rate, RATE_VARIABLE, float)
        if rate is None:
            return None
        burst = setting(burst, BURST_VARIABLE)
        return cls(float(rate), max(1, round(rate)) if burst is None else burst)

    def bucket(self) -> TokenBucket:
        return TokenBucket(self.rate, self.burst)


class TokenBucket:
    """A token bucket for one connection, plus a count of refusals in a row.

    A client that keeps sending while refused (more than ``burst`` refusals without an
    admitted message in between) is :attr:`flooding`; the server then closes its connection.

    >>> clock = iter([0.0, 0.0, 0.0, 0.0, 0.5]).__next__
    >>> bucket = TokenBucket(rate=2, burst=2, clock=clock)
    >>> bucket.take(), bucket.take(), bucket.take(), bucket.take()
    (0.0, 0.0, 0.5, 0.0)
    """

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self.refusals = 0

    def take(self) -> float:
        """Take a token: ``0.0``, or the seconds until one is available (the message is refused)."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            self.refusals = 0
            return 0.0
        self.refusals += 1
        return (1 - self._tokens) / self.rate

    @property
    def flooding(self) -> bool:
        return self.refusals > self.burst

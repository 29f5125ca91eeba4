"""The N sessions of a vector environment, spread over groups stepped concurrently.

A group is the unit that talks to one place:

- :class:`BatchedGroup`: many sessions on one connection to one of our servers; a step of
  the whole group is one ``batch`` frame (the fast path), or two half-batches in flight at once
  where the replies are large (:func:`halves`).
- :class:`ConcurrentGroup`: one connection per session, stepped concurrently; how we talk to
  upstream servers, which have no batches.
- ``InProcessGroup`` (:mod:`.providers.inprocess`): sessions held in this process, no socket.

Every provider opens its sessions with these (``Provider.open_sessions``): a server provider
with :func:`~.pool.spread_over_servers`, the others their own way; :class:`~.pool.SessionPool`
holds them.

A request that fails yields its exception as the outcome, so one sub-environment's error
never hides the others' results.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..client.async_client import EnvClient
from ..errors import OpenEnvGymError, TransportError
from ..protocol import Call, by_kind, outcome
from ..protocol.calls import batch

Starter = Callable[[], Awaitable[str]]
"""Starts a server if needed and returns its base URL (a provider's ``astart``)."""
T = TypeVar("T")
PIPELINED_FROM_BYTES = 256 * 1024
"""Reply bytes of a batched group's step from which its next step travels as two half-batches in
flight at once. Measured (``docs/benchmarks.md``): the second frame costs the server a
frame's overhead, which small replies do not win back (echo, 64 sessions: 0.96x); large replies
do, the transfer of one half overlapping the server's stepping of the other (Atari, 8 sessions:
1.12x; echo of 64 KiB texts, 8 sessions: 1.06x)."""
Request = tuple[str, Any]
"""``("reset", kwargs)``, ``("step", action fields)``, ``("state", None)`` or ``("render", {"mode": m})``."""


class SessionGroup(ABC):
    """Sessions that live in one place and are stepped together."""

    size: int
    label: str

    @abstractmethod
    async def run(self, requests: dict[int, Request]) -> dict[int, Any]:
        """Outcomes of requests keyed by the session's index within the group."""

    @abstractmethod
    async def reopen(self) -> None:
        """Reopen the group's lost sessions (new episodes); live ones are left alone."""

    @abstractmethod
    async def schema(self) -> dict[str, Any]: ...

    @abstractmethod
    async def close(self) -> None: ...


class BatchedGroup(SessionGroup):
    """``size`` sessions on one connection to one of our servers."""

    def __init__(self, start: Starter, size: int, client_options: dict[str, Any],
                 restart: Starter | None = None):
        self.size = size
        self.label = "(not started)"
        self._start = start
        self._restart = restart
        self._options = client_options
        self._client: EnvClient | None = None
        self._reply_bytes = 0  # of the last step: decides whether the next one is pipelined

    async def open(self, client: EnvClient | None = None) -> BatchedGroup:
        """Open the group's sessions, on ``client`` if it is already connected to the server."""
        if client is None:
            client = await self._connect()
        self.label = client.base_url
        try:
            if self.size > 1:
                await client.open_sessions(self.size - 1)
        except BaseException:
            await client.close()
            raise
        self._client = client
        return self

    async def _connect(self) -> EnvClient:
        try:
            return await EnvClient(await self._start(), **self._options).connect()
        except TransportError:
            if self._restart is None:
                raise
            return await EnvClient(await self._restart(), **self._options).connect()  # died: anew

    async def run(self, requests: dict[int, Request]) -> dict[int, Any]:
        if self._client is None:
            error = TransportError(f"the sessions at {self.label} were lost; reset them to reopen")
            return dict.fromkeys(requests, error)
        client = self._client
        parts = halves([(i, by_kind(kind, payload)) for i, (kind, payload) in requests.items()],
                       self._reply_bytes)
        received = client.received_bytes
        try:
            answers = await client.pipeline([_batch_of(part) for part in parts])
        except OpenEnvGymError as exc:
            if isinstance(exc, TransportError):
                self._client = None
            return dict.fromkeys(requests, exc)
        self._reply_bytes = client.received_bytes - received
        results: dict[int, Any] = {}
        for part, answer in zip(parts, answers, strict=True):  # a frame's error fails its part only
            results.update(dict.fromkeys((i for i, _ in part), answer)
                           if isinstance(answer, OpenEnvGymError) else answer)
        return results

    async def reopen(self) -> None:
        if self._client is None:
            await self.open()

    async def schema(self) -> dict[str, Any]:
        assert self._client is not None
        return await self._client.schema()

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()


def halves(calls: list[T], reply_bytes: int) -> list[list[T]]:
    """A group's calls as the batch frames that carry them: two halves sent back to back when
    the group's last step brought :data:`PIPELINED_FROM_BYTES` or more (the server steps one
    while the other travels and is read), one frame otherwise.

    >>> [len(part) for part in halves(list(range(5)), reply_bytes=PIPELINED_FROM_BYTES)]
    [3, 2]
    >>> halves([0, 1], reply_bytes=100)
    [[0, 1]]
    """
    if reply_bytes < PIPELINED_FROM_BYTES or len(calls) < 2:
        return [calls]
    first = split(len(calls), 2)[0]
    return [calls[:first], calls[first:]]


def _batch_of(part: list[tuple[int, Call[Any]]]) -> Call[dict[int, Any]]:
    """One batch frame carrying the calls of ``part`` (by session index); its reply read into
    each call's outcome (parsed as soon as it comes, while the server answers the next frame)."""
    frame = batch([{"session": i, **call.message} for i, call in part])

    def parse(reply: Any) -> dict[int, Any]:
        return {i: outcome(call, item) for (i, call), item in zip(part, frame.parse(reply), strict=True)}

    return Call(frame.message, parse, frame.extension)


class ConcurrentGroup(SessionGroup):
    """One connection per session (upstream servers), requests sent concurrently."""

    def __init__(self, clients: list[EnvClient]):
        self.size = len(clients)
        self.label = clients[0].base_url
        self._clients = clients

    async def run(self, requests: dict[int, Request]) -> dict[int, Any]:
        async def one(i: int, kind: str, payload: Any) -> Any:
            client = self._clients[i]
            try:
                if not client.connected:
                    raise TransportError(f"the session at {self.label} was lost; reset it to reopen")
                call = by_kind(kind, payload)
                return outcome(call, await client.request(call.message))
            except OpenEnvGymError as exc:
                return exc

        results = await asyncio.gather(*(one(i, k, p) for i, (k, p) in requests.items()))
        return dict(zip(requests, results, strict=True))

    async def reopen(self) -> None:
        for client in self._clients:
            if not client.connected:
                await client.connect()

    async def schema(self) -> dict[str, Any]:
        return await self._clients[0].schema()

    async def close(self) -> None:
        await asyncio.gather(*(client.close() for client in self._clients))


def split(total: int, parts: int) -> list[int]:
    """``total`` as ``parts`` near-equal sizes (positive while ``total >= parts``).

    >>> split(10, 3)
    [4, 3, 3]
    """
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]

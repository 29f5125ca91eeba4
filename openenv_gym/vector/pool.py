"""The sessions of a vector environment as one pool: requests by global index, answered group by
group concurrently (:class:`SessionPool`), and how a pool's groups are spread over servers
(:func:`spread_over_servers`). The groups themselves: :mod:`.groups`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from ..client.async_client import EnvClient
from ..client.base import auth_headers
from ..errors import OpenEnvGymError
from .groups import BatchedGroup, ConcurrentGroup, Request, SessionGroup, Starter, split

if TYPE_CHECKING:
    from ..providers.base import ServerProvider


class Stoppable(Protocol):
    def stop(self) -> None: ...


class SessionPool:
    """N sessions as one: requests by global index, answered group by group concurrently.

    ``providers``: what the pool started for itself, stopped when it closes.
    """

    def __init__(self, groups: Sequence[SessionGroup], providers: Sequence[Stoppable] = ()):
        self.groups = list(groups)
        self.providers: list[Stoppable] = list(providers)
        self._where = [(g, i) for g in self.groups for i in range(g.size)]
        self._offsets = {g: sum(h.size for h in self.groups[:n]) for n, g in enumerate(self.groups)}

    @property
    def size(self) -> int:
        return len(self._where)

    def label(self, index: int) -> str:
        return self._where[index][0].label

    async def run(self, requests: dict[int, Request]) -> dict[int, Any]:
        """Outcomes keyed by global index (an exception where that request failed)."""
        by_group: dict[SessionGroup, dict[int, Request]] = {}
        for index, request in requests.items():
            group, local = self._where[index]
            by_group.setdefault(group, {})[local] = request
        if len(by_group) == 1:  # no task to spawn
            [(group, local_requests)] = by_group.items()
            answers = [await group.run(local_requests)]
        else:
            answers = await asyncio.gather(*(g.run(r) for g, r in by_group.items()))
        results: dict[int, Any] = {}
        for group, answer in zip(by_group, answers, strict=True):
            offset = self._offsets[group]  # a group's sessions are numbered on from the previous group's
            results.update(answer if offset == 0 else {offset + local: o for local, o in answer.items()})
        return results

    async def reopen(self, indices: Sequence[int]) -> dict[int, OpenEnvGymError]:
        """Reopen the lost sessions among ``indices``; the error of each that stays lost."""
        groups = list({self._where[i][0]: None for i in indices})
        results = await asyncio.gather(*(g.reopen() for g in groups), return_exceptions=True)
        failed = {g: r for g, r in zip(groups, results, strict=True) if isinstance(r, BaseException)}
        for error in failed.values():
            if not isinstance(error, OpenEnvGymError):
                raise error
        return {i: failed[self._where[i][0]] for i in indices  # type: ignore[misc]
                if self._where[i][0] in failed}

    async def schema(self) -> dict[str, Any]:
        return await self.groups[0].schema()

    async def close(self) -> None:
        try:
            await asyncio.gather(*(g.close() for g in self.groups), return_exceptions=True)
        finally:
            for provider in self.providers:
                await asyncio.to_thread(provider.stop)


async def group_at(start: Starter, size: int, options: dict[str, Any],
                   restart: Starter | None = None) -> SessionGroup:
    """``size`` sessions on the server ``start()`` returns: batched on one of ours, one
    connection each on an upstream server. ``restart()``: where to go once that one is lost."""
    probe = EnvClient(await start(), **options)
    await probe.connect()
    if probe.extended:
        return await BatchedGroup(start, size, options, restart).open(probe)
    clients = [probe] + [EnvClient(probe.base_url, **options) for _ in range(size - 1)]
    await asyncio.gather(*(c.connect() for c in clients[1:]))
    return ConcurrentGroup(clients)


async def max_sessions(base_url: str, token: str | None) -> int | None:
    """How many sessions the server at ``base_url`` takes (``None``: it does not say)."""
    async with httpx.AsyncClient(timeout=10, trust_env=False, headers=auth_headers(token)) as http:
        response = await http.get(base_url + "/capabilities")
    return response.json().get("max_sessions") if response.status_code == 200 else None


async def spread_over_servers(first: ServerProvider, num_envs: int, num_servers: int | None,
                              options: dict[str, Any]) -> SessionPool:
    """``num_envs`` sessions over ``first`` and the siblings it makes (``first.sibling()``),
    started in parallel; the pool stops the siblings when it closes (``first`` is the caller's).

    One server first, to learn how many sessions it takes; then as many as the sessions need
    (``num_servers``, by default ``first.servers_by_default()``, more if a server's capacity is
    small: one per session for an env without concurrent sessions). A provider without siblings (a
    server already running) gets all sessions.
    """
    options = {**options, "token": first.token or ""}
    siblings: list[ServerProvider] = []
    try:
        capacity = await max_sessions(await first.astart(), first.token) or 1
        count = num_servers or min(num_envs, first.servers_by_default())
        count = max(count, math.ceil(num_envs / capacity))
        while len(siblings) < count - 1 and (sibling := first.sibling()) is not None:
            siblings.append(sibling)
        servers = [first, *siblings]
        groups = await asyncio.gather(*(group_at(p.astart, n, options, p.arestart)
                                        for p, n in zip(servers, split(num_envs, len(servers)), strict=True)))
    except BaseException:
        await asyncio.gather(*(asyncio.to_thread(server.stop) for server in siblings))
        raise
    return SessionPool(groups, siblings)

"""Opening a vector environment's sessions the way ``gym.make_vec``'s options say.

Where the sessions go is the provider's business (``Provider.open_sessions``); this module
only picks the provider and owns what it made.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ..client.base import DEFAULT_ENCODING, DEFAULT_TIMEOUT
from ..vector.groups import split
from ..vector.pool import SessionPool, group_at
from . import Provider, RemoteProvider, check_provider_options, make_provider


async def open_pool(env: str | None, num_envs: int, *, provider: str | Provider = "process",
                    base_url: str | Sequence[str] | None = None, num_servers: int | None = None,
                    env_kwargs: dict[str, Any] | None = None, timeout: float = DEFAULT_TIMEOUT,
                    encoding: str = DEFAULT_ENCODING, token: str | None = None,
                    provider_options: dict[str, Any] | None = None) -> SessionPool:
    """Open ``num_envs`` sessions the way the options say (see ``GymVectorEnv``).

    A provider made here from a name is stopped when the pool closes; a provider instance is
    the caller's (what it starts beyond its own server, the pool stops).
    """
    check_provider_options(provider, provider_options, base_url)
    options = {"timeout": timeout, "encoding": encoding, "token": token}
    if base_url is not None and not isinstance(base_url, str):
        urls = list(base_url)
        sizes = split(num_envs, len(urls))
        groups = await asyncio.gather(*(group_at(RemoteProvider(url).astart, n, options)
                                        for url, n in zip(urls, sizes, strict=True)))
        return SessionPool(groups)
    if isinstance(provider, Provider) and base_url is None:
        return await provider.open_sessions(num_envs, options, num_servers)
    owned = make_provider(env, provider, base_url=base_url, env_kwargs=env_kwargs, token=token,
                          options=provider_options)
    try:
        pool = await owned.open_sessions(num_envs, options, num_servers)
    except BaseException:
        await asyncio.to_thread(owned.stop)
        raise
    pool.providers.insert(0, owned)  # in the order of the groups: the first server is its own
    return pool


"""The clients of one OpenEnv session, over the sans-I/O protocol core (:mod:`openenv_gym.protocol`).

- :mod:`.base`: every decision the clients share that needs no I/O (URLs, tokens, the handshake's
  extensions, resuming);
- :mod:`.async_client`: :class:`EnvClient`, asyncio over WebSocket;
- :mod:`.sync_client`: :class:`SyncEnvClient`, blocking, the same protocol driven without a loop;
- :mod:`.blocking`: the session methods of a client whose requests block, written once;
- :mod:`.loop`: running coroutines from synchronous code;
- :mod:`.tasks`: upstream's task API from the client side.
"""

from .async_client import EnvClient
from .sync_client import SyncEnvClient

__all__ = ["EnvClient", "SyncEnvClient"]

"""Environment servers as Ray actors, placed by Ray over a cluster (the ``[ray]`` extra).

Each server is one actor: the actor runs the env's server as its child process (a
:class:`ProcessProvider` bound to the actor's node address), so the server lives and dies with
its actor. Ray places the actors (``SPREAD`` over the nodes by default, each asking for
``num_cpus``, ``memory`` and custom ``resources``) and restarts one whose process or node was
lost (``max_restarts=-1``); asking the actor for its address then waits for the new one. A
vector env spreads its sessions over the actors: one per node by default.

The servers listen on their nodes' addresses, reachable by the cluster's other machines: so a
server always requires a bearer token (a random one unless ``token`` or ``$OPENENV_TOKEN``
gives one), which this provider's sessions send.

>>> RayProvider("echo", num_cpus=0)  # doctest: +ELLIPSIS
<openenv_gym.providers.ray.RayProvider object at ...>
"""

from __future__ import annotations

import copy
import functools
import secrets
from typing import Any

from ..catalog import CatalogEnv, bundled
from ..errors import ProviderError
from ..settings import resolve_token
from .base import ServerProvider
from .process import ProcessProvider

INSTALL_HINT = 'the Ray provider needs Ray: pip install "openenv-gym[ray]"'


class ServerActor:
    """The body of one server's actor: its server is a child process on the node's address."""

    def __init__(self, app: str, env_kwargs: dict[str, Any], token: str, startup_timeout: float):
        import ray

        self._server = ProcessProvider(app, env_kwargs=env_kwargs, token=token,
                                       host=ray.util.get_node_ip_address(), startup_timeout=startup_timeout)
        self._server.start()

    def address(self) -> str:
        """The server's base URL (a server that died is started anew first)."""
        return self._server.start()

    def node(self) -> str:
        """The id of the Ray node the actor runs on."""
        import ray

        return str(ray.get_runtime_context().get_node_id())

    def stop(self) -> None:
        self._server.stop()


@functools.cache
def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ProviderError(INSTALL_HINT) from None
    return ray


class RayProvider(ServerProvider):
    """One environment server as a Ray actor; a vector env's extra servers are siblings of it.

    Args:
        env: a bundled or installed environment's name.
        env_kwargs: keyword arguments for the environment's constructor.
        token: the servers' bearer token (default ``$OPENENV_TOKEN``, else a random one).
        address: the Ray cluster to join if this process has not joined one: ``"auto"`` (a
            cluster started on this machine with ``ray start``), ``"ray://host:10001"``, or
            ``None`` (Ray's default: ``$RAY_ADDRESS``, else a new local cluster).
        num_cpus, memory, resources: what each server's actor asks of its node (cores, bytes,
            custom resources such as ``{"env_server": 1}``); Ray places it where they are free.
        runtime_env: Ray's runtime environment for the actor (``pip``, ``env_vars``,
            ``image_uri`` for a container image where the cluster supports it).
        scheduling_strategy: Ray's placement (``"SPREAD"`` by default: over the nodes).
        startup_timeout: seconds a server may take to start, Ray's placement included.
    """

    def __init__(self, env: str, *, env_kwargs: dict[str, Any] | None = None, token: str | None = None,
                 address: str | None = None, num_cpus: float = 1, memory: int | None = None,
                 resources: dict[str, float] | None = None, runtime_env: dict[str, Any] | None = None,
                 scheduling_strategy: Any = "SPREAD", startup_timeout: float = 120.0):
        self.env = env
        self.env_kwargs = env_kwargs or {}
        self.token = resolve_token(token) or secrets.token_urlsafe()
        self.address = address
        self.actor_options = {"num_cpus": num_cpus, "memory": memory, "resources": resources,
                              "runtime_env": runtime_env, "scheduling_strategy": scheduling_strategy,
                              "max_restarts": -1, "max_task_retries": -1}
        self.startup_timeout = startup_timeout
        self.actor: Any = None

    @classmethod
    def from_catalog(cls, env: CatalogEnv, *, env_kwargs: dict[str, Any], token: str | None,
                     **options: Any) -> RayProvider:
        return cls(env.name, env_kwargs=env_kwargs, token=token, **options)

    def sibling(self) -> RayProvider:
        """A provider of another actor with the same options and token (none placed yet)."""
        twin = copy.copy(self)
        twin.actor = None
        return twin

    def servers_by_default(self) -> int:
        """One server per alive node of the cluster."""
        return sum(1 for node in self._joined().nodes() if node["Alive"])

    def start(self) -> str:
        """Start the actor if there is none; its server's URL once it answers (after a lost
        node or process, Ray's restarted actor's)."""
        ray = self._joined()
        if self.actor is None:
            actor_class = ray.remote(ServerActor).options(
                **{k: v for k, v in self.actor_options.items() if v is not None})
            self.actor = actor_class.remote(bundled(self.env).app, self.env_kwargs, self.token,
                                            self.startup_timeout)
        try:
            return str(ray.get(self.actor.address.remote(), timeout=self.startup_timeout))
        except ray.exceptions.GetTimeoutError:
            raise ProviderError(f"the Ray actor serving {self.env!r} gave no address within "
                                f"{self.startup_timeout:g} s: does the cluster have a node with "
                                f"{self._wants()} free?") from None
        except ray.exceptions.RayError as exc:
            raise ProviderError(f"the Ray actor serving {self.env!r} failed: {exc}") from exc

    def stop(self) -> None:
        """Stop the server and kill the actor (no restart); idempotent."""
        actor, self.actor = self.actor, None
        if actor is None or not _ray().is_initialized():
            return
        ray = _ray()
        try:
            ray.get(actor.stop.remote(), timeout=10)
        except ray.exceptions.RayError:
            pass  # dead already, or its node is gone: the kill below is what counts
        ray.kill(actor, no_restart=True)

    def _joined(self) -> Any:
        ray = _ray()
        if not ray.is_initialized():
            ray.init(address=self.address, log_to_driver=False)
        return ray

    def _wants(self) -> str:
        wanted = {k: self.actor_options[k] for k in ("num_cpus", "memory", "resources")}
        return ", ".join(f"{k}={v}" for k, v in wanted.items() if v is not None)

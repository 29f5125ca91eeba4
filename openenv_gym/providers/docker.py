"""An environment server in a Docker container (the ``[docker]`` extra: the docker SDK).

>>> DockerProvider("echo", memory="512m").limits
{'mem_limit': '512m', 'memswap_limit': '512m', 'nano_cpus': 1000000000, 'pids_limit': 256}
"""

from __future__ import annotations

import copy
import os
from typing import Any

from ..errors import ProviderError
from ..settings import ALLOWED_HOSTS_VARIABLE
from .containers.engine import docker_sdk, labels, wait_healthy
from .containers.images import DEFAULT_BASE_IMAGE, ImageProvider
from .containers.sandboxing import image_sandbox, sandbox_options
from .process import LOG_TAIL_LINES

SERVER_PORT = 8000
"""The port the server listens on inside its container (every bundled Dockerfile's CMD)."""
RUN_TMPFS = "rw,nosuid,nodev,noexec,size=1m"
"""``/run``: runtime state (the coding server's user id leases), never more than a few files."""
ISOLATED_NETWORK = "openenv-gym-isolated"
"""The network of containers without internet: internal (no route out), no traffic between
containers; the engine's host reaches each container at its address on it."""
CONTAINER_HOSTS = "localhost"
"""``OPENENV_ALLOWED_HOSTS`` of a container's server: set, it checks the ``Host`` of requests
reaching the container's address too (not only loopback ones), so a DNS-rebinding web page on
this host cannot drive it; clients here name the container by its address or a loopback one,
which are always allowed (``server/origins.py``)."""


class DockerProvider(ImageProvider):
    """Runs an env's server in a container of its image, locked down.

    The container runs with a read-only root file system, a writable ``/tmp`` and ``/run``
    (tmpfs; the coding server keeps its user id leases in ``/run``),
    every Linux capability dropped, ``no-new-privileges``, memory / CPU / process-count
    limits, and labels naming this process as its owner. An image whose server sandboxes each
    session itself (label ``org.openenv-gym.sandbox``: the coding image) gets the few
    capabilities and the seccomp profile that takes (:mod:`.sandboxing`). It is removed by :meth:`stop`, when
    the provider is garbage-collected, at interpreter exit, on SIGTERM, and, after a crash,
    by the next provider started on this host.

    Args:
        env: a bundled env's name (``"echo"``) or a folder holding a Dockerfile.
        image: the image to run (default ``openenv-gym/<name>:latest``, built if missing).
        rebuild: build the image even if it exists (after changing the env's code).
        base_image: the Dockerfile's ``BASE_IMAGE`` when it is built.
        env_kwargs: keyword arguments for the environment's constructor.
        token: the bearer token the server requires and sessions send (default ``$OPENENV_TOKEN``).
        internet: False (default): the container can open no connection out (it sits on an
            internal network, reached from this host at its own address; a Linux engine on
            this machine). True: the default bridge network, the server published on a
            loopback port (``127.0.0.1::8000``): for Docker Desktop, or an env that downloads.
        memory: memory limit (no swap on top), e.g. ``"1g"``.
        cpus: CPU limit, in cores.
        pids_limit: most processes and threads in the container (stops fork bombs).
        tmpfs_size: size of the writable ``/tmp``.
        startup_timeout: seconds to wait for ``/health``.
    """

    def __init__(self, env: str | os.PathLike[str], *, image: str | None = None, rebuild: bool = False,
                 base_image: str = DEFAULT_BASE_IMAGE, env_kwargs: dict[str, Any] | None = None,
                 token: str | None = None, internet: bool = False, memory: str = "1g", cpus: float = 1.0,
                 pids_limit: int = 256, tmpfs_size: str = "128m", startup_timeout: float = 60.0):
        super().__init__(env, image=image, base_image=base_image, env_kwargs=env_kwargs, token=token,
                         startup_timeout=startup_timeout)
        self.rebuild = rebuild
        self.internet = internet
        self.limits = {"mem_limit": memory, "memswap_limit": memory, "nano_cpus": int(cpus * 1e9),
                       "pids_limit": pids_limit}
        self.tmpfs_size = tmpfs_size
        self.base_url: str | None = None
        self._container: Any = None

    @property
    def container_id(self) -> str | None:
        return None if self._container is None else self._container.id

    def start(self) -> str:
        if self.base_url is not None and self._running():
            return self.base_url
        self.stop()
        client = self._prepare(rebuild=self.rebuild)
        self.rebuild = False
        self._container = client.containers.run(self.image, detach=True, **self._run_options(client))
        self._track(self._container)
        try:
            self.base_url = self._address()
            wait_healthy(self.base_url, self.startup_timeout, self._running,
                         f"container {self._container.short_id} ({self.image})", self.log_tail)
        except ProviderError:
            self.stop()
            raise
        return self.base_url

    def sibling(self) -> DockerProvider:
        """A provider of another container of the same image and limits (none running yet)."""
        twin = copy.copy(self)
        twin.rebuild, twin._container, twin.base_url, twin._cleanup = False, None, None, None
        return twin

    def restart(self) -> str:
        """Remove the container (it may be dead or dying) and run a new one."""
        self.stop()
        return self.start()

    def stop(self) -> None:
        self._remove()
        self._container = self.base_url = None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines the container wrote."""
        if self._container is None:
            return "(not started)"
        return self._container.logs(tail=lines).decode(errors="replace").rstrip() or "(empty log)"

    def _run_options(self, client: Any) -> dict[str, Any]:
        network = ({"ports": {f"{SERVER_PORT}/tcp": ("127.0.0.1", None)}} if self.internet
                   else {"network": isolated_network(client)})
        environment = {**self.server_environment(), ALLOWED_HOSTS_VARIABLE: CONTAINER_HOSTS}
        return {"environment": environment, "labels": labels(self.name), "read_only": True,
                "tmpfs": {"/tmp": f"rw,nosuid,nodev,noexec,size={self.tmpfs_size}", "/run": RUN_TMPFS},
                "cap_drop": ["ALL"], "security_opt": ["no-new-privileges"], "init": True,
                **self.limits, **network, **sandbox_options(image_sandbox(client, self.image))}

    def _address(self) -> str:
        self._container.reload()
        settings = self._container.attrs["NetworkSettings"]
        if self.internet:
            return f"http://127.0.0.1:{settings['Ports'][f'{SERVER_PORT}/tcp'][0]['HostPort']}"
        return f"http://{settings['Networks'][ISOLATED_NETWORK]['IPAddress']}:{SERVER_PORT}"

    def _running(self) -> bool:
        if self._container is None:
            return False
        try:
            self._container.reload()
        except docker_sdk().errors.NotFound:
            return False
        return self._container.status in ("created", "running")


def isolated_network(client: Any) -> str:
    """Create :data:`ISOLATED_NETWORK` if it does not exist yet; its name."""
    if not client.networks.list(names=[ISOLATED_NETWORK]):
        try:
            client.networks.create(ISOLATED_NETWORK, driver="bridge", internal=True, check_duplicate=True,
                                   options={"com.docker.network.bridge.enable_icc": "false"})
        except docker_sdk().errors.APIError as exc:
            if exc.status_code != 409:  # 409: created meanwhile by another provider, as wanted
                raise
    return ISOLATED_NETWORK

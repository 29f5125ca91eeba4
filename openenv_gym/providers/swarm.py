"""Environment servers as a Docker Swarm service: replicas spread over a cluster's nodes.

Swarm's ingress routing mesh would hide the replicas behind one port and balance each
*connection*; a vector env wants to know its replicas to spread its sessions evenly. So the
service publishes its port in host mode with no fixed published port: every replica (task)
gets its own port on its node, read back from the task's status, so several replicas can share
one node. A replica's address is ``http://<node address>:<its port>``.

>>> SwarmProvider("echo", replicas=0)
Traceback (most recent call last):
...
ValueError: replicas must be at least 1, got 0
"""

from __future__ import annotations

import asyncio
import functools
import math
import os
import secrets
import time
from typing import Any

import httpx

from ..errors import ProviderError
from ..vector.groups import split
from ..vector.pool import SessionPool, group_at, max_sessions
from .containers.engine import answers, docker_client, docker_sdk, labels
from .containers.images import DEFAULT_BASE_IMAGE, ImageProvider
from .containers.sandboxing import SANDBOX_FALLBACK_USER, image_sandbox
from .docker import SERVER_PORT
from .process import LOG_TAIL_LINES


class SwarmProvider(ImageProvider):
    """Runs ``replicas`` copies of an env's server as one Swarm service.

    Args:
        env: a bundled env's name or a folder holding a Dockerfile.
        replicas: how many servers (tasks) the service runs.
        image: the image (default ``openenv-gym/<name>:latest``, built on this node if missing;
            on a cluster of several nodes every node needs it: push it to a registry).
        auto_init: make this engine a one-node swarm if it is in none.
        advertise_addr: the address other nodes reach this one at, for ``auto_init``
            (default ``127.0.0.1``: a one-node swarm that nothing else joins).
        env_kwargs: keyword arguments for the environment's constructor.
        token: the bearer token the servers require. Replicas listen on every interface of
            their node, so by default a random token is made (``$OPENENV_TOKEN`` if set).
        memory, cpus: limits of each replica.
        tmpfs_size: size of each replica's writable ``/tmp``.
        constraints: placement constraints, e.g. ``["node.labels.gpu==yes"]``.
        startup_timeout: seconds to wait for every replica's ``/health``.

    Each replica runs read-only with a tmpfs ``/tmp`` and every capability dropped, like a
    :class:`DockerProvider` container; Swarm has no ``no-new-privileges`` nor a process limit
    for services before Docker 25.
    """

    def __init__(self, env: str | os.PathLike[str], *, replicas: int = 2, image: str | None = None,
                 base_image: str = DEFAULT_BASE_IMAGE, auto_init: bool = True,
                 advertise_addr: str = "127.0.0.1", env_kwargs: dict[str, Any] | None = None,
                 token: str | None = None, memory: str = "1g", cpus: float = 1.0, tmpfs_size: str = "128m",
                 constraints: list[str] | None = None, startup_timeout: float = 120.0):
        if replicas < 1:
            raise ValueError(f"replicas must be at least 1, got {replicas}")
        super().__init__(env, image=image, base_image=base_image, env_kwargs=env_kwargs, token=token,
                         startup_timeout=startup_timeout)
        self.token = self.token or secrets.token_urlsafe()
        self.replicas = replicas
        self.auto_init = auto_init
        self.advertise_addr = advertise_addr
        self.memory, self.cpus, self.tmpfs_size = memory, cpus, tmpfs_size
        self.constraints = constraints or []
        self.base_urls: list[str] = []
        self._service: Any = None

    @property
    def service_name(self) -> str | None:
        return None if self._service is None else self._service.name

    def start(self) -> str:
        """Create the service if needed and wait for every replica; the first one's URL."""
        return self.start_all()[0]

    def start_all(self) -> list[str]:
        """Create the service if needed and wait for every replica; their URLs, by slot."""
        if self._service is None:
            self._create()
        try:
            self.base_urls = self._wait_for_replicas(list(range(1, self.replicas + 1)))
        except ProviderError:
            self.stop()
            raise
        return self.base_urls

    def scale(self, replicas: int) -> list[str]:
        """Run ``replicas`` servers; the URLs of all of them once they are healthy."""
        if replicas < 1:
            raise ValueError(f"replicas must be at least 1, got {replicas}")
        self.replicas = replicas
        if self._service is not None:  # the spec as it is but for the count: no replica is replaced
            self._service.reload()
            spec = self._service.attrs["Spec"]
            docker_client().api.update_service(
                self._service.id, self._service.version, name=spec["Name"], labels=spec.get("Labels"),
                task_template=spec["TaskTemplate"], mode={"Replicated": {"Replicas": replicas}},
                endpoint_spec=spec.get("EndpointSpec"), update_config=spec.get("UpdateConfig"),
                rollback_config=spec.get("RollbackConfig"))
        return self.start_all()

    async def open_sessions(self, num_envs: int, options: dict[str, Any],
                            num_servers: int | None = None) -> SessionPool:
        """One group per replica (the service scaled up if its replicas lack the capacity; it
        has ``replicas``, not ``num_servers``); a group whose replica died waits for Swarm's
        replacement on reset."""
        options = {**options, "token": self.token or ""}
        urls = await asyncio.to_thread(self.start_all)
        capacity = await max_sessions(urls[0], self.token) or 1
        if len(urls) * capacity < num_envs:
            urls = await asyncio.to_thread(self.scale, math.ceil(num_envs / capacity))
        replicas = [functools.partial(asyncio.to_thread, self.replica_url, slot)
                    for slot in range(1, len(urls) + 1)]
        sizes = split(num_envs, len(replicas))
        groups = await asyncio.gather(*(group_at(replica, n, options, replica)
                                        for replica, n in zip(replicas, sizes, strict=True) if n))
        return SessionPool(groups)

    def replica_url(self, slot: int) -> str:
        """The URL of replica ``slot`` (1-based) once it is healthy; Swarm replaces a replica
        that died, so after a crash this waits for its successor."""
        return self._wait_for_replicas([slot])[0]

    def stop(self) -> None:
        """Remove the service and wait (a few seconds at most) until its containers are gone."""
        if self._remove():
            _wait_until_removed(self._service.name)
        self._service = None
        self.base_urls = []

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines the service's replicas wrote."""
        if self._service is None:
            return "(not started)"
        return b"".join(self._service.logs(stdout=True, stderr=True, tail=lines)).decode(
            errors="replace").rstrip() or "(empty log)"

    def _create(self) -> None:
        self._join_swarm(docker_client())
        client = self._prepare()
        self._service = client.services.create(self.image, **self._service_options(), **self._user(client))
        self._track(self._service)

    def _join_swarm(self, client: Any) -> None:
        if client.info().get("Swarm", {}).get("LocalNodeState") == "active":
            return
        if not self.auto_init:
            raise ProviderError("this Docker engine is in no swarm: run `docker swarm init` (or "
                                "`docker swarm join ...`), or pass auto_init=True")
        client.swarm.init(advertise_addr=self.advertise_addr)

    def _user(self, client: Any) -> dict[str, Any]:
        """A sandboxing image (the coding one) runs as its unprivileged user: services get no
        seccomp profile, so bubblewrap could not start; the sandbox is then in its ``user`` mode."""
        return {"user": SANDBOX_FALLBACK_USER} if image_sandbox(client, self.image) else {}

    def _service_options(self) -> dict[str, Any]:
        docker = docker_sdk()
        types, size = docker.types, docker.utils.parse_bytes
        tmp = types.Mount("/tmp", "", type="tmpfs", tmpfs_size=size(self.tmpfs_size))
        return {
            "name": f"openenv-gym-{self.name}-{secrets.token_hex(3)}",
            "env": [f"{k}={v}" for k, v in self.server_environment().items()], "labels": labels(self.name),
            "container_labels": labels(self.name), "mode": types.ServiceMode("replicated", self.replicas),
            "endpoint_spec": types.EndpointSpec(ports=[{"TargetPort": SERVER_PORT, "Protocol": "tcp",
                                                        "PublishMode": "host"}]),
            "resources": types.Resources(cpu_limit=int(self.cpus * 1e9), mem_limit=size(self.memory)),
            "read_only": True, "cap_drop": ["ALL"], "mounts": [tmp], "constraints": self.constraints,
            "restart_policy": types.RestartPolicy(condition="any", delay=int(0.5e9)),
        }

    def _wait_for_replicas(self, slots: list[int]) -> list[str]:
        """The URLs of replicas ``slots`` once each answers ``/health``. Read anew each time: a
        task that just died may still look running, at the address its successor will not have."""
        deadline = time.monotonic() + self.startup_timeout
        with httpx.Client(timeout=1.0, trust_env=False) as http:
            while True:
                urls = self._replica_urls()
                healthy = [urls[slot] for slot in slots if slot in urls and answers(http, urls[slot])]
                if len(healthy) == len(slots):
                    return healthy
                if time.monotonic() > deadline:
                    raise ProviderError(f"service {self.service_name}: replicas {slots} not all healthy "
                                        f"after {self.startup_timeout}s (tasks: {self._task_errors()}); "
                                        f"last log lines:\n{self.log_tail()}")
                time.sleep(0.2)

    def _replica_urls(self) -> dict[int, str]:
        """``slot -> URL`` of the running tasks whose port is known."""
        addresses = {node.id: node.attrs["Status"]["Addr"] for node in docker_client().nodes.list()}
        urls = {}
        for task in self._service.tasks(filters={"desired-state": "running"}):
            ports = task["Status"].get("PortStatus", {}).get("Ports") or []
            if task["Status"]["State"] == "running" and ports:
                urls[task["Slot"]] = f"http://{addresses[task['NodeID']]}:{ports[0]['PublishedPort']}"
        return urls

    def _task_errors(self) -> str:
        states = [f"{t['Status']['State']}: {t['Status'].get('Err', t['Status'].get('Message', ''))}"
                  for t in self._service.tasks()]
        return "; ".join(states) or "no tasks"


def _wait_until_removed(service_name: str, within: float = 10.0) -> None:
    """Swarm removes a removed service's containers shortly after; wait for that."""
    containers, deadline = docker_client().containers, time.monotonic() + within
    label = f"com.docker.swarm.service.name={service_name}"
    while containers.list(all=True, sparse=True, filters={"label": label}) and time.monotonic() < deadline:
        time.sleep(0.2)

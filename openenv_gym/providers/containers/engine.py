"""What the Docker providers share: the engine client, owner labels, cleanup, health waits.

Every container and service a provider starts carries the label ``openenv-gym.owner`` =
``<hostname>:<pid>`` of the process that started it. It is removed by the provider's
``stop()``, when the provider is garbage-collected, at interpreter exit, and on SIGTERM; and if
the process was killed outright (SIGKILL, a crash), by the next provider started on the same
host, which removes whatever an owner that no longer runs left behind.

>>> owner_alive(owner_label())
True
>>> owner_alive("another-host:1")  # not ours to judge: kept
True
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import threading
import time
import weakref
from collections.abc import Callable
from types import FrameType
from typing import Any

import httpx

from ...errors import ProviderError

OWNER_LABEL = "openenv-gym.owner"
ENV_LABEL = "openenv-gym.env"
ENGINE_HINT = ("start one (on a Linux machine: `dockerd &`, or this repository's `.ci/docker-engine.sh`; "
               "elsewhere Docker Desktop) and check `docker info`")


def docker_sdk() -> Any:
    """The ``docker`` package, or a :class:`ProviderError` saying how to install it."""
    try:
        import docker
    except ImportError as exc:
        raise ProviderError("the Docker providers need the docker SDK: "
                            "pip install 'openenv-gym[docker]'") from exc
    return docker


@functools.cache
def docker_client() -> Any:
    """The Docker engine's client (``docker.from_env()``), shared by every provider."""
    docker = docker_sdk()
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        raise ProviderError(f"no Docker engine answers ({exc}); {ENGINE_HINT}") from exc
    return client


def owner_label() -> str:
    """``<hostname>:<pid>`` of this process: the ``openenv-gym.owner`` label value."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str) -> bool:
    """False only for an owner on this host whose process no longer runs."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


def labels(env: str) -> dict[str, str]:
    """The labels of a container or service started for ``env`` by this process."""
    return {OWNER_LABEL: owner_label(), ENV_LABEL: env}


def remove_leaked(client: Any) -> int:
    """Remove the services and containers whose owner process died; how many there were."""
    leaked = []
    if client.info().get("Swarm", {}).get("LocalNodeState") == "active":
        leaked += [service for service in client.services.list(filters={"label": OWNER_LABEL})
                   if not owner_alive(service.attrs["Spec"].get("Labels", {}).get(OWNER_LABEL, ""))]
    leaked += [container for container in client.containers.list(all=True, sparse=True,
                                                                 filters={"label": OWNER_LABEL})
               if not owner_alive(container.attrs["Labels"].get(OWNER_LABEL, ""))]
    for item in leaked:
        remove_quietly(item)
    return len(leaked)


def remove_quietly(item: Any) -> None:
    """Remove a container (running or not) or a service; one already gone is fine."""
    from docker.errors import NotFound

    try:
        item.remove(**({"force": True} if hasattr(item, "kill") else {}))
    except NotFound:
        pass  # already removed (by its service's removal, or by another process): the goal


class Cleanup:
    """Runs ``remove(*args)`` once: on :meth:`__call__`, when ``owner`` is garbage-collected,
    at interpreter exit, or on SIGTERM (see :func:`install_sigterm_handler`); only in the
    process that made it (a forked child, e.g. a Gymnasium worker, leaves the parent's alone)."""

    live: set[Cleanup] = set()
    _lock = threading.RLock()  # re-entered when SIGTERM arrives while the main thread holds it

    def __init__(self, owner: object, remove: Callable[..., object], *args: Any):
        self._finalizer = weakref.finalize(owner, _in_process, os.getpid(), remove, *args)
        with self._lock:
            self.live.add(self)

    def __call__(self) -> None:
        with self._lock:
            self.live.discard(self)
        self._finalizer()

    @classmethod
    def run_all(cls) -> None:
        for cleanup in list(cls.live):
            cleanup()


def _in_process(pid: int, remove: Callable[..., object], *args: Any) -> None:
    if os.getpid() == pid:
        remove(*args)


_previous_handler: Any = None


def install_sigterm_handler() -> None:
    """On SIGTERM, remove what the providers started, then do what SIGTERM did before.

    Installed once, from the main thread only (Python's rule), and only over the default
    action or a Python handler (which is then called); a process that ignores SIGTERM keeps
    ignoring it.
    """
    global _previous_handler
    if threading.current_thread() is not threading.main_thread():
        return
    current = signal.getsignal(signal.SIGTERM)
    if current is _on_sigterm or current is signal.SIG_IGN or current is None:
        return
    _previous_handler = current
    signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    Cleanup.run_all()
    if callable(_previous_handler):
        _previous_handler(signum, frame)
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def answers(http: httpx.Client, url: str) -> bool:
    """True if the server at ``url`` answers ``/health`` with 200 now."""
    try:
        return http.get(url + "/health").status_code == 200
    except httpx.TransportError:
        return False  # not listening (yet, or any more)


def wait_healthy(url: str, timeout: float, running: Callable[[], bool], what: str,
                 logs: Callable[[], str]) -> None:
    """Poll ``url``/health until it answers 200; :class:`ProviderError` with the server's last
    log lines if ``running()`` turns False or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0, trust_env=False) as http:
        while not answers(http, url):
            if not running():
                raise ProviderError(f"{what} exited before it was healthy; last log lines:\n{logs()}")
            if time.monotonic() > deadline:
                raise ProviderError(f"{what} not healthy at {url} after {timeout}s; "
                                    f"last log lines:\n{logs()}")
            time.sleep(0.1)

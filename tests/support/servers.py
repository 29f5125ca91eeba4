"""Starting real servers for tests."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from openenv_gym.providers import ProcessProvider
from tests.support.processes import process_gone

REPO_ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def serving(app: str, environment: dict[str, str] | None = None) -> Iterator[ProcessProvider]:
    """A started server process for ``app`` (importable from the repo root), stopped on exit;
    ``environment``: variables for the server process only (e.g. ``OPENENV_RATE_LIMIT``)."""
    provider = ProcessProvider(app)
    with pytest.MonkeyPatch.context() as env:  # the child imports ``tests.…`` from the repo root
        for name, value in (environment or {}).items():
            env.setenv(name, value)
        env.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO_ROOT),
                                                                os.environ.get("PYTHONPATH")])))
        provider.start()
    try:
        yield provider
    finally:
        provider.stop()


@contextlib.contextmanager
def served_by(command: list[str], within: float = 30.0, log: Path | None = None) -> Iterator[str]:
    """Run a server ``command`` (``{port}`` is filled with a free port) until it answers
    ``/health``; yield its URL; stop it afterwards and check it is gone. ``log``: a file for
    its output (else discarded)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    output = open(log, "wb") if log is not None else subprocess.DEVNULL  # closed below
    server = subprocess.Popen([part.format(port=port) for part in command], stdout=output, stderr=output)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        assert process_gone(server.pid, within=10)
        if log is not None:
            output.close()  # type: ignore[union-attr]


def active_sessions(server: str | ProcessProvider, headers: dict[str, str] | None = None) -> int:
    """The server's ``active_sessions`` (``GET /capabilities``); ``server`` is its URL or its
    started provider. Plain ``http.client``: no proxy, no TLS context, no keep-alive to wait for."""
    url = server if isinstance(server, str) else server.start()
    host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", "/capabilities", headers=headers or {})
        return json.loads(connection.getresponse().read())["active_sessions"]
    finally:
        connection.close()


def settled_sessions(server: str | ProcessProvider, expected: int, within: float = 5.0,
                     headers: dict[str, str] | None = None) -> int:
    """:func:`active_sessions` once it is ``expected`` (servers close sessions asynchronously),
    or what it is after ``within`` seconds."""
    deadline = time.monotonic() + within
    while (count := active_sessions(server, headers)) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


def ws_url(provider: ProcessProvider) -> str:
    """The ``/ws`` URL of a started (or startable) server provider."""
    return provider.start().replace("http", "ws", 1) + "/ws"

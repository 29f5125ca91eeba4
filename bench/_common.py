"""Helpers shared by the benchmarks in ``bench/``: servers in child processes, machine info
(from :mod:`openenv_gym.benchmark`, shared with ``openenv-gym bench``).

Only the standard library is imported at module level: the upstream server runs
``uvicorn _common:upstream_echo_many --factory`` and should not load more than it needs.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from openenv_gym.benchmark import header, machine  # noqa: F401  (the scripts import them from here)
from openenv_gym.providers.process import stop_process

BENCH_DIR = Path(__file__).resolve().parent
UPSTREAM_APP = "upstream_echo:app"  # bench/upstream_echo.py, max_concurrent_envs=4
UPSTREAM_MANY_APP = "_common:upstream_echo_many"  # the same env, more sessions (a factory)
UPSTREAM_MAX_SESSIONS_VAR = "BENCH_UPSTREAM_MAX_SESSIONS"
STARTUP_TIMEOUT = 60.0


def upstream_echo_many() -> Any:
    """``bench/upstream_echo.py``'s environment on upstream's ``create_app`` with room for many
    sessions (``$BENCH_UPSTREAM_MAX_SESSIONS``, default 512). A uvicorn ``--factory``."""
    from openenv.core.env_server import create_app
    from upstream_echo import UpstreamEchoAction, UpstreamEchoEnvironment, UpstreamEchoObservation

    sessions = int(os.environ.get(UPSTREAM_MAX_SESSIONS_VAR, "512"))
    return create_app(UpstreamEchoEnvironment, UpstreamEchoAction, UpstreamEchoObservation,
                      env_name="upstream_echo", max_concurrent_envs=sessions)


# --- child processes -----------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)  # no proxy, ever
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def start_uvicorn(stack: contextlib.ExitStack, app: str, *, factory: bool = False,
                  env: dict[str, str] | None = None) -> tuple[str, subprocess.Popen[bytes]]:
    """``uvicorn APP --app-dir bench`` in a child process (uvicorn's defaults), stopped by ``stack``.

    Returns the server's URL and its process once ``/health`` answers.
    """
    port = free_port()
    log = stack.enter_context(tempfile.TemporaryFile())
    command = [sys.executable, "-m", "uvicorn", app, "--app-dir", str(BENCH_DIR),
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    if factory:
        command.append("--factory")
    child_env = dict(os.environ, ENABLE_WEB_INTERFACE="false", **(env or {}))
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=child_env)
    stack.callback(stop_process, process)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not healthy(port):
        if process.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            raise RuntimeError(f"{app} did not start:\n{log.read().decode(errors='replace')}")
        time.sleep(0.1)
    return f"http://127.0.0.1:{port}", process


def start_upstream_server(stack: contextlib.ExitStack) -> str:
    """``uvicorn upstream_echo:app`` in a child process (uvicorn defaults); returns its URL."""
    return start_uvicorn(stack, UPSTREAM_APP)[0]


def loopback_round_trip_us(round_trips: int = 5000) -> float:
    """Mean microseconds of a 64-byte TCP round trip to another process on this machine: the
    floor under any served step (a request out, a reply back, each side woken once)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        child = os.fork()
        if child == 0:  # the echoing peer
            peer, _ = listener.accept()
            peer.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while data := peer.recv(64):
                peer.sendall(data)
            os._exit(0)
        with socket.create_connection(listener.getsockname()) as client:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            start = time.perf_counter()
            for _ in range(round_trips):
                client.sendall(b"x" * 64)
                client.recv(64)
            elapsed = time.perf_counter() - start
        os.waitpid(child, 0)
    return elapsed / round_trips * 1e6

"""Run an environment server with uvicorn: ``python -m openenv_gym.server APP``.

WebSocket pings are off: a Gym environment idles between steps for as long as its user
likes, and a blocking client only reads its socket during a call, so uvicorn's default ping
(every 20 s, closed without a pong in 20 s) would drop idle sessions. Dead clients are found
instead by their TCP connection closing; by TCP keepalive when the peer vanished without a
word (a crashed host, a cut network: every accepted socket is probed after 30 s of silence,
every 10 s, and dropped after 3 unanswered probes, about a minute); and by the idle limit
(``create_app(session_timeout=...)``, 15 minutes by default) when the peer is there but says
nothing (a client that stopped reading). (Serving with the ``uvicorn`` command instead? Pass
``--ws-ping-interval 0``.)

Binds the socket itself (port 0 picks a free port without a race) and, when asked, writes
the bound port to a pipe once the server is ready, which is how the local-process provider
learns the address without polling. With ``--parent-pid`` the server exits when its parent
dies, so a crashed client never leaves a server behind.

Access control: set ``OPENENV_TOKEN`` in the server's environment to require
``Authorization: Bearer <token>`` (see ``create_app(token=...)``). There is deliberately no
``--token`` flag: a command line is visible to every user of the machine (``ps``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import gc
import logging
import os
import re
import resource
import socket
from typing import Any

import uvicorn
import uvicorn.config
from uvicorn.importer import import_from_string
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from .admission import AcceptErrorLog, Incoming, guarded
from .app import DEFAULT_MAX_MESSAGE_BYTES, MAX_SESSIONS_VARIABLE
from .budget import budgeted

UVICORN_FRAME_LIMIT_FACTOR = 4
"""uvicorn closes larger frames with code 1009; ours get an error reply below that."""
GC_YOUNG_THRESHOLD = 20_000
"""Allocations between two young collections (Python's default: 700). A batch of 64 steps
allocates about 1,000 objects, alive until its reply is sent: with the default, each batch
paid one or two collections that scanned them all (and the server's start-up objects, before
``gc.freeze``), ~2 µs per step at 64 sessions (docs/benchmarks.md)."""


class RedactCredentials(logging.Filter):
    """Blanks bearer tokens, ``Authorization`` values, resume tokens (``x-openenv-resume``) and
    the web page's token subprotocol (``openenv-gym.token.…``) out of log records.

    At debug level the WebSocket library logs every handshake header.

    >>> record = logging.makeLogRecord({"msg": "< %s", "args": ("Authorization: Bearer s3cret",)})
    >>> RedactCredentials().filter(record), record.getMessage()
    (True, '< Authorization: Bearer [redacted]')
    >>> record = logging.makeLogRecord({"msg": "< Sec-WebSocket-Protocol: a, openenv-gym.token.czM"})
    >>> RedactCredentials().filter(record), record.getMessage()
    (True, '< Sec-WebSocket-Protocol: a, openenv-gym.token.[redacted]')
    >>> record = logging.makeLogRecord({"msg": "> x-openenv-resume: YoSpNuxnzk8dgR5P"})
    >>> RedactCredentials().filter(record), record.getMessage()
    (True, '> x-openenv-resume: [redacted]')
    """

    PATTERN = re.compile(r"(?i)(authorization:\s*(?:bearer\s+)?|bearer\s+|openenv-gym\.token\.|"
                         r"x-openenv-resume:\s*)[^\s'\",]+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.PATTERN.sub(r"\1[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def _redact_logs() -> None:
    """Install :class:`RedactCredentials` on the handlers uvicorn's logging set up."""
    for name in ("", "uvicorn", "uvicorn.access"):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, RedactCredentials) for f in handler.filters):
                handler.addFilter(RedactCredentials())


KEEPALIVE = {"TCP_KEEPIDLE": 30, "TCP_KEEPINTVL": 10, "TCP_KEEPCNT": 3}
"""TCP keepalive of accepted sockets: probe after 30 s of silence, every 10 s, give up after 3."""


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto TCP: asyncio then sets TCP_NODELAY on accepted sockets (else Nagle holds pipelined replies 40 ms)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    _keep_alive(sock)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _keep_alive(sock: socket.socket) -> None:
    """Turn TCP keepalive on; accepted sockets inherit it from the listening one (Linux, macOS)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in KEEPALIVE.items():
        if hasattr(socket, name):  # TCP_KEEPIDLE is missing on older macOS
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


DESCRIPTOR_RESERVE = 64
"""Open files a server needs beside its connections' sockets (listening socket, logs, libraries)."""


def _fit_descriptor_limit(sessions: Any) -> tuple[int, str] | None:
    """Raise the soft limit on open files (``ulimit -n``) towards the hard one when the session
    capacity needs more; the log level and line that say so, or that it falls short.

    A server admits connections up to three quarters of the soft limit (``admission.py``), so
    its capacity needs a third more descriptors than sessions: 1,024 sessions (the default)
    ~1,400, where Linux's usual soft limit is 1,024 (hard: 524,288 or more).
    """
    capacity = getattr(sessions, "max_sessions", None)
    if not isinstance(capacity, int):
        return None  # not an app of create_app: nothing to size for
    needed = capacity * 4 // 3 + DESCRIPTOR_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return None
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:  # macOS: an unlimited hard limit, capped lower by the kernel
            logging.getLogger(__name__).debug("setrlimit(%d) failed", target, exc_info=exc)
            target = soft
    if target < needed:
        return logging.WARNING, (f"Open-file limit (ulimit -n) {target}, hard limit {hard}: this server "
                                 f"admits {target * 3 // 4} connections, fewer than its {capacity} sessions. "
                                 f"Raise the limit, or lower {MAX_SESSIONS_VARIABLE}.")
    return logging.INFO, (f"Open-file limit (ulimit -n) raised from {soft} to {target} "
                          f"for {capacity} sessions.")


def _tune_gc() -> None:
    """Once started: what start-up made lives as long as the server, so the collector skips it
    from now on (``gc.freeze``), and it runs after every ``GC_YOUNG_THRESHOLD`` allocations."""
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


async def _announce(server: uvicorn.Server, sock: socket.socket, ready_fd: int | None) -> None:
    while not server.started:
        await asyncio.sleep(0.01)
    _tune_gc()
    port = sock.getsockname()[1]
    if ready_fd is not None:
        os.write(ready_fd, f"{port}\n".encode())
        os.close(ready_fd)


async def _watch_parent(server: uvicorn.Server, parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        await asyncio.sleep(0.5)
    server.should_exit = True


async def _serve(server: uvicorn.Server, sock: socket.socket, ready_fd: int | None,
                 parent_pid: int | None) -> None:
    asyncio.get_running_loop().set_exception_handler(AcceptErrorLog())
    helpers = [asyncio.create_task(_announce(server, sock, ready_fd))]
    if parent_pid is not None:
        helpers.append(asyncio.create_task(_watch_parent(server, parent_pid)))
    try:
        await server.serve(sockets=[sock])
    finally:
        for task in helpers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def serve(app: Any, *, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info",
          ready_fd: int | None = None, parent_pid: int | None = None) -> None:
    """Serve ``app`` (an ASGI app or an ``"module:attribute"`` string) until interrupted."""
    if isinstance(app, str):
        app = import_from_string(app)
    state = getattr(app, "state", None)
    limit = getattr(state, "max_message_bytes", DEFAULT_MAX_MESSAGE_BYTES)
    budget = getattr(state, "memory_budget", None)  # unfinished frames count too (server/budget.py)
    descriptors = _fit_descriptor_limit(getattr(state, "sessions", None))
    incoming = Incoming.configured()  # slow request heads and bodies are cut (server/admission.py)
    options = _options(log_level, limit)
    if budget is not None:
        options["ws"] = budgeted(budget)
    config = uvicorn.Config(app, http=guarded(AutoHTTPProtocol, incoming), **options)
    _redact_logs()
    if descriptors is not None:  # logged once uvicorn's logging is set up
        logging.getLogger("uvicorn.error").log(*descriptors)
    server = uvicorn.Server(config)
    sock = _bind(host, port)
    asyncio.run(_serve(server, sock, ready_fd, parent_pid))


def _options(log_level: str, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> dict[str, Any]:
    """uvicorn's settings for an environment server (no pings, no compression, frame limit)."""
    return {"log_level": log_level, "ws_per_message_deflate": False, "lifespan": "on",
            "ws_max_size": max_message_bytes * UVICORN_FRAME_LIMIT_FACTOR,
            "ws_ping_interval": None, "ws_ping_timeout": None}


def serve_reloading(app: str, *, watch: str, host: str = "127.0.0.1", port: int = 8000,
                    log_level: str = "info", app_dir: str = "") -> None:
    """Serve ``app`` (``"module:attribute"``, imported from ``app_dir`` first) and restart it
    whenever a Python file under the folder ``watch`` changes: for developing an environment.

    The server runs in a child process that uvicorn replaces on each change; its log lines go
    through :class:`RedactCredentials` too.
    """
    uvicorn.run(app, host=host, port=port, reload=True, reload_dirs=[watch], app_dir=app_dir,
                log_config=_redacting_log_config(), **_options(log_level))


def _redacting_log_config() -> dict[str, Any]:
    """uvicorn's logging set-up with :class:`RedactCredentials` on its handlers (for child processes,
    where :func:`_redact_logs` cannot reach)."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["filters"] = {"redact": {"()": RedactCredentials}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact"]
    return config


def parser(description: str) -> argparse.ArgumentParser:
    """The command-line options every environment server takes."""
    args = argparse.ArgumentParser(
        description=description,
        epilog="Set OPENENV_TOKEN to require 'Authorization: Bearer <token>' on every route but /health. "
               "Limits: OPENENV_MAX_SESSIONS_PER_CLIENT, OPENENV_RATE_LIMIT (messages/s per connection), "
               "OPENENV_RATE_BURST, OPENENV_MAX_MESSAGE_BYTES, OPENENV_MAX_INFLIGHT_BYTES, "
               "OPENENV_SESSION_TIMEOUT, OPENENV_HANDSHAKE_TIMEOUT, OPENENV_BODY_TIMEOUT, "
               "OPENENV_MAX_CONNECTIONS. Web pages: OPENENV_ALLOWED_HOSTS, OPENENV_ALLOWED_ORIGINS "
               "(see docs/reliability.md).")
    args.add_argument("--host", default="127.0.0.1",
                      help="address to bind (default 127.0.0.1; use 0.0.0.0 to serve a network)")
    args.add_argument("--port", type=int, default=8000, help="port (0 picks a free one)")
    args.add_argument("--log-level", default="info")
    args.add_argument("--max-concurrent-envs", type=int, metavar="N",
                      help=f"session capacity, unless the app sets max_concurrent_envs itself (sets "
                           f"{MAX_SESSIONS_VARIABLE}; default 1024 for an environment that supports "
                           "concurrent sessions, else 1)")
    args.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    args.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    return args


def main(app: str | None = None, argv: list[str] | None = None) -> None:
    """Command-line entry: serve ``app``, or the app named on the command line."""
    args = parser("Serve an OpenEnv environment.")
    if app is None:
        args.add_argument("app", help="the ASGI app as module:attribute")
    ns = args.parse_args(argv)
    if ns.max_concurrent_envs is not None:  # read by create_app when the app module is imported
        os.environ[MAX_SESSIONS_VARIABLE] = str(ns.max_concurrent_envs)
    serve(app or ns.app, host=ns.host, port=ns.port, log_level=ns.log_level,
          ready_fd=ns.ready_fd, parent_pid=ns.parent_pid)

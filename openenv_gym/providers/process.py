"""A local server process: uvicorn on a free 127.0.0.1 port (the default provider)."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any

import httpx

from ..catalog import CatalogEnv
from ..errors import ProviderError
from ..settings import ENV_KWARGS_VARIABLE, TOKEN_VARIABLE, resolve_token
from .base import ServerProvider

LOG_TAIL_LINES = 20


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def stop_process(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Terminate ``process``; kill it if it has not exited within ``grace`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=grace)


def _terminate(process: subprocess.Popen[bytes], log_dir: str) -> None:
    stop_process(process)
    shutil.rmtree(log_dir, ignore_errors=True)


class ProcessProvider(ServerProvider):
    """Runs ``python -m openenv_gym.server APP`` as a child process on 127.0.0.1 (or ``host``).

    The server binds port 0 and reports the port it got through a pipe once it is ready, so
    there is neither a port race nor health polling. The process is stopped by
    :meth:`stop`, when the provider is garbage-collected, at interpreter exit, and (it
    watches its parent) when this process dies.

    Args:
        app: the ASGI app as ``module:attribute`` (e.g. ``openenv_gym.envs.echo.app:app``).
        env_kwargs: keyword arguments for the environment's constructor.
        startup_timeout: seconds to wait for the server to be ready.
        log_level: uvicorn's log level; the log is kept in a temporary file.
        token: the bearer token the server requires and its sessions send (passed to the
            server in its environment, never on its command line). By default
            ``$OPENENV_TOKEN``; unset (or ``""``), the server is open to this machine's
            users, as it binds 127.0.0.1 only. For a random one: ``secrets.token_urlsafe()``.
        host: the address to bind (another than 127.0.0.1 serves a network: give a token).

    >>> with ProcessProvider("openenv_gym.envs.echo.app:app") as server:
    ...     server.start().startswith("http://127.0.0.1:")
    True
    """

    def __init__(self, app: str, *, env_kwargs: dict[str, Any] | None = None,
                 startup_timeout: float = 60.0, log_level: str = "warning", token: str | None = None,
                 host: str = "127.0.0.1"):
        self.app = app
        self.host = host
        self.token = resolve_token(token)
        self.env_kwargs = env_kwargs or {}
        self.startup_timeout = startup_timeout
        self.log_level = log_level
        self.base_url: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None
        self._finalizer: weakref.finalize | None = None

    @classmethod
    def from_catalog(cls, env: CatalogEnv, *, env_kwargs: dict[str, Any], token: str | None,
                     **options: Any) -> ProcessProvider:
        return cls(env.app, env_kwargs=env_kwargs, token=token, **options)

    def sibling(self) -> ProcessProvider:
        return ProcessProvider(self.app, env_kwargs=self.env_kwargs, startup_timeout=self.startup_timeout,
                               log_level=self.log_level, token=self.token, host=self.host)

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> str:
        if self.base_url is not None and self._process is not None and self._process.poll() is None:
            return self.base_url
        self.stop()
        log_dir = tempfile.mkdtemp(prefix="openenv-gym-")
        self._log_path = Path(log_dir) / "server.log"
        read_end, write_end = os.pipe()
        try:
            self._process = self._spawn(write_end)
        finally:
            os.close(write_end)
        self._finalizer = weakref.finalize(self, _terminate, self._process, log_dir)
        try:
            port = self._wait_for_port(read_end)
        except ProviderError:
            self.stop()
            raise
        finally:
            os.close(read_end)
        self.base_url = f"http://{self.host}:{port}"
        self._check_health()
        return self.base_url

    def restart(self) -> str:
        """Stop the server (it may be dying but not yet reaped) and start a new one."""
        self.stop()
        return self.start()

    def stop(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
        self._process = None
        self.base_url = None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines the server wrote."""
        return "(not started)" if self._log_path is None else _tail(self._log_path, lines)

    def _spawn(self, ready_fd: int) -> subprocess.Popen[bytes]:
        assert self._log_path is not None
        command = [sys.executable, "-m", "openenv_gym.server", self.app, "--host", self.host,
                   "--port", "0", "--log-level", self.log_level, "--ready-fd", str(ready_fd),
                   "--parent-pid", str(os.getpid())]
        env = dict(os.environ, **{ENV_KWARGS_VARIABLE: json.dumps(self.env_kwargs)})
        env.pop(TOKEN_VARIABLE, None)
        if self.token:
            env[TOKEN_VARIABLE] = self.token
        with open(self._log_path, "wb") as log:
            return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    pass_fds=(ready_fd,), env=env)

    def _wait_for_port(self, read_end: int) -> int:
        deadline = time.monotonic() + self.startup_timeout
        received = b""
        while b"\n" not in received:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProviderError(f"server {self.app} not ready after {self.startup_timeout}s; "
                                    f"last log lines:\n{self.log_tail()}")
            readable, _, _ = select.select([read_end], [], [], remaining)
            if readable:
                chunk = os.read(read_end, 64)
                if not chunk:
                    raise ProviderError(self._died_message())
                received += chunk
        return int(received.split(b"\n", 1)[0])

    def _died_message(self) -> str:
        assert self._process is not None
        try:
            code = self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        return (f"server {self.app} exited (code {code}) before it was ready; "
                f"last log lines:\n{self.log_tail()}")

    def _check_health(self) -> None:
        try:
            response = httpx.get(f"{self.base_url}/health", timeout=self.startup_timeout,
                                 trust_env=False)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            self.stop()
            raise ProviderError(f"server {self.app} is not healthy: {exc}") from exc

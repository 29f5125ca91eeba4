"""Upstream OpenEnv releases as real peers, each in a virtual environment of its own.

``openenv-core`` 0.3.0 and ``openenv`` 0.10 both install the ``openenv`` package, so they cannot
share one environment (nor ours: CI installs 0.3.0 next to openenv-gym). The test set-up makes
one venv per release, the first time a test asks for it, under ``$OPENENV_GYM_PEERS``
(default ``~/.cache/openenv-gym/peers``), and reuses it afterwards. A peer runs upstream's
servers (``Peer.serve``) and upstream's clients (``Peer.run``) in subprocesses, so every
interop test crosses a real socket between two separately installed programs.

>>> sorted(RELEASES)
['0.10.0', '0.3.0']
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from tests.support.processes import process_gone

REPO_ROOT = Path(__file__).resolve().parents[2]
RELEASES = {"0.3.0": "openenv-core==0.3.0", "0.10.0": "openenv==0.10.0"}
"""The upstream releases we interoperate with: version -> what pip installs."""
PEERS_VARIABLE = "OPENENV_GYM_PEERS"
INSTALL_TIMEOUT = 900


def peers_root() -> Path:
    return Path(os.environ.get(PEERS_VARIABLE) or Path.home() / ".cache" / "openenv-gym" / "peers")


def _bin(venv: Path, name: str) -> Path:
    return venv / ("Scripts" if sys.platform == "win32" else "bin") / name


def ensure_venv(version: str) -> Path:
    """The python of a venv holding upstream ``version`` (made on first use, under a lock)."""
    spec = RELEASES[version]
    venv = peers_root() / spec.replace("==", "-")
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second pytest waits for the first to finish
        ready = venv / ".ready"
        if not ready.exists():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            done = subprocess.run([str(_bin(venv, "python")), "-m", "pip", "install", "-q",
                                   "--disable-pip-version-check", spec],
                                  capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
            if done.returncode != 0:
                raise RuntimeError(f"pip install {spec} into {venv} failed:\n{done.stderr[-3000:]}")
            ready.write_text(spec)
    return _bin(venv, "python")


@dataclass
class PeerServer:
    """An upstream server process: where it listens and its pid (to kill it)."""

    base_url: str
    pid: int


@dataclass
class Peer:
    """One upstream release installed in its own venv."""

    version: str
    python: Path
    _process: subprocess.Popen[str] | None = field(default=None, repr=False)

    @property
    def is_010(self) -> bool:
        return self.version.startswith("0.10")

    def _environment(self, extra: dict[str, str] | None) -> dict[str, str]:
        environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        environment.update({"PYTHONPATH": str(REPO_ROOT), "NO_PROXY": "*", **(extra or {})})
        return environment

    def run(self, code: str, *, timeout: float = 120, **variables: Any) -> Any:
        """Run ``code`` (upstream client code) in the peer; what it assigned to ``result``.

        ``variables`` (JSON values) are defined before ``code`` runs. An exception in the
        peer fails the test with the peer's traceback.
        """
        process = self._repl()
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps({"code": textwrap.dedent(code), "variables": variables}) + "\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        line = process.stdout.readline() if ready else ""
        if not line:
            self.close()
            raise AssertionError(f"upstream {self.version} peer gave no answer within {timeout}s")
        reply = json.loads(line)
        if "error" in reply:
            raise AssertionError(f"upstream {self.version} peer failed:\n{reply['error'][-4000:]}")
        return reply["result"]

    def _repl(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [str(self.python), str(Path(__file__).with_name("peer_repl.py"))], text=True,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self._environment(None), cwd=REPO_ROOT)
        return self._process

    def close(self) -> None:
        """Stop the peer's snippet process (a new one starts on the next ``run``)."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()

    @contextlib.contextmanager
    def serve(self, app: str, environment: dict[str, str] | None = None,
              within: float = 60.0) -> Iterator[PeerServer]:
        """Upstream's server running ``app`` (``module:attribute`` importable from the repo root)."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        command = [str(self.python), "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
                   "--log-level", "warning"]
        with tempfile.TemporaryFile() as log:
            server = subprocess.Popen(command, env=self._environment(environment), cwd=REPO_ROOT,
                                      stdout=log, stderr=log)
            url = f"http://127.0.0.1:{port}"
            try:
                _await_health(url, server, log, within)
                yield PeerServer(url, server.pid)
            finally:
                server.terminate()
                assert process_gone(server.pid, within=10)


def _await_health(url: str, server: subprocess.Popen[bytes], log: IO[bytes], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            error = log.read().decode(errors="replace")
            raise AssertionError(f"the upstream server exited ({server.returncode}):\n{error[-3000:]}")
        try:
            if httpx.get(url + "/health", timeout=1, trust_env=False).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"the upstream server at {url} did not answer /health within {within}s")


@functools.cache
def peer(version: str) -> Peer:
    """The upstream release ``version``, installed on first use (one per test session)."""
    made = Peer(version, ensure_venv(version))
    atexit.register(made.close)
    return made

"""Coding-sandbox test helpers: finding worker processes, servers started as an attacker would
find them (under a session keyring, with their own ``TMPDIR``), and a server that reaps idle
sessions."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator

import pytest

from openenv_gym.envs.coding import CodingAction, CodingEnvironment, CodingObservation
from openenv_gym.envs.coding.launch import MODE_VARIABLE
from openenv_gym.server import create_app
from tests.support.servers import REPO_ROOT, served_by


def _status(pid: str) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as status:
        return dict(line.rstrip("\n").split(":\t", 1) for line in status if ":\t" in line)


def processes() -> dict[int, tuple[int, int, str]]:
    """Every process of the machine: ``pid -> (parent pid, real uid, state letter)``."""
    found = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                status = _status(name)
            except OSError:  # it exited meanwhile
                continue
            found[int(name)] = (int(status["PPid"]), int(status["Uid"].split()[0]), status["State"][0])
    return found


def processes_of_uid(uid: int) -> list[int]:
    """Processes (zombies included) whose real user id is ``uid``."""
    return [pid for pid, (_, owner, _) in processes().items() if owner == uid]


def is_watchdog(pid: int) -> bool:
    """The server's sandbox watchdog (one per server, not a session's process)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return b"coding/watchdog.py" in cmdline.read()
    except OSError:
        return False


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...), but the sandbox watchdog."""
    table = processes()
    below, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, (ppid, _, _) in table.items() if ppid == parent and not is_watchdog(p)]
        below += children
        frontier += children
    return below


def watchdogs(pid: int) -> list[int]:
    """The sandbox watchdog(s) ``pid`` started."""
    return [p for p, (ppid, _, _) in processes().items() if ppid == pid and is_watchdog(p)]


def uid_of(metadata: dict) -> int:
    """The sandbox user id a reset reports (``metadata`` of the wire observation, or the
    client's ``info``)."""
    return int(metadata["sandbox"]["user"].split()[1])


ADD_KEY_AND_RUN = 'keyctl add user "$0" server-payload @s > /dev/null && exec "$@"'


@contextlib.contextmanager
def under_session_keyring(key: str, mode: str, **env_kwargs) -> Iterator[str]:
    """A coding server (its URL) started as a login, ``su -l`` or a systemd service would start
    it: in a session keyring of its own (``keyctl session -``), which holds a user key ``key``."""
    command = ["keyctl", "session", "-", "sh", "-c", ADD_KEY_AND_RUN, key, sys.executable, "-m",
               "openenv_gym.envs.coding", "--host", "127.0.0.1", "--port", "{port}"]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYTHONPATH", str(REPO_ROOT))
        env.setenv(MODE_VARIABLE, mode)
        env.setenv("OPENENV_ENV_KWARGS", json.dumps(env_kwargs))
        with served_by(command) as url:
            yield url


idle = create_app(CodingEnvironment, CodingAction, CodingObservation, session_timeout=0.5)
pair = create_app(CodingEnvironment, CodingAction, CodingObservation, max_concurrent_envs=2)
"""Room for two sandboxes."""

"""Coding-sandbox test helpers: finding worker processes, and a server that reaps idle sessions."""

from __future__ import annotations

import os

from openenv_gym.envs.coding import CodingAction, CodingEnvironment, CodingObservation
from openenv_gym.server import create_app


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


idle = create_app(CodingEnvironment, CodingAction, CodingObservation, session_timeout=0.5)
pair = create_app(CodingEnvironment, CodingAction, CodingObservation, max_concurrent_envs=2)
"""Room for two sandboxes."""

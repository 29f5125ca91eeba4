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


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...)."""
    table = processes()
    below, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, (ppid, _, _) in table.items() if ppid == parent]
        below += children
        frontier += children
    return below


idle = create_app(CodingEnvironment, CodingAction, CodingObservation, session_timeout=0.5)

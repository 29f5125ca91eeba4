"""Waiting for processes to be gone."""

from __future__ import annotations

import os
import time
from collections.abc import Callable


def process_gone(pid: int, within: float = 5.0) -> bool:
    """True once ``pid`` no longer runs (reaping it if it is our zombie child)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass  # not our child: kill(0) below tells whether it still exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def wait_until(predicate: Callable[[], object], within: float = 10.0) -> bool:
    """True once ``predicate()`` is true, polled every 50 ms; False after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True

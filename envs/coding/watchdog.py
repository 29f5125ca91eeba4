"""The sandbox's watchdog: kills the sessions' frozen process trees when their server dies.

Between steps a session's tree is frozen (:mod:`.cgroups`). Every sandbox process dies with its
server (bubblewrap's ``--die-with-parent``, the worker's parent-death signal), but under cgroup
v1 a frozen process does not die of ``SIGKILL`` until its group is thawed, and the server that
would thaw it is gone. So each server starts this watchdog once (``python -I watchdog.py``,
standard library only), in a session of its own, and tells it on stdin which groups exist
(``+DIR`` / ``-DIR``, each directory of the group). At end of file, whatever way the server
ended, the watchdog kills every process in the remaining groups, thaws them, removes their
directories, and exits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

REMOVE_WITHIN_S = 2.0


def kill_group(directory: Path) -> None:
    """Kill every process of a (frozen) v1 freezer group or v2 group, then thaw it; other v1
    directories of the group need nothing."""
    with contextlib.suppress(OSError):  # removed meanwhile, or not this version's file
        if (directory / "cgroup.kill").exists():
            (directory / "cgroup.kill").write_text("1")
        elif (directory / "freezer.state").exists():
            for pid in (directory / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            (directory / "freezer.state").write_text("THAWED")


def remove(directories: set[str]) -> None:
    """Remove the directories once their processes have exited (best effort: a directory
    left is an empty group, reused or removed by the next holder of the user id)."""
    deadline = time.monotonic() + REMOVE_WITHIN_S
    while directories and time.monotonic() < deadline:
        for directory in list(directories):
            with contextlib.suppress(OSError):  # still busy: try again
                os.rmdir(directory)
            if not os.path.exists(directory):
                directories.discard(directory)
        time.sleep(0.02)


def main() -> None:
    groups: set[str] = set()
    for line in sys.stdin:
        path = line.rstrip("\n")
        if path.startswith("+"):
            groups.add(path[1:])
        elif path.startswith("-"):
            groups.discard(path[1:])
    for group in groups:
        kill_group(Path(group))
    remove(groups)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is for the server
    main()

"""The sandbox's watchdog: kills the sessions' frozen process trees when their server dies.

Between steps a session's tree is frozen (:mod:`.cgroups`). Every sandbox process dies with its
server (bubblewrap's ``--die-with-parent``, the worker's parent-death signal), but under cgroup
v1 a frozen process does not die of ``SIGKILL`` until its group is thawed, and the server that
would thaw it is gone. So each server starts this watchdog once (``python -I watchdog.py``,
standard library only), in a session of its own, and tells it on stdin which groups exist
(``+DIR`` / ``-DIR``, the group's freezer directory). At end of file, whatever way the server
ended, the watchdog kills every process in the remaining groups and thaws them, then exits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path


def kill_group(directory: Path) -> None:
    """Kill every process of a (frozen) v1 freezer group or v2 group, then thaw it."""
    with contextlib.suppress(OSError):  # removed meanwhile, or not this version's file
        if (directory / "cgroup.kill").exists():
            (directory / "cgroup.kill").write_text("1")
            return
        for pid in (directory / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        (directory / "freezer.state").write_text("THAWED")


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


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is for the server
    main()

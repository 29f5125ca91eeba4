"""What an earlier holder of a sandbox user id may have left: found and removed before the id
is handed to the next tenant (:func:`reclaim`).

A holder can leave things when its server died without closing the session (SIGKILL, a crash),
or, without bubblewrap, on purpose: files in the machine's ``/tmp``, ``/var/tmp`` or
``/dev/shm``, SysV IPC objects. Processes are killed as the user (``kill -KILL -1``, which the
kernel applies to all of the user's processes at once: no fork escapes it); files directly in
those directories and IPC objects owned by the id are removed. Keyrings are cleared by the
next worker itself, as the user, before any code runs (:func:`.worker.own_keyrings`).

With bubblewrap the tenant writes only to its own tmpfs mounts and has its own IPC namespace,
which die with it: only the processes part has work to do.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import time

log = logging.getLogger(__name__)

SHARED_DIRECTORIES = ("/tmp", "/var/tmp", "/dev/shm")
IPC_TABLES = {"shm": ("-m", 7), "msg": ("-q", 9), "sem": ("-s", 4)}
"""``/proc/sysvipc/<table>``: ``ipcrm`` flag, and the column of the owner's uid."""
GONE_WITHIN_S = 3.0


def processes_of(uid: int) -> list[int]:
    """Processes (zombies too) whose real user id is ``uid``."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):  # it exited meanwhile
                if entry.stat().st_uid == uid:
                    found.append(int(entry.name))
    return found


def kill_processes(uid: int) -> bool:
    """Kill every process of ``uid``; True once none is left (within a few seconds)."""
    deadline = time.monotonic() + GONE_WITHIN_S
    while processes_of(uid):
        if time.monotonic() > deadline:
            return False
        subprocess.run(["kill", "-KILL", "-1"], user=uid, group=uid, extra_groups=[], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.02)
    return True


def remove_files(uid: int) -> None:
    """Remove what ``uid`` owns directly in the shared writable directories."""
    for directory in SHARED_DIRECTORIES:
        with contextlib.suppress(FileNotFoundError), os.scandir(directory) as entries:
            for entry in entries:
                with contextlib.suppress(FileNotFoundError):
                    if entry.stat(follow_symlinks=False).st_uid != uid:
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path)
                    else:
                        os.unlink(entry.path)


def remove_ipc(uid: int) -> None:
    """Remove the SysV shared memory segments, message queues and semaphores ``uid`` owns."""
    for table, (flag, column) in IPC_TABLES.items():
        with contextlib.suppress(FileNotFoundError), open(f"/proc/sysvipc/{table}") as rows:
            ids = [row.split()[1] for row in list(rows)[1:] if int(row.split()[column]) == uid]
        for ipc_id in ids:
            subprocess.run(["ipcrm", flag, ipc_id], check=False, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)


def reclaim(uid: int, private_files: bool) -> bool:
    """Remove everything of ``uid``'s last holder; False if a process would not die (then the
    id must not be handed out). ``private_files``: the holder could not write outside its own
    mounts (bubblewrap), so the shared directories need no scan."""
    if not kill_processes(uid):
        log.warning("processes of sandbox user %d survived SIGKILL; the id is skipped", uid)
        return False
    if not private_files:
        remove_files(uid)
        remove_ipc(uid)
    return True

"""Unprivileged user ids for sandbox workers: one per worker, leased across processes.

A server running as root runs each session's code as a user id of its own, so that the
per-user process limit (``RLIMIT_NPROC``) is the session's alone and sessions cannot read each
other's scratch directories. A lease is an ``flock`` on ``<tmp>/openenv-gym-coding-uids/<uid>``,
held while the worker lives and released by the kernel if the server dies, so servers on one
machine never share an id. Ids that belong to a user or group of the system are skipped.

>>> lease = lease_uid(range(60_000, 65_000)) if os.geteuid() == 0 else None
>>> lease is None or 60_000 <= lease.uid < 65_000
True
>>> lease is None or lease.release()
True
"""

from __future__ import annotations

import fcntl
import grp
import os
import pwd
import stat
import tempfile
from pathlib import Path

from openenv_gym.errors import SandboxError

LOCK_DIR = Path(tempfile.gettempdir()) / "openenv-gym-coding-uids"


class UidLease:
    """A user id held for one worker; :meth:`release` frees it (idempotent)."""

    def __init__(self, uid: int, fd: int):
        self.uid = uid
        self._fd: int | None = fd

    def release(self) -> bool:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None
        return True


def _is_taken_by_system(uid: int) -> bool:
    for lookup in (pwd.getpwuid, grp.getgrgid):
        try:
            lookup(uid)
            return True
        except KeyError:
            continue
    return False


def _lock_dir() -> Path:
    LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
    info = LOCK_DIR.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise SandboxError(f"{LOCK_DIR} must be a directory of this user with mode 0700 (it holds the "
                           "sandbox's user id leases); remove it and try again")
    return LOCK_DIR


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def lease_uid(uids: range) -> UidLease:
    """The first free id of ``uids``; :class:`SandboxError` when all are taken."""
    directory = _lock_dir()
    for uid in uids:
        if _is_taken_by_system(uid):
            continue
        fd = _try_lock(directory / str(uid))
        if fd is not None:
            return UidLease(uid, fd)
    raise SandboxError(f"every sandbox user id in {uids.start}-{uids.stop - 1} is in use; give the "
                       "environment a larger range (uids=(first, stop))")

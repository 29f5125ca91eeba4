"""Unprivileged user ids for sandbox workers: one per worker, leased across processes.

A server running as root runs each session's code as a user id of its own, so that the
per-user process limit (``RLIMIT_NPROC``) is the session's alone and sessions cannot read each
other's scratch directories. A lease is an ``flock`` on ``/run/openenv-gym/coding-uids/<uid>``,
held while the worker lives and released by the kernel if the server dies, so servers on one
machine never share an id: the folder is the same for every server whatever its environment
(``TMPDIR``, systemd's ``PrivateTmp``), and ``/run`` is a tmpfs, so no lease outlives a reboot.
Ids that belong to a user or group of the system are skipped. Each lease names the holder's
control group after the id and a token of its own (:attr:`UidLease.group_name`), so two servers
in one control group never share one either.

The lock dies with its server, but what the server's tenant started may not (a frozen tree, a
process that escaped an old version's sandbox, files in ``/tmp``): so the lease file records
the holder's control group, and whoever takes the id next first kills that group and every
process of the id and removes its files (:mod:`.leftovers`); an id whose processes will not die
is skipped.

>>> lease = lease_uid(range(60_000, 65_000)) if os.geteuid() == 0 else None
>>> lease is None or 60_000 <= lease.uid < 65_000
True
>>> lease is None or lease.release()
True
"""

from __future__ import annotations

import fcntl
import grp
import json
import logging
import os
import pwd
import secrets
import stat
from pathlib import Path

from openenv_gym.errors import SandboxError

from . import leftovers
from .cgroups import Cgroup, from_directories

log = logging.getLogger(__name__)
LOCK_DIR = Path("/run/openenv-gym/coding-uids")
"""Where the leases are, one folder per host (never below ``TMPDIR``, which differs by server)."""


class UidLease:
    """A user id held for one worker; :meth:`release` frees it (idempotent).

    Attributes:
        uid: the user id.
        group_name: the name of the holder's control group (the id and a token of this lease).
    """

    def __init__(self, uid: int, fd: int):
        self.uid = uid
        self.group_name = f"uid{uid}-{secrets.token_hex(4)}"
        self._fd: int | None = fd

    def record(self, cgroup: Cgroup | None) -> None:
        """Write down the holder's control group, for whoever takes the id after it."""
        assert self._fd is not None
        directories = {} if cgroup is None else {k: str(v) for k, v in cgroup.directories.items()}
        data = json.dumps({"cgroup": directories}).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def release(self) -> bool:
        fd, self._fd = self._fd, None  # taken first: a second caller must not close a reused number
        if fd is not None:
            os.close(fd)  # closing drops the flock
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
    LOCK_DIR.parent.mkdir(mode=0o755, exist_ok=True)
    LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
    info = LOCK_DIR.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        log.error("%s must be a directory of this user with mode 0700 (it holds the sandbox's user "
                  "id leases); remove it and try again", LOCK_DIR)
        raise SandboxError("the sandbox's user id leases are not safe to use (the server's log says why)")
    return LOCK_DIR


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _reclaim(uid: int, fd: int, private_files: bool) -> bool:
    """Remove what the id's last holder left (its recorded control group first: a frozen
    task dies only in a thawed group); False if something would not die."""
    try:
        record = json.loads(os.pread(fd, 65_536, 0) or b"{}")
    except ValueError:
        record = {}
    directories = record.get("cgroup") or {}
    if directories and not from_directories(directories).remove():
        log.warning("the control group of sandbox user %d kept processes; the id is skipped", uid)
        return False
    return leftovers.reclaim(uid, private_files)


def lease_uid(uids: range, private_files: bool = False) -> UidLease:
    """The first free id of ``uids`` once nothing of its last holder is left;
    :class:`SandboxError` when all are taken. ``private_files``: see :func:`.leftovers.reclaim`."""
    directory = _lock_dir()
    for uid in uids:
        if _is_taken_by_system(uid):
            continue
        fd = _try_lock(directory / str(uid))
        if fd is None:
            continue
        if _reclaim(uid, fd, private_files):
            return UidLease(uid, fd)
        os.close(fd)
    raise SandboxError(f"every sandbox user id in {uids.start}-{uids.stop - 1} is in use; give the "
                       "environment a larger range (uids=(first, stop))")

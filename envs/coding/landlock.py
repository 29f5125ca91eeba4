"""Landlock (Linux 5.13+): a file-system allowlist a process puts on itself, without privileges.

The sandbox uses it where it has no root of its own to show (the ``namespaces`` and ``user``
modes; bubblewrap builds one): the server makes a *ruleset* here, the paths a worker may read
or write (:func:`make_ruleset`), and hands its descriptor to the worker, which adds the paths it
mounted itself and restricts itself with it before any code runs (:func:`.worker.lock_files`;
the rule-adding call lives there, as the worker runs alone).
From then on the worker and everything it starts can open nothing else, whatever its user id
(root included); and, with ABI 6, neither signal a process outside the sandbox (the server, in
the ``user`` mode, runs as the same user) nor reach an abstract Unix socket of the host.

Rights are a bit mask per rule (:data:`READ`, :data:`DEVICES`, :data:`PROC`, and :func:`handled`
for every right: a writable directory). A kernel without Landlock (or a container whose seccomp
profile refuses it) gets no ruleset: :func:`abi` is 0 and the sandbox says so in its report.

>>> handled(1) == (1 << 13) - 1, bool(handled(5) & IOCTL_DEV), bool(handled(4) & IOCTL_DEV)
(True, True, False)
>>> len(_attributes(6)), len(_attributes(3))  # the scopes' field from ABI 6
(24, 8)
"""

from __future__ import annotations

import ctypes
import functools
import os
import struct

from .worker import SYS_LANDLOCK_CREATE_RULESET, add_landlock_rule

CREATE_RULESET_VERSION = 1
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1
READ = EXECUTE | READ_FILE | READ_DIR
DEVICES = READ_FILE | READ_DIR | WRITE_FILE | TRUNCATE | IOCTL_DEV
"""``/dev``: ``/dev/null``, ``/dev/urandom``, a terminal; nothing made there."""
PROC = READ_FILE | READ_DIR


@functools.cache
def abi() -> int:
    """The kernel's Landlock ABI version; 0 without Landlock."""
    libc = ctypes.CDLL(None, use_errno=True)
    version = libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), CREATE_RULESET_VERSION)
    return max(version, 0)


def handled(version: int) -> int:
    """Every file-system right ABI ``version`` knows: what a ruleset denies unless a rule allows it."""
    rights = (1 << 13) - 1
    rights |= REFER if version >= 2 else 0
    rights |= TRUNCATE if version >= 3 else 0
    rights |= IOCTL_DEV if version >= 5 else 0
    return rights


def _attributes(version: int) -> bytes:
    """``struct landlock_ruleset_attr`` as long as ``version`` reads it (scopes from ABI 6)."""
    if version >= 6:
        return struct.pack("=QQQ", handled(version), 0, SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL)
    return struct.pack("=Q", handled(version))


def make_ruleset(rules: list[tuple[str, int]]) -> int | None:
    """A ruleset's descriptor allowing each ``(path, rights)`` (paths that do not exist are
    skipped), or ``None`` without Landlock. The caller passes it on and closes it."""
    version = abi()
    if not version:
        return None
    attributes = _attributes(version)
    libc = ctypes.CDLL(None, use_errno=True)
    ruleset = libc.syscall(SYS_LANDLOCK_CREATE_RULESET, attributes, ctypes.c_size_t(len(attributes)), 0)
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), f"landlock_create_ruleset: {os.strerror(ctypes.get_errno())}")
    try:
        for path, rights in rules:
            if os.path.exists(path):
                add_landlock_rule(ruleset, path, rights & handled(version))
    except BaseException:
        os.close(ruleset)
        raise
    return ruleset

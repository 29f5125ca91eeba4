"""What a container needs whose server sandboxes each session itself (the coding image).

An image says so with the label ``org.openenv-gym.sandbox=bwrap``: its server runs as root and
starts each session's worker in bubblewrap (own PID, IPC, network, mount and UTS namespaces,
private ``/tmp``, ``/var/tmp``, ``/dev/shm`` and ``/proc``), in a control group of its own, as a
user id of its own; the code never runs as root. For that, and nothing more, the container gets:

* capabilities ``SYS_ADMIN`` (namespaces and mounts), ``SETUID`` / ``SETGID`` (drop to the
  leased id), ``NET_ADMIN`` (bring up each session's own loopback), ``KILL`` (end a session's
  processes, which run as another user); every other one stays dropped;
* a private control-group namespace, so the server makes its sessions' groups below the
  container's own (the engine's limits still bound the whole container);
* :func:`seccomp_profile` instead of the engine's default, which refuses ``pivot_root``
  (bubblewrap needs it) and, once ``SYS_ADMIN`` is granted, lets *every* process of the container
  make namespaces: this one lets none make a user namespace (the kernel surface that a process
  without capabilities could otherwise reach), and refuses the system calls listed in
  :data:`REFUSED`;
* ``no-new-privileges`` stays (bubblewrap is not set-uid here: root runs it).

>>> sorted(sandbox_options("bwrap"))
['cap_add', 'cgroupns', 'security_opt']
>>> sandbox_options(None)
{}
"""

from __future__ import annotations

import errno
import json
import platform
from typing import Any

SANDBOX_LABEL = "org.openenv-gym.sandbox"
SANDBOX_FALLBACK_USER = "openenv"
"""Who runs a sandboxing image where the engine cannot give it the above (a Swarm service)."""
BWRAP_CAPABILITIES = ("SYS_ADMIN", "SETUID", "SETGID", "NET_ADMIN", "KILL")
CLONE_NEWUSER = 0x10000000
REFUSED = ("add_key", "keyctl", "request_key", "bpf", "perf_event_open", "userfaultfd", "kexec_load",
           "kexec_file_load", "init_module", "finit_module", "delete_module", "acct", "swapon", "swapoff",
           "reboot", "settimeofday", "clock_settime", "clock_adjtime", "iopl", "ioperm",
           "open_by_handle_at", "name_to_handle_at", "quotactl", "lookup_dcookie", "uselib", "ustat",
           "sysfs", "_sysctl", "personality", "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
           "io_uring_setup", "io_uring_enter", "io_uring_register", "fanotify_init", "vhangup", "syslog",
           "mbind", "set_mempolicy", "migrate_pages", "move_pages")
"""Refused to every process (EPERM), as by the engine's default profile (keyrings there too:
sessions then share none); ``ptrace`` and ``process_vm_*`` as well, so no session's code can
read another process's memory even where no Yama module restricts it (none here)."""
ARCHITECTURES = {"x86_64": ["SCMP_ARCH_X86_64"], "aarch64": ["SCMP_ARCH_AARCH64"]}
"""Only the native ABI: calls of another (32-bit x86, x32) are killed, so no rule is bypassed."""


def seccomp_profile() -> str:
    """The profile for a sandboxing image, as the engine's ``seccomp=`` option takes it (JSON)."""
    no_user_namespace = {"index": 0, "value": CLONE_NEWUSER, "valueTwo": CLONE_NEWUSER,
                         "op": "SCMP_CMP_MASKED_EQ"}
    rules = [
        {"names": ["clone", "unshare"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM,
         "args": [no_user_namespace]},
        # clone3's flags are in memory, out of a filter's reach: ENOSYS makes the C library use clone
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS},
        {"names": list(REFUSED), "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM},
    ]
    architectures = ARCHITECTURES.get(platform.machine(), [])
    return json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "architectures": architectures, "syscalls": rules})


def sandbox_options(kind: str | None) -> dict[str, Any]:
    """The container options for an image whose :data:`SANDBOX_LABEL` is ``kind`` (none: ``{}``)."""
    if kind != "bwrap":
        return {}
    return {"cap_add": list(BWRAP_CAPABILITIES), "cgroupns": "private",
            "security_opt": ["no-new-privileges", f"seccomp={seccomp_profile()}"]}


def image_sandbox(client: Any, image: str | None) -> str | None:
    """The image's :data:`SANDBOX_LABEL`, if it has one (``image``: built or found already)."""
    assert image is not None, "the image is built before its container or service is made"
    return (client.images.get(image).labels or {}).get(SANDBOX_LABEL)

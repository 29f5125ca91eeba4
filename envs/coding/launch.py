"""How a worker process is started, by isolation mode: the command line, the thread that forks
it, and the server's watchdog.

Modes (:func:`isolation_mode`), strongest first:

* ``"bwrap"``: the server runs as root and bubblewrap is installed. The worker runs in
  ``bwrap`` with its own PID (its own ``/proc``), IPC, network, UTS and mount namespaces, the
  machine's file system read-only, and empty tmpfs mounts of its own on ``/tmp``, ``/var/tmp``
  and ``/dev/shm``; ``--die-with-parent``. A directory other users cannot enter above the
  interpreter (Python under ``/root``) is covered by an empty one holding only the
  installation. The worker then drops to its leased user id.
* ``"namespaces"``: root without bubblewrap: the worker makes its own network, PID and IPC
  namespaces (:func:`.worker.confine`); the file system and ``/proc`` are the machine's.
* ``"user"``: not root: no namespaces, no other user; limits per process only.

``OPENENV_CODING_ISOLATION`` forces a weaker mode (``namespaces``, ``user``), for tests and for
machines where bubblewrap fails. Weaker modes are announced once in the log, as a warning.

Under root the worker joins its control group before it execs (a shell writes its own pid to
each ``cgroup.procs``, then ``exec``\\ s), so nothing it forks is ever outside the group.

Workers are forked by one long-lived thread: a parent-death signal (``PR_SET_PDEATHSIG``,
which bubblewrap's ``--die-with-parent`` uses) fires when the *thread* that forked the process
exits, and a pool thread of the server may exit while its session lives on.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .worker import closed_ancestors

log = logging.getLogger(__name__)

WORKER = Path(__file__).resolve().with_name("worker.py")  # the real path: it is bound into the sandbox
WATCHDOG = Path(__file__).resolve().with_name("watchdog.py")
MODES = ("bwrap", "namespaces", "user")
MODE_VARIABLE = "OPENENV_CODING_ISOLATION"
JOIN = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'
"""``sh -c JOIN sh PROCS_FILE... -- COMMAND...``: join the groups, then become COMMAND."""
PRIVATE_TMPFS = ("/tmp", "/var/tmp", "/dev/shm")
WEAKER = {"namespaces": "bubblewrap (apt-get install bubblewrap) is not installed: the sandbox shares "
                        "the machine's /tmp, /var/tmp, /dev/shm and /proc (leftovers are removed before "
                        "a user id is reused)",
          "user": "the server does not run as root: the sandbox has no namespaces, no user of its "
                  "own and no control group; limits hold per process only"}

T = TypeVar("T")
_warned: set[str] = set()


def isolation_mode() -> str:
    """The strongest mode this process can give (or the weaker one the variable asks for)."""
    if os.geteuid() != 0:
        mode = "user"
    elif shutil.which("bwrap") is None:
        mode = "namespaces"
    else:
        mode = "bwrap"
    wanted = os.environ.get(MODE_VARIABLE, "")
    if wanted in MODES and MODES.index(wanted) > MODES.index(mode):
        mode = wanted
    if mode in WEAKER and mode not in _warned:
        _warned.add(mode)
        log.warning("coding sandbox isolation is %r: %s (see envs/coding/README.md)", mode, WEAKER[mode])
    return mode


def below_private_tmpfs() -> list[str]:
    """What the worker needs (the interpreter's installation and site-packages, the worker's
    folder) that lies below a folder the sandbox replaces with a private tmpfs."""
    candidates = [sys.prefix, sys.base_prefix, str(WORKER.parent), *(p for p in sys.path if "-packages" in p)]
    needed = {os.path.realpath(p) for p in candidates if os.path.isdir(p)}
    inside = [p for p in needed if any(p == root or p.startswith(root + os.sep) for root in PRIVATE_TMPFS)]
    return sorted(p for p in inside if not any(p.startswith(q + os.sep) for q in inside))


def bwrap_command(command: list[str], network: bool) -> list[str]:
    """``command`` inside bubblewrap, as root with only the capabilities to switch user."""
    args = ["bwrap", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--ro-bind", "/", "/", "--proc", "/proc",
            "--dev", "/dev"]
    if not network:
        args.append("--unshare-net")
    for path in PRIVATE_TMPFS:
        args += ["--perms", "1777", "--tmpfs", path]
    for path in below_private_tmpfs():  # a venv (or this checkout) in /tmp stays visible, read-only
        args += ["--ro-bind", path, path]
    for ancestor, children in sorted(closed_ancestors().items()):  # Python under /root, say
        args += ["--perms", "0755", "--tmpfs", ancestor]
        for child in sorted(children):
            args += ["--ro-bind", os.path.join(ancestor, child), os.path.join(ancestor, child)]
    args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--chdir", "/tmp", "--", *command]
    return args


def joining(procs_files: list[str], command: list[str]) -> list[str]:
    """``command``, started inside the control group whose ``cgroup.procs`` files are given."""
    if not procs_files:
        return command
    return ["/bin/sh", "-c", JOIN, "sh", *procs_files, "--", *command]


def worker_command(config: str) -> list[str]:
    return [sys.executable, "-I", str(WORKER), config]


_spawner = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sandbox-spawner")
"""The one thread that forks workers: it lives as long as the server process."""


def on_spawner_thread(function: Callable[[], T]) -> T:
    """Run ``function`` (a ``Popen``) on the spawner thread and return its result."""
    if threading.current_thread().name.startswith("sandbox-spawner"):
        return function()
    return _spawner.submit(function).result()


class Watchdog:
    """This server's watchdog process (:mod:`.watchdog`), started on first use."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def _tell(self, line: str) -> None:
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._process = subprocess.Popen(
                    [sys.executable, "-I", str(WATCHDOG)], stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            assert self._process.stdin is not None
            self._process.stdin.write(f"{line}\n".encode())
            self._process.stdin.flush()

    def watch(self, directory: Path) -> None:
        self._tell(f"+{directory}")

    def forget(self, directory: Path) -> None:
        self._tell(f"-{directory}")


watchdog = Watchdog()

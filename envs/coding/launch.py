"""How a worker process is started, by isolation mode: the command line, the thread that forks
it, and the server's watchdog.

Modes (:func:`isolation_mode`), strongest first:

* ``"bwrap"``: the server runs as root and bubblewrap is installed. The worker runs in
  ``bwrap`` with its own PID (its own ``/proc``), IPC, network, UTS and mount namespaces, a root
  of read-only binds of the system's folders and the interpreter only
  (:func:`.filesystem.bwrap_arguments`), and empty tmpfs mounts of its own on ``/tmp``,
  ``/var/tmp`` and ``/dev/shm``; ``--die-with-parent``. The worker then drops to its leased
  user id.
* ``"namespaces"``: root without bubblewrap: the worker makes its own network, PID, IPC and
  mount namespaces (:func:`.worker.confine`); the machine's tree, less what :mod:`.filesystem`
  hides.
* ``"user"``: not root: no namespaces, no other user; limits per process only, files by
  Landlock.

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
import functools
import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from . import filesystem

log = logging.getLogger(__name__)

WORKER = Path(__file__).resolve().with_name("worker.py")
WATCHDOG = Path(__file__).resolve().with_name("watchdog.py")
MODES = ("bwrap", "namespaces", "user")
MODE_VARIABLE = "OPENENV_CODING_ISOLATION"
JOIN = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'
"""``sh -c JOIN sh PROCS_FILE... -- COMMAND...``: join the groups, then become COMMAND."""
WEAKER = {"namespaces": "bubblewrap (apt-get install bubblewrap) is not installed: the sandbox sees "
                        "the machine's file system (less this package's source and /run; only the "
                        "system's folders where the kernel has Landlock)",
          "user": "the server does not run as root: the sandbox has no namespaces, no user of its "
                  "own and no control group; limits hold per process only, files by Landlock where "
                  "the kernel has it"}

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


def bwrap_command(command: list[str], network: bool) -> list[str]:
    """``command`` inside bubblewrap, as root with only the capabilities to switch user."""
    args = ["bwrap", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", *filesystem.bwrap_arguments()]
    if not network:
        args.append("--unshare-net")
    return [*args, "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--chdir", "/tmp", "--", *command]


def joining(procs_files: list[str], command: list[str]) -> list[str]:
    """``command``, started inside the control group whose ``cgroup.procs`` files are given."""
    if not procs_files:
        return command
    return ["/bin/sh", "-c", JOIN, "sh", *procs_files, "--", *command]


BOOT = ("import os, sys; file = os.fdopen(int(sys.argv.pop(1)), 'rb'); source = file.read(); file.close(); "
        "exec(compile(source, '<worker>', 'exec'))")
"""``python -I -c BOOT FD CONFIG``: run the worker's source, read from descriptor FD."""


@functools.cache
def _worker_source() -> bytes:
    return WORKER.read_bytes()


def worker_source() -> int:
    """A descriptor of the worker's source (a memory file) for :func:`worker_command`; the
    caller passes it to the worker and closes it."""
    fd = os.memfd_create("openenv-coding-worker", os.MFD_CLOEXEC)
    os.write(fd, _worker_source())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def worker_command(source: int, config: str) -> list[str]:
    """The worker, its source read from the descriptor ``source``: no file of the package is
    read in the sandbox, and ``sys.argv[0]`` is ``-c``."""
    return [sys.executable, "-I", "-c", BOOT, str(source), config]


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

"""A session's control group: limits for its whole process tree, a freezer, a kill switch.

Per-process resource limits (``setrlimit``) are dodged by forking: five children each get the
whole ``RLIMIT_AS``, a fork-and-exit chain restarts ``RLIMIT_CPU`` in every link. A control
group counts the tree: memory (tmpfs files and SysV segments included: pages are charged to
the group that touched them), processes, CPU time (exited children included); its freezer
stops the tree between steps, and freeze-kill-thaw kills the tree with no fork escaping.

Two kernels' interfaces, the one the machine mounts:

* **cgroup v2** (``/sys/fs/cgroup`` is ``cgroup2``): one directory below the server's own
  group; ``memory.max``, ``memory.swap.max``, ``pids.max``, ``cgroup.freeze``, ``cgroup.kill``,
  ``cpu.stat``. Needs the controllers enabled in the parent's ``cgroup.subtree_control``.
* **cgroup v1** (one hierarchy per controller, as on these machines): a directory below the
  server's own group in each of ``memory``, ``pids``, ``cpuacct``, ``freezer``.
  ``memory.memsw.limit_in_bytes`` (swap included) where the kernel accounts swap; a v1 frozen
  task does not die of ``SIGKILL`` until thawed, so :meth:`Cgroup.kill` thaws after killing,
  and a server that dies while a group is frozen leaves it to :mod:`.watchdog` to thaw.

Only root (or a delegated v2 subtree) can make groups; without, :func:`session_cgroup`
returns ``None`` and the limits are per process (the README's table says what that loses).

In a container (the coding image, run by the Docker provider with ``CAP_SYS_ADMIN``): the
engine mounts the hierarchies read-only, so the server remounts its own view writable
(:func:`writable_hierarchies`; paths are taken relative to each mount's root, so a host
control-group namespace works too). ``OPENENV_CODING_FREEZE=0`` (set by the image) turns
freezing off: on cgroup v1 a frozen task outlives ``docker kill`` (it dies only once thawed, and
nothing is left in the container to thaw it), so the engine could never remove the container.
Without the freezer, :meth:`Cgroup.kill` kills the group's processes until none is left (a
process being killed forks no more; ``pids.max`` bounds each pass).

>>> session_cgroup("doctest-probe", create=False) is None or True
True
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import threading
import time
from pathlib import Path

from openenv_gym.errors import SandboxError

log = logging.getLogger(__name__)

ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("memory", "pids", "cpuacct", "freezer")
V2_CONTROLLERS = ("memory", "pids", "cpu")
PREFIX = "openenv-coding-"
FREEZE_VARIABLE = "OPENENV_CODING_FREEZE"
"""``0``: never freeze a session's group (in a container on cgroup v1; see the module's doc)."""
MS_REMOUNT, MS_BIND = 32, 4096
SETTLE_S = 5.0
"""How long :meth:`Cgroup.freeze` and :meth:`Cgroup.kill` wait for the kernel."""


def _write(path: Path, value: str) -> None:
    with open(path, "w") as file:
        file.write(value)


def _removed(error: OSError) -> bool:
    """The error of a group's file whose group was removed (before or after it was opened)."""
    return error.errno in (errno.ENOENT, errno.ENODEV)


def _own_group(controller: str) -> str:
    """This process's group in ``controller``'s v1 hierarchy (``""`` for v2's), relative to the
    root of the hierarchy's mount (a container sees its own group mounted as the root)."""
    with open("/proc/self/cgroup") as table:
        for line in table:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controller in controllers.split(","):
                root = _mount_root(ROOT / controller if controller else ROOT)
                return path[len(root):] if path.startswith(root) and root != "/" else path
    raise SandboxError(f"this process is in no {controller} control group")


def _mount_root(mount_point: Path) -> str:
    """The root (4th field of ``/proc/self/mountinfo``) of the mount at ``mount_point``."""
    with open("/proc/self/mountinfo") as table:
        roots = [line.split()[3] for line in table if line.split()[4] == str(mount_point)]
    return roots[-1] if roots else "/"


def freezes() -> bool:
    """Whether sessions' groups are frozen between steps (not with ``OPENENV_CODING_FREEZE=0``)."""
    return os.environ.get(FREEZE_VARIABLE, "1") != "0"


def writable_hierarchies(mounts: list[Path]) -> bool:
    """Make read-only control-group mounts writable (a container's, with ``CAP_SYS_ADMIN``);
    False if one stays read-only."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for mount in mounts:
        if os.statvfs(mount).f_flag & os.ST_RDONLY:
            if libc.mount(None, bytes(mount), None, MS_REMOUNT | MS_BIND, None) != 0:
                log.warning("control groups at %s are read-only and cannot be remounted (%s): limits "
                            "hold per process only", mount, os.strerror(ctypes.get_errno()))
                return False
    return True


def cgroup_version() -> int | None:
    """2 or 1 where this process may make control groups, else ``None``."""
    if os.geteuid() != 0:
        return None
    if (ROOT / "cgroup.controllers").exists():
        return 2 if writable_hierarchies([ROOT]) else None
    if all((ROOT / c / "cgroup.procs").exists() for c in V1_CONTROLLERS):
        return 1 if writable_hierarchies([ROOT / c for c in V1_CONTROLLERS]) else None
    return None


class Cgroup:
    """One session's group (its directories in each hierarchy).

    Args:
        directories: controller name -> directory (v1), or ``{"": directory}`` (v2).
    """

    def __init__(self, directories: dict[str, Path]):
        self.directories = directories
        self.version = 2 if "" in directories else 1
        self.freezes = freezes()
        self._fds: dict[str, int] = {}  # files read or written on every step, kept open
        self._lock = threading.RLock()  # a close from another thread must not close them mid-use

    def _file(self, name: str) -> int:
        """An open descriptor of the group's file ``name`` (``controller/file`` for v1)."""
        if name not in self._fds:
            controller, _, file = name.rpartition("/")
            self._fds[name] = os.open(self._dir(controller) / file, os.O_RDWR if "state" in file or
                                      "freeze" in file else os.O_RDONLY)
        return self._fds[name]

    def _read(self, name: str) -> str:
        with self._lock:
            return os.pread(self._file(name), 4096, 0).decode()

    def close_files(self) -> None:
        with self._lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()

    def _dir(self, controller: str) -> Path:
        return self.directories["" if self.version == 2 else controller]

    @property
    def procs_files(self) -> list[str]:
        """The ``cgroup.procs`` files a process writes its pid to, to join the group."""
        return [str(d / "cgroup.procs") for d in self.directories.values()]

    def make(self, memory_bytes: int, max_processes: int) -> None:
        """Create the directories (or reuse empty ones) and set the limits; counters restart.
        Only root enters them: no tenant reads another's usage."""
        for directory in self.directories.values():
            directory.mkdir(exist_ok=True)
            directory.chmod(0o700)
        if self.version == 2:
            _write(self._dir("memory") / "memory.max", str(memory_bytes))
            with contextlib.suppress(FileNotFoundError):  # no swap accounting
                _write(self._dir("memory") / "memory.swap.max", "0")
            _write(self._dir("pids") / "pids.max", str(max_processes))
            return
        memory = self._dir("memory")
        _write(memory / "memory.limit_in_bytes", str(memory_bytes))
        with contextlib.suppress(FileNotFoundError):  # no swap accounting: only RAM is limited
            _write(memory / "memory.memsw.limit_in_bytes", str(memory_bytes))
        _write(memory / "memory.max_usage_in_bytes", "0")
        _write(self._dir("pids") / "pids.max", str(max_processes))
        _write(self._dir("cpuacct") / "cpuacct.usage", "0")

    def pids(self) -> list[int]:
        """Every process in the group (v1: the freezer's view, which every member is in); none
        once the group is removed."""
        path = self._dir("freezer" if self.version == 1 else "pids") / "cgroup.procs"
        try:
            return [int(line) for line in path.read_text().split()]
        except OSError as exc:
            if _removed(exc):
                return []
            raise

    def cpu_seconds(self) -> float:
        """CPU time the group's processes used since :meth:`make`, exited ones included."""
        if self.version == 2:
            stat = self._read("/cpu.stat").split()
            return int(stat[stat.index("usage_usec") + 1]) / 1e6
        return int(self._read("cpuacct/cpuacct.usage")) / 1e9

    def memory_peak_bytes(self) -> int:
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        with contextlib.suppress(FileNotFoundError):
            return int((self._dir("memory") / name).read_text())
        return 0

    def freeze(self) -> None:
        """Stop every process of the group (they cannot notice); returns once all are. Nothing
        where freezing is off (:func:`freezes`)."""
        if self.freezes:
            self._set_frozen(True)

    def thaw(self) -> None:
        if self.freezes:
            self._set_frozen(False)

    def _set_frozen(self, frozen: bool) -> None:
        with self._lock:
            if self.version == 2:
                os.pwrite(self._file("/cgroup.freeze"), b"1" if frozen else b"0", 0)
                state, wanted = "/cgroup.events", "frozen 1" if frozen else "frozen 0"
            else:
                state, wanted = "freezer/freezer.state", "FROZEN" if frozen else "THAWED"
                os.pwrite(self._file(state), wanted.encode(), 0)
            deadline = time.monotonic() + SETTLE_S
            polls = 0
            while wanted not in self._read(state):
                if time.monotonic() > deadline:
                    log.error("control group %s did not become %r", self.directories, wanted)
                    raise SandboxError(f"the session's control group did not become {wanted!r} within "
                                       f"{SETTLE_S:g} s")
                if self.version == 1:  # v1: a task that forked meanwhile needs another pass
                    os.pwrite(self._file(state), wanted.encode(), 0)
                polls += 1
                if polls > 20:  # it usually settles within microseconds
                    time.sleep(0.0002)

    def kill(self) -> bool:
        """Kill every process of the group, however it forks; True once none is left. Safe from
        two threads at once (a session closed while its step is being answered)."""
        with self._lock:
            try:
                self._kill_all()
            except OSError as exc:
                if _removed(exc):  # meanwhile, by that other thread
                    return True
                raise
            finally:
                self.close_files()
        deadline = time.monotonic() + SETTLE_S
        while self.pids():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def _kill_all(self) -> None:
        if self.version == 2:
            _write(self._dir("") / "cgroup.kill", "1")
        elif not self.freezes:
            self._kill_unfrozen()
        else:
            self.freeze()  # no fork gets past the loop below
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.thaw()  # a frozen task dies only once thawed

    def _kill_unfrozen(self) -> None:
        """v1 without the freezer: SIGKILL every member, again while any is left (forks made
        meanwhile are members too)."""
        deadline = time.monotonic() + SETTLE_S
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.002)

    def remove(self) -> bool:
        """Kill what is left and remove the directories; False if a process would not die."""
        if not self.kill():
            log.warning("control group %s still has processes; not removed", self.directories)
            return False
        for directory in self.directories.values():
            try:
                directory.rmdir()
            except FileNotFoundError:
                continue
            except OSError as exc:  # EBUSY: a zombie's exit is still being accounted
                if exc.errno != errno.EBUSY:
                    raise
                time.sleep(0.05)
                directory.rmdir()
        return True


def session_cgroup(name: str, create: bool = True) -> Cgroup | None:
    """The group ``openenv-coding-<name>`` below this process's own group in each hierarchy,
    or ``None`` where control groups cannot be made (not root, or no hierarchy mounted)."""
    version = cgroup_version()
    if version is None:
        return None
    if version == 2:
        parent = ROOT / _own_group("").lstrip("/")
        return Cgroup({"": parent / f"{PREFIX}{name}"})
    return Cgroup({c: ROOT / c / _own_group(c).lstrip("/") / f"{PREFIX}{name}" for c in V1_CONTROLLERS})


def from_directories(directories: dict[str, str]) -> Cgroup:
    """A group recorded by an earlier holder of a lease (:mod:`.uids`)."""
    return Cgroup({controller: Path(path) for controller, path in directories.items()})

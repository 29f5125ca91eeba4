"""The sandbox's worker: a Python REPL in its own interpreter, started by :mod:`.sandbox`.

Run as ``python -I -c BOOT FD CONFIG_JSON``, where ``BOOT`` runs this file's source read from
descriptor ``FD`` (:func:`.launch.worker_command`): the standard library only, so nothing of
the server is imported into the sandbox, and no file of the package need be readable there
(``sys.argv[0]`` is ``-c``). Channels: requests arrive on fd 0, which is then replaced
by ``/dev/null`` so that user code cannot read them, each a frame: a 4-byte big-endian length,
then UTF-8 JSON. Replies leave on ``reply_fd``, one end of a ``SOCK_SEQPACKET`` socket pair:
each reply is one message (one JSON object), so whatever user code writes there is a message of
its own that the server reads, finds without the request's ``id`` and drops; it can never shift
a later reply. User code writes to fds 1 and 2, the pipes the server reads incrementally.

Confinement, before the first request (see :func:`confine`), by ``mode`` (:mod:`.launch`):

* ``"bwrap"``: bubblewrap made the namespaces and mounts; the worker only drops to ``uid``.
* ``"namespaces"`` (root without bubblewrap): ``unshare(CLONE_NEWNET)`` (no network),
  ``unshare(CLONE_NEWIPC)`` and ``unshare(CLONE_NEWPID)``: the process forks a *keeper* layout,
  ``keeper -> init -> repl``, where ``init`` is PID 1 of a new PID namespace that reaps every
  orphan; killing it makes the kernel kill and reap everything the code started, however it
  detached itself. The keeper, outside the namespace, is the server's child and dies with it
  (a parent-death signal); SIGTERM to it ends the namespace. The REPL makes a mount namespace
  of its own (:func:`private_view`: private ``/tmp``, ``/var/tmp``, ``/dev/shm`` and ``/proc``,
  no ``/run``, no source of the package), then drops to ``uid``.
* ``"user"``: nothing but the limits.
* not ``"bwrap"``: the server's Landlock ruleset, where the kernel has Landlock
  (:func:`lock_files`): the code opens only the system's folders, the interpreter and its own.
* always: resource limits on address space, CPU seconds, file size, open files, processes; a
  session keyring of its own (under another user id, that user's keyrings emptied first:
  :func:`own_keyrings`); ``umask 077``.

Requests: ``{"id": str, "op": "run", "code": str}`` → ``{"id": str, "exit_code": int}`` (output
went to fds 1/2); ``{"id": str, "op": "call", "function": str, "cases": [[arg, ...], ...],
"case_timeout_s": float}`` → ``{"id": str, "results": [{"value": ...} | {"error": str}, ...]}``,
the function's return values for the server to compare (the expected values never enter the
sandbox).

>>> HEADER.unpack(encode({"op": "run"})[:4])[0]
13
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import ctypes
import errno
import io
import json
import linecache
import os
import resource
import signal
import stat
import struct
import sys
import traceback
from collections.abc import Iterator
from typing import Any, NoReturn

HEADER = struct.Struct(">I")
CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
KEYCTL_JOIN_SESSION_KEYRING, KEYCTL_CLEAR, KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING = 1, 7, -4, -5
SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}
SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
"""The same on every architecture (newer than the split of the tables)."""
LANDLOCK_RULE_PATH_BENEATH = 1
LANDLOCK_FILE_RIGHTS = 1 | 2 | 4 | 1 << 14 | 1 << 15
"""What a Landlock rule on a file may allow: execute, write, read, truncate, device ioctl."""
SERVER = os.getppid()
"""The parent this process was started by (the server, or bubblewrap's init)."""
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x8, 0x1000, 0x4000, 0x40000
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
PID_NAMESPACE = "own PID namespace"
MAX_VALUE_BYTES = 65_536
"""Largest JSON of a function's return value sent back for comparison."""
LIMITS = {"memory_bytes": resource.RLIMIT_AS, "cpu_time_s": resource.RLIMIT_CPU,
          "max_file_bytes": resource.RLIMIT_FSIZE, "max_open_files": resource.RLIMIT_NOFILE,
          "max_processes": resource.RLIMIT_NPROC}
"""Configuration keys and the resource limits they set (soft = hard)."""


# -- frames ----------------------------------------------------------------------------------

def encode(message: dict[str, Any]) -> bytes:
    """One frame: the length, then the JSON."""
    body = json.dumps(message).encode()
    return HEADER.pack(len(body)) + body


def receive(fd: int) -> dict[str, Any] | None:
    """The next frame's message, or ``None`` at the end of the stream."""
    header = _read_exactly(fd, HEADER.size)
    body = None if header is None else _read_exactly(fd, HEADER.unpack(header)[0])
    return None if body is None else json.loads(body)


def send(fd: int, message: dict[str, Any]) -> None:
    """One message on the reply socket (one ``write``: a ``SOCK_SEQPACKET`` message is whole)."""
    os.write(fd, json.dumps(message).encode())


def _read_exactly(fd: int, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


# -- confinement -----------------------------------------------------------------------------

def _unshare(flag: int) -> str:
    """``""`` if the namespace was entered, else the reason it was not."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(flag) == 0:
        return ""
    return f"unshare() failed: {os.strerror(ctypes.get_errno())}"


def closed_ancestor(path: str) -> str | None:
    """The highest directory above ``path`` that other users cannot enter, if any."""
    parts = os.path.realpath(path).split(os.sep)
    for depth in range(2, len(parts)):
        ancestor = os.sep.join(parts[:depth])
        if not os.stat(ancestor).st_mode & 0o001:
            return ancestor
    return None


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(*(None if v is None else v.encode() for v in (source, target, fstype)), flags,
                  None if data is None else data.encode()) != 0:
        raise OSError(ctypes.get_errno(), f"mount {target}: {os.strerror(ctypes.get_errno())}")


def _cover(folder: str, keep: list[str], mode: str) -> None:
    """An empty tmpfs (of ``mode``) over ``folder``, with the paths of ``keep`` below it bound
    back (the interpreter's, where they lie below a covered folder)."""
    if not os.path.isdir(folder):  # below a folder covered already
        return
    kept = {path: os.open(path, os.O_PATH) for path in keep if path.startswith(folder.rstrip("/") + "/")}
    _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, f"mode={mode}")
    for path, fd in kept.items():
        os.makedirs(path, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        os.close(fd)


def private_view(view: dict[str, list[str]], own_proc: bool) -> str:
    """Mode ``"namespaces"``, in the REPL (still root): a mount namespace of its own where the
    package's source and ``/run`` are empty folders, ``/tmp``, ``/var/tmp`` and ``/dev/shm`` are
    private, folders other users cannot enter above the interpreter (Python under ``/root``)
    show only the interpreter, and ``/proc`` is the PID namespace's (``own_proc``)."""
    why = _unshare(CLONE_NEWNS)
    if why:
        return f"the machine's, /tmp shared ({why})"
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    keep = view["interpreter"]
    for folder in sorted({a for path in keep if (a := closed_ancestor(path)) is not None}):
        _cover(folder, keep, "0755")
    for folder in view["hidden"]:
        _cover(folder, keep, "0755")
    for folder in view["private"]:
        _cover(folder, keep, "1777")
    if own_proc:
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    return "own " + ", ".join(view["private"]) + "; source and /run hidden"


def _set_parent_death_signal(signum: int = signal.SIGKILL, parent: int | None = None) -> None:
    """Die of ``signum`` when the parent dies; ``parent``: the pid it had at the start, to
    catch a parent that died before the signal was set."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signum)
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), signum)


def own_keyrings(other_user: bool) -> str:
    """Join a new, empty session keyring: the one inherited from the server (a login, ``su -l``
    or systemd gives it one) would let the code read the server's keys and every tenant's. With
    ``other_user``, empty that user's keyrings first: a key an earlier holder of the id added
    would outlive it (the kernel keeps them for the user id, not its processes). Returns what
    holds; raises if the code would keep the server's keyring."""
    number = SYS_KEYCTL.get(os.uname().machine)
    if number is None:
        return "shared (no keyctl number known for this machine)"
    libc = ctypes.CDLL(None, use_errno=True)
    if other_user:
        for keyring in (KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING):
            libc.syscall(number, KEYCTL_CLEAR, ctypes.c_long(keyring))
    if libc.syscall(number, KEYCTL_JOIN_SESSION_KEYRING, None) >= 0:
        return "own session keyring"
    error = ctypes.get_errno()
    if error in (errno.EPERM, errno.ENOSYS):  # a seccomp filter refuses keyrings (Docker's does)
        return f"none (keyctl: {os.strerror(error)})"
    raise OSError(error, f"cannot join a session keyring of its own: {os.strerror(error)}")


def add_landlock_rule(ruleset: int, path: str, rights: int) -> None:
    """Allow ``rights`` beneath ``path`` in a Landlock ruleset (only a file's rights for a file)."""
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= LANDLOCK_FILE_RIGHTS
        rule = struct.pack("=Qi", rights, fd)  # struct landlock_path_beneath_attr, packed
        if ctypes.CDLL(None, use_errno=True).syscall(SYS_LANDLOCK_ADD_RULE, ruleset,
                                                     LANDLOCK_RULE_PATH_BENEATH, rule, 0) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule {path}: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(fd)


def lock_files(landlock: dict[str, Any] | None) -> str:
    """Restrict this process and what it starts to the server's Landlock ruleset (its
    descriptor ``landlock["fd"]``), with ``landlock["rules"]`` added (the folders this process
    mounted: their files are new to the ruleset). ``None``: the kernel has no Landlock."""
    if landlock is None:
        return "the machine's other folders readable (no Landlock: Linux 5.13+)"
    for path, rights in landlock["rules"]:
        if os.path.exists(path):
            add_landlock_rule(landlock["fd"], path, rights)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or \
            libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, landlock["fd"], 0) != 0:
        raise OSError(ctypes.get_errno(), f"landlock_restrict_self: {os.strerror(ctypes.get_errno())}")
    os.close(landlock["fd"])
    return "nothing else readable (Landlock)"


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code  # killed by a signal: 128 + its number, as shells say


def _keep(init: int) -> NoReturn:
    """The keeper: wait for the namespace's init; SIGTERM kills it (and so the namespace), and
    so does the server's death (the keeper's parent-death signal is SIGTERM)."""
    pidfd = os.pidfd_open(init)  # names this process even once its pid is free again

    def kill_init(signum: int, frame: Any) -> None:
        with contextlib.suppress(ProcessLookupError):  # it has exited already
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)

    signal.signal(signal.SIGTERM, kill_init)
    _set_parent_death_signal(signal.SIGTERM, SERVER)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    _, status = os.waitpid(init, 0)
    os._exit(_exit_code(status))


def _reap_until(repl: int) -> NoReturn:
    """PID 1 of the namespace: reap every process until the REPL exits (the kernel then kills
    and reaps the rest)."""
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == repl:
            os._exit(_exit_code(status))


def _enter_pid_namespace(channels: tuple[int, ...]) -> str:
    """Fork keeper → init → REPL; returns in the REPL (``""``), or unforked with the reason."""
    why = _unshare(CLONE_NEWPID)
    if why:
        return why
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # until the keeper handles it
    init = os.fork()
    if init:
        _close_channels(channels)
        _keep(init)
    _set_parent_death_signal()
    repl = os.fork()
    if repl:
        _close_channels(channels)
        _reap_until(repl)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    return ""


def _close_channels(channels: tuple[int, ...]) -> None:
    """The keeper and init hold no pipe: the server sees end-of-file when the REPL dies."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (1, 2):
        os.dup2(devnull, fd)
    for fd in channels:
        os.close(fd)


def _make_namespaces(config: dict[str, Any], channels: tuple[int, ...]) -> dict[str, str]:
    """Mode ``"namespaces"``: the worker's own network, IPC and PID namespaces."""
    report = {}
    if not config["network"]:
        why = _unshare(CLONE_NEWNET)
        report["network"] = f"shared ({why})" if why else "none (own network namespace)"
    why = _unshare(CLONE_NEWIPC)
    report["ipc"] = f"shared ({why})" if why else "own IPC namespace"
    why = _enter_pid_namespace(channels)
    report["processes"] = f"process group ({why})" if why else PID_NAMESPACE
    report["files"] = private_view(config["view"], own_proc=not why)
    os.chdir(os.environ["HOME"])  # its own /tmp
    return report


BWRAP_REPORT = {"processes": "own PID namespace and /proc (bubblewrap)", "ipc": "own IPC namespace",
                "files": "the system's folders and the interpreter, read-only; own /tmp, /var/tmp, /dev/shm"}


def confine(config: dict[str, Any], channels: tuple[int, ...]) -> dict[str, str]:
    """Apply the configuration's isolation and limits to this process; report what holds."""
    mode = config["mode"]
    report = {"mode": mode, "network": "shared (allowed by the configuration)", "processes": "process group"}
    if mode == "bwrap":
        report.update(BWRAP_REPORT)
        if not config["network"]:
            report["network"] = "none (own network namespace)"
    elif mode == "namespaces":
        report.update(_make_namespaces(config, channels))
    elif not config["network"]:
        report["network"] = "shared (the server does not run as root)"
    if mode != "namespaces":
        _set_parent_death_signal(parent=SERVER)
    for key, which in LIMITS.items():
        value = int(config[key])
        resource.setrlimit(which, (value, value))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if mode != "bwrap":  # as root still: the rules' paths may lie below folders closed to the user
        report["files"] = "; ".join(filter(None, [report.get("files"), lock_files(config["landlock"])]))
    if config["uid"] is not None:
        os.setgroups([])
        os.setgid(config["uid"])
        os.setuid(config["uid"])
        _set_parent_death_signal()  # a change of user clears it
    report["keyring"] = own_keyrings(other_user=config["uid"] is not None)
    report["user"] = f"uid {os.getuid()}"
    os.umask(0o077)  # what it writes where others look (a shared /tmp) is its own
    return report


# -- the REPL --------------------------------------------------------------------------------

class _Discard(io.TextIOBase):
    """Where output of the graded calls goes."""

    def write(self, text: str) -> int:
        return len(text)


class CaseTimeout(Exception):
    """A graded call ran longer than its time."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise CaseTimeout("took too long")


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _user_traceback(exc: BaseException) -> None:
    """Print the traceback from the first frame of user code on (none for a SyntaxError)."""
    tb = exc.__traceback__
    while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<cell "):
        tb = tb.tb_next
    try:
        traceback.print_exception(type(exc), exc, tb)
    except BaseException:  # no memory left to format it (a MemoryError): name it at least
        os.write(2, f"{type(exc).__name__}\n".encode())


def _exit_status(exc: SystemExit) -> int:
    """``sys.exit(...)`` as a process would report it."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    print(exc.code, file=sys.stderr)
    return 1


class Repl:
    """Runs code in one persistent namespace, answering requests until the stream ends."""

    def __init__(self, requests: int, replies: int, max_reply_bytes: int):
        self.requests, self.replies = requests, replies
        self.max_reply_bytes = max_reply_bytes
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        self.cells = 0
        self.pid = os.getpid()

    def serve(self) -> None:
        handlers = {"run": self.run, "call": self.call}
        while (request := receive(self.requests)) is not None:
            reply = handlers[request["op"]](request)
            self._settle(reply.get("exit_code", 0))
            send(self.replies, self._bounded({**reply, "id": request["id"]}))

    def _bounded(self, reply: dict[str, Any]) -> dict[str, Any]:
        """The reply, or, past what one message may hold, each result replaced by an error."""
        if "results" not in reply or len(json.dumps(reply)) <= self.max_reply_bytes:
            return reply
        error = {"error": f"the return values were larger than {self.max_reply_bytes} bytes in all"}
        return {**reply, "results": [error for _ in reply["results"]]}

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        """Execute a cell; the value of a final expression is printed, as in a REPL."""
        self.cells += 1
        code, filename = request["code"], f"<cell {self.cells}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        try:
            tree = ast.parse(code, filename)
            last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
            exec(compile(tree, filename, "exec"), self.namespace)
            if last is not None:
                value = eval(compile(ast.Expression(last.value), filename, "eval"), self.namespace)
                if value is not None:
                    print(repr(value))
        except SystemExit as exc:
            return {"exit_code": _exit_status(exc)}
        except BaseException as exc:  # user code's failure is the cell's result, not the worker's
            _user_traceback(exc)
            return {"exit_code": 1}
        return {"exit_code": 0}

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        """Call the namespace's function on each case's arguments; return values as JSON."""
        name, seconds = request["function"], request["case_timeout_s"]
        function = self.namespace.get(name)
        if not callable(function):
            error = f"NameError: no function {name!r} is defined"
            return {"results": [{"error": error} for _ in request["cases"]]}
        return {"results": [self._call_one(function, args, seconds) for args in request["cases"]]}

    def _call_one(self, function: Any, args: list[Any], seconds: float) -> dict[str, Any]:
        try:
            with contextlib.redirect_stdout(_Discard()), contextlib.redirect_stderr(_Discard()), \
                    _alarm(seconds):
                value = function(*args)
            text = json.dumps(value)
        except BaseException as exc:  # the function's failure is the case's result
            return {"error": f"{type(exc).__name__}: {exc}"[:500]}
        if len(text) > MAX_VALUE_BYTES:
            return {"error": f"returned {len(text)} bytes of JSON, more than {MAX_VALUE_BYTES}"}
        return {"value": json.loads(text)}

    def _settle(self, exit_code: int) -> None:
        """After user code: flush its output; a process it forked that got here exits."""
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            with contextlib.suppress(Exception):  # user code may have closed or replaced it
                stream.flush()  # type: ignore[union-attr]
        if os.getpid() != self.pid:
            os._exit(exit_code)


def main(argv: list[str]) -> None:
    config = json.loads(argv[1])
    requests, replies = os.dup(0), config["reply_fd"]
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    ruleset = () if config["landlock"] is None else (config["landlock"]["fd"],)
    report = confine(config, (requests, replies, *ruleset))
    send(replies, {"id": config["ready_id"], "ready": report,
                   "keeper": report["processes"] == PID_NAMESPACE})
    Repl(requests, replies, config["max_reply_bytes"]).serve()


if __name__ == "__main__":
    main(sys.argv)

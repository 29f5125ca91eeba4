"""A session's sandbox: one worker interpreter (:mod:`.worker`), its channels, its control group.

The server never ``exec``s code itself. Each :class:`Sandbox` runs the worker (``python -I -c``,
its source from a memory file) in a fresh scratch directory, with the limits of
:class:`~.limits.SandboxLimits`, seeing only the files :mod:`.filesystem` shows it; as root, as
an unprivileged user of its own (:mod:`.uids`), inside bubblewrap where installed
(:mod:`.launch`), in a control group of its own (:mod:`.cgroups`) that holds memory, processes
and CPU time for the whole tree and is frozen between requests, so nothing the code started runs
between steps. The machine's errors reach the client without its paths (they go to the log).
Every wait has a deadline; output is read as it comes and kept up to ``max_output_bytes`` per
stream (the rest is read and dropped, so the server never buffers more); an execution past
``timeout_s`` or ``cpu_time_s``, or a worker that dies, ends in a restart, reported in the
execution's stderr. Replies come on a channel of their own (:mod:`.replies`), matched to their
request by a random id, so what the code writes there shifts nothing.

>>> with Sandbox(SandboxLimits(timeout_s=5)) as sandbox:
...     _ = sandbox.start()
...     sandbox.run("x = 41").exit_code, sandbox.run("x + 1").stdout
(0, '42\\n')
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from openenv_gym.errors import SandboxError

from . import leftovers
from .cgroups import Cgroup, session_cgroup
from .execution import Execution, Output
from .filesystem import worker_files
from .launch import (
    bwrap_command,
    isolation_mode,
    joining,
    on_spawner_thread,
    watchdog,
    worker_command,
    worker_source,
)
from .limits import SandboxLimits
from .replies import WORKER_ROOM, ReplyChannel, request_id
from .uids import UidLease, lease_uid
from .worker import encode

log = logging.getLogger(__name__)
STARTUP_TIMEOUT_S = 30.0
STOP_GRACE_S = 5.0
CHUNK_BYTES = 65_536
DRAIN_BYTES = 1024 * 1024
"""After a reply, at most this much more output is read (what the worker flushed before it)."""
CPU_POLL_S = 0.05
"""How often a running request checks the tree's CPU time against ``cpu_time_s``."""
TIMEOUT_EXIT_CODE = 124
"""The exit code of an execution stopped at ``timeout_s`` (as coreutils' ``timeout``)."""
LOST = ("The interpreter was restarted: the variables, imports and functions defined so far "
        "are lost.")


class _Failure(Exception):
    """The worker did not answer: why, and the exit code to report."""

    def __init__(self, reason: str, exit_code: int):
        super().__init__(reason)
        self.exit_code = exit_code


def _signal_name(code: int) -> str:
    try:
        return f" ({signal.Signals(code - 128).name})" if code > 128 else ""
    except ValueError:
        return ""


def _worker_environment(scratch: str) -> dict[str, str]:
    """Nothing of the server's environment (it may hold tokens); one thread per math library."""
    return {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "HOME": scratch,
            "TMPDIR": scratch, "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1"}


def _cpu_failure(limit: int) -> _Failure:
    return _Failure(f"CPUTimeError: the session's processes used more than {limit} CPU seconds "
                    "(cpu_time_s) and were stopped.", 128 + signal.SIGKILL)


def _tasks_of_user(uid: int) -> int:
    """Processes and threads ``uid`` runs now (what ``RLIMIT_NPROC`` counts)."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):  # the process exited meanwhile
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(f"{entry.path}/task"))
    return count


def _exit_code(process: subprocess.Popen[bytes], within: float = 0.0) -> int | None:
    """The process's exit code once it has exited (``None`` if it has not within ``within``
    seconds), without reaping it: until :meth:`Sandbox._kill` does, its pid and process group
    id cannot be taken by another process, so signalling them stays safe."""
    deadline = time.monotonic() + within
    while process.returncode is None:
        info = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if info is not None:
            return info.si_status if info.si_code == os.CLD_EXITED else 128 + info.si_status
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.01)
    return process.returncode


P = ParamSpec("P")
R = TypeVar("R")


def _naming_no_host_path(method: Callable[P, R]) -> Callable[P, R]:
    """The one place where the machine's errors become the tenant's: an ``OSError`` names files
    of the host (control groups, leases, the interpreter's), so it is logged with its traceback
    and replaced by a :class:`SandboxError` that names none."""
    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except OSError as exc:
            log.error("the coding sandbox failed in %s", method.__name__, exc_info=True)
            reason = os.strerror(exc.errno) if exc.errno else type(exc).__name__
            raise SandboxError(f"the sandbox failed: {reason} (the server's log has the details)") from None
    return wrapper


def _remove_tree(path: str) -> None:
    def make_writable(function: Any, failed: str, exc_info: Any) -> None:
        os.chmod(os.path.dirname(failed), 0o700)  # the code may have made a folder read-only
        function(failed)

    shutil.rmtree(path, onerror=make_writable)


class Sandbox:
    """One worker interpreter at a time; :meth:`start` replaces it with a fresh one.

    Args:
        limits: what the code may use.
    """

    def __init__(self, limits: SandboxLimits):
        self.limits = limits
        self.isolation: dict[str, str] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._replies: ReplyChannel | None = None
        self._ready_id = ""
        self._keeper = False
        self._scratch: str | None = None
        self._lease: UidLease | None = None
        self._cgroup: Cgroup | None = None
        self._lock = threading.RLock()  # one request, start or stop at a time
        self._closing = False

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._process is not None and _exit_code(self._process) is None

    @property
    def pid(self) -> int | None:
        """The worker's process id (bubblewrap's or the keeper's, where they hold it)."""
        return None if self._process is None else self._process.pid

    @property
    def scratch(self) -> str | None:
        """The working directory of the current interpreter on the machine (``None`` as root:
        there it is the sandbox's own ``/tmp``, which dies with it)."""
        return self._scratch

    @_naming_no_host_path
    def start(self) -> dict[str, str]:
        """Stop the current interpreter, start a fresh one in a fresh directory; return what
        isolation it has (``{"mode": ..., "network": ..., "processes": ..., "user": ...}``)."""
        with self._lock:
            self._stop_worker()
            stderr = Output(self.limits.max_output_bytes)
            try:
                self._spawn()
                ready = self._pump(None, self._ready_id, Output(0), stderr,
                                   time.monotonic() + STARTUP_TIMEOUT_S)
                if not isinstance(ready.get("ready"), dict):
                    raise _Failure(f"it answered {ready!r}", 1)
            except _Failure as failure:
                log.error("the sandbox's interpreter did not start: %s\n%s", failure, stderr.text("stderr"))
                self.close()
                raise SandboxError(f"the sandbox's interpreter did not start: {failure} (what it printed "
                                   "is in the server's log)") from None
            self.isolation, self._keeper = ready["ready"], bool(ready.get("keeper"))
            if self._cgroup is not None:
                self.isolation["limits"] = (f"whole tree (cgroup v{self._cgroup.version})"
                                            + ("" if self._cgroup.freezes else ", not frozen between steps"))
                self._cgroup.freeze()
            return self.isolation

    def run(self, code: str) -> Execution:
        """Execute ``code`` in the interpreter's namespace."""
        return self._exchange({"op": "run", "code": code})

    def call(self, function: str, cases: list[list[Any]], case_timeout_s: float) -> Execution:
        """Call the namespace's ``function`` on each case's arguments; the return values are in
        ``reply["results"]`` (``[]`` if the interpreter had to be restarted)."""
        return self._exchange({"op": "call", "function": function, "cases": cases,
                               "case_timeout_s": case_timeout_s})

    @_naming_no_host_path
    def close(self) -> None:
        """Stop the interpreter (and everything it started), remove its directory and control
        group, free its user id. Idempotent; the sandbox can be started again.

        Safe while another thread waits for a request (a session closed mid-step): the worker
        is killed first, which ends that wait, and nothing is restarted.
        """
        self._closing = True
        try:
            process = self._process
            if process is not None:
                self._signal(process)
            with self._lock:
                self._stop_worker()
                self._release()
        finally:
            self._closing = False

    def _release(self) -> None:
        """Remove the control group, free the user id."""
        if self._cgroup is not None:
            self._cgroup.remove()
            for directory in self._cgroup.directories.values():
                watchdog.forget(directory)
            self._cgroup = None
        if self._lease is not None:
            leftovers.reclaim(self._lease.uid, private_files=self.isolation.get("mode") == "bwrap")
            self._lease.release()
            self._lease = None

    # -- the worker process ----------------------------------------------------------------------

    def _acquire(self, mode: str) -> None:
        """As root: a user id (whatever its last holder left removed) and its control group."""
        if mode == "user" or self._lease is not None:
            return
        self._lease = lease_uid(range(*self.limits.uids), private_files=mode == "bwrap")
        self._cgroup = session_cgroup(self._lease.group_name)
        self._lease.record(self._cgroup)  # before it exists: the id's next holder removes what is left
        if self._cgroup is not None:
            try:
                self._cgroup.make(self.limits.memory_mb * 1024 * 1024, self.limits.max_processes)
            except OSError:  # a v2 hierarchy whose controllers are not delegated to us
                log.warning("no control group for the coding sandbox (limits stay per process)",
                            exc_info=True)
                self._cgroup = None
        if self._cgroup is not None:
            for directory in self._cgroup.directories.values():
                watchdog.watch(directory)

    def _spawn(self) -> None:
        mode = isolation_mode()
        self._acquire(mode)
        if mode == "user":  # as root, the sandbox's own /tmp
            self._scratch = tempfile.mkdtemp(prefix="openenv-coding-")
        if self._cgroup is not None:  # counters restart; limits as configured
            self._cgroup.make(self.limits.memory_mb * 1024 * 1024, self.limits.max_processes)
        self._replies, self._ready_id = ReplyChannel(), request_id()
        channels = {"max_reply_bytes": self._replies.max_message_bytes - WORKER_ROOM}
        passed = [self._replies.worker_end()]  # descriptors the worker inherits, closed here after
        try:
            passed.append(worker_source())
            files = worker_files(mode, self._scratch)
            passed += [] if files["landlock"] is None else [files["landlock"]["fd"]]
            command = self._command(mode, passed[1], {**channels, **files, "reply_fd": passed[0]})
            home = self._scratch or "/tmp"
            self._process = on_spawner_thread(lambda: subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                pass_fds=passed, cwd=self._scratch or "/", env=_worker_environment(home),
                start_new_session=True))
        finally:
            for fd in passed:
                os.close(fd)
        for pipe in (self._process.stdin, self._process.stdout, self._process.stderr):
            os.set_blocking(pipe.fileno(), False)  # type: ignore[union-attr]

    def _command(self, mode: str, source: int, channels: dict[str, Any]) -> list[str]:
        """The worker's command line (its source read from descriptor ``source``): its
        configuration (limits, user id, ``channels``), in bubblewrap for that mode, joining its
        control group first."""
        config = {**self.limits.worker_config(), **channels, "mode": mode, "ready_id": self._ready_id,
                  "uid": None if self._lease is None else self._lease.uid}
        if mode == "user":  # RLIMIT_NPROC counts all of this user's processes: allow this many more
            config["max_processes"] += _tasks_of_user(os.getuid())
        command = worker_command(source, json.dumps(config))
        if mode == "bwrap":
            command = bwrap_command(command, self.limits.network)
        return joining([] if self._cgroup is None else self._cgroup.procs_files, command)

    def _stop_worker(self) -> int | None:
        """Kill the interpreter and what it started, reap it, close the channels, remove the
        directory; the interpreter's exit code (``None`` if there was none)."""
        process, self._process = self._process, None
        code = None
        if process is not None:
            code = self._kill(process)
            for pipe in (process.stdin, process.stdout, process.stderr):
                with contextlib.suppress(OSError):  # a broken pipe has nothing left to flush
                    pipe.close()  # type: ignore[union-attr]
        if self._replies is not None:
            self._replies.close()
            self._replies = None
        if self._scratch is not None:
            _remove_tree(self._scratch)
            self._scratch = None
        return code

    def _signal(self, process: subprocess.Popen[bytes]) -> None:
        """Kill the worker's tree: its control group (freeze, kill, thaw: nothing escapes);
        without one, SIGTERM to the keeper of a PID namespace (the kernel then kills all in it)
        or SIGKILL to the worker's process group. Sent only while the worker is not reaped
        (its ids cannot belong to another process)."""
        if process.returncode is not None:
            return
        if self._cgroup is not None:
            self._cgroup.kill()
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self._keeper:
                os.kill(process.pid, signal.SIGTERM)
            else:
                os.killpg(process.pid, signal.SIGKILL)

    def _kill(self, process: subprocess.Popen[bytes]) -> int:
        """Signal the worker, reap it, return its exit code (SIGKILL after a grace period)."""
        self._signal(process)
        if _exit_code(process, STOP_GRACE_S) is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        code = process.wait(STOP_GRACE_S)
        return code if code >= 0 else 128 - code  # killed by a signal: 128 + n, as shells say

    # -- requests --------------------------------------------------------------------------------

    @_naming_no_host_path
    def _exchange(self, request: dict[str, Any]) -> Execution:
        """Send a request and wait for its reply; on a failure restart and say why."""
        with self._lock:
            stdout = Output(self.limits.max_output_bytes)
            stderr = Output(self.limits.max_output_bytes)
            lost = None
            if not self.running:
                code = self._stop_worker()
                self.start()
                if code is not None:  # it died between steps (its CPU time ran out, say)
                    lost = f"The interpreter had exited (exit code {code}{_signal_name(code)}). {LOST}"
                    stderr.note(lost)
            identifier = request_id()
            try:
                if self._cgroup is not None:
                    self._cgroup.thaw()
                reply = self._pump(encode({**request, "id": identifier}), identifier, stdout, stderr,
                                   time.monotonic() + self.limits.timeout_s)
                if self._cgroup is not None:
                    self._cgroup.freeze()
                    self._check_cpu()
            except _Failure as failure:
                if not self._closing:
                    self.start()
                stderr.note(f"{failure} {LOST}")
                return Execution(stdout.text("stdout"), stderr.text("stderr"), failure.exit_code,
                                 restarted=str(failure))
            return Execution(stdout.text("stdout"), stderr.text("stderr"), int(reply.get("exit_code", 0)),
                             restarted=lost, reply=reply)

    def _check_cpu(self) -> None:
        if self._cgroup is not None and self._cgroup.cpu_seconds() > self.limits.cpu_time_s:
            raise _cpu_failure(self.limits.cpu_time_s)

    def _pump(self, request: bytes | None, identifier: str, stdout: Output, stderr: Output,
              deadline: float) -> dict[str, Any]:
        """Write ``request``, read output as it comes, until the reply to ``identifier`` (or a
        failure: the deadline, the CPU time, the worker's death)."""
        process, replies = self._process, self._replies
        assert process is not None and replies is not None
        streams = {process.stdout.fileno(): stdout, process.stderr.fileno(): stderr}  # type: ignore[union-attr]
        pending = memoryview(request or b"")
        poll = CPU_POLL_S if self._cgroup is not None and request is not None else None
        checked = time.monotonic()
        with selectors.DefaultSelector() as selector:
            for fd in (*streams, replies.fileno()):
                selector.register(fd, selectors.EVENT_READ)
            if pending:
                selector.register(process.stdin.fileno(), selectors.EVENT_WRITE)  # type: ignore[union-attr]
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _Failure(f"TimeoutError: the code ran longer than {self.limits.timeout_s:g} s "
                                   "and was stopped.", TIMEOUT_EXIT_CODE)
                events = selector.select(remaining if poll is None else min(remaining, poll))
                if poll is not None and time.monotonic() - checked >= poll:
                    self._check_cpu()
                    checked = time.monotonic()
                for key, _ in events:
                    fd = key.fd
                    if fd == replies.fileno():
                        reply = self._receive(replies, identifier)
                        if reply is not None:
                            self._drain(streams)
                            return reply
                    elif fd in streams:
                        chunk = self._read(fd)
                        if chunk == b"":
                            selector.unregister(fd)
                        elif chunk is not None:
                            streams[fd].add(chunk)
                    else:
                        pending = pending[self._write(fd, pending):]
                        if not pending:
                            selector.unregister(fd)

    def _receive(self, replies: ReplyChannel, identifier: str) -> dict[str, Any] | None:
        try:
            return replies.receive(identifier)
        except EOFError:
            raise self._died() from None

    def _read(self, fd: int) -> bytes | None:
        """A chunk, ``b""`` at the end, ``None`` if there is nothing yet."""
        try:
            return os.read(fd, CHUNK_BYTES)
        except BlockingIOError:
            return None

    def _write(self, fd: int, data: memoryview) -> int:
        try:
            return os.write(fd, data)
        except BlockingIOError:
            return 0
        except BrokenPipeError:
            raise self._died() from None

    def _drain(self, streams: dict[int, Output]) -> None:
        """Read what the worker flushed before its reply (bounded: its children may write on)."""
        for fd, output in streams.items():
            budget = DRAIN_BYTES
            while budget > 0:
                chunk = self._read(fd)
                if not chunk:
                    break
                output.add(chunk)
                budget -= len(chunk)

    def _died(self) -> _Failure:
        assert self._process is not None
        code = _exit_code(self._process, STOP_GRACE_S)
        if code is None:
            return _Failure("The interpreter stopped answering.", 1)
        return _Failure(f"The interpreter exited (exit code {code}{_signal_name(code)}).", code)

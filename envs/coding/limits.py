"""The sandbox's limits, one value per constructor keyword of the coding environment.

>>> SandboxLimits(timeout_s=2).timeout_s
2.0
>>> SandboxLimits(memory_mb=0)
Traceback (most recent call last):
...
ValueError: memory_mb must be a number >= 64, got 0
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

DEFAULT_UIDS = (60_000, 65_000)
"""User ids the workers run as when the server runs as root (Debian leaves 60000-64999 for
ids allocated on demand; ids a user or group of the system has are skipped)."""

_MINIMUM = {"timeout_s": 0.01, "cpu_time_s": 1, "memory_mb": 64, "max_processes": 1,
            "max_output_bytes": 64, "max_file_bytes": 0, "max_open_files": 16}


@dataclass(frozen=True)
class SandboxLimits:
    """What one session's code may use.

    Attributes:
        timeout_s: wall-clock seconds per execution; past it the interpreter is killed and
            restarted (its variables are lost, and the observation says so).
        cpu_time_s: CPU seconds the interpreter may use over its life (an episode), and each
            process it starts (``RLIMIT_CPU``): it bounds threads spinning between steps.
        memory_mb: address space of each process (``RLIMIT_AS``); larger allocations raise
            ``MemoryError``.
        max_processes: processes and threads (``RLIMIT_NPROC``; a fork bomb's children fail
            with ``BlockingIOError``). Counted per user id; see the README for non-root servers.
        max_output_bytes: stdout and stderr kept per execution, each; the rest is read and
            dropped, and a note says how much.
        max_file_bytes: largest file the code may write (``RLIMIT_FSIZE``).
        max_open_files: file descriptors per process (``RLIMIT_NOFILE``).
        network: allow network access (off: the worker gets an empty network namespace, when
            the server runs as root).
        uids: ``(first, stop)``, the user ids workers run as when the server runs as root.
    """

    timeout_s: float = 10.0
    cpu_time_s: int = 60
    memory_mb: int = 1024
    max_processes: int = 64
    max_output_bytes: int = 16_384
    max_file_bytes: int = 64 * 1024 * 1024
    max_open_files: int = 256
    network: bool = False
    uids: tuple[int, int] = DEFAULT_UIDS

    def __post_init__(self) -> None:
        for field in fields(self):
            if field.name in _MINIMUM:
                self._check(field.name, getattr(self, field.name), _MINIMUM[field.name])
        object.__setattr__(self, "timeout_s", float(self.timeout_s))
        first, stop = self.uids
        if not (isinstance(first, int) and isinstance(stop, int) and 0 < first < stop):
            raise ValueError(f"uids must be (first, stop) with 0 < first < stop, got {self.uids!r}")

    @staticmethod
    def _check(name: str, value: Any, minimum: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
            raise ValueError(f"{name} must be a number >= {minimum}, got {value!r}")

    def worker_config(self) -> dict[str, Any]:
        """The limits as the worker applies them (``worker.LIMITS`` keys)."""
        return {"memory_bytes": self.memory_mb * 1024 * 1024, "cpu_time_s": self.cpu_time_s,
                "max_file_bytes": self.max_file_bytes, "max_open_files": self.max_open_files,
                "max_processes": self.max_processes, "network": self.network}

"""The bookkeeping of one connection's requests and replies, without I/O.

Request ids (extended dialect only: upstream echoes none), which reply answers which request,
and when to give up resuming a dropped session. Both WebSocket clients use these; they only
move bytes and sleep.

>>> ids = RequestIds()
>>> ids.stamp({"type": "state"}, extended=False) is None
True
>>> message = {"type": "state"}
>>> ids.stamp(message, extended=True), message
(1, {'type': 'state', 'id': 1})
>>> RequestIds.answers({"type": "state", "id": 0}, 1), RequestIds.answers({"type": "state"}, 1)
(False, True)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from ..errors import OpenEnvGymError, TransportError

RESUMABLE_CLOSE_CODES = (None, 1006)
"""How a dropped connection ends: no close frame at all, or 1006 (abnormal closure)."""


class RequestIds:
    """Numbers a connection's requests; a resumed session goes on numbering."""

    def __init__(self) -> None:
        self.last = 0

    def stamp(self, message: dict[str, Any], *, extended: bool) -> int | None:
        """Give ``message`` the next id where the server echoes ids; the id (or ``None``)."""
        if not extended:
            return None
        self.last += 1
        message["id"] = self.last
        return self.last

    @staticmethod
    def answers(reply: Any, request_id: int | None) -> bool:
        """Is ``reply`` the answer to this request (not a late one to an earlier request)?"""
        if request_id is None:
            return True
        return (reply.get("id") if isinstance(reply, dict) else None) in (None, request_id)


class Dropped(Exception):
    """The connection dropped and the session may be resumed; ``error`` says what was lost."""

    def __init__(self, error: OpenEnvGymError):
        super().__init__(str(error))
        self.error = error


def may_resume(token: str | None, resume_timeout: float, close_code: int | None) -> bool:
    """Is a dropped connection worth resuming (a token, time, and no clean close)?"""
    return token is not None and resume_timeout > 0 and close_code in RESUMABLE_CLOSE_CODES


def resume_delays(first: float = 0.05, most: float = 1.0) -> Iterator[float]:
    """Seconds to wait between attempts to resume: doubling from ``first`` up to ``most``.

    >>> delays = resume_delays()
    >>> [next(delays) for _ in range(6)]
    [0.05, 0.1, 0.2, 0.4, 0.8, 1.0]
    """
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, most)


class ResumePlan:
    """When to try again to resume a session lost with ``lost``, and when to give up.

    A client loops: open with ``within=plan.remaining()``, resend; on failure sleep
    ``plan.retry_after(exc)``, which raises the final error once resuming is hopeless (the
    server is gone) or out of time.
    """

    def __init__(self, lost: OpenEnvGymError, timeout: float):
        self.lost = lost
        self.timeout = timeout
        self._deadline = time.monotonic() + timeout
        self._delays = resume_delays()

    def remaining(self) -> float:
        """Seconds left for the next attempt (at least 0.1: every attempt gets a chance)."""
        return max(self._deadline - time.monotonic(), 0.1)

    def retry_after(self, error: BaseException) -> float:
        """Seconds to wait before the next attempt after ``error``; raises when it is over."""
        if isinstance(error.__cause__, ConnectionRefusedError):  # nothing listens: the server died
            raise self._given_up(error) from error
        delay = next(self._delays)
        if time.monotonic() + delay > self._deadline:
            raise self._given_up(None) from error
        return delay

    def _given_up(self, last: BaseException | None) -> TransportError:
        why = f"for {self.timeout:g}s" if last is None else f"but {last}"
        return TransportError(f"{self.lost} (tried to resume the session {why})")

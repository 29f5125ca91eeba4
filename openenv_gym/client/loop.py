"""Run coroutines from synchronous code without a thread hop where none is needed.

>>> runner = LoopRunner()
>>> async def answer():
...     return 42
>>> runner.run(answer())
42
>>> runner.close()
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopRunner:
    """Owns one private event loop and runs coroutines on it, one at a time.

    In a thread with no running event loop (a plain script, a Gymnasium worker) the loop
    runs in the calling thread: no thread hop per call. Where an event loop is already
    running (Jupyter), the same private loop runs in a helper thread instead, so that
    connections bound to it stay valid.
    """

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` to completion on the private loop and return its result."""
        with self._lock:
            if _loop_running_here():
                return _in_helper_thread(self._loop, coro)
            return self._loop.run_until_complete(coro)

    def close(self) -> None:
        """Cancel what is left on the loop and close it (idempotent)."""
        if self._loop.is_closed():
            return
        with self._lock:
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            if pending:
                self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()


def _loop_running_here() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _in_helper_thread(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = loop.run_until_complete(coro)
        except BaseException as exc:  # handed back to the caller's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="openenv-gym-loop")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]

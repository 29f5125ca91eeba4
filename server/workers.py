"""Where blocking environment calls run: a thread for every call in flight, never a queue.

A fixed pool (``ThreadPoolExecutor(min(32, cpu + 4))``) lets a handful of sessions whose steps
sleep fill every worker, after which another session's one-line step waits for one of them to
return. :class:`Workers` never makes a call wait for another: a call takes an idle thread
or starts a new one, and a thread that stays idle for ``idle_timeout`` seconds ends. The
number of threads is therefore the number of calls in flight (at most one per session, plus
calls abandoned by a step timeout) and falls back when the load does.

>>> workers = Workers()
>>> workers.submit(sum, [1, 2, 3]).result()
6
>>> workers.shutdown()
"""

from __future__ import annotations

import functools
import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

DEFAULT_IDLE_TIMEOUT = 30.0
"""Seconds an idle worker thread waits for a call before it ends."""

_Call = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class Workers(Executor):
    """An executor that starts a thread whenever no idle one is free (no queueing, no bound).

    ``_idle`` counts the threads waiting for a call minus the calls queued for them: a
    ``submit`` that finds it positive hands its call to a waiting thread, else it starts one.
    """

    def __init__(self, *, idle_timeout: float = DEFAULT_IDLE_TIMEOUT, name: str = "openenv-session"):
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._threads: set[threading.Thread] = set()
        self._idle_timeout = idle_timeout
        self._name = name
        self._numbers = itertools.count(1)
        self._closed = False

    @property
    def threads(self) -> int:
        """Worker threads alive now (busy or idle)."""
        return len(self._threads)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new calls after shutdown")
            self._calls.put((future, fn, args, kwargs))
            if self._idle > 0:
                self._idle -= 1
            else:
                self._start_thread()
        return future

    def _start_thread(self) -> None:
        # daemon: a step that never returns must not keep the server process from exiting
        thread = threading.Thread(target=self._work, name=f"{self._name}-{next(self._numbers)}", daemon=True)
        self._threads.add(thread)
        thread.start()

    def _work(self) -> None:
        while (call := self._next_call()) is not None:
            complete = _run(call)
            with self._lock:
                self._idle += 1
            complete()
        with self._lock:
            self._threads.discard(threading.current_thread())

    def _next_call(self) -> _Call | None:
        """The next call; ``None`` when this thread should end (idle too long, or shut down)."""
        while True:
            try:
                return self._calls.get(timeout=self._idle_timeout)
            except queue.Empty:
                with self._lock:
                    if self._idle > 0:  # more waiting threads than queued calls: this one may go
                        self._idle -= 1
                        return None

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse new calls; end idle threads (busy ones end when their call returns)."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        if cancel_futures:
            _cancel_queued(self._calls)
        for _ in threads:
            self._calls.put(None)
        if wait:
            for thread in threads:
                thread.join()


def _run(call: _Call) -> Callable[[], None]:
    """Run one call; returns what completes its future (called once the thread counts as idle,
    so that a caller's next call reuses this thread instead of starting another)."""
    future, fn, args, kwargs = call
    if not future.set_running_or_notify_cancel():
        return lambda: None
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:  # handed to whoever awaits the future, as ThreadPoolExecutor does
        return functools.partial(future.set_exception, exc)
    return functools.partial(future.set_result, result)


def _cancel_queued(calls: queue.SimpleQueue[_Call | None]) -> None:
    while True:
        try:
            call = calls.get_nowait()
        except queue.Empty:
            return
        if call is not None:
            call[0].cancel()

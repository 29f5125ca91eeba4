"""``Workers``: a thread for every blocking call in flight, retired when idle."""

from __future__ import annotations

import threading
import time

import pytest

from openenv_gym.server.workers import Workers

pytestmark = pytest.mark.fast


def test_calls_never_wait_for_busy_threads_and_idle_threads_end():
    workers = Workers(idle_timeout=0.2)
    release = threading.Event()
    blocked = [workers.submit(release.wait, 10) for _ in range(40)]  # a fixed pool would queue
    started = time.perf_counter()
    assert workers.submit(lambda: "quick").result(timeout=5) == "quick"
    assert time.perf_counter() - started < 1.0
    assert workers.threads == 41
    release.set()
    assert all(f.result(timeout=5) for f in blocked)
    deadline = time.monotonic() + 5
    while workers.threads and time.monotonic() < deadline:
        time.sleep(0.05)
    assert workers.threads == 0
    assert workers.submit(lambda: 2).result(timeout=5) == 2  # a new thread after the idle ones ended
    workers.shutdown()


def test_idle_threads_are_reused():
    workers = Workers()
    for _ in range(50):
        workers.submit(time.sleep, 0).result(timeout=5)
    assert workers.threads == 1
    workers.shutdown()
    assert workers.threads == 0


def test_exceptions_reach_the_caller_and_shutdown_refuses_new_calls():
    workers = Workers()
    with pytest.raises(ZeroDivisionError):
        workers.submit(lambda: 1 / 0).result(timeout=5)
    workers.shutdown()
    with pytest.raises(RuntimeError, match="shutdown"):
        workers.submit(print)

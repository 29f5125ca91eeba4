"""What a test watches on a real server while it attacks it: an honest session stepping next to
the attack, and the server process's memory."""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson
import psutil
from websockets.sync.client import connect

from openenv_gym.protocol.frames import JSON
from openenv_gym.providers import ProcessProvider


class SteppingSession:
    """A session on its own connection that steps without pause in a thread while the block
    runs, keeping each step's latency and each reply that was not its echo."""

    def __init__(self, url: str):
        self.url = url
        self.latencies: list[float] = []
        self.wrong: list[Any] = []
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SteppingSession:
        self._thread.start()
        assert self._connected.wait(timeout=30), "the honest session could not connect"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    @property
    def slowest(self) -> float:
        return max(self.latencies, default=0.0)

    def _run(self) -> None:
        with connect(self.url, subprotocols=[JSON.subprotocol]) as ws:
            self._connected.set()
            step = 0
            while not self._stop.is_set():
                step += 1
                started = time.perf_counter()
                ws.send(JSON.encode({"type": "step", "id": step, "data": {"message": f"honest {step}"}}))
                reply = orjson.loads(ws.recv(timeout=60))
                self.latencies.append(time.perf_counter() - started)
                if reply.get("data", {}).get("observation", {}).get("echoed_message") != f"honest {step}":
                    self.wrong.append(reply)



def rss(provider: ProcessProvider) -> int:
    """The server process's resident memory now, in bytes."""
    assert provider.pid is not None
    return int(psutil.Process(provider.pid).memory_info().rss)


def peak_rss(provider: ProcessProvider) -> int:
    """The server process's peak resident memory so far (``VmHWM``), in bytes."""
    with open(f"/proc/{provider.pid}/status") as status:
        line = next(line for line in status if line.startswith("VmHWM"))
    return int(line.split()[1]) * 1024

"""Step latency of one session whose environment blocks (not ``FAST_STEP``), alone and while
K other sessions sleep in their steps: what a fixed worker pool costs a tenant.

The environment is echo with ``FAST_STEP = False`` (its steps run in the server's worker
threads) and a ``sleep`` field; the server is ``uvicorn blocking_steps:app`` in a child process.
K sleeper connections step ``sleep=0.5`` over and over while one more connection sends M
one-line steps, each timed on its own::

    python bench/blocking_steps.py                    # K = 0, 8, 32; M = 300
    python bench/blocking_steps.py --sleepers 0,64 --steps 1000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import time
from typing import Any

from _common import header, machine, start_uvicorn

from openenv_gym.envs.echo import EchoAction, EchoEnvironment, EchoObservation
from openenv_gym.server import create_app


class NapAction(EchoAction):
    sleep: float = 0.0


class BlockingEcho(EchoEnvironment):
    """Echo whose steps run in a worker thread and sleep ``action.sleep`` seconds first."""

    FAST_STEP = False

    def step(self, action: Any, timeout_s: float | None = None, **kwargs: Any) -> Any:
        time.sleep(getattr(action, "sleep", 0.0))
        return super().step(EchoAction(message=action.message), timeout_s)


app = create_app(BlockingEcho, NapAction, EchoObservation, max_concurrent_envs=256)


async def _sleeper(url: str, stop: asyncio.Event) -> None:
    import websockets

    async with websockets.connect(url) as ws:
        while not stop.is_set():
            await ws.send(json.dumps({"type": "step", "data": {"message": "z", "sleep": 0.5}}))
            await ws.recv()


async def _measure(url: str, sleepers: int, steps: int) -> list[float]:
    import websockets

    stop = asyncio.Event()
    tasks = [asyncio.create_task(_sleeper(url, stop)) for _ in range(sleepers)]
    async with websockets.connect(url) as ws:
        await asyncio.sleep(1.0)  # every sleeper is connected and asleep
        times = []
        for _ in range(steps):
            started = time.perf_counter()
            await ws.send(json.dumps({"type": "step", "data": {"message": "hi"}}))
            await ws.recv()
            times.append(time.perf_counter() - started)
    stop.set()
    await asyncio.gather(*tasks)
    return times


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("--sleepers", default="0,8,32", help="values of K (default 0,8,32)")
    args.add_argument("--steps", type=int, default=300, help="timed one-line steps per K (default 300)")
    ns = args.parse_args()
    print(header(machine()))
    print("| K sleeping sessions | median ms | p99 ms | max ms |\n|---:|---:|---:|---:|")
    with contextlib.ExitStack() as stack:
        url = start_uvicorn(stack, "blocking_steps:app")[0].replace("http", "ws") + "/ws"
        for sleepers in (int(k) for k in ns.sleepers.split(",")):
            times = sorted(asyncio.run(_measure(url, sleepers, ns.steps)))
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            median = statistics.median(times)
            print(f"| {sleepers} | {median * 1e3:.3f} | {p99 * 1e3:.3f} | {times[-1] * 1e3:.1f} |")


if __name__ == "__main__":
    main()

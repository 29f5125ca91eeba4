"""Load: 1,000 concurrent WebSocket sessions on one echo server, all stepping at once.

The server is started the documented way, ``python -m openenv_gym.envs.echo --port N`` (no
other flag: default capacity 1024 sessions, 127.0.0.1 only). One asyncio client process opens
``--sessions`` sessions with our :class:`~openenv_gym.client.EnvClient`, one WebSocket each,
in waves of ``--wave`` (no connect storm), then every session resets and steps as fast as its
replies come back for ``--seconds``. Reported: errors (must be zero), steps/s over all
sessions, p50/p99 step latency, the server's RSS per open session (psutil), and that every
session is freed after the clients close (``GET /capabilities`` ``active_sessions == 0``).

Run from the repository root (about 40 s)::

    python bench/load.py
    python bench/load.py --sessions 1000 --seconds 20 --json load.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
from _common import free_port, healthy, machine

from openenv_gym.client import EnvClient
from openenv_gym.providers.process import stop_process


def start_server(port: int, log: Path) -> subprocess.Popen[bytes]:
    """The echo server as a user starts it; waits until ``/health`` answers."""
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "openenv_gym.envs.echo", "--port", str(port)],
                                   stdout=out, stderr=out, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not healthy(port):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)
            raise RuntimeError(f"the echo server did not start; log:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)
    return process


def capabilities(url: str) -> dict[str, Any]:
    return httpx.get(url + "/capabilities", timeout=10, trust_env=False).json()


async def open_sessions(url: str, count: int, wave: int) -> list[EnvClient]:
    """``count`` connected clients, opened ``wave`` at a time."""
    clients: list[EnvClient] = []
    for start in range(0, count, wave):
        batch = [EnvClient(url, token="") for _ in range(min(wave, count - start))]
        await asyncio.gather(*(c.connect() for c in batch))
        clients += batch
    return clients


async def drive(client: EnvClient, until: float, latencies: list[float], errors: list[str]) -> int:
    """Reset, then step until ``until``; returns the number of steps."""
    steps = 0
    try:
        await client.reset()
        while time.perf_counter() < until:
            began = time.perf_counter()
            await client.step({"message": "hello"})
            latencies.append(time.perf_counter() - began)
            steps += 1
    except Exception as exc:  # counted and reported: the benchmark asserts there are none
        errors.append(f"{type(exc).__name__}: {exc}")
    return steps


async def wait_freed(url: str, seconds: float = 15.0) -> int:
    deadline = time.monotonic() + seconds
    active = capabilities(url)["active_sessions"]
    while active and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        active = capabilities(url)["active_sessions"]
    return active


async def run(url: str, server: psutil.Process, sessions: int, wave: int, seconds: float) -> dict[str, Any]:
    rss_before = server.memory_info().rss
    began = time.perf_counter()
    clients = await open_sessions(url, sessions, wave)
    connect_s = time.perf_counter() - began
    open_now = capabilities(url)
    rss_open = server.memory_info().rss
    latencies: list[float] = []
    errors: list[str] = []
    start = time.perf_counter()
    steps = await asyncio.gather(*(drive(c, start + seconds, latencies, errors) for c in clients))
    elapsed = time.perf_counter() - start
    rss_peak = server.memory_info().rss
    await asyncio.gather(*(c.close() for c in clients))
    lat = np.asarray(latencies) * 1e3
    return {"sessions": sessions, "active_sessions_open": open_now["active_sessions"],
            "max_sessions": open_now["max_sessions"], "connect_seconds": round(connect_s, 2),
            "seconds": round(elapsed, 2), "steps": int(sum(steps)), "errors": len(errors),
            "first_errors": errors[:5], "steps_per_s": round(sum(steps) / elapsed),
            "p50_ms": round(float(np.percentile(lat, 50)), 2),
            "p99_ms": round(float(np.percentile(lat, 99)), 2),
            "min_steps_per_session": int(min(steps)),
            "server_rss_base_mb": round(rss_before / 2**20, 1),
            "server_rss_open_mb": round(rss_open / 2**20, 1),
            "server_rss_peak_mb": round(rss_peak / 2**20, 1),
            "rss_per_session_kb": round((rss_open - rss_before) / sessions / 1024, 1),
            "active_sessions_after": await wait_freed(url)}


def raise_fd_limit(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        soft = min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--sessions", type=int, default=1000)
    args.add_argument("--wave", type=int, default=100, help="sessions connected at once")
    args.add_argument("--seconds", type=float, default=20.0, help="how long every session steps")
    args.add_argument("--json", type=Path, help="write the results here too")
    ns = args.parse_args()
    fds = raise_fd_limit(ns.sessions + 256)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        process = start_server(port, Path(tmp) / "server.log")
        stack.callback(stop_process, process)
        url = f"http://127.0.0.1:{port}"
        result = asyncio.run(run(url, psutil.Process(process.pid), ns.sessions, ns.wave, ns.seconds))
    result.update(command=" ".join(["python", "bench/load.py", *sys.argv[1:]]), fd_limit=fds,
                  machine=machine())
    print(json.dumps(result, indent=1))
    if ns.json:
        ns.json.write_text(json.dumps(result, indent=1) + "\n")
    assert result["errors"] == 0, result["first_errors"]
    assert result["active_sessions_open"] == ns.sessions, "not every session was open at once"
    assert result["active_sessions_after"] == 0, "sessions were not freed"


if __name__ == "__main__":
    main()

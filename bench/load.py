"""Load: thousands of concurrent WebSocket sessions on one echo server.

The server is started the documented way, ``python -m openenv_gym.envs.echo --port N`` (plus
``--max-concurrent-envs N`` when ``--capacity`` is given; 127.0.0.1 only). ``--processes`` client
processes (default 1) open ``--sessions`` sessions between them with our
:class:`~openenv_gym.client.async_client.EnvClient`, one WebSocket each, in waves of ``--wave`` (no connect
storm); once all are open, for ``--seconds`` every session

- ``--think 0`` (default): resets, then steps as fast as its replies come back (a throughput test);
- ``--think S``: waits a random phase in ``[0, S)``, resets, then steps once every ``S`` seconds,
  like an LLM agent that thinks between steps (a test of how many sessions one server holds).

Reported: errors (must be zero), steps/s over all sessions, p50/p99 step latency, the server's
RSS per open session (psutil, before and after opening the sessions), the CPU the server and the
clients used and the clients' event-loop lag (is the client the bottleneck?), and that every
session is freed after the clients close (``GET /capabilities`` ``active_sessions == 0``). When
the sessions fill ``--capacity``, one more session is tried halfway through: it must be refused
with ``CAPACITY_REACHED`` while the others step on.

Run from the repository root::

    python bench/load.py                                        # 1,000 sessions, 20 s, ~40 s
    python bench/load.py --sessions 10000 --capacity 10000 --think 10 --seconds 60 --processes 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import multiprocessing
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
from _common import free_port, healthy, machine

from openenv_gym.client.async_client import EnvClient
from openenv_gym.errors import CapacityReachedError, OpenEnvGymError
from openenv_gym.providers.process import stop_process

STARTUP_TIMEOUT = 60.0
LAG_TICK = 0.05
"""Seconds between two ticks of a client's event-loop lag probe."""
START_DELAY = 1.0
"""Seconds from the parent's go to the start of stepping (every client process starts together)."""


def start_server(port: int, log: Path, capacity: int | None) -> subprocess.Popen[bytes]:
    """The echo server as a user starts it; waits until ``/health`` answers."""
    command = [sys.executable, "-m", "openenv_gym.envs.echo", "--port", str(port)]
    if capacity is not None:
        command += ["--max-concurrent-envs", str(capacity)]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not healthy(port):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)
            raise RuntimeError(f"the echo server did not start; log:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)
    return process


def capabilities(url: str) -> dict[str, Any]:
    return httpx.get(url + "/capabilities", timeout=30, trust_env=False).json()


async def open_sessions(url: str, count: int, wave: int, waits: list[float],
                        errors: list[str]) -> list[EnvClient]:
    """The clients of ``count`` sessions opened ``wave`` at a time (each connect's seconds in
    ``waits``; a failed connect is counted in ``errors`` and leaves its session out).

    What each wave made lives until the end, so it is moved out of the collector's sight
    (``gc.freeze``): else the client's full collections scan every connection, and with 10,000
    open one took 4.8 s, long enough for handshakes to time out (the client, not the server).
    """
    clients: list[EnvClient] = []
    for start in range(0, count, wave):
        batch = [EnvClient(url, token="") for _ in range(min(wave, count - start))]
        opened = await asyncio.gather(*(connected(c, waits, errors) for c in batch))
        clients += [c for c in opened if c is not None]
        gc.freeze()
    return clients


async def connected(client: EnvClient, waits: list[float], errors: list[str]) -> EnvClient | None:
    began = time.perf_counter()
    try:
        await client.connect()
    except OpenEnvGymError as exc:  # counted and reported: the benchmark asserts there are none
        errors.append(f"connect: {type(exc).__name__}: {exc}")
        return None
    waits.append(time.perf_counter() - began)
    return client


async def counted(steps: Awaitable[int], errors: list[str]) -> int:
    """The steps ``steps`` made; an exception is counted in ``errors`` (the bench asserts none)."""
    try:
        return await steps
    except Exception as exc:  # counted and reported: the benchmark asserts there are none
        errors.append(f"{type(exc).__name__}: {exc}")
        return 0


async def flat_out(client: EnvClient, until: float, latencies: list[float]) -> int:
    """Reset, then step as fast as the replies come until ``until``; returns the number of steps."""
    await client.reset()
    steps = 0
    while time.monotonic() < until:
        began = time.perf_counter()
        await client.step({"message": "hello"})
        latencies.append(time.perf_counter() - began)
        steps += 1
    return steps


async def thinking(client: EnvClient, until: float, think: float, latencies: list[float]) -> int:
    """Wait a random phase, reset, then step once every ``think`` seconds until ``until`` (on a
    fixed schedule: a slow reply does not shift the next step); returns the number of steps."""
    due = time.monotonic() + random.uniform(0, think)
    await asyncio.sleep(due - time.monotonic())
    await client.reset()
    due += think
    steps = 0
    while due < until:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        began = time.perf_counter()
        await client.step({"message": "hello"})
        latencies.append(time.perf_counter() - began)
        steps += 1
        due += think
    return steps


async def one_more(url: str, at: float) -> str:
    """At ``at`` (``time.monotonic()``), open a session beyond the capacity: the error code it got."""
    await asyncio.sleep(max(0.0, at - time.monotonic()))
    extra = EnvClient(url, token="")
    try:
        await extra.connect()
        await extra.reset()
    except CapacityReachedError as exc:
        return exc.code
    except OpenEnvGymError as exc:  # reported: the benchmark asserts CAPACITY_REACHED
        return f"{type(exc).__name__}: {exc}"
    finally:
        await extra.close()
    return "admitted"


async def loop_lag(samples: list[float], until: float) -> None:
    """How late this event loop wakes a task due every ``LAG_TICK`` seconds, until ``until``."""
    while (due := time.monotonic() + LAG_TICK) < until:
        await asyncio.sleep(LAG_TICK)
        samples.append(time.monotonic() - due)


def wait_freed(url: str, seconds: float = 60.0) -> int:
    """The server's ``active_sessions`` once 0, or after ``seconds``."""
    deadline = time.monotonic() + seconds
    while (active := capabilities(url)["active_sessions"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    return active


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def ms(samples: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(samples) * 1e3, q)), 2) if samples else float("nan")


async def step_all(clients: list[EnvClient], until: float, think: float) -> dict[str, list[Any]]:
    """Every client steps until ``until``: its steps, the latencies, errors and this loop's lag."""
    latencies: list[float] = []
    errors: list[str] = []
    lags: list[float] = []
    runs = [counted(thinking(c, until, think, latencies) if think else flat_out(c, until, latencies), errors)
            for c in clients]
    lag = asyncio.ensure_future(loop_lag(lags, until))
    steps = await asyncio.gather(*runs)
    await lag
    return {"steps": steps, "errors": errors, "latencies": latencies, "lags": lags}


def client_process(url: str, count: int, ns: argparse.Namespace, pipe: Connection) -> None:
    """A client process: opens ``count`` sessions, steps them when told, closes them when told."""
    asyncio.run(_client(url, count, ns, pipe))


async def _client(url: str, count: int, ns: argparse.Namespace, pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    waits: list[float] = []
    connect_errors: list[str] = []
    clients = await open_sessions(url, count, ns.wave, waits, connect_errors)
    pipe.send({"waits": waits, "connect_errors": connect_errors})
    start = await loop.run_in_executor(None, pipe.recv)  # a time.monotonic() instant
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    pipe.send(await step_all(clients, start + ns.seconds, ns.think))
    await loop.run_in_executor(None, pipe.recv)
    await asyncio.gather(*(c.close() for c in clients))
    pipe.send("closed")


Clients = list[tuple[multiprocessing.Process, Connection]]
"""The client processes, each with the parent's end of its pipe."""


def start_clients(url: str, ns: argparse.Namespace) -> Clients:
    """``ns.processes`` client processes sharing ``ns.sessions`` between them."""
    context = multiprocessing.get_context("fork")  # before any event loop or thread runs here
    clients: Clients = []
    for index in range(ns.processes):
        count = ns.sessions // ns.processes + (index < ns.sessions % ns.processes)
        ours, theirs = context.Pipe()
        process = context.Process(target=client_process, args=(url, count, ns, theirs), daemon=True)
        process.start()
        clients.append((process, ours))
    return clients


def gathered(replies: list[dict[str, Any]], key: str) -> list[Any]:
    return [item for reply in replies for item in reply[key]]


def stepped(replies: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """The client processes' step reports, merged."""
    steps, errors, latencies, lags = (gathered(replies, k) for k in ("steps", "errors", "latencies", "lags"))
    return {"seconds": round(seconds, 2), "steps": int(sum(steps)), "errors": len(errors),
            "first_errors": errors[:5], "steps_per_s": round(sum(steps) / seconds),
            "p50_ms": ms(latencies, 50), "p99_ms": ms(latencies, 99), "max_ms": ms(latencies, 100),
            "min_steps_per_session": int(min(steps, default=0)),
            "client_loop_lag_p99_ms": ms(lags, 99), "client_loop_lag_max_ms": ms(lags, 100)}


def open_all(url: str, server: psutil.Process, ns: argparse.Namespace) -> tuple[Clients, dict[str, Any]]:
    """Start the client processes and wait until they opened their sessions."""
    rss_before, cpu, began = server.memory_info().rss, cpu_seconds(server), time.monotonic()
    clients = start_clients(url, ns)
    opened = [pipe.recv() for _, pipe in clients]
    seconds, cpu = time.monotonic() - began, cpu_seconds(server) - cpu
    waits, errors = gathered(opened, "waits"), gathered(opened, "connect_errors")
    now, rss_open = capabilities(url), server.memory_info().rss
    return clients, {
        "active_sessions_open": now["active_sessions"], "max_sessions": now["max_sessions"],
        "connect_seconds": round(seconds, 2), "connect_p99_ms": ms(waits, 99),
        "connect_max_ms": ms(waits, 100),
        "connect_errors": len(errors), "first_connect_errors": errors[:5],
        "server_cpu_ms_per_connect": round(1e3 * cpu / max(1, len(waits)), 2),
        "server_rss_base_mb": round(rss_before / 2**20, 1), "server_rss_open_mb": round(rss_open / 2**20, 1),
        "rss_per_session_kb": round((rss_open - rss_before) / max(1, len(waits)) / 1024, 1)}


def step_everywhere(url: str, server: psutil.Process, clients: Clients, ns: argparse.Namespace,
                    at_capacity: bool) -> dict[str, Any]:
    """Every client process steps its sessions for ``ns.seconds``; at capacity, one more session
    is tried halfway through."""
    processes = [psutil.Process(process.pid) for process, _ in clients]
    cpu, clients_cpu = cpu_seconds(server), sum(map(cpu_seconds, processes))
    start = time.monotonic() + START_DELAY
    for _, pipe in clients:
        pipe.send(start)
    probe = asyncio.run(one_more(url, start + ns.seconds / 2)) if at_capacity else None
    result = stepped([pipe.recv() for _, pipe in clients], time.monotonic() - start)
    cpu, clients_cpu = cpu_seconds(server) - cpu, sum(map(cpu_seconds, processes)) - clients_cpu
    return {**result, "one_more_session": probe,
            "server_cpu_us_per_request": round(1e6 * cpu / max(1, result["steps"] + ns.sessions)),
            "server_cpu_percent": round(100 * cpu / result["seconds"]),
            "clients_cpu_percent": round(100 * clients_cpu / result["seconds"]),
            "server_rss_peak_mb": round(server.memory_info().rss / 2**20, 1),
            "clients_rss_mb": round(sum(p.memory_info().rss for p in processes) / 2**20, 1)}


def close_all(url: str, clients: Clients) -> int:
    """Close every session; the server's ``active_sessions`` afterwards."""
    for process, pipe in clients:
        pipe.send("close")
        pipe.recv()
        process.join()
    return wait_freed(url)


def run(url: str, server: psutil.Process, ns: argparse.Namespace) -> dict[str, Any]:
    """Open the sessions, step them, close them; the measurements."""
    clients, opened = open_all(url, server, ns)
    at_capacity = opened["active_sessions_open"] >= opened["max_sessions"]
    result = step_everywhere(url, server, clients, ns, at_capacity)
    return {"sessions": ns.sessions, "client_processes": ns.processes, "think_s": ns.think, **opened,
            **result, "active_sessions_after": close_all(url, clients)}


def raise_fd_limit(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        soft = min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


def arguments() -> argparse.Namespace:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--sessions", type=int, default=1000)
    args.add_argument("--wave", type=int, default=100, help="sessions connected at once")
    args.add_argument("--seconds", type=float, default=20.0, help="how long every session steps")
    args.add_argument("--think", type=float, default=0.0,
                      help="seconds between two steps of a session (0: as fast as replies come)")
    args.add_argument("--capacity", type=int,
                      help="the server's --max-concurrent-envs (default: its own, 1024)")
    args.add_argument("--processes", type=int, default=1, help="client processes sharing the sessions")
    args.add_argument("--json", type=Path, help="write the results here too")
    return args.parse_args()


def main() -> None:
    ns = arguments()
    fds = raise_fd_limit(ns.sessions + 256)
    port = free_port()
    load_before = psutil.getloadavg()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        process = start_server(port, Path(tmp) / "server.log", ns.capacity)
        stack.callback(stop_process, process)
        url = f"http://127.0.0.1:{port}"
        result = run(url, psutil.Process(process.pid), ns)
    result.update(command=" ".join(["python", "bench/load.py", *sys.argv[1:]]), fd_limit=fds,
                  load_average_before=[round(x, 2) for x in load_before],
                  load_average_after=[round(x, 2) for x in psutil.getloadavg()], machine=machine())
    print(json.dumps(result, indent=1))
    if ns.json:
        ns.json.write_text(json.dumps(result, indent=1) + "\n")
    assert result["connect_errors"] == 0, result["first_connect_errors"]
    assert result["errors"] == 0, result["first_errors"]
    assert result["active_sessions_open"] == ns.sessions, "not every session was open at once"
    assert result["one_more_session"] in (None, "CAPACITY_REACHED"), result["one_more_session"]
    assert result["active_sessions_after"] == 0, "sessions were not freed"


if __name__ == "__main__":
    main()

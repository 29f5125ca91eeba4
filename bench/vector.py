"""Vector environments: env-steps/s of N echo sessions, ours next to upstream openenv-core.

Every configuration steps N echo sessions with the message "hello", N = 1, 8, 64, 256
(``--sizes``). One *vector step* steps all N sessions once; it is what is timed:

  a. upstream: N ``GenericEnvClient`` (async) sessions on the upstream echo server
     (``bench/upstream_echo.py``'s env on upstream's ``create_app``, plain ``uvicorn``),
     stepped together with ``asyncio.gather``
  b. ours: ``gym.make("openenv/echo-v0")``, one session stepped in a Python loop (N = 1 only)
  c. ours: gymnasium's ``AsyncVectorEnv`` of our env
     (``gym.make_vec(..., vectorization_mode="async")``: N worker processes, each with its
     own server process; N <= 8 only)
  d. ours: the native ``GymVectorEnv`` (``gym.make_vec("openenv/echo-v0", num_envs=N)``)
     with JSON frames, with msgpack frames, and in-process (``provider="inprocess"``)
  e. the ceiling: a bare ``websockets`` server (asyncio, no FastAPI, no compression, orjson)
     answering the same payloads, over N connections (one frame per env step) and over one
     connection (one frame carrying the N steps; the server decodes it and encodes a list of
     N observation envelopes)

The sizes run one after the other; at each size every configuration gets its own fresh
servers, then they are measured in interleaved rounds (the order rotates each round) so
that the noise of a busy machine hits them all alike. Per round and configuration: a short
warm-up, then vector steps for ``--seconds``; the table gives the median across rounds of
env-steps/s, p50/p99 of one vector step, and the CPU seconds per 1,000 env-steps of the
client process (c: plus its workers) and of the server processes (psutil). Server memory
per session is measured separately, on one server per kind: (RSS with N sessions - RSS with
1 session) / (N - 1), each session stepped a few times first.

The run also times the in-process overhead of our Gym layer:
``EchoEnvironment().step(EchoAction(message="hello"))`` called directly versus
``gym.make("openenv/echo-v0", provider="inprocess").unwrapped.step("hello")``.

Run from the repository root (defaults: about 3.5 minutes; ``--quick``: under 1)::

    python bench/vector.py
    python bench/vector.py --quick
    python bench/vector.py --sizes 1,64 --seconds 2 --rounds 5 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import orjson
import psutil
from _common import (
    BENCH_DIR,
    UPSTREAM_MANY_APP,
    UPSTREAM_MAX_SESSIONS_VAR,
    header,
    machine,
    start_uvicorn,
    stop_process,
)
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed

import openenv_gym  # noqa: F401  (registers openenv/echo-v0)
from openenv_gym import EnvClient
from openenv_gym.benchmark import percentile, significant
from openenv_gym.providers import ProcessProvider

MESSAGE = "hello"
ACTION = {"message": MESSAGE}
ENV_ID = "openenv/echo-v0"
OUR_ECHO_APP = "openenv_gym.envs.echo.app:app"
REFERENCE = "a"
PLOT = BENCH_DIR.parent / "docs" / "vector.png"
PACKAGES = ("openenv-gym", "openenv-core", "gymnasium", "websockets", "uvicorn", "fastapi",
            "pydantic", "orjson", "msgpack", "psutil")
MIN_STEPS = 5
KEEPALIVE_S = 10.0
"""Step a configuration (untimed) when it has been idle this long. uvicorn pings every 20 s and
drops a connection whose pong is 20 s late, and neither our clients nor upstream's (driven as
here) answer a ping between calls, so a session left idle for 20-40 s is lost (see the "Idle
sessions" note in docs/benchmarks.md)."""
MEMORY_WARM_STEPS = 3

Step = Callable[[], Any]


# --- the bare websockets ceiling (its server runs as ``vector.py --serve-bare``) ----------

def _bare_observation(message: str, steps: int) -> dict[str, Any]:
    """The reply our echo server gives to one step (extended envelope)."""
    return {"type": "observation",
            "data": {"observation": {"echoed_message": message, "message_length": len(message)},
                     "reward": len(message) * 0.1, "done": False, "truncated": False,
                     "info": {"step": steps}}}


def _bare_reply(request: dict[str, Any], steps: int) -> dict[str, Any]:
    if request["type"] == "batch":
        data = [_bare_observation(item["data"]["message"], steps) for item in request["data"]]
        return {"type": "batch", "id": request.get("id"), "data": data}
    return _bare_observation(request["data"]["message"], steps)


async def _bare_connection(ws: ServerConnection) -> None:
    for steps in itertools.count(1):
        try:
            frame = await ws.recv(decode=False)
        except ConnectionClosed:
            return
        await ws.send(orjson.dumps(_bare_reply(orjson.loads(frame), steps)), text=True)


async def serve_bare() -> None:
    """Serve on a free port, print it, and run until the parent process is gone."""
    parent = os.getppid()
    async with ws_serve(_bare_connection, "127.0.0.1", 0, compression=None,
                                ping_interval=None, max_size=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        while os.getppid() == parent:
            await asyncio.sleep(0.5)


def start_bare_server(stack: contextlib.ExitStack) -> tuple[str, int]:
    """The bare server in a child process, stopped by ``stack``; its ws:// URL and PID."""
    log = stack.enter_context(tempfile.TemporaryFile())
    process = subprocess.Popen([sys.executable, __file__, "--serve-bare"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=log)
    stack.callback(stop_process, process)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.strip():
        log.seek(0)
        reason = log.read().decode(errors="replace")
        raise RuntimeError(f"the bare websockets server did not start:\n{reason}")
    return f"ws://127.0.0.1:{int(line)}", process.pid


async def _bare_connect(url: str) -> Any:
    return await ws_connect(url, compression=None, ping_interval=None, max_size=None)


# --- building the configurations ------------------------------------------------------------

@dataclass
class Built:
    """A configuration ready to step: one call of ``step`` steps all N sessions once."""

    step: Step
    server_pids: list[int]
    client_pids: list[int] = field(default_factory=list)  # besides this process (c's workers)


def _check(echoed: Sequence[str], n: int, what: str) -> None:
    if len(echoed) != n or any(m != MESSAGE for m in echoed):
        raise RuntimeError(f"{what} echoed {list(echoed)[:3]}... ({len(echoed)} results), "
                           f"not {n} x {MESSAGE!r}")


async def _gather(*awaitables: Any) -> list[Any]:
    return await asyncio.gather(*awaitables)


def _event_loop(stack: contextlib.ExitStack) -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    stack.callback(loop.close)
    return loop


def _vector_env(stack: contextlib.ExitStack, n: int, what: str, **kwargs: Any) -> tuple[Any, Step]:
    envs = gym.make_vec(ENV_ID, num_envs=n, **kwargs)
    stack.callback(envs.close)
    envs.reset(seed=0)
    actions = [MESSAGE] * n
    step: Step = lambda: envs.step(actions)  # noqa: E731
    _check(step()[0]["echoed_message"], n, what)
    return envs, step


def build_upstream(stack: contextlib.ExitStack, n: int) -> Built:
    from openenv.core import GenericEnvClient

    env = {UPSTREAM_MAX_SESSIONS_VAR: str(n + 4)}
    url, process = start_uvicorn(stack, UPSTREAM_MANY_APP, factory=True, env=env)
    loop = _event_loop(stack)
    clients = [GenericEnvClient(base_url=url) for _ in range(n)]
    stack.callback(lambda: loop.run_until_complete(_gather(*(c.close() for c in clients))))
    loop.run_until_complete(_gather(*(c.connect() for c in clients)))
    loop.run_until_complete(_gather(*(c.reset() for c in clients)))

    async def step_all() -> list[Any]:
        return await asyncio.gather(*(c.step(ACTION) for c in clients))

    step: Step = lambda: loop.run_until_complete(step_all())  # noqa: E731
    _check([r.observation["echoed_message"] for r in step()], n, "upstream")
    return Built(step, [process.pid])


def build_gym_env(stack: contextlib.ExitStack, n: int) -> Built:
    env = gym.make(ENV_ID)
    stack.callback(env.close)
    env.reset(seed=0)
    step: Step = lambda: env.step(MESSAGE)  # noqa: E731
    _check([step()[0]["echoed_message"]], n, "gym.make")
    return Built(step, [env.unwrapped._provider.pid])


def build_async_vector(stack: contextlib.ExitStack, n: int) -> Built:
    envs, step = _vector_env(stack, n, "AsyncVectorEnv", vectorization_mode="async")
    workers = [process.pid for process in envs.processes]
    servers = [child.pid for pid in workers for child in psutil.Process(pid).children()]
    return Built(step, servers, workers)


def _native(**kwargs: Any) -> Callable[[contextlib.ExitStack, int], Built]:
    def build(stack: contextlib.ExitStack, n: int) -> Built:
        envs, step = _vector_env(stack, n, f"GymVectorEnv({kwargs})", **kwargs)
        providers = envs.unwrapped._pool.providers  # none in-process
        return Built(step, [p.pid for p in providers if getattr(p, "pid", None) is not None])

    return build


def build_bare_connections(stack: contextlib.ExitStack, n: int) -> Built:
    url, pid = start_bare_server(stack)
    loop = _event_loop(stack)
    sockets = loop.run_until_complete(_gather(*(_bare_connect(url) for _ in range(n))))
    stack.callback(lambda: loop.run_until_complete(_gather(*(ws.close() for ws in sockets))))

    async def one(ws: Any) -> Any:
        await ws.send(orjson.dumps({"type": "step", "data": {"message": MESSAGE}}), text=True)
        return orjson.loads(await ws.recv(decode=False))

    async def step_all() -> list[Any]:
        return await asyncio.gather(*(one(ws) for ws in sockets))

    step: Step = lambda: loop.run_until_complete(step_all())  # noqa: E731
    _check([r["data"]["observation"]["echoed_message"] for r in step()], n, "bare connections")
    return Built(step, [pid])


def build_bare_batch(stack: contextlib.ExitStack, n: int) -> Built:
    url, pid = start_bare_server(stack)
    loop = _event_loop(stack)
    ws = loop.run_until_complete(_bare_connect(url))
    stack.callback(lambda: loop.run_until_complete(ws.close()))
    ids = itertools.count()

    async def step_batch() -> list[Any]:
        items = [{"session": i, "type": "step", "data": {"message": MESSAGE}} for i in range(n)]
        await ws.send(orjson.dumps({"type": "batch", "id": next(ids), "data": items}), text=True)
        return orjson.loads(await ws.recv(decode=False))["data"]

    step: Step = lambda: loop.run_until_complete(step_batch())  # noqa: E731
    _check([r["data"]["observation"]["echoed_message"] for r in step()], n, "bare batch")
    return Built(step, [pid])


@dataclass(frozen=True)
class Spec:
    """A configuration: its key and label in the table, how to build it for N sessions."""

    key: str
    label: str
    build: Callable[[contextlib.ExitStack, int], Built]
    max_n: int | None = None
    memory: str | None = None  # which server-memory measurement applies (see measure_memory)
    forks: bool = False  # forks workers: built first, before this process opens any socket

    def accepts(self, n: int) -> bool:
        return self.max_n is None or n <= self.max_n


SPECS = [
    Spec("a", "upstream: GenericEnvClient x N, asyncio.gather", build_upstream, memory="upstream"),
    Spec("b", "ours: gym.make, one env, Python loop", build_gym_env, max_n=1),
    Spec("c", "ours: gymnasium AsyncVectorEnv (N workers + N servers)", build_async_vector,
         max_n=8, memory="whole server", forks=True),
    Spec("d.json", "ours: GymVectorEnv, JSON frames", _native(), memory="ours"),
    Spec("d.msgpack", "ours: GymVectorEnv, msgpack frames", _native(encoding="msgpack"), memory="ours"),
    Spec("d.inproc", "ours: GymVectorEnv, in-process (reference)", _native(provider="inprocess")),
    Spec("e.conns", "ceiling: bare websockets, N connections", build_bare_connections,
         memory="bare connections"),
    Spec("e.batch", "ceiling: bare websockets, one batch frame", build_bare_batch),
]


# --- measuring ------------------------------------------------------------------------------

@dataclass
class Cell:
    """One configuration at one N, and its rounds."""

    spec: Spec
    n: int
    built: Built | None = None
    last_step: float = 0.0  # time.monotonic() of the last vector step
    servers_rss: list[int] = field(default_factory=list)
    rounds: list[dict[str, float]] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        """Medians across rounds of each per-round statistic."""
        return {stat: statistics.median(r[stat] for r in self.rounds) for stat in self.rounds[0]}


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        times = process.cpu_times()
        total += times.user + times.system
    return total


def time_block(cell: Cell, seconds: float) -> dict[str, float]:
    """Warm up briefly, then vector steps for ``seconds``: throughput, latency, CPU."""
    assert cell.built is not None
    step, clock = cell.built.step, time.perf_counter_ns
    clients = [psutil.Process()] + [psutil.Process(p) for p in cell.built.client_pids]
    servers = [psutil.Process(p) for p in cell.built.server_pids]
    warm_until = time.perf_counter() + max(0.05, seconds / 10)
    while time.perf_counter() < warm_until:
        step()
    gc.collect()  # the previous configuration's garbage is not this one's to pay for
    client_cpu, server_cpu = _cpu_seconds(clients), _cpu_seconds(servers)
    samples: list[int] = []
    start = clock()
    deadline = start + int(seconds * 1e9)
    while True:
        t0 = clock()
        step()
        t1 = clock()
        samples.append(t1 - t0)
        if t1 >= deadline and len(samples) >= MIN_STEPS:
            break
    env_steps = cell.n * len(samples)
    per_1k = 1000 / env_steps
    samples.sort()
    return {"env_steps_per_s": env_steps / ((t1 - start) / 1e9),
            "p50_ms": percentile(samples, 0.50) / 1e6, "p99_ms": percentile(samples, 0.99) / 1e6,
            "client_cpu_s_per_1k": (_cpu_seconds(clients) - client_cpu) * per_1k,
            "server_cpu_s_per_1k": (_cpu_seconds(servers) - server_cpu) * per_1k,
            "vector_steps": len(samples)}


def _rss(pid: int) -> int:
    return psutil.Process(pid).memory_info().rss


def build_cells(stack: contextlib.ExitStack, n: int, specs: list[Spec]) -> list[Cell]:
    cells = [Cell(spec, n) for spec in specs if spec.accepts(n)]
    for cell in sorted(cells, key=lambda c: not c.spec.forks):
        started = time.perf_counter()
        cell.built = cell.spec.build(stack, n)
        cell.last_step = time.monotonic()
        cell.servers_rss = [_rss(pid) for pid in cell.built.server_pids]
        print(f"  N={n} built {cell.spec.key} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return cells


def keep_alive(cells: list[Cell]) -> None:
    """One untimed vector step for each configuration idle for ``KEEPALIVE_S`` or more."""
    for cell in cells:
        if cell.built is not None and time.monotonic() - cell.last_step >= KEEPALIVE_S:
            cell.built.step()
            cell.last_step = time.monotonic()


def run_size(n: int, specs: list[Spec], rounds: int, seconds: float) -> list[Cell]:
    """Every configuration at this N, interleaved rounds; its servers stopped afterwards."""
    with contextlib.ExitStack() as stack:  # closes every client, then every server
        cells = build_cells(stack, n, specs)
        for index in range(rounds):
            started = time.perf_counter()
            shift = index % len(cells)
            for cell in cells[shift:] + cells[:shift]:
                keep_alive(cells)
                cell.rounds.append(time_block(cell, seconds))
                cell.last_step = time.monotonic()
            print(f"  N={n} round {index + 1}/{rounds}: {time.perf_counter() - started:.1f} s",
                  file=sys.stderr)
    return cells


# --- server memory per session ------------------------------------------------------------

async def _grow_upstream(url: str, counts: list[int], rss: Callable[[], int]) -> dict[int, int]:
    from openenv.core import GenericEnvClient

    clients: list[Any] = []
    found = {}
    try:
        for count in counts:
            new = [GenericEnvClient(base_url=url) for _ in range(count - len(clients))]
            clients += new
            await asyncio.gather(*(c.connect() for c in new))
            await asyncio.gather(*(c.reset() for c in new))
            for _ in range(MEMORY_WARM_STEPS):
                await asyncio.gather(*(c.step(ACTION) for c in clients))
            found[count] = rss()
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    return found


async def _grow_ours(url: str, counts: list[int], rss: Callable[[], int]) -> dict[int, int]:
    client = EnvClient(url)
    await client.connect()
    found, opened = {}, 1
    try:
        for count in counts:
            if count > opened:
                await client.open_sessions(count - opened)
                opened = count
            await client.batch([{"session": i, "type": "reset", "data": {}} for i in range(count)])
            for _ in range(MEMORY_WARM_STEPS):
                await client.batch([{"session": i, "type": "step", "data": ACTION} for i in range(count)])
            found[count] = rss()
    finally:
        await client.close()
    return found


async def _grow_bare(url: str, counts: list[int], rss: Callable[[], int]) -> dict[int, int]:
    sockets: list[Any] = []

    async def one(ws: Any) -> None:
        await ws.send(orjson.dumps({"type": "step", "data": ACTION}), text=True)
        await ws.recv()

    found = {}
    try:
        for count in counts:
            sockets += await asyncio.gather(*(_bare_connect(url) for _ in range(count - len(sockets))))
            for _ in range(MEMORY_WARM_STEPS):
                await asyncio.gather(*(one(ws) for ws in sockets))
            found[count] = rss()
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))
    return found


def _settled_rss(pid: int) -> Callable[[], int]:
    def rss() -> int:
        time.sleep(0.2)
        return _rss(pid)

    return rss


def measure_memory(sizes: list[int]) -> dict[str, dict[str, Any]]:
    """Per server kind, RSS with 1, then more sessions on the same server process."""
    counts = sorted({1, *sizes})
    found: dict[str, dict[int, int]] = {}
    with contextlib.ExitStack() as stack:
        env = {UPSTREAM_MAX_SESSIONS_VAR: str(max(counts) + 4)}
        url, process = start_uvicorn(stack, UPSTREAM_MANY_APP, factory=True, env=env)
        found["upstream"] = asyncio.run(_grow_upstream(url, counts, _settled_rss(process.pid)))
        provider = ProcessProvider(OUR_ECHO_APP)
        stack.callback(provider.stop)
        url = provider.start()
        assert provider.pid is not None
        found["ours"] = asyncio.run(_grow_ours(url, counts, _settled_rss(provider.pid)))
        url, pid = start_bare_server(stack)
        found["bare connections"] = asyncio.run(_grow_bare(url, counts, _settled_rss(pid)))
    return {kind: {"rss_bytes": rss, "kib_per_session": {
        n: (rss[n] - rss[1]) / (n - 1) / 1024 for n in counts if n > 1}} for kind, rss in found.items()}


def _session_kib(cell: Cell, memory: dict[str, dict[str, Any]]) -> float | None:
    """Server KiB per session for the table; for c, a whole server's RSS per env."""
    if cell.n == 1 or cell.spec.memory is None:
        return None
    if cell.spec.memory == "whole server":
        return statistics.mean(cell.servers_rss) / 1024
    return memory[cell.spec.memory]["kib_per_session"][cell.n]


# --- in-process overhead of the Gym layer ---------------------------------------------------

def _per_call_us(call: Step, calls: int) -> float:
    clock = time.perf_counter_ns
    start = clock()
    for _ in range(calls):
        call()
    return (clock() - start) / calls / 1e3


def inprocess_overhead(rounds: int, calls: int) -> dict[str, Any]:
    """Median µs per call: the environment directly vs our in-process Gym env."""
    from openenv_gym.envs.echo import EchoAction, EchoEnvironment

    env = EchoEnvironment()
    env.reset()
    gym_env = gym.make(ENV_ID, provider="inprocess")
    try:
        gym_env.reset(seed=0)
        unwrapped = gym_env.unwrapped
        calls_by_name: dict[str, Step] = {
            "direct": lambda: env.step(EchoAction(message=MESSAGE)),
            "gym_unwrapped": lambda: unwrapped.step(MESSAGE),
            "gym_make": lambda: gym_env.step(MESSAGE),
        }
        assert unwrapped.step(MESSAGE)[0]["echoed_message"] == MESSAGE
        timings: dict[str, list[float]] = {name: [] for name in calls_by_name}
        for index in range(rounds):
            names = list(calls_by_name)
            for name in names[index % 3:] + names[:index % 3]:
                _per_call_us(calls_by_name[name], calls // 10)  # warm-up
                gc.collect()
                timings[name].append(_per_call_us(calls_by_name[name], calls))
    finally:
        gym_env.close()
    result: dict[str, Any] = {f"{name}_us": statistics.median(t) for name, t in timings.items()}
    result["overhead_us"] = result["gym_unwrapped_us"] - result["direct_us"]
    result["rounds"] = timings
    return result


# --- reporting ------------------------------------------------------------------------------

def results(cells: list[Cell], memory: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    reference = {c.n: c.summary()["env_steps_per_s"] for c in cells if c.spec.key == REFERENCE}
    rows = []
    for cell in cells:
        summary = cell.summary()
        upstream = reference.get(cell.n)
        rows.append({"key": cell.spec.key, "label": cell.spec.label, "n": cell.n,
                     "server_processes": len(cell.built.server_pids) if cell.built else 0,
                     **summary,
                     "vs_upstream": summary["env_steps_per_s"] / upstream if upstream else None,
                     "server_kib_per_session": _session_kib(cell, memory),
                     "rounds": cell.rounds})
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| N | configuration | servers | env-steps/s | vs (a) | p50 ms | p99 ms "
             "| client CPU s/1k | server CPU s/1k | server KiB/session |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        kib = significant(row["server_kib_per_session"])
        if row["key"] == "c" and row["server_kib_per_session"] is not None:
            kib += " (a whole server)"
        server_cpu = significant(row["server_cpu_s_per_1k"]) if row["server_processes"] else "—"
        ratio = "—" if row["vs_upstream"] is None else f"{row['vs_upstream']:,.2f}x"
        lines.append(f"| {row['n']} | {row['key']}. {row['label']} | {row['server_processes']} "
                     f"| {row['env_steps_per_s']:,.0f} | {ratio} | {significant(row['p50_ms'])} "
                     f"| {significant(row['p99_ms'])} | {significant(row['client_cpu_s_per_1k'])} "
                     f"| {server_cpu} | {kib} |")
    return "\n".join(lines)


OVERHEAD_ROWS = [
    ("direct_us", '`EchoEnvironment().step(EchoAction(message="hello"))` directly'),
    ("gym_unwrapped_us", '`gym.make(..., provider="inprocess").unwrapped.step("hello")`'),
    ("gym_make_us", '`gym.make(..., provider="inprocess").step("hello")` (with gymnasium\'s wrappers)'),
    ("overhead_us", "overhead of the Gym layer (unwrapped - direct)"),
]


def overhead_table(overhead: dict[str, Any]) -> str:
    lines = ["| call | µs per call |", "|---|---:|"]
    lines += [f"| {label} | {overhead[key]:.2f} |" for key, label in OVERHEAD_ROWS]
    return "\n".join(lines)


def _line_style(key: str) -> str:
    """Dashed: the bare-websockets ceiling; dotted: the in-process reference."""
    if key.startswith("e."):
        return "--"
    return ":" if key == "d.inproc" else "-"


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """env-steps/s against N, log-log, one line per configuration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    figure, axes = plt.subplots(figsize=(8, 6.5), dpi=120)
    for spec in SPECS:
        points = [(r["n"], r["env_steps_per_s"]) for r in rows if r["key"] == spec.key]
        if points:
            xs, ys = zip(*points, strict=True)
            axes.plot(xs, ys, _line_style(spec.key), marker="o", label=f"{spec.key}. {spec.label}")
    sizes = sorted({r["n"] for r in rows})
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xticks(sizes)
    axes.xaxis.set_major_formatter(ScalarFormatter())
    axes.xaxis.set_minor_formatter(plt.NullFormatter())
    axes.set_xlabel("N (sessions stepped together)")
    axes.set_ylabel("env-steps/s (median of rounds)")
    axes.set_title(title, fontsize=9)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,8,64,256", help="values of N (default 1,8,64,256)")
    parser.add_argument("--seconds", type=float, default=1.5,
                        help="seconds of timed stepping per configuration and round (default 1.5)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--configs", default=",".join(s.key for s in SPECS),
                        help="configurations to run, by key (default: all)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 0.3 s per cell, 2 rounds")
    parser.add_argument("--overhead-calls", type=int, default=20000,
                        help="calls per round for the in-process overhead (default 20000)")
    parser.add_argument("--json", type=Path, help="also write the results (with every round) here")
    parser.add_argument("--plot", type=Path, default=PLOT, help=f"PNG to write (default {PLOT})")
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.specs = [spec for spec in SPECS if spec.key in args.configs.split(",")]
    if not args.specs:
        parser.error(f"--configs: choose among {', '.join(s.key for s in SPECS)}")
    if args.quick:
        args.seconds, args.rounds, args.overhead_calls = 0.3, 2, 5000
    try:
        args.sizes = sorted({int(n) for n in args.sizes.split(",")})
    except ValueError:
        parser.error("--sizes takes numbers separated by commas, e.g. 1,8,64")
    if min(args.sizes) < 1 or args.seconds <= 0 or args.rounds < 1 or args.overhead_calls < 10:
        parser.error("sizes and --rounds must be >= 1, --seconds > 0, --overhead-calls >= 10")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.serve_bare:
        asyncio.run(serve_bare())
        return
    info = machine(PACKAGES)
    print(header(info))
    load_before = os.getloadavg()[0]
    print(f"message {MESSAGE!r}, N in {args.sizes}: {args.rounds} rounds x {args.seconds} s per "
          f"configuration, load average {load_before:.2f}\n")
    started = time.perf_counter()
    overhead = inprocess_overhead(max(3, args.rounds), args.overhead_calls)
    cells = [cell for n in args.sizes for cell in run_size(n, args.specs, args.rounds, args.seconds)]
    memory = measure_memory(args.sizes)
    rows = results(cells, memory)
    print(markdown_table(rows))
    print()
    print(overhead_table(overhead))
    load_after = os.getloadavg()[0]
    print(f"\ntotal {time.perf_counter() - started:.0f} s, load average {load_before:.2f} before, "
          f"{load_after:.2f} after")
    plot(rows, args.plot, f"echo env, message 'hello'; {info['cpus']} CPUs, Python {info['python']}, "
                          f"commit {info['commit']}, {info['date']}")
    if args.json is not None:
        report = {"machine": info, "load_average": [load_before, load_after], "message": MESSAGE,
                  "sizes": args.sizes, "rounds": args.rounds, "seconds": args.seconds,
                  "results": rows, "memory": memory, "inprocess_overhead": overhead}
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()

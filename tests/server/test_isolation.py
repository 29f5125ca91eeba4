"""Tenant isolation on a real server: slow sessions never hold up another session's step.

Each test runs the attack the way a tenant would (sessions whose steps sleep, a slow one-shot
HTTP step, a slow MCP tool call) and asserts what another tenant notices: its one-line step,
and ``GET /health``, still answer at once. The bound (0.5 s) is generous for a noisy shared
machine; without the fix each of them waited for the sleeping calls (2 s and more).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import msgpack
import pytest
import websockets

from openenv_gym.providers import ProcessProvider
from tests.support.servers import serving

SLEEP = 2.0
PROMPT = 0.5
"""Seconds within which another tenant's one-line step (or /health) must answer."""


@pytest.fixture(scope="module")
def crowded() -> Iterator[ProcessProvider]:
    with serving("tests.support.apps:crowded") as provider:
        yield provider


def ws_url(provider: ProcessProvider) -> str:
    return provider.start().replace("http", "ws") + "/ws"


async def timed(call) -> tuple[float, object]:
    started = time.perf_counter()
    result = await asyncio.wait_for(call, 30)
    return time.perf_counter() - started, result


async def step(ws, **action) -> dict:
    message = {"type": "step", "data": action}
    binary = ws.subprotocol == "openenv-gym.v1.msgpack"
    await ws.send(msgpack.packb(message) if binary else json.dumps(message))
    reply = await ws.recv()
    return msgpack.unpackb(reply) if binary else json.loads(reply)


async def one_line_step(ws) -> float:
    """Seconds a quick step of an open session takes."""
    elapsed, reply = await timed(step(ws, message="quick"))
    assert reply["data"]["observation"]["echoed_message"] == "quick"
    return elapsed


async def health(client: httpx.AsyncClient) -> float:
    elapsed, response = await timed(client.get("/health"))
    assert response.status_code == 200
    return elapsed


async def test_sleeping_sessions_do_not_delay_another_sessions_step(crowded):
    sleepers = [await websockets.connect(ws_url(crowded)) for _ in range(16)]  # a fixed pool had 6
    try:
        async with websockets.connect(ws_url(crowded)) as other:
            pending = [asyncio.ensure_future(step(ws, sleep=SLEEP, message="slept")) for ws in sleepers]
            await asyncio.sleep(0.3)  # every sleeper's step is running
            assert await one_line_step(other) < PROMPT
        assert all(r["data"]["observation"]["echoed_message"] == "slept" for r in await asyncio.gather(*pending))
    finally:
        await asyncio.gather(*(ws.close() for ws in sleepers))


async def test_a_slow_one_shot_http_step_stalls_nobody(crowded):
    async with httpx.AsyncClient(base_url=crowded.start(), timeout=30) as client, \
            websockets.connect(ws_url(crowded)) as other:
        slow = asyncio.ensure_future(client.post("/step", json={"action": {"sleep": SLEEP, "message": "x"}}))
        await asyncio.sleep(0.3)
        assert await health(client) < PROMPT
        assert await one_line_step(other) < PROMPT
        assert (await slow).json()["observation"]["echoed_message"] == "x"


@pytest.mark.parametrize("shared", [False, True], ids=["temporary-env", "shared-session"])
async def test_a_slow_mcp_tool_call_over_http_stalls_nobody(crowded, shared):
    async with httpx.AsyncClient(base_url=crowded.start(), timeout=30) as client, \
            websockets.connect(ws_url(crowded)) as other:
        params: dict = {"name": "nap", "arguments": {"seconds": SLEEP}}
        if shared:
            created = await client.post("/mcp", json={"jsonrpc": "2.0", "method": "openenv/session/create", "id": 1})
            params["session_id"] = created.json()["result"]["session_id"]
        slow = asyncio.ensure_future(client.post("/mcp", json={"jsonrpc": "2.0", "method": "tools/call",
                                                               "params": params, "id": 2}))
        await asyncio.sleep(0.3)
        assert await health(client) < PROMPT
        assert await one_line_step(other) < PROMPT
        assert (await slow).json()["result"]["data"] == "rested"
        if shared:
            await client.post("/mcp", json={"jsonrpc": "2.0", "method": "openenv/session/close",
                                            "params": {"session_id": params["session_id"]}, "id": 3})


async def test_a_slow_tool_call_over_websocket_stalls_nobody(crowded):
    call = {"type": "mcp", "data": {"jsonrpc": "2.0", "method": "tools/call", "id": 1,
                                    "params": {"name": "nap", "arguments": {"seconds": SLEEP}}}}
    async with websockets.connect(ws_url(crowded)) as ws, websockets.connect(ws_url(crowded)) as other, \
            httpx.AsyncClient(base_url=crowded.start()) as client:
        await ws.send(json.dumps(call))
        await asyncio.sleep(0.3)
        assert await health(client) < PROMPT
        assert await one_line_step(other) < PROMPT
        assert json.loads(await asyncio.wait_for(ws.recv(), 30))["data"]["result"]["data"] == "rested"


# -- batch amplification -------------------------------------------------------------------------

def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MB."""
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


AMPLIFIERS = {
    "msgpack-2MB-of-empty-maps": ("openenv-gym.v1.msgpack",
                                  msgpack.packb({"type": "batch", "data": [{}] * 2_000_000})),
    "json-3MB-of-empty-objects": ("openenv-gym.v1", json.dumps({"type": "batch", "data": [{}] * 10**6})),
}


@pytest.mark.parametrize(("protocol", "frame"), AMPLIFIERS.values(), ids=AMPLIFIERS)
async def test_a_huge_batch_frame_gets_a_clear_error_at_once_and_memory_stays_bounded(protocol, frame):
    with serving("openenv_gym.envs.echo.app:app") as server:  # fresh: its peak memory is this test's
        async with websockets.connect(ws_url(server), subprotocols=[protocol], max_size=None) as ws:
            before = peak_rss_mb(server.pid)
            await ws.send(frame)
            elapsed, reply = await timed(ws.recv())
            assert elapsed < 5
            assert len(reply) < 1024  # it was 100-178 MB: an error per item
            decoded = msgpack.unpackb(reply) if isinstance(reply, bytes) else json.loads(reply)
            assert decoded["data"]["code"] == "MESSAGE_TOO_LARGE"
            assert "objects and arrays" in decoded["data"]["message"]
            assert peak_rss_mb(server.pid) - before < 64  # it grew by 0.8-1.7 GB
            assert (await step(ws, message="still here"))["data"]["observation"]["echoed_message"] == "still here"

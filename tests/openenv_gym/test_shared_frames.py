"""Frames through shared memory between a client and a server on one machine, on a real server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import msgpack
import numpy as np
import pytest
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection, serve
from websockets.typing import Subprotocol

from openenv_gym.client import base as client_base
from openenv_gym.client.async_client import EnvClient
from openenv_gym.client.sync_client import SyncEnvClient
from openenv_gym.errors import ProtocolError
from openenv_gym.protocol.frames import MSGPACK, SHARED_NDARRAY
from openenv_gym.protocol.shared_frames import SHARED_MEMORY_HEADER, SharedFrames
from openenv_gym.providers import ProcessProvider

APP = "openenv_gym.envs.atari.app:app"


@pytest.fixture(scope="module")
def pong() -> Iterator[ProcessProvider]:
    provider = ProcessProvider(APP, env_kwargs={"repeat_action_probability": 0.0})
    provider.start()
    yield provider
    provider.stop()


def rings() -> set[str]:
    return {name for name in os.listdir("/dev/shm") if name.startswith("openenv-gym-")}


def rollout(client: SyncEnvClient, steps: int = 20) -> list[np.ndarray]:
    frames = [client.reset(seed=1).observation["screen"]]
    frames += [client.step({"action_id": t % 6}).observation["screen"] for t in range(steps)]
    return frames


def test_frames_through_shared_memory_are_the_frames_of_the_socket_and_leave_no_name(pong):
    before = rings()
    with SyncEnvClient(pong.base_url, shared_memory=False) as plain:
        assert plain.codec.frames is None
        expected = rollout(plain)
    with SyncEnvClient(pong.base_url) as shared:  # msgpack on loopback: asked by default
        assert shared.codec.frames is not None
        assert rings() == before, "the client unlinked the ring's name once it had it mapped"
        got = rollout(shared)
    assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))
    assert got[-1].flags.owndata, "a frame is the client's own copy, not a view of the ring"
    assert shared.codec.frames is None, "closing the client unmapped its ring"
    assert rings() == before


def test_a_client_that_cannot_open_the_ring_connects_again_without_it(pong, monkeypatch):
    """As a client of another user (the ring is 0600) or in another container: simulated by
    failing the open; the server's first session is closed, its ring unlinked."""
    def refused(name: str, size: int) -> SharedFrames:
        raise PermissionError(13, "Permission denied", f"/dev/shm/{name}")

    monkeypatch.setattr(client_base.SharedFrames, "attach", refused)
    before = rings()
    with SyncEnvClient(pong.base_url) as client:
        assert client.codec.frames is None and client.codec.binary
        assert rollout(client, steps=3)[-1].shape == (210, 160, 3)
        assert rings() == before, "the server unlinked the ring nobody attached"

    async def asynchronously() -> tuple[Any, ...]:
        async with EnvClient(pong.base_url) as client:
            return client.codec.frames, (await client.reset(seed=0)).observation["screen"].shape

    assert asyncio.run(asynchronously()) == (None, (210, 160, 3))
    assert rings() == before


@pytest.mark.parametrize("subprotocols", [["openenv-gym.v1"], None], ids=["json", "upstream-baseline"])
def test_only_msgpack_clients_that_ask_are_offered_a_ring(pong, subprotocols, monkeypatch):
    from websockets.sync.client import connect

    before = rings()
    with connect(pong.base_url.replace("http", "ws") + "/ws", subprotocols=subprotocols,
                 additional_headers={SHARED_MEMORY_HEADER: "1"}) as ws:
        assert SHARED_MEMORY_HEADER not in ws.response.headers and rings() == before
    with connect(pong.base_url.replace("http", "ws") + "/ws", subprotocols=["openenv-gym.v1.msgpack"]) as ws:
        assert SHARED_MEMORY_HEADER not in ws.response.headers, "not asked: not offered"
    monkeypatch.setenv("OPENENV_SHARED_MEMORY", "0")
    with SyncEnvClient(pong.base_url) as client:
        assert client.codec.frames is None, "$OPENENV_SHARED_MEMORY=0: the client does not ask"


def test_a_frame_the_server_wrote_over_before_it_was_read_is_an_error_not_a_torn_frame():
    server = SharedFrames.create(1 << 20)
    assert server is not None
    client = SharedFrames.attach(server.name, server.size)
    client.unlink()
    frame = np.full((200, 400), 7, np.uint8)  # 80 kB
    first = server.put(frame)
    assert first is not None
    for _ in range(13):  # 13 replies of 80 kB more: the 14th frame goes round the 1 MiB ring, over the first
        server.new_reply()
        server.put(np.zeros((200, 400), np.uint8))
    with pytest.raises(ValueError, match="wrote over a frame in shared memory"):
        client.get(first.data)
    server.new_reply()
    latest = server.put(frame)
    assert latest is not None and np.array_equal(client.get(latest.data), frame)
    server.close()
    client.close()


def test_one_reply_fills_at_most_half_the_ring_and_its_other_arrays_travel_in_the_frame():
    server = SharedFrames.create(1 << 20)
    assert server is not None
    server.new_reply()
    placed = [server.put(np.zeros((200, 400), np.uint8)) is not None for _ in range(10)]  # 10 x 80 kB
    assert placed == [True] * 6 + [False] * 4, "512 kB of a 1 MiB ring: two replies in flight never overlap"
    server.new_reply()
    assert server.put(np.zeros((200, 400), np.uint8)) is not None
    server.close()


def test_two_replies_in_flight_never_overlap_where_the_second_goes_round_the_ring():
    server = SharedFrames.create(1 << 20)
    assert server is not None
    client = SharedFrames.attach(server.name, server.size)
    client.unlink()
    server.new_reply()
    server.put(np.zeros(100_000, np.uint8))
    server.new_reply()
    first = server.put(np.full(500_000, 1, np.uint8))
    server.new_reply()  # the second reply, sent before the client read the first
    assert server.put(np.full(400_000, 2, np.uint8)) is not None
    # the next would start again at the ring's front, over the first reply: it travels in the frame
    assert server.put(np.full(120_000, 3, np.uint8)) is None
    assert first is not None and np.array_equal(client.get(first.data), np.full(500_000, 1, np.uint8))
    server.close()
    client.close()


@pytest.mark.parametrize("reference", [
    ["|u1", [2_000_000], 0],   # longer than the ring
    ["|u1", [100], -64],       # before it
    ["|O", [10], 0],           # objects are never in a ring
    ["|u1", [-1], 0],          # a negative size
    ["|u1", ["10"], 0],        # not a shape
    ["(1000,)u1", [10], 0],    # a sub-array dtype: 1000 times the bytes the shape says
    ["|V0", [10**12], 0],      # a dtype of no size: any shape fits
    [None, [10], 0],           # np.dtype(None) would be float64
    ["|u1", [1] * 40, 0],      # more dimensions than an array of ours has
    ["|u1", 10, 0],            # a shape that is no list
])
def test_a_reference_outside_the_ring_is_refused(reference):
    server = SharedFrames.create(1 << 20)
    assert server is not None
    with pytest.raises(ValueError):
        server.get(msgpack.packb(reference))
    server.close()


def test_a_server_makes_rings_within_its_budget_and_then_uses_the_socket(monkeypatch):
    """Each ring takes 16 MiB of tmpfs: a client opening connection after connection on this
    machine cannot make the server fill /dev/shm beyond OPENENV_SHARED_MEMORY_BYTES."""
    monkeypatch.setenv("OPENENV_SHARED_MEMORY_BYTES", str(20 << 20))  # room for one ring of 16 MiB
    provider = ProcessProvider(APP)
    provider.start()
    try:
        with SyncEnvClient(provider.base_url) as first, SyncEnvClient(provider.base_url) as second:
            assert first.codec.frames is not None and second.codec.frames is None
            assert np.array_equal(rollout(first, 2)[-1], rollout(second, 2)[-1])
        deadline = time.monotonic() + 10
        while True:  # the server frees the room once it has closed the connection, just after
            with SyncEnvClient(provider.base_url) as third:
                shared = third.codec.frames is not None
            if shared or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert shared, "a closed connection gives its ring's room back"
    finally:
        provider.stop()


def test_no_room_in_dev_shm_means_frames_in_the_socket_not_a_crash(monkeypatch):
    """Pages are allocated as the ring first fills: a full tmpfs is an error there, after which
    the arrays travel in the frame, not a SIGBUS that would kill the server at a write."""
    server = SharedFrames.create(4 << 20)
    assert server is not None
    frame = np.ones((200, 400), np.uint8)
    server.new_reply()
    assert server.put(frame) is not None  # the first MiB is allocated

    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    placed = []
    for _ in range(30):  # 2.4 MB: past the first MiB
        server.new_reply()
        placed.append(server.put(frame) is not None)
    assert placed[:11] == [True] * 11 and not any(placed[12:]), "in the socket once the ring is full"
    server.close()
    before = rings()
    assert SharedFrames.create() is None and rings() == before, "no ring at all: nothing left behind"


@contextlib.contextmanager
def hostile_server(observation: Any, ring: SharedFrames | None = None) -> Iterator[str]:
    """A WebSocket server on a real socket that speaks msgpack, offers ``ring`` (if any) and
    answers every request with ``observation`` (its URL)."""
    def answer(ws: ServerConnection) -> None:
        for frame in ws:
            request = msgpack.unpackb(frame, raw=False)
            ws.send(msgpack.packb({"type": "observation", "id": request.get("id"),
                                   "data": {"observation": observation, "reward": None, "done": False}}))

    def offer(ws: ServerConnection, request: Request, response: Response) -> Response:
        if ring is not None:
            response.headers[SHARED_MEMORY_HEADER] = f"{ring.name} {ring.size}"
        return response

    with serve(answer, "127.0.0.1", 0, subprotocols=[Subprotocol(MSGPACK.subprotocol)],
               process_response=offer) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.socket.getsockname()[1]}"
        server.shutdown()
    thread.join(timeout=10)


def ext(code: int, *payload: Any) -> msgpack.ExtType:
    return msgpack.ExtType(code, msgpack.packb(list(payload)))


@pytest.mark.parametrize(("observation", "why"), [
    ({"screen": ext(SHARED_NDARRAY, "|u1", [100], 0)}, "valid only in a server's reply to a client that has"),
    ({"screen": ext(7, "|u1", [100], 0)}, "msgpack extension type 7 is not one of this protocol's"),
], ids=["reference-without-a-ring", "unknown-extension"])
def test_a_client_refuses_extensions_it_did_not_expect(observation, why):
    with hostile_server(observation) as url, SyncEnvClient(url, shared_memory=False) as client:
        with pytest.raises(ProtocolError, match=why):
            client.reset()


@contextlib.contextmanager
def ring_holding(array: np.ndarray) -> Iterator[tuple[SharedFrames, msgpack.ExtType]]:
    """A server's ring with ``array`` in it, and its reference; closed (and unlinked) after."""
    ring = SharedFrames.create(1 << 20)
    assert ring is not None
    try:
        ring.new_reply()
        placed = ring.put(array)
        assert placed is not None
        yield ring, placed
    finally:
        ring.close()


def test_a_client_with_a_ring_takes_plain_arrays_in_it_and_refuses_the_rest():
    array = np.arange(20_000, dtype=np.uint16)
    with ring_holding(array) as (ring, placed), hostile_server({"screen": placed}, ring) as url, \
            SyncEnvClient(url) as client:
        assert client.codec.frames is not None, "the client mapped the offered ring"
        assert np.array_equal(client.reset().observation["screen"], array)
    bad = {"screen": ext(SHARED_NDARRAY, "(1000,)u1", [1000], 0)}  # 1000 times the bytes the shape says
    with ring_holding(array) as (ring, _), hostile_server(bad, ring) as url, SyncEnvClient(url) as client:
        assert client.codec.frames is not None
        with pytest.raises(ProtocolError, match="not a plain dtype"):
            client.reset()


def test_a_client_that_did_not_ask_for_a_ring_ignores_one_offered():
    """Offered unasked (or again after the client failed to open one): not mapped, so the
    client does not connect again and again."""
    with ring_holding(np.arange(20_000, dtype=np.uint16)) as (ring, placed):
        with hostile_server({"screen": placed}, ring) as url, SyncEnvClient(url, shared_memory=False) as client:
            assert client.codec.frames is None
            with pytest.raises(ProtocolError, match="valid only in a server's reply to a client that has"):
                client.reset()
        ring.unlink()  # the offer's name, still there: nobody mapped it
        with hostile_server({"screen": placed}, ring) as url, SyncEnvClient(url) as client:
            assert client.codec.frames is None, "the ring's name is gone: the client connected once more, unasking"

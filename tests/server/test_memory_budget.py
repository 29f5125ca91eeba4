"""Memory is bounded server-wide, not per connection only (issue 22, point 6).

Each attack runs against a real echo server process on a real socket, with raw frames, while
an honest session steps next to it; the server's memory is read from its process (psutil,
``VmHWM``). Before: a 16.5 MB frame of two-character strings cost 968 MB at its peak and kept
433 MB; ten connections each holding an unfinished 60 MiB frame added 620 MB that stayed
after they closed (for the resume grace period, 30 s); a 15 MB invalid ``message`` came back
whole inside a ``VALIDATION_ERROR``.
"""

from __future__ import annotations

import asyncio
import json
import struct
import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import msgpack
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from openenv_gym.client.async_client import EnvClient
from openenv_gym.client.sync_client import SyncEnvClient
from openenv_gym.errors import MessageTooLargeError
from openenv_gym.protocol.frames import JSON, MSGPACK
from openenv_gym.providers import ProcessProvider
from tests.support.processes import wait_until
from tests.support.servers import serving, ws_url
from tests.support.witnesses import SteppingSession, peak_rss, rss

ECHO = "openenv_gym.envs.echo.app:app"
MiB = 1 << 20
PROTOCOLS = {"msgpack": MSGPACK.subprotocol, "json": JSON.subprotocol}


@pytest.fixture(scope="module")
def echo() -> Iterator[ProcessProvider]:
    with serving(ECHO) as provider:
        yield provider


def frame_header(length: int, *, binary: bool = True) -> bytes:
    """A client's unfragmented frame header for ``length`` bytes, with a zero mask (the payload
    goes on the wire as it is)."""
    opcode = 0x82 if binary else 0x81
    if length < 126:
        head = struct.pack("!BB", opcode, 0x80 | length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", opcode, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", opcode, 0x80 | 127, length)
    return head + b"\0\0\0\0"


def hog(server: ProcessProvider) -> ClientConnection:
    """A connection that will send an unfinished frame: its close frame would read as part of the
    frame, so it waits half a second for the server's (not 10 s) before it drops the socket."""
    return connect(ws_url(server), subprotocols=[MSGPACK.subprotocol], close_timeout=0.5)


def send_unfinished(ws: ClientConnection, declared: int, sent: int) -> bool:
    """Send the start of a frame of ``declared`` bytes, ``sent`` of them, straight to the socket;
    False if the server closed the connection meanwhile."""
    chunk = bytes(MiB)
    try:
        ws.socket.sendall(frame_header(declared))
        for offset in range(0, sent, MiB):
            ws.socket.sendall(chunk[:min(MiB, sent - offset)])
    except OSError:  # reset: the server closed it
        return False
    return True


def exchange(ws: ClientConnection, message: object) -> dict:
    binary = ws.subprotocol == MSGPACK.subprotocol
    ws.send(msgpack.packb(message) if binary else json.dumps(message))
    reply = ws.recv(timeout=120)
    return msgpack.unpackb(reply, strict_map_key=False) if binary else json.loads(reply)


def still_steps(ws: ClientConnection) -> bool:
    reply = exchange(ws, {"type": "step", "data": {"message": "still here"}})
    return reply["data"]["observation"]["echoed_message"] == "still here"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_frame_of_short_strings_is_refused_before_it_is_decoded(protocol):
    strings = ["ab"] * 5_499_990  # 16.5 MB in msgpack, 27.5 MB in JSON
    message = {"type": "step", "data": {"message": strings}}
    frame = msgpack.packb(message) if protocol == "msgpack" else json.dumps(message, separators=(",", ":"))
    with serving(ECHO, {"OPENENV_MAX_MESSAGE_BYTES": str(32 * MiB)}) as server, \
            SteppingSession(ws_url(server)) as honest, \
            connect(ws_url(server), subprotocols=[PROTOCOLS[protocol]], max_size=None) as ws:
        before = peak_rss(server)
        ws.send(frame)
        raw = ws.recv(timeout=120)
        reply = msgpack.unpackb(raw) if isinstance(raw, bytes) else json.loads(raw)
        grown = peak_rss(server) - before
        assert reply["data"]["code"] == "MESSAGE_TOO_LARGE"
        assert "values (strings, numbers, objects and arrays)" in reply["data"]["message"]
        assert len(raw) < 1024
        assert still_steps(ws)
    assert grown < 96 * MiB, f"the server's peak grew by {grown >> 20} MiB"  # it grew by 968 MB
    assert not honest.wrong and honest.slowest < 3.0, f"a step waited {honest.slowest:.1f} s"


def test_unfinished_frames_fill_the_budget_and_no_more_and_their_memory_comes_back():
    budget = 128 * MiB  # room for two of the 60 MiB frames
    with serving(ECHO, {"OPENENV_MAX_INFLIGHT_BYTES": str(budget)}) as server, \
            SteppingSession(ws_url(server)) as honest, ExitStack() as stack:
        before = rss(server)
        sockets = [stack.enter_context(hog(server)) for _ in range(10)]
        held = [ws for ws in sockets if send_unfinished(ws, declared=60 * MiB, sent=59 * MiB)]
        time.sleep(0.5)
        grown = rss(server) - before
        refused = [ws for ws in sockets if ws not in held]
        for ws in refused:
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
            assert "OPENENV_MAX_INFLIGHT_BYTES" in closed.value.rcvd.reason
        assert len(held) <= 2 and len(refused) >= 8
        assert grown < budget + 64 * MiB, f"the server grew by {grown >> 20} MiB"  # 620 MB before
        stack.close()  # the connections go, their sessions wait for a resume (30 s)
        assert wait_until(lambda: rss(server) - before < 32 * MiB, within=10), (
            f"the server kept {(rss(server) - before) >> 20} MiB after the connections closed")
    assert not honest.wrong and honest.slowest < 3.0, f"a step waited {honest.slowest:.1f} s"


def test_a_frame_over_what_the_budget_has_left_gets_an_error_and_its_session_goes_on():
    """Another connection's unfinished frame holds 16 MiB of a 24 MiB budget: a 6 MB step
    (12 MB with its decoded string) does not fit until that connection is gone."""
    big = {"type": "step", "data": {"message": "a" * 6_000_000}}  # echo allows 65,536 characters

    def refused() -> bool:
        return exchange(ws, big)["data"]["code"] == "MESSAGE_TOO_LARGE"

    with serving(ECHO, {"OPENENV_MAX_INFLIGHT_BYTES": str(24 * MiB)}) as server, \
            connect(ws_url(server), subprotocols=[MSGPACK.subprotocol], max_size=None) as ws:
        before = rss(server)
        with hog(server) as other:
            assert send_unfinished(other, declared=20 * MiB, sent=16 * MiB)
            assert wait_until(lambda: rss(server) - before > 15 * MiB)
            reply = exchange(ws, big)
            assert reply["data"]["code"] == "MESSAGE_TOO_LARGE", reply
            assert "OPENENV_MAX_INFLIGHT_BYTES" in reply["data"]["message"]
            assert reply["data"]["max_inflight_bytes"] == 24 * MiB
            assert still_steps(ws)
        assert wait_until(lambda: not refused()), "the 6 MB step is decoded once the other connection is gone"
        assert "at most 65536 characters" in exchange(ws, big)["data"]["message"]


def test_the_memory_of_large_frames_comes_back_once_they_are_answered():
    """glibc keeps the heap pages of freed frames and of what they decoded to; the server trims
    its heap after a large frame (it stayed 59 MB larger without)."""
    strings = {"type": "step", "data": {"message": ["ab"] * 5_499_990}}  # 27.5 MB of JSON: refused
    decoded = {"type": "step", "data": {"message": ["abc"] * 250_000}}  # decoded, then invalid
    with serving(ECHO, {"OPENENV_MAX_MESSAGE_BYTES": str(48 * MiB)}) as server:
        before = rss(server)
        with connect(ws_url(server), subprotocols=[JSON.subprotocol], max_size=None) as ws:
            assert exchange(ws, strings)["data"]["code"] == "MESSAGE_TOO_LARGE"
        with connect(ws_url(server), subprotocols=[MSGPACK.subprotocol], max_size=None) as ws:
            for _ in range(3):
                assert exchange(ws, decoded)["data"]["code"] == "VALIDATION_ERROR"
        assert wait_until(lambda: rss(server) - before < 24 * MiB, within=10), (
            f"the server kept {(rss(server) - before) >> 20} MiB")


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("data", [{"message": ["A" * 15_000_000]}, {"message": 5, "extra": "A" * 15_000_000}],
                         ids=["wrong-type", "unknown-field"])
def test_an_error_reply_quotes_an_excerpt_of_the_input_and_its_length(echo, protocol, data):
    with connect(ws_url(echo), subprotocols=[PROTOCOLS[protocol]], max_size=None) as ws:
        ws.send(msgpack.packb({"type": "step", "data": data}) if protocol == "msgpack"
                else json.dumps({"type": "step", "data": data}))
        raw = ws.recv(timeout=60)
        assert len(raw) < 2048, f"the reply is {len(raw)} bytes"  # the 15 MB came back
        reply = msgpack.unpackb(raw) if isinstance(raw, bytes) else json.loads(raw)
        assert reply["data"]["code"] == "VALIDATION_ERROR"
        assert "(15000000 characters)" in json.dumps(reply["data"]["errors"])
        assert still_steps(ws)


def test_an_http_error_quotes_an_excerpt_of_the_input(echo):
    response = httpx.post(echo.base_url + "/step", json={"action": {"message": 7, "pad": "A" * 15_000_000}},
                          timeout=60)
    assert response.status_code == 422
    assert len(response.content) < 2048 and "(15000000 characters)" in response.text


def step_with(kind: str, url: str, action: dict) -> None:
    if kind == "sync":
        with SyncEnvClient(url) as client:
            client.step(action)
        return

    async def step() -> None:
        async with EnvClient(url) as client:
            await client.step(action)

    asyncio.run(step())


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_our_clients_say_why_when_their_frame_is_cut_off_by_the_budget(kind):
    with serving(ECHO, {"OPENENV_MAX_INFLIGHT_BYTES": str(24 * MiB)}) as server:
        before = rss(server)
        with hog(server) as other:
            assert send_unfinished(other, declared=20 * MiB, sent=16 * MiB)
            assert wait_until(lambda: rss(server) - before > 15 * MiB)
            with pytest.raises(MessageTooLargeError, match="OPENENV_MAX_INFLIGHT_BYTES"):
                step_with(kind, server.base_url, {"message": "a" * 12_000_000})

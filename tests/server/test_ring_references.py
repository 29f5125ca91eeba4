"""A client's frames never reach into the server's shared-memory ring (issue 22, point 2).

The server writes big arrays of its replies into a ring shared with a client on this machine
and sends their place (msgpack extension 43). A client that sends such a reference itself
must not make the server copy out of its own ring: before, a 415-byte frame of references to
the whole 16 MiB ring stalled every session for 1.5 s and grew the server by 420 MB, held by
the connection's buffer pool until it closed. Here a real echo server on a real socket gets the
hostile frames, raw, from a client that holds a ring (it asked for one in its handshake), while
an honest session steps next to it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
from websockets.sync.client import ClientConnection, connect

from openenv_gym.protocol.frames import MSGPACK, SHARED_NDARRAY
from openenv_gym.protocol.shared_frames import DEFAULT_SIZE, SHARED_MEMORY_HEADER
from openenv_gym.providers import ProcessProvider
from tests.support.servers import serving, ws_url
from tests.support.witnesses import SteppingSession, rss

RING_REFERENCES = 24
"""References per hostile frame, each to the whole ring under its own shape (so none could reuse
another's buffer): 409 bytes; the server used to copy 400 MB out of its ring for them."""


def reference(shape: list[int], start: int = 0, dtype: str = "<u1") -> msgpack.ExtType:
    """A ring reference exactly as the server sends one: ``[dtype, shape, position]``."""
    return msgpack.ExtType(SHARED_NDARRAY, msgpack.packb([dtype, shape, start]))


def references() -> list[msgpack.ExtType]:
    return [reference([DEFAULT_SIZE // (k + 1), k + 1]) for k in range(RING_REFERENCES)]


HOSTILE = {
    "in a step's action": {"type": "step", "data": {"message": references()}},
    "as the action": {"type": "step", "data": references()[0]},
    "as the message": references()[0],
    "in a batch item": {"type": "batch", "id": 1, "data": [{"session": 0, "type": "step",
                                                            "data": {"message": references()}}]},
}


@pytest.fixture(scope="module")
def server() -> Iterator[ProcessProvider]:
    with serving("openenv_gym.envs.echo.app:app") as provider:
        yield provider


def with_ring(server: ProcessProvider) -> ClientConnection:
    """A msgpack connection from this machine that asked for a ring, and got one."""
    ws = connect(ws_url(server), subprotocols=[MSGPACK.subprotocol],
                 additional_headers={SHARED_MEMORY_HEADER: "1"}, max_size=None)
    assert ws.response.headers.get(SHARED_MEMORY_HEADER), "the server offered this client a ring"
    return ws


def exchange(ws: ClientConnection, message: Any) -> Any:
    ws.send(msgpack.packb(message, use_bin_type=True))
    return msgpack.unpackb(ws.recv(timeout=60), raw=False, strict_map_key=False)


def test_ring_references_in_requests_are_refused_and_copy_nothing(server):
    before = rss(server)
    with SteppingSession(ws_url(server)) as honest, with_ring(server) as ws:
        for where, message in HOSTILE.items():
            reply = exchange(ws, message)
            error = reply["data"] if reply["type"] == "error" else reply["data"][0]["data"]  # a batch's item
            assert error["code"] == "VALIDATION_ERROR", where
            assert f"extension {SHARED_NDARRAY}" in error["message"] and "valid only in a server's reply" \
                in error["message"], where
            assert len(msgpack.packb(reply)) < 1024, f"{where}: the refusal quotes nothing back"
            echoed = exchange(ws, {"type": "step", "data": {"message": "still here"}})
            assert echoed["data"]["observation"]["echoed_message"] == "still here", "the session goes on"
        grown = rss(server) - before  # the hostile connection is still open
        time.sleep(0.2)  # the honest session steps a little after the last hostile frame too
    assert grown < 64 << 20, f"the server grew by {grown >> 20} MiB (it copied out of its ring)"
    assert not honest.wrong
    assert len(honest.latencies) > 10 and honest.slowest < 1.0, (
        f"the honest session waited {honest.slowest:.2f} s for a step")

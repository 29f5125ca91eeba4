"""What an error reply quotes of a client's input (issue 22, point 6).

A 15 MB invalid ``message`` came back whole inside a ``VALIDATION_ERROR`` (and in the 422 of
``POST /step``). Each attack runs against a real echo server process on a real socket.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import msgpack
import pytest
from websockets.sync.client import ClientConnection, connect

from openenv_gym.codecs import JSON, MSGPACK
from openenv_gym.providers import ProcessProvider
from tests.support.servers import serving
from tests.support.witnesses import ws_url

ECHO = "openenv_gym.envs.echo.app:app"
PROTOCOLS = {"msgpack": MSGPACK.subprotocol, "json": JSON.subprotocol}


@pytest.fixture(scope="module")
def echo() -> Iterator[ProcessProvider]:
    with serving(ECHO) as provider:
        yield provider


def exchange(ws: ClientConnection, message: object) -> dict:
    binary = ws.subprotocol == MSGPACK.subprotocol
    ws.send(msgpack.packb(message) if binary else json.dumps(message))
    reply = ws.recv(timeout=120)
    return msgpack.unpackb(reply, strict_map_key=False) if binary else json.loads(reply)


def still_steps(ws: ClientConnection) -> bool:
    reply = exchange(ws, {"type": "step", "data": {"message": "still here"}})
    return reply["data"]["observation"]["echoed_message"] == "still here"


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

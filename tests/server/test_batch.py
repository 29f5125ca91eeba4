"""The batch extension on real servers: ``open`` adds sessions to a connection, ``batch`` steps many.

A raw WebSocket client (subprotocols ``openenv-gym.v1`` and ``openenv-gym.v1.msgpack``) and
:class:`EnvClient`. The echo server answers inline (``FAST_STEP``); the sleepy server runs its
sessions in worker threads, side by side: both paths of a batch are covered.
"""

from __future__ import annotations

import asyncio
import json
import time

import msgpack
import pytest
import websockets

from openenv_gym import CapacityReachedError, EnvClient, ProtocolError
from openenv_gym.protocol import result_from_reply
from tests.support.servers import active_sessions, ws_url

JSON_PROTOCOL = "openenv-gym.v1"
MSGPACK_PROTOCOL = "openenv-gym.v1.msgpack"
UNICODE = "héllo ✓ 中文 😀"



async def settled_sessions(provider, expected: int) -> int:
    """``active_sessions`` once it reaches ``expected`` (the server closes sessions asynchronously)."""
    for _ in range(50):
        count = active_sessions(provider)
        if count == expected:
            break
        await asyncio.sleep(0.1)
    return count


def connect(provider, protocol: str | None = JSON_PROTOCOL):
    return websockets.connect(ws_url(provider), subprotocols=[protocol] if protocol else None)


async def exchange(ws, message) -> dict:
    """Send one message (JSON text, or msgpack on a msgpack connection) and decode the reply."""
    if isinstance(message, bytes | str):
        await ws.send(message)
    elif ws.subprotocol == MSGPACK_PROTOCOL:
        await ws.send(msgpack.packb(message))
    else:
        await ws.send(json.dumps(message))
    frame = await asyncio.wait_for(ws.recv(), 10)
    if ws.subprotocol == MSGPACK_PROTOCOL:
        assert isinstance(frame, bytes), "a msgpack connection must answer in binary frames"
        return msgpack.unpackb(frame)
    return json.loads(frame)


async def open_sessions(ws, count: int) -> list[int]:
    reply = await exchange(ws, {"type": "open", "data": {"count": count}})
    assert reply["type"] == "opened", reply
    return reply["data"]["sessions"]


async def batch(ws, *items, **extra) -> list[dict]:
    reply = await exchange(ws, {"type": "batch", "data": list(items), **extra})
    assert reply["type"] == "batch", reply
    assert len(reply["data"]) == len(items)
    return reply["data"]


def step(session, message, **fields) -> dict:
    return {"session": session, "type": "step", "data": {"message": message, **fields}}


def reset(session, **kwargs) -> dict:
    return {"session": session, "type": "reset", "data": kwargs}


def echoed(reply: dict) -> str:
    assert reply["type"] == "observation", reply
    return reply["data"]["observation"]["echoed_message"]


@pytest.fixture(params=["echo", "sleepy"])
def server(request, echo_server, sleepy_server):
    """Both dispatch paths: inline sessions (echo) and sessions in worker threads (sleepy)."""
    return echo_server if request.param == "echo" else sleepy_server


# -- open --------------------------------------------------------------------------------------

@pytest.mark.parametrize("counts", [[1], [3], [2, 4]], ids=["one", "three", "twice"])
async def test_open_adds_sessions_numbered_after_the_connections_own(sleepy_server, counts):
    before = await settled_sessions(sleepy_server, 0)
    async with connect(sleepy_server) as ws:
        expected_next = 1
        for count in counts:
            reply = await exchange(ws, {"type": "open", "data": {"count": count}, "id": "o1"})
            indices = list(range(expected_next, expected_next + count))
            assert reply == {"type": "opened", "data": {"sessions": indices}, "id": "o1"}
            expected_next += count
        assert active_sessions(sleepy_server) == before + expected_next
        replies = await batch(ws, *(reset(i, seed=i) for i in range(expected_next)))
        assert [echoed(r) for r in replies] == [f"seed={i}" for i in range(expected_next)]
    assert await settled_sessions(sleepy_server, before) == before


@pytest.mark.parametrize("data", [{"count": 0}, {"count": -1}, {"count": "2"}, {"count": 4097}, {}, None,
                                  [2]])
async def test_open_with_a_bad_count_is_a_validation_error_and_opens_nothing(echo_server, data):
    async with connect(echo_server) as ws:
        reply = await exchange(ws, {"type": "open", "data": data})
        assert reply["type"] == "error" and reply["data"]["code"] == "VALIDATION_ERROR"
        assert "open needs data.count between 1 and 4096" in reply["data"]["message"]
        assert await open_sessions(ws, 1) == [1]  # nothing was opened by the refused request


# -- batch -------------------------------------------------------------------------------------

async def test_sessions_of_a_connection_are_isolated(server):
    async with connect(server) as ws:
        assert await open_sessions(ws, 2) == [1, 2]
        await batch(ws, *({"session": i, "type": "reset"} for i in range(3)))
        await batch(ws, step(0, "a"), step(1, "b"))
        await batch(ws, step(0, "c"))
        states = await batch(ws, *({"session": i, "type": "state"} for i in range(3)))
        assert [s["data"]["step_count"] for s in states] == [2, 1, 0]
        await batch(ws, {"session": 0, "type": "reset"})
        states = await batch(ws, *({"session": i, "type": "state"} for i in range(3)))
        assert [s["data"]["step_count"] for s in states] == [0, 1, 0]
        # the connection's own session is session 0 of the batches: plain messages reach it
        plain = await exchange(ws, {"type": "state"})
        assert plain["type"] == "state" and plain["data"]["step_count"] == 0


async def test_a_batch_answers_each_item_in_order_whatever_its_kind(echo_server):
    async with connect(echo_server) as ws:
        await open_sessions(ws, 2)
        replies = await batch(ws, {"session": 2, "type": "reset", "data": {"seed": 3}}, step(1, UNICODE),
                              step(0, ""), id=11)
        replies += await batch(ws, {"session": 1, "type": "render"}, {"session": 0, "type": "state"},
                               step(2, "after reset"))
        replies += await batch(ws, {"session": 2, "type": "render"})
        assert [r["type"] for r in replies] == ["observation", "observation", "observation", "render",
                                                "state", "observation", "render"]
        assert echoed(replies[0]) == "Echo environment ready!"
        assert replies[1]["data"]["observation"] == {"echoed_message": UNICODE,
                                                     "message_length": len(UNICODE)}
        assert replies[1]["data"]["reward"] == pytest.approx(0.1 * len(UNICODE))
        assert replies[1]["data"]["info"] == {"step": 1} and replies[1]["data"]["truncated"] is False
        assert echoed(replies[2]) == "" and replies[2]["data"]["reward"] == 0.0
        assert replies[3]["data"] == {"mode": "ansi", "frame": UNICODE}
        assert replies[4]["data"]["step_count"] == 1
        assert echoed(replies[5]) == "after reset"
        assert replies[6]["data"] == {"mode": "ansi", "frame": "after reset"}


async def test_batch_items_of_thread_backed_sessions_run_side_by_side_and_reply_in_order(sleepy_server):
    async with connect(sleepy_server) as ws:
        await open_sessions(ws, 3)
        start = time.monotonic()
        replies = await batch(ws, *(step(i, f"slow {i}", sleep=1.2 - 0.3 * i) for i in range(4)))
        elapsed = time.monotonic() - start
        assert [echoed(r) for r in replies] == ["slow 0", "slow 1", "slow 2", "slow 3"]
        assert elapsed < 2.4, f"4 sleeps of 0.3-1.2 s took {elapsed:.2f} s: the batch ran them one by one (3 s)"


async def test_a_session_addressed_twice_refuses_the_batch_before_anything_runs(sleepy_server):
    async with connect(sleepy_server) as ws:
        await open_sessions(ws, 2)
        reply = await exchange(ws, {"type": "batch", "id": 4,
                                    "data": [step(0, "first"), step(1, "x"), step(0, "second")]})
        assert reply["type"] == "error" and reply["id"] == 4
        assert reply["data"]["code"] == "VALIDATION_ERROR"
        assert "session 0 appears more than once in this batch" in reply["data"]["message"]
        states = await batch(ws, *({"session": i, "type": "state"} for i in range(3)))
        assert [s["data"]["step_count"] for s in states] == [0, 0, 0]  # nothing ran


@pytest.mark.parametrize("items", [2, 100_000], ids=["one-too-many", "a-hundred-thousand"])
async def test_more_items_than_sessions_refuse_the_batch_with_a_clear_error(echo_server, items):
    async with connect(echo_server, MSGPACK_PROTOCOL) as ws:
        reply = await exchange(ws, {"type": "batch", "data": [step(0, "x")] + [{}] * (items - 1)})
        assert reply["type"] == "error" and reply["data"]["code"] == "VALIDATION_ERROR"
        assert reply["data"]["max_items"] == 1
        assert f"{items} items for 1 open session(s)" in reply["data"]["message"]
        assert echoed((await batch(ws, step(0, "ok")))[0]) == "ok"


@pytest.mark.parametrize(
    ("bad_item", "fragment"),
    [
        (step(2, 5), "Invalid action: message: Input should be a valid string"),
        ({"session": 2, "type": "step", "data": {"message": "x", "colour": "red"}}, "colour: Extra inputs"),
        ({"session": 2, "type": "step"}, "step 'data' must be the action object"),
        ({"session": 2, "type": "jump"}, "Unknown message type: jump"),
        (step(7, "x"), "no open session 7 on this connection"),
        (step(-1, "x"), "no open session -1 on this connection"),
        (step("1", "x"), "no open session '1' on this connection"),
        ({"type": "step", "data": {"message": "x"}}, "no open session None on this connection"),
        (5, "a batch item must be an object"),
        ("step", "a batch item must be an object"),
        (None, "a batch item must be an object"),
        ([step(0, "x")], "a batch item must be an object"),
        ({"session": 2, "type": "close"}, "sessions of a batch end with their connection, not with 'close'"),
    ],
    ids=["invalid-action", "extra-field", "step-without-data", "unknown-type", "unknown-session",
         "negative-session", "string-session", "no-session", "number-item", "string-item", "null-item",
         "list-item", "close-item"],
)
async def test_an_item_error_fails_only_that_item(server, bad_item, fragment):
    async with connect(server) as ws:
        await open_sessions(ws, 2)
        replies = await batch(ws, step(0, "before"), bad_item, step(1, "after"))
        assert echoed(replies[0]) == "before" and echoed(replies[2]) == "after"
        assert replies[1]["type"] == "error"
        assert replies[1]["data"]["code"] in ("VALIDATION_ERROR", "UNKNOWN_TYPE")
        assert fragment in replies[1]["data"]["message"]
        states = await batch(ws, {"session": 0, "type": "state"}, {"session": 1, "type": "state"})
        assert [s["data"]["step_count"] for s in states] == [1, 1]  # both sessions still open


@pytest.mark.parametrize("index", [[0], {"i": 0}], ids=["list", "object"])
async def test_an_unhashable_session_index_fails_only_that_item(echo_server, index):
    async with connect(echo_server) as ws:
        await open_sessions(ws, 1)
        replies = await batch(ws, step(0, "before"), step(index, "x"))
        assert echoed(replies[0]) == "before"
        assert replies[1]["data"]["code"] == "VALIDATION_ERROR"
        assert "no open session" in replies[1]["data"]["message"]


async def test_an_environment_exception_in_an_item_fails_only_that_item(sleepy_server):
    async with connect(sleepy_server) as ws:
        await open_sessions(ws, 2)
        failing = {"session": 1, "type": "step", "data": {"fail": True}}
        replies = await batch(ws, step(0, "a"), failing, step(2, "c"))
        assert [echoed(replies[0]), echoed(replies[2])] == ["a", "c"]
        assert replies[1]["data"] == {"code": "EXECUTION_ERROR",
                                      "message": "RuntimeError: boom: the environment failed"}
        assert echoed((await batch(ws, step(1, "recovered")))[0]) == "recovered"


@pytest.mark.parametrize("request_id", [7, "req-1", 0], ids=["int", "str", "zero"])
async def test_the_request_id_is_echoed_on_batch_replies_errors_included(echo_server, request_id):
    async with connect(echo_server) as ws:
        reply = await exchange(ws, {"type": "batch", "id": request_id, "data": [step(0, "x")]})
        assert reply["type"] == "batch" and reply["id"] == request_id
        assert "id" not in reply["data"][0]  # the items carried no id of their own
        reply = await exchange(ws, {"type": "batch", "id": request_id, "data": {"not": "a list"}})
        assert reply["type"] == "error" and reply["id"] == request_id
        assert reply["data"] == {"code": "VALIDATION_ERROR",
                                 "message": "batch data must be a list of requests"}
        reply = await exchange(ws, {"type": "batch", "data": [{**step(0, "y"), "id": "item"}]})
        assert "id" not in reply and reply["data"][0]["id"] == "item"


async def test_an_empty_batch_gets_an_empty_reply(echo_server):
    async with connect(echo_server) as ws:
        assert await exchange(ws, {"type": "batch", "data": []}) == {"type": "batch", "data": []}


# -- capacity and teardown ---------------------------------------------------------------------

@pytest.mark.parametrize(
    ("app", "capacity", "count"),
    [("single", 1, 1), ("sleepy", 8, 8), ("sleepy", 8, 100)],
    ids=["single-one-more", "sleepy-one-too-many", "sleepy-far-too-many"],
)
async def test_open_beyond_capacity_is_refused_all_or_nothing_and_leaks_no_slot(serve, app, capacity, count):
    server = serve(f"tests.support.apps:{app}")
    async with connect(server) as ws:
        for _ in range(2):  # refused twice: a leaked slot would show the second time
            reply = await exchange(ws, {"type": "open", "data": {"count": count}, "id": 5})
            assert reply["type"] == "error" and reply["id"] == 5
            assert reply["data"]["code"] == "CAPACITY_REACHED"
            assert reply["data"]["max_sessions"] == capacity
            assert active_sessions(server) == 1
        if capacity > 1:  # what fits is still granted, and the sessions work
            assert await open_sessions(ws, capacity - 1) == list(range(1, capacity))
            assert active_sessions(server) == capacity
            replies = await batch(ws, *(step(i, str(i)) for i in range(capacity)))
            assert [echoed(r) for r in replies] == [str(i) for i in range(capacity)]
        assert echoed(await exchange(ws, {"type": "step", "data": {"message": "alive"}})) == "alive"
    assert await settled_sessions(server, 0) == 0


@pytest.mark.parametrize("how", ["close-frame", "websocket-close", "abort"])
async def test_closing_the_connection_frees_all_its_sessions(sleepy_server, how):
    before = await settled_sessions(sleepy_server, 0)
    ws = await connect(sleepy_server)
    await open_sessions(ws, 5)
    assert active_sessions(sleepy_server) == before + 6
    if how == "close-frame":
        await ws.send(json.dumps({"type": "close"}))
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
    elif how == "websocket-close":
        await ws.close()
    else:
        ws.transport.abort()
    assert await settled_sessions(sleepy_server, before) == before
    async with connect(sleepy_server) as again:  # all 8 slots are free again
        assert await open_sessions(again, 7) == list(range(1, 8))


# -- baseline connections ----------------------------------------------------------------------

@pytest.mark.parametrize("message", [{"type": "open", "data": {"count": 1}}, {"type": "batch", "data": []}],
                         ids=["open", "batch"])
async def test_open_and_batch_are_unknown_types_on_a_baseline_connection(echo_server, message):
    async with connect(echo_server, protocol=None) as ws:
        assert ws.subprotocol is None
        reply = await exchange(ws, message)
        assert reply == {"type": "error", "data": {"code": "UNKNOWN_TYPE",
                                                   "message": f"Unknown message type: {message['type']}"}}
        assert echoed(await exchange(ws, {"type": "step", "data": {"message": "still here"}})) == "still here"


async def test_env_client_refuses_open_and_batch_on_a_baseline_connection(echo_server):
    async with EnvClient(echo_server.start(), extensions=False) as client:
        with pytest.raises(ProtocolError, match="is not an openenv-gym server: no 'open' messages"):
            await client.open_sessions(1)
        with pytest.raises(ProtocolError, match="no 'batch' messages"):
            await client.batch([step(0, "x")])
        assert (await client.step({"message": "ok"})).observation["echoed_message"] == "ok"


# -- msgpack -----------------------------------------------------------------------------------

SCRIPT = [
    {"type": "open", "data": {"count": 6}, "id": 1},
    {"type": "batch", "id": 2, "data": [reset(i, seed=i) for i in range(3)]},
    {"type": "batch", "id": 3, "data": [step(0, UNICODE), step(1, ""), step(2, "x" * 1000), step(3, 5),
                                        {"session": 4, "type": "state"}, {"session": 9, "type": "state"},
                                        {"session": 5, "type": "step", "data": {"fail": True}}]},
    {"type": "step", "data": {"message": "plain"}, "id": 4},
    {"type": "render", "id": 5},
]


async def test_msgpack_replies_are_binary_frames_with_the_same_data_as_json(sleepy_server):
    replies = {}
    for protocol in (JSON_PROTOCOL, MSGPACK_PROTOCOL):
        async with connect(sleepy_server, protocol) as ws:
            assert ws.subprotocol == protocol
            replies[protocol] = [await exchange(ws, message) for message in SCRIPT]  # asserts binary frames
    assert replies[MSGPACK_PROTOCOL] == replies[JSON_PROTOCOL]
    steps = replies[MSGPACK_PROTOCOL][2]["data"]
    assert [echoed(r) for r in steps[:3]] == [UNICODE, "", "x" * 1000]
    assert [r["type"] for r in steps[3:]] == ["error", "state", "error", "error"]


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
async def test_env_client_open_sessions_and_batch(sleepy_server, encoding):
    async with EnvClient(sleepy_server.start(), encoding=encoding) as client:
        assert client.subprotocol == {"json": JSON_PROTOCOL, "msgpack": MSGPACK_PROTOCOL}[encoding]
        assert await client.open_sessions(2) == [1, 2]
        replies = await client.batch([reset(i, seed=10 + i) for i in range(3)])
        assert [result_from_reply(r).observation["echoed_message"] for r in replies] == ["seed=10", "seed=11",
                                                                                       "seed=12"]
        replies = await client.batch([step(2, "done"), step(1, "cut"), step(0, UNICODE)])
        results = [result_from_reply(r) for r in replies]
        ends = [(r.terminated, r.truncated) for r in results]
        assert ends == [(True, False), (False, True), (False, False)]
        assert results[2].observation == {"echoed_message": UNICODE, "message_length": len(UNICODE)}
        with pytest.raises(CapacityReachedError, match="at capacity"):
            await client.open_sessions(6)  # 3 open + 6 > 8: none of the 6 is opened
        assert await client.open_sessions(5) == [3, 4, 5, 6, 7]


@pytest.mark.parametrize(
    "frame",
    [
        b"\xc1",  # a byte msgpack never uses
        b"\x92\x01",  # an array of two holding one item
        b"",
        msgpack.packb(msgpack.ExtType(42, msgpack.packb(5))),  # a numpy extension that is no array
        msgpack.packb(msgpack.ExtType(42, msgpack.packb(["<f8", [3], b"\0" * 8]))),  # wrong size
        "{not json",  # a text frame is read as JSON
    ],
    ids=["reserved-byte", "truncated", "empty", "bad-ndarray-ext", "ndarray-size-mismatch", "bad-json-text"],
)
async def test_a_malformed_msgpack_frame_gets_an_invalid_json_reply_and_the_connection_goes_on(
        sleepy_server, frame):
    async with connect(sleepy_server, MSGPACK_PROTOCOL) as ws:
        reply = await exchange(ws, frame)
        assert reply["type"] == "error" and reply["data"]["code"] == "INVALID_JSON"
        assert await open_sessions(ws, 1) == [1]
        replies = await batch(ws, step(0, "a"), step(1, "b"))
        assert [echoed(r) for r in replies] == ["a", "b"]

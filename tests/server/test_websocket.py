"""The /ws endpoint under good and bad input, with a raw WebSocket client on a real server."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from openenv_gym.protocol import SUBPROTOCOL
from tests.support.servers import active_sessions, ws_url


async def exchange(ws, frame) -> dict:
    await ws.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))
    return json.loads(await asyncio.wait_for(ws.recv(), 10))



@pytest.mark.parametrize(
    ("frame", "code", "fragment"),
    [
        ("{not json", "INVALID_JSON", "Invalid JSON"),
        (b"\xff\xfe\x00", "INVALID_JSON", "Invalid JSON"),
        ([1, 2, 3], "VALIDATION_ERROR", "must be a JSON object"),
        ({"type": "jump"}, "UNKNOWN_TYPE", "Unknown message type: jump"),
        ({"data": {}}, "UNKNOWN_TYPE", "Unknown message type: None"),
        ({"type": "step", "data": {"message": "x"}, "extra": 1}, "VALIDATION_ERROR", "'extra'"),
        ({"type": "step", "data": {"message": 5}}, "VALIDATION_ERROR", "message: Input should be a valid string"),
        ({"type": "step", "data": {"fen": "8/8/8/8/8/8/8/8 w - - 0 1"}}, "VALIDATION_ERROR", "fen: Extra inputs"),
        ({"type": "step"}, "VALIDATION_ERROR", "step 'data' must be the action object"),
        ({"type": "reset", "data": "seed"}, "VALIDATION_ERROR", "reset 'data' must be an object"),
        ({"type": "step", "data": {"message": "x" * 300}}, "", ""),
    ],
    ids=["not-json", "invalid-utf8-binary", "array", "unknown-type", "no-type", "extra-key",
         "wrong-field-type", "action-for-another-env", "step-without-data", "reset-data-not-object",
         "valid-long-message"],
)
async def test_bad_frames_get_error_frames_and_the_session_goes_on(echo_server, frame, code, fragment):
    async with websockets.connect(ws_url(echo_server)) as ws:
        reply = await exchange(ws, frame)
        if code:
            assert reply["type"] == "error"
            assert reply["data"]["code"] == code
            assert fragment in reply["data"]["message"]
        else:
            assert reply["type"] == "observation"
        after = await exchange(ws, {"type": "step", "data": {"message": "still here"}})
        assert after["data"]["observation"]["echoed_message"] == "still here"


async def test_step_before_reset_is_served(echo_server):
    async with websockets.connect(ws_url(echo_server)) as ws:
        reply = await exchange(ws, {"type": "step", "data": {"message": "first"}})
        assert reply["data"] == {"observation": {"echoed_message": "first", "message_length": 5,
                                                 "metadata": {"step": 1}},
                                 "reward": 0.5, "done": False, "metadata": {"step": 1}}


async def test_upstream_clients_get_the_upstream_envelope_and_ours_the_extended_one(echo_server):
    frame = {"type": "step", "data": {"message": "hi"}}
    async with websockets.connect(ws_url(echo_server)) as ws:
        assert ws.subprotocol is None
        baseline = await exchange(ws, frame)
        assert set(baseline) == {"type", "data"}
        assert set(baseline["data"]) == {"observation", "reward", "done", "metadata"}  # as openenv 0.10
        assert baseline["data"]["metadata"] == baseline["data"]["observation"]["metadata"] == {"step": 1}
    async with websockets.connect(ws_url(echo_server), subprotocols=[SUBPROTOCOL]) as ws:
        assert ws.subprotocol == SUBPROTOCOL
        extended = await exchange(ws, {**frame, "id": 41})
        assert extended["id"] == 41
        assert extended["data"]["info"] == {"step": 1}
        assert extended["data"]["truncated"] is False


async def test_an_environment_failure_is_logged_with_its_traceback_and_without_the_payload(sleepy_server):
    async with websockets.connect(ws_url(sleepy_server)) as ws:
        reply = await exchange(ws, {"type": "step", "data": {"fail": True, "message": "SECRET-4711"}})
        assert reply["data"]["code"] == "EXECUTION_ERROR"
    log = sleepy_server.log_tail(200)
    assert "Traceback (most recent call last)" in log and "RuntimeError: boom" in log
    assert "SECRET-4711" not in log


async def test_environment_exception_is_an_execution_error_and_the_session_survives(sleepy_server):
    async with websockets.connect(ws_url(sleepy_server)) as ws:
        reply = await exchange(ws, {"type": "step", "data": {"fail": True}})
        assert reply["data"] == {"code": "EXECUTION_ERROR",
                                 "message": "RuntimeError: boom: the environment failed"}
        reply = await exchange(ws, {"type": "step", "data": {"message": "ok"}})
        assert reply["data"]["observation"]["echoed_message"] == "ok"


async def test_oversized_frames(serve):
    server = serve("tests.support.apps:small_frames")  # limit 4096 bytes; uvicorn closes above 4x
    async with websockets.connect(ws_url(server), max_size=None) as ws:
        reply = await exchange(ws, {"type": "step", "data": {"message": "x" * 5000}})
        assert reply["data"]["code"] == "MESSAGE_TOO_LARGE"
        assert "limit of 4096 bytes" in reply["data"]["message"]
        reply = await exchange(ws, {"type": "step", "data": {"message": "small"}})
        assert reply["data"]["observation"]["echoed_message"] == "small"
        await ws.send(json.dumps({"type": "step", "data": {"message": "x" * 20000}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd.code == 1009
    async with websockets.connect(ws_url(server)) as ws:  # the server serves on
        reply = await exchange(ws, {"type": "step", "data": {"message": "next"}})
        assert reply["data"]["observation"]["echoed_message"] == "next"


async def test_close_message_ends_the_session_and_frees_its_slot(serve):
    server = serve("tests.support.apps:single")
    for _ in range(3):  # capacity 1: each session must really be gone before the next one
        async with websockets.connect(ws_url(server)) as ws:
            reply = await exchange(ws, {"type": "reset"})
            assert reply["type"] == "observation"
            await ws.send(json.dumps({"type": "close"}))
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
    assert active_sessions(server) == 0


async def test_capacity_is_refused_with_upstreams_error_frame(serve):
    server = serve("tests.support.apps:single")
    async with websockets.connect(ws_url(server)) as first:
        await exchange(first, {"type": "reset"})
        async with websockets.connect(ws_url(server)) as second:
            refusal = json.loads(await asyncio.wait_for(second.recv(), 10))
            assert refusal["data"]["code"] == "CAPACITY_REACHED"
            assert refusal["data"]["active_sessions"] == 1 and refusal["data"]["max_sessions"] == 1
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(second.recv(), 10)
        assert (await exchange(first, {"type": "state"}))["type"] == "state"


async def test_client_vanishing_mid_step_frees_the_session_and_others_go_on(sleepy_server):
    async with websockets.connect(ws_url(sleepy_server)) as other:
        before = active_sessions(sleepy_server)
        ws = await websockets.connect(ws_url(sleepy_server))
        await ws.send(json.dumps({"type": "step", "data": {"sleep": 0.5}}))
        ws.transport.abort()  # gone without a close frame, mid-step
        reply = await exchange(other, {"type": "step", "data": {"message": "alive"}})
        assert reply["data"]["observation"]["echoed_message"] == "alive"
        for _ in range(50):
            if active_sessions(sleepy_server) == before:
                break
            await asyncio.sleep(0.1)
        assert active_sessions(sleepy_server) == before


async def test_idle_sessions_are_reaped_by_closing_their_socket(serve):
    server = serve("tests.support.apps:idle")  # session_timeout=0.3 s
    async with websockets.connect(ws_url(server)) as ws:
        await exchange(ws, {"type": "reset"})
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd.code == 1001
        assert "idle" in closed.value.rcvd.reason
    assert active_sessions(server) == 0


async def test_a_session_in_a_call_longer_than_the_idle_limit_is_not_reaped(serve):
    """Idle means no message and no call: a step that takes longer than ``session_timeout`` is
    answered, and the idle clock starts again when it is."""
    server = serve("tests.support.apps:sleepy_idle")  # session_timeout=0.3 s, reaped every 0.075 s
    async with websockets.connect(ws_url(server)) as ws:
        await exchange(ws, {"type": "reset"})
        reply = await exchange(ws, {"type": "step", "data": {"message": "slow", "sleep": 1.5}})
        assert reply["data"]["observation"]["echoed_message"] == "slow"
        reply = await exchange(ws, {"type": "step", "data": {"message": "again"}})  # right after it
        assert reply["data"]["observation"]["echoed_message"] == "again"


@pytest.mark.parametrize(
    ("message", "code", "fragment"),
    [
        ({"type": "reset", "data": {1: 2}}, "VALIDATION_ERROR", "string keys"),
        ({"type": "step", 1: "x", "data": {"message": "x"}}, "VALIDATION_ERROR", "unexpected keys"),
        ({"type": [1, 2]}, "UNKNOWN_TYPE", "Unknown message type: [1, 2]"),
    ],
    ids=["reset-keys-not-strings", "mixed-key-types", "type-not-a-string"],
)
async def test_client_mistakes_only_msgpack_can_make_are_not_blamed_on_the_environment(
        echo_server, message, code, fragment):
    import msgpack

    async with websockets.connect(ws_url(echo_server), subprotocols=["openenv-gym.v1.msgpack"]) as ws:
        await ws.send(msgpack.packb(message))
        reply = msgpack.unpackb(await asyncio.wait_for(ws.recv(), 10))
        assert (reply["type"], reply["data"]["code"]) == ("error", code)
        assert fragment in reply["data"]["message"]

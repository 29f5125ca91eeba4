"""Serving options of ``python -m openenv_gym.envs.<name>`` on a real server: the session capacity
(``--max-concurrent-envs`` / ``OPENENV_MAX_CONCURRENT_ENVS``) and the open-file limit it needs."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
import websockets

from tests.support.servers import active_sessions, served_by, settled_sessions

ECHO = [sys.executable, "-m", "openenv_gym.envs.echo", "--port", "{port}"]
CAPACITY = 50


async def exchange(ws, message: dict) -> dict:
    await ws.send(json.dumps(message))
    return json.loads(await asyncio.wait_for(ws.recv(), 30))


async def fill_and_refuse_one_more(url: str, capacity: int) -> None:
    """``capacity`` sessions reset; one more is refused with ``CAPACITY_REACHED`` and closed; the
    others step on."""
    ws_url = url.replace("http", "ws") + "/ws"
    sessions = [await websockets.connect(ws_url) for _ in range(capacity)]
    try:
        replies = await asyncio.gather(*(exchange(ws, {"type": "reset"}) for ws in sessions))
        assert {reply["type"] for reply in replies} == {"observation"}
        assert active_sessions(url) == capacity
        async with websockets.connect(ws_url) as extra:
            refusal = json.loads(await asyncio.wait_for(extra.recv(), 30))
            assert refusal["data"]["code"] == "CAPACITY_REACHED"
            assert refusal["data"]["active_sessions"] == refusal["data"]["max_sessions"] == capacity
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(extra.recv(), 30)
        replies = await asyncio.gather(*(exchange(ws, {"type": "step", "data": {"message": str(i)}})
                                         for i, ws in enumerate(sessions)))
        assert [r["data"]["observation"]["echoed_message"] for r in replies] == [str(i) for i in range(capacity)]
    finally:
        await asyncio.gather(*(ws.close() for ws in sessions))
    assert settled_sessions(url, 0) == 0


@pytest.mark.parametrize("command", [[*ECHO, "--max-concurrent-envs", str(CAPACITY)],
                                     ["env", f"OPENENV_MAX_CONCURRENT_ENVS={CAPACITY}", *ECHO]],
                         ids=["flag", "variable"])
async def test_the_capacity_is_set_on_the_command_line_and_one_more_session_is_refused(command):
    with served_by(command) as url:
        await fill_and_refuse_one_more(url, CAPACITY)


async def test_a_server_raises_its_open_file_limit_to_hold_its_capacity(tmp_path: Path):
    """Under ``ulimit -Sn 64`` the server would admit 48 connections (three quarters of the limit):
    it raises the soft limit to what its 60 sessions need, and says so in its log."""
    log = tmp_path / "server.log"
    command = ["bash", "-c", f"ulimit -Sn 64 && exec {' '.join(ECHO)} --max-concurrent-envs 60"]
    with served_by(command, log=log) as url:
        await fill_and_refuse_one_more(url, 60)
    assert "Open-file limit (ulimit -n) raised from 64 to 144 for 60 sessions." in log.read_text()


def test_a_server_whose_hard_limit_is_too_low_says_so(tmp_path: Path):
    log = tmp_path / "server.log"
    command = ["bash", "-c", f"ulimit -n 64 && exec {' '.join(ECHO)} --max-concurrent-envs 60"]
    with served_by(command, log=log):
        pass
    assert ("this server admits 48 connections, fewer than its 60 sessions. Raise the limit, or lower "
            "OPENENV_MAX_CONCURRENT_ENVS.") in log.read_text()

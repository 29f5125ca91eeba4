"""Upstream 0.10's web API on our servers (``/web/metadata|reset|step|state``, ``WS /ws/ui``):
real server processes on real sockets, side by side with upstream's own 0.10 server."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from openenv_gym.server import Environment, create_app
from openenv_gym.server.web import UI_SUBPROTOCOL, WEB_VARIABLE, channel, token_subprotocol
from openenv_gym.server.web.channel import MAX_FRAME_BYTES
from openenv_gym.types import Action, Observation, State
from tests.support.servers import serving
from tests.support.upstream import peer

WEB = {WEB_VARIABLE: "true"}
TOKEN = "tok/7f+3c=9a"
HERE = "tests.server.test_web_api"
SLOW_DELTA = 999


# --- our twin of tests/interop/upstream_counter.py, built from our classes -----------------

class CounterAction(Action):
    delta: int


class CounterObservation(Observation):
    value: int = 0
    note: str = ""


class CounterState(State):
    value: int = 0


class CounterEnvironment(Environment[CounterAction, CounterObservation, CounterState]):
    """Adds ``delta`` to a value; ``reset(start=n)`` starts at ``n`` (as upstream's counter)."""

    SUPPORTS_CONCURRENT_SESSIONS = True
    closed = 0

    def __init__(self) -> None:
        super().__init__()
        self._state = CounterState(episode_id=str(uuid.uuid4()))

    def reset(self, seed: int | None = None, episode_id: str | None = None, start: int = 0,
              **kwargs: Any) -> CounterObservation:
        self._state = CounterState(episode_id=episode_id or str(uuid.uuid4()), value=start)
        return CounterObservation(value=start, note="reset")

    def step(self, action: CounterAction, timeout_s: float | None = None, **kwargs: Any) -> CounterObservation:
        if action.delta == SLOW_DELTA:
            time.sleep(1.0)
        self._state.step_count += 1
        self._state.value += action.delta
        return CounterObservation(value=self._state.value, note=f"{action.delta:+d}", reward=action.delta)

    @property
    def state(self) -> CounterState:
        return self._state

    def close(self) -> None:
        type(self).closed += 1


class LonelyCounter(CounterEnvironment):
    SUPPORTS_CONCURRENT_SESSIONS = False


counter_app = create_app(CounterEnvironment, CounterAction, CounterObservation)
lonely_app = create_app(LonelyCounter, CounterAction, CounterObservation, session_timeout=0.6)


# --- helpers --------------------------------------------------------------------------------

def local_app(**kwargs: Any) -> Any:
    """The counter with the web interface, in this process, open (whatever ``$OPENENV_TOKEN`` says)."""
    return create_app(CounterEnvironment, CounterAction, CounterObservation, web=True, token="", **kwargs)


def kinds(value: Any) -> Any:
    """A JSON value's shape: keys and kinds, not values (an int and a float are both numbers)."""
    if isinstance(value, dict):
        return {key: kinds(item) for key, item in value.items()}
    if isinstance(value, list):
        return [kinds(value[0])] if value else []
    if isinstance(value, bool) or value is None:
        return type(value).__name__
    return "number" if isinstance(value, int | float) else type(value).__name__


def ui(url: str, **kwargs: Any) -> ClientConnection:
    return connect(url.replace("http", "ws", 1) + "/ws/ui", **kwargs)


def update(socket: ClientConnection) -> dict[str, Any]:
    """The next ``/ws/ui`` push: its episode state."""
    message = json.loads(socket.recv(timeout=10))
    assert message["type"] == "state_update"
    return message["episode_state"]


def session_of_web(url: str) -> list[dict[str, Any]]:
    """One reset and two steps through the web API, with a /ws/ui client watching: its pushes."""
    with ui(url) as socket:
        pushes = [update(socket)]
        for path, body in [("/web/reset", {"start": 3}), ("/web/step", {"action": {"delta": 2}}),
                           ("/web/step", {"action": {"delta": -1}})]:
            assert httpx.post(url + path, json=body, trust_env=False).status_code == 200
            pushes.append(update(socket))
    return pushes


@pytest.fixture(scope="module")
def ours() -> Iterator[str]:
    with serving(f"{HERE}:counter_app", environment=WEB) as server:
        assert server.base_url is not None
        yield server.base_url


@pytest.fixture(scope="module")
def theirs() -> Iterator[str]:
    with peer("0.10.0").serve("tests.interop.upstream_counter:app", environment=WEB) as server:
        yield server.base_url


# --- side by side with upstream 0.10 --------------------------------------------------------

def replies(url: str) -> dict[str, Any]:
    calls = [("GET", "/web/metadata", None), ("POST", "/web/reset", None), ("POST", "/web/reset", {"start": 3}),
             ("POST", "/web/step", {"action": {"delta": 2}}), ("GET", "/web/state", None)]
    answers = {}
    for method, path, body in calls:
        response = httpx.request(method, url + path, json=body, trust_env=False)
        assert response.status_code == 200, (path, response.text)
        answers[f"{method} {path} {body}"] = response.json()
    return answers


def test_replies_have_upstreams_shapes_and_values(ours, theirs):
    mine, upstream = replies(ours), replies(theirs)
    assert {call: kinds(reply) for call, reply in mine.items()} == {
        call: kinds(reply) for call, reply in upstream.items()}
    for reply in (mine, upstream):  # what the calls did, beyond the shape
        assert reply["POST /web/reset {'start': 3}"]["observation"]["value"] == 3
        assert reply["POST /web/step {'action': {'delta': 2}}"] == {
            "observation": {"metadata": {}, "value": 5, "note": "+2"}, "reward": 2, "done": False}
        assert reply["GET /web/state None"]["step_count"] == 1
        assert reply["GET /web/state None"]["value"] == 5


def test_ws_ui_pushes_have_upstreams_shapes(ours, theirs):
    mine, upstream = session_of_web(ours), session_of_web(theirs)
    assert [kinds(push) for push in mine[1:]] == [kinds(push) for push in upstream[1:]]
    assert set(mine[0]) == set(upstream[0])
    for pushes in (mine, upstream):
        after_reset, first, second = pushes[1:]
        assert after_reset["is_reset"] and after_reset["action_logs"] == [] and after_reset["step_count"] == 0
        assert [log["action"] for log in second["action_logs"]] == [{"delta": 2}, {"delta": -1}]
        assert [log["reward"] for log in second["action_logs"]] == [2.0, -1.0]
        assert second["current_observation"]["value"] == 4 and not second["is_reset"]
        assert first["episode_id"] == second["episode_id"] == after_reset["episode_id"]


def test_openapi_lists_the_web_routes_as_upstream(ours, theirs):
    def web_paths(url: str) -> list[str]:
        paths = httpx.get(url + "/openapi.json", trust_env=False).json()["paths"]
        return sorted(path for path in paths if path.startswith("/web"))
    assert web_paths(ours) == web_paths(theirs) == ["/web/metadata", "/web/reset", "/web/state", "/web/step"]


# --- what a user notices --------------------------------------------------------------------

def test_reset_then_step_changes_the_state_and_each_update_is_pushed(ours):
    with ui(ours) as first, ui(ours) as second:
        update(first), update(second)
        reset = httpx.post(ours + "/web/reset", json={"start": 10}).json()
        assert reset["observation"]["value"] == 10
        state = httpx.get(ours + "/web/state").json()
        assert state["value"] == 10 and state["step_count"] == 0
        assert update(first)["current_observation"]["value"] == update(second)["current_observation"]["value"] == 10
        httpx.post(ours + "/web/step", json={"action": {"delta": 5}})
        assert httpx.get(ours + "/web/state").json() == {**state, "value": 15, "step_count": 1}
        for socket in (first, second):
            pushed = update(socket)
            assert pushed["step_count"] == 1 and pushed["action_logs"][0]["observation"]["value"] == 15


def test_an_invalid_action_is_a_422_naming_the_field_and_the_next_step_works(ours):
    httpx.post(ours + "/web/reset")
    for body in ({"action": {"delta": "x"}}, {"action": {}}, {"action": {"delta": 1, "extra": 1}}, {}):
        response = httpx.post(ours + "/web/step", json=body)
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["loc"][-1] in ("delta", "extra"), response.text
    not_an_object = httpx.post(ours + "/web/step", json={"action": [1]})
    assert not_an_object.status_code == 422 and "action" in not_an_object.text
    for path in ("/web/step", "/web/reset"):
        bad_json = httpx.post(ours + path, content=b"{nope", headers={"content-type": "application/json"})
        assert bad_json.status_code == 422 and "JSON" in bad_json.text
    negative_seed = httpx.post(ours + "/web/reset", json={"seed": -1})
    assert negative_seed.status_code == 422 and negative_seed.json()["detail"][0]["loc"] == ["seed"]
    assert httpx.post(ours + "/web/step", json={"action": {"delta": 1}}).json()["observation"]["note"] == "+1"
    assert httpx.get(ours + "/web/state").json()["step_count"] == 1  # the failed calls took no step


def test_ws_ui_ignores_what_clients_send_and_closes_on_a_huge_frame(ours):
    with ui(ours) as socket:
        update(socket)
        socket.send("keep-alive")
        socket.send(b"\x00binary")
        httpx.post(ours + "/web/reset")
        assert update(socket)["is_reset"]
        socket.send("x" * (MAX_FRAME_BYTES + 1))
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    with ui(ours) as again:  # the server goes on
        assert "episode_id" in update(again)


def test_the_web_environment_is_not_a_ws_session(ours):
    with connect(ours.replace("http", "ws", 1) + "/ws") as socket:
        socket.send(json.dumps({"type": "reset", "data": {"start": 100}}))
        socket.recv(timeout=10)
        httpx.post(ours + "/web/reset", json={"start": 1})
        httpx.post(ours + "/web/step", json={"action": {"delta": 1}})
        socket.send(json.dumps({"type": "state"}))
        state = json.loads(socket.recv(timeout=10))["data"]
    assert (state["value"], state["step_count"]) == (100, 0)
    assert httpx.get(ours + "/web/state").json()["value"] == 2


def test_the_web_session_counts_toward_capacity_and_the_idle_timeout_frees_it():
    with serving(f"{HERE}:lonely_app", environment=WEB) as server, ui(server.base_url) as watcher:
        url = server.base_url
        update(watcher)
        httpx.post(url + "/web/reset", json={"start": 7})
        assert update(watcher)["current_observation"]["value"] == 7
        with connect(url.replace("http", "ws", 1) + "/ws") as socket:  # the one slot is the web's
            assert json.loads(socket.recv(timeout=10))["data"]["code"] == "CAPACITY_REACHED"
        assert update(watcher) == {"episode_id": None, "step_count": 0, "current_observation": None,
                                   "action_logs": [], "is_reset": True}  # idle: the session ended
        with connect(url.replace("http", "ws", 1) + "/ws") as socket:  # its slot is free
            socket.send(json.dumps({"type": "reset"}))
            assert json.loads(socket.recv(timeout=10))["type"] == "observation"
            full = httpx.post(url + "/web/reset")
            assert full.status_code == 503 and full.json()["detail"]["code"] == "CAPACITY_REACHED"
        assert sessions_become(url, 0)
        assert httpx.post(url + "/web/step", json={"action": {"delta": 1}}).json()["observation"]["value"] == 1


def sessions_become(url: str, count: int) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if httpx.get(url + "/capabilities").json()["active_sessions"] == count:
            return True
        time.sleep(0.05)
    return False


def test_the_server_closes_the_web_environment_on_shutdown():
    app = local_app()
    before = CounterEnvironment.closed
    with TestClient(app) as client:
        client.post("/web/reset")
        client.get("/web/metadata")  # read from the web session's instance: none of its own
        assert CounterEnvironment.closed == before
    assert CounterEnvironment.closed == before + 1


# --- the token ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def guarded() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OPENENV_TOKEN", TOKEN)  # read by the provider when it is made
        with serving(f"{HERE}:counter_app", environment=WEB) as server:
            assert server.base_url is not None
            yield server.base_url


CALLS = [("GET", "/web/metadata", None, 200), ("GET", "/web/state", None, 200), ("POST", "/web/reset", {}, 200),
         ("POST", "/web/step", {"action": {"delta": 1}}, 200),
         ("GET", "/web/state/", None, 404)]  # not a file of the page: not public either


@pytest.mark.parametrize(("method", "path", "body", "status"), CALLS)
def test_the_web_api_needs_the_token(guarded, method, path, body, status):
    assert httpx.request(method, guarded + path, json=body).status_code == 401
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.request(method, guarded + path, json=body, headers=bearer).status_code == status


def test_ws_ui_needs_the_token_as_a_header_or_a_subprotocol(guarded):
    for offered in ([], [UI_SUBPROTOCOL], [UI_SUBPROTOCOL, token_subprotocol("tok/7f+3c=9b")]):
        with pytest.raises(InvalidStatus) as refused:
            ui(guarded, subprotocols=offered or None)
        assert refused.value.response.status_code == 403
    with ui(guarded, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as socket:
        assert socket.subprotocol is None and "episode_id" in update(socket)
    with ui(guarded, subprotocols=[UI_SUBPROTOCOL, token_subprotocol(TOKEN)]) as socket:
        assert socket.subprotocol == UI_SUBPROTOCOL and "episode_id" in update(socket)


@pytest.mark.needs_chromium
def test_a_browser_follows_the_episode_over_ws_ui_with_the_token(guarded):
    from playwright.sync_api import sync_playwright
    script = """async ([token, subprotocol]) => {
        const { tokenSubprotocol } = await import("/web/connection.js");
        const url = location.origin.replace("http", "ws") + "/ws/ui";
        const socket = new WebSocket(url, [subprotocol, tokenSubprotocol(token)]);
        const updates = [];
        const step = () => fetch("/web/step", {
            method: "POST", body: JSON.stringify({action: {delta: 4}}),
            headers: {"Content-Type": "application/json", Authorization: "Bearer " + token}});
        await new Promise((resolve, reject) => {
            socket.onmessage = (event) => {
                updates.push(JSON.parse(event.data));
                if (updates.length === 1) step(); else resolve();
            };
            socket.onerror = () => reject(new Error("refused"));
        });
        socket.close();
        return [socket.protocol, updates];
    }"""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        try:
            page = browser.new_page()
            page.goto(guarded + "/web/")
            protocol, updates = page.evaluate(script, [TOKEN, UI_SUBPROTOCOL])
        finally:
            browser.close()
    assert protocol == UI_SUBPROTOCOL
    assert updates[1]["episode_state"]["action_logs"][-1]["action"] == {"delta": 4}


def test_production_mode_keeps_the_web_api_as_upstream():
    app = local_app(mode="production")
    with TestClient(app) as client:
        assert client.post("/step", json={"action": {"delta": 1}}).status_code == 404
        client.post("/web/reset", json={"start": 1})
        assert client.post("/web/step", json={"action": {"delta": 1}}).json()["observation"]["value"] == 2


def test_ws_ui_has_a_bound_on_its_clients(monkeypatch):
    monkeypatch.setattr(channel, "MAX_CLIENTS", 1)
    app = local_app()
    with TestClient(app) as client, client.websocket_connect("/ws/ui") as first:
        assert json.loads(first.receive_text())["type"] == "state_update"
        with client.websocket_connect("/ws/ui") as second:
            closed = second.receive()
        assert closed["type"] == "websocket.close" and closed["code"] == 1013
        client.post("/web/reset")
        assert json.loads(first.receive_text())["episode_state"]["is_reset"]


def test_a_step_past_the_step_timeout_is_a_504_and_the_episode_starts_over():
    app = local_app(step_timeout=0.2)
    with TestClient(app) as client, client.websocket_connect("/ws/ui") as watcher:
        watcher.receive_text()
        client.post("/web/reset", json={"start": 5})
        watcher.receive_text()
        slow = client.post("/web/step", json={"action": {"delta": SLOW_DELTA}})
        assert slow.status_code == 504 and "step timeout" in slow.json()["detail"]
        assert json.loads(watcher.receive_text())["episode_state"]["episode_id"] is None
        assert client.post("/web/step", json={"action": {"delta": 1}}).status_code == 200

"""Upstream's request bounds (``seed >= 0``, ids <= 255 characters, ``timeout_s > 0``) on a real
server: a 422 naming the field over HTTP, a VALIDATION_ERROR frame over ``/ws``."""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.sync.client import connect

from tests.support.servers import serving

ECHO_APP = "openenv_gym.envs.echo.app:app"
LONG = "x" * 256


@pytest.fixture(scope="module")
def url():
    with serving(ECHO_APP) as server:
        yield server.base_url


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/reset", {"seed": -1}, "seed"),
    ("/reset", {"episode_id": LONG}, "episode_id"),
    ("/step", {"action": {"message": "hi"}, "timeout_s": 0}, "timeout_s"),
    ("/step", {"action": {"message": "hi"}, "request_id": LONG}, "request_id"),
])
def test_http_bodies_out_of_bounds_get_422_naming_the_field(url, path, body, field):
    response = httpx.post(url + path, json=body)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["body", field]]


@pytest.mark.parametrize(("path", "body"), [
    ("/reset", {"seed": 0, "episode_id": "e" * 255, "anything": "else"}),
    ("/step", {"action": {"message": "hi"}, "timeout_s": 0.5, "request_id": "r" * 255}),
])
def test_bodies_within_bounds_pass(url, path, body):
    assert httpx.post(url + path, json=body).status_code == 200


@pytest.mark.parametrize(("data", "field"), [({"seed": -5}, "seed"), ({"episode_id": LONG}, "episode_id")])
def test_ws_reset_out_of_bounds_is_a_validation_error_and_the_session_goes_on(url, data, field):
    with connect(url.replace("http", "ws", 1) + "/ws") as socket:
        socket.send(json.dumps({"type": "reset", "data": data}))
        error = json.loads(socket.recv())
        assert error["type"] == "error" and error["data"]["code"] == "VALIDATION_ERROR"
        assert [e["loc"] for e in error["data"]["errors"]] == [[field]]
        assert field in error["data"]["message"]
        socket.send(json.dumps({"type": "reset", "data": {"seed": 1}}))
        assert json.loads(socket.recv())["type"] == "observation"

"""The HTTP routes of create_app, on a real server."""

from __future__ import annotations

import httpx
import pytest

from openenv_gym.protocol import CAPABILITIES, SUBPROTOCOL


@pytest.fixture
def http(echo_server):
    with httpx.Client(base_url=echo_server.start(), timeout=10) as client:
        yield client


def test_health_metadata_schema_capabilities(http):
    assert http.get("/health").json() == {"status": "healthy"}
    assert http.get("/metadata").json()["name"] == "EchoEnvironment"
    schema = http.get("/schema").json()
    assert set(schema) == {"action", "observation", "reset_observation", "state", "render_modes", "render_fps"}
    assert schema["reset_observation"] == schema["observation"]  # echo declares no reset model
    assert schema["render_modes"] == ["ansi"] and schema["render_fps"] == 4
    assert schema["action"]["required"] == ["message"]
    capabilities = http.get("/capabilities").json()
    assert capabilities["protocol"] == SUBPROTOCOL
    assert capabilities["capabilities"] == list(CAPABILITIES)
    assert capabilities["max_sessions"] == 1024


def test_stateless_reset_and_step_as_upstream(http):
    assert http.post("/reset").json() == {  # as openenv 0.10: metadata in the observation, top-level if any
        "observation": {"echoed_message": "Echo environment ready!", "message_length": 0, "metadata": {}},
        "reward": 0.0, "done": False}
    for _ in range(2):  # each request gets a fresh environment: the step count never grows
        step = http.post("/step", json={"action": {"message": "abc"}}).json()
        assert step["observation"] == {"echoed_message": "abc", "message_length": 3, "metadata": {"step": 1}}
        assert step["metadata"] == {"step": 1}
    assert http.get("/state").json()["step_count"] == 0


@pytest.mark.parametrize(("body", "loc"), [({"action": {"message": 3}}, ["message"]),
                                           ({"action": {}}, ["message"]),
                                           ({}, ["body", "action"])])
def test_invalid_http_step_is_422_with_the_field(http, body, loc):
    response = http.post("/step", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


@pytest.mark.parametrize("body", [{"function": 1}, {"self": 2}, {"seed": 3, "kwargs": {}}],
                         ids=["function", "self", "kwargs"])
def test_reset_arguments_named_like_the_servers_own_are_not_an_error(http, body):
    """Found by schemathesis: a reset key that the server's own call binds (``function``,
    a method's ``self``) was a 500; such keys are not the environment's and are dropped."""
    response = http.post("/reset", json=body)
    assert response.status_code == 200
    assert response.json()["observation"]["echoed_message"] == "Echo environment ready!"

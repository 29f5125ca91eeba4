"""Upstream openenv-core clients (and upstream's validator) against OUR echo server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from openenv.cli._validation import validate_running_environment
from openenv.core.client_types import StepResult
from openenv.core.env_server.types import EnvironmentMetadata, ResetResponse, State, StepResponse
from openenv.core.generic_client import GenericEnvClient
from openenv.core.mcp_client import MCPToolClient

READY = "Echo environment ready!"
MESSAGE = "héllo ✓"
INVALID_ACTIONS = [{"messag": "x"}, {"message": 5}, {}]


def check_episode(reset: StepResult, step: StepResult, state: dict[str, Any]) -> None:
    assert reset.observation["echoed_message"] == READY
    assert reset.done is False
    assert step.observation == {"echoed_message": MESSAGE, "message_length": 7}
    assert step.reward == pytest.approx(0.7)
    assert step.done is False
    assert state["step_count"] == 1


async def test_generic_client_async(echo_url: str) -> None:
    async with GenericEnvClient(base_url=echo_url) as env:
        reset = await env.reset()
        step = await env.step({"message": MESSAGE})
        check_episode(reset, step, await env.state())


def test_generic_client_sync(echo_url: str) -> None:
    with GenericEnvClient(base_url=echo_url).sync() as env:
        reset = env.reset()
        step = env.step({"message": MESSAGE})
        check_episode(reset, step, env.state())


async def test_mcp_tool_client_async(echo_url: str) -> None:
    async with MCPToolClient(base_url=echo_url) as env:
        await env.reset()
        assert {"echo_message", "echo_with_length"} <= {t.name for t in await env.list_tools()}
        assert await env.call_tool("echo_message", message="hi") == "hi"
        assert await env.call_tool("echo_with_length", message="ab") == {"message": "ab", "length": 2}


def test_mcp_tool_client_sync(echo_url: str) -> None:
    with MCPToolClient(base_url=echo_url).sync() as env:
        tools = {t.name: t for t in env.list_tools()}
        assert tools["echo_message"].input_schema["required"] == ["message"]
        assert "echo_with_length" in tools
        assert env.call_tool("echo_message", message="hi") == "hi"
        assert env.call_tool("echo_with_length", message="ab") == {"message": "ab", "length": 2}


@pytest.mark.parametrize("action", INVALID_ACTIONS, ids=["unknown-field", "wrong-type", "empty"])
async def test_upstream_client_sees_upstream_error_frames(echo_url: str, action: dict) -> None:
    async with GenericEnvClient(base_url=echo_url) as env:
        await env.reset()
        with pytest.raises(RuntimeError, match="VALIDATION_ERROR"):
            await env.step(action)
        step = await env.step({"message": "still here"})  # the session survived the error
        assert step.observation["echoed_message"] == "still here"
        assert (await env.state())["step_count"] == 1  # the rejected action did not count


def _without_descriptions(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_descriptions(v) for k, v in schema.items() if k != "description"}
    return schema


@pytest.fixture(scope="module")
def http(echo_url: str):
    with httpx.Client(base_url=echo_url, trust_env=False, timeout=30) as client:
        yield client


def test_http_health_metadata_schema(http: httpx.Client) -> None:
    assert http.get("/health").json() == {"status": "healthy"}
    metadata = EnvironmentMetadata.model_validate(http.get("/metadata").json())
    assert metadata.name == "EchoEnvironment"
    schema = http.get("/schema").json()
    assert set(schema) - {"action", "observation", "state"} == {"render_modes", "render_fps"}  # ours, ignored upstream
    assert schema["action"]["required"] == ["message"]
    assert {"echoed_message", "message_length"} <= set(schema["observation"]["properties"])
    assert _without_descriptions(schema["state"]) == _without_descriptions(State.model_json_schema())


def test_http_reset_and_step_are_stateless(http: httpx.Client) -> None:
    reset = ResetResponse.model_validate(http.post("/reset").json())
    assert reset.observation["echoed_message"] == READY
    for _ in range(2):
        step = StepResponse.model_validate(http.post("/step", json={"action": {"message": "x"}}).json())
        assert step.observation == {"echoed_message": "x", "message_length": 1}
        assert step.reward == pytest.approx(0.1)
        assert step.done is False
    assert http.get("/state").json()["step_count"] == 0  # every request gets a fresh environment


@pytest.mark.parametrize(("body", "loc"), [
    ({"action": {"messag": "x"}}, ["message"]),
    ({"action": {"message": 5}}, ["message"]),
    ({}, ["body", "action"]),
], ids=["unknown-field", "wrong-type", "no-action"])
def test_http_invalid_step_is_422(http: httpx.Client, body: dict, loc: list[str]) -> None:
    response = http.post("/step", json=body)
    assert response.status_code == 422
    assert loc in [error["loc"] for error in response.json()["detail"]]


def test_upstream_runtime_validator(echo_url: str) -> None:
    """``openenv validate --url``: every criterion passes, POST /mcp included."""
    report = validate_running_environment(echo_url)
    outcome = {c["id"]: c["passed"] for c in report["criteria"]}
    assert outcome == {
        "openapi_version_available": True,
        "health_endpoint": True,
        "metadata_endpoint": True,
        "schema_endpoint": True,
        "mcp_endpoint": True,
        "mode_endpoint_consistency": True,
    }
    mcp = next(c for c in report["criteria"] if c["id"] == "mcp_endpoint")
    assert mcp["actual"]["status_code"] == 200
    assert report["mode"] == "simulation"
    assert report["standard_profile"] == "openenv-http/1.x"

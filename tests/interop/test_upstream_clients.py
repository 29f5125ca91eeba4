"""Upstream's clients (and upstream's validator) against OUR echo server, once per release.

Each test runs upstream's own client code in that release's venv (``tests/support/upstream.py``)
against our server on a real socket: ``openenv-core`` 0.3.0 and ``openenv`` 0.10.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.servers import serving
from tests.support.upstream import Peer

READY = "Echo environment ready!"
MESSAGE = "héllo ✓"
INVALID_ACTIONS = [{"messag": "x"}, {"message": 5}, {}]

EPISODE = """
import asyncio
from openenv.core.generic_client import GenericEnvClient

def as_dict(r):
    return {"observation": r.observation, "reward": r.reward, "done": r.done,
            "metadata": getattr(r, "metadata", None)}

async def episode_async():
    async with GenericEnvClient(base_url=URL) as env:
        return [as_dict(await env.reset()), as_dict(await env.step({"message": MESSAGE})), await env.state()]

def episode_sync():
    with GenericEnvClient(base_url=URL).sync() as env:
        return [as_dict(env.reset()), as_dict(env.step({"message": MESSAGE})), env.state()]

result = asyncio.run(episode_async()) if ASYNC else episode_sync()
"""


@pytest.mark.parametrize("is_async", [True, False], ids=["async", "sync"])
def test_generic_client_plays_an_episode(upstream: Peer, echo_url: str, is_async: bool) -> None:
    reset, step, state = upstream.run(EPISODE, URL=echo_url, MESSAGE=MESSAGE, ASYNC=is_async)
    assert reset["observation"]["echoed_message"] == READY and reset["done"] is False
    assert step["observation"]["echoed_message"] == MESSAGE and step["observation"]["message_length"] == 7
    assert step["observation"]["metadata"] == {"step": 1}  # as a 0.10 server sends it, for typed clients
    assert step["reward"] == pytest.approx(0.7) and step["done"] is False
    assert state["step_count"] == 1
    if upstream.is_010:  # 0.10's StepResult reads the top-level metadata
        assert step["metadata"] == {"step": 1}


TOOLS = """
import asyncio
from openenv.core.mcp_client import MCPToolClient

async def tools_async():
    async with MCPToolClient(base_url=URL) as env:
        await env.reset()
        return ({t.name: t.input_schema for t in await env.list_tools()},
                await env.call_tool("echo_message", message="hi"),
                await env.call_tool("echo_with_length", message="ab"))

def tools_sync():
    with MCPToolClient(base_url=URL).sync() as env:
        return ({t.name: t.input_schema for t in env.list_tools()},
                env.call_tool("echo_message", message="hi"), env.call_tool("echo_with_length", message="ab"))

result = asyncio.run(tools_async()) if ASYNC else tools_sync()
"""


@pytest.mark.parametrize("is_async", [True, False], ids=["async", "sync"])
def test_mcp_tool_client_lists_and_calls_tools(upstream: Peer, echo_url: str, is_async: bool) -> None:
    tools, echoed, measured = upstream.run(TOOLS, URL=echo_url, ASYNC=is_async)
    assert {"echo_message", "echo_with_length"} <= set(tools)
    assert tools["echo_message"]["required"] == ["message"]
    assert (echoed, measured) == ("hi", {"message": "ab", "length": 2})


ERRORS = """
import asyncio
from openenv.core.generic_client import GenericEnvClient

async def main():
    async with GenericEnvClient(base_url=URL) as env:
        await env.reset()
        try:
            await env.step(ACTION)
            error = None
        except Exception as exc:  # upstream raises RuntimeError with the server's message
            error = f"{type(exc).__name__}: {exc}"
        step = await env.step({"message": "still here"})
        return [error, step.observation["echoed_message"], (await env.state())["step_count"]]

result = asyncio.run(main())
"""


@pytest.mark.parametrize("action", INVALID_ACTIONS, ids=["unknown-field", "wrong-type", "empty"])
def test_upstream_client_sees_upstream_error_frames(upstream: Peer, echo_url: str, action: dict) -> None:
    error, echoed, steps = upstream.run(ERRORS, URL=echo_url, ACTION=action)
    assert error is not None and error.startswith("RuntimeError") and "VALIDATION_ERROR" in error
    assert echoed == "still here"  # the session survived the error
    assert steps == 1  # the rejected action did not count


HTTP_MODELS = """
import httpx
import pydantic
from openenv.core.env_server.types import EnvironmentMetadata, ResetResponse, State, StepResponse

with httpx.Client(base_url=URL, trust_env=False, timeout=30) as http:
    step = http.post("/step", json={"action": {"message": "x"}}).json()
    try:
        refused = None
        StepResponse.model_validate(step)
    except pydantic.ValidationError as exc:
        refused = [e["loc"] for e in exc.errors()]
    result = {
        "metadata": EnvironmentMetadata.model_validate(http.get("/metadata").json()).name,
        "reset": ResetResponse.model_validate(http.post("/reset").json()).observation,
        "step": StepResponse.model_validate({k: v for k, v in step.items() if k != "metadata"}).model_dump(),
        "step_refused": refused,
        "state_schema": State.model_json_schema(),
    }
"""


def _without_descriptions(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_descriptions(v) for k, v in schema.items() if k != "description"}
    return schema


@pytest.fixture(scope="module")
def http(echo_url: str):
    with httpx.Client(base_url=echo_url, trust_env=False, timeout=30) as client:
        yield client


def test_http_replies_validate_against_upstreams_models(upstream: Peer, echo_url: str, http: httpx.Client) -> None:
    replies = upstream.run(HTTP_MODELS, URL=echo_url)
    assert replies["metadata"] == "EchoEnvironment"
    assert replies["reset"]["echoed_message"] == READY
    assert replies["step"]["observation"]["echoed_message"] == "x"
    assert replies["step"]["reward"] == pytest.approx(0.1) and replies["step"]["done"] is False
    # 0.10's StepResponse has the top-level metadata we send, as a 0.10 server; 0.3.0's forbids it
    assert replies["step_refused"] == (None if upstream.is_010 else [["metadata"]])
    schema = http.get("/schema").json()
    assert _without_descriptions(schema["state"]) == _without_descriptions(replies["state_schema"])


def test_http_health_and_schema(http: httpx.Client) -> None:
    assert http.get("/health").json() == {"status": "healthy"}
    schema = http.get("/schema").json()
    assert {"action", "observation", "state"} <= set(schema)
    assert schema["action"]["required"] == ["message"]
    assert {"echoed_message", "message_length"} <= set(schema["observation"]["properties"])


def test_http_reset_and_step_are_stateless(http: httpx.Client) -> None:
    assert http.post("/reset").json()["observation"]["echoed_message"] == READY
    for _ in range(2):
        step = http.post("/step", json={"action": {"message": "x"}}).json()
        assert step["observation"] == {"echoed_message": "x", "message_length": 1, "metadata": {"step": 1}}
        assert step["metadata"] == {"step": 1}  # step 1 each time: a fresh environment per request
        assert step["reward"] == pytest.approx(0.1) and step["done"] is False
    assert http.get("/state").json()["step_count"] == 0


@pytest.mark.parametrize(("body", "loc"), [
    ({"action": {"messag": "x"}}, ["message"]),
    ({"action": {"message": 5}}, ["message"]),
    ({}, ["body", "action"]),
], ids=["unknown-field", "wrong-type", "no-action"])
def test_http_invalid_step_is_422(http: httpx.Client, body: dict, loc: list[str]) -> None:
    response = http.post("/step", json=body)
    assert response.status_code == 422
    assert loc in [error["loc"] for error in response.json()["detail"]]


VALIDATOR = """
from openenv.cli._validation import validate_running_environment
result = validate_running_environment(URL)
"""


def test_upstream_runtime_validator(upstream: Peer, echo_url: str) -> None:
    """``openenv validate --url``: every criterion passes, POST /mcp included."""
    report = upstream.run(VALIDATOR, URL=echo_url)
    failed = {c["id"]: c for c in report["criteria"] if not c["passed"]}
    assert failed == {}
    assert {"health_endpoint", "metadata_endpoint", "schema_endpoint", "mcp_endpoint"} <= {
        c["id"] for c in report["criteria"]}
    mcp = next(c for c in report["criteria"] if c["id"] == "mcp_endpoint")
    assert mcp["actual"]["status_code"] == 200
    assert report["mode"] == "simulation"
    assert report["standard_profile"] == "openenv-http/1.x"


SCORED = """
from openenv.core.generic_client import GenericEnvClient

with GenericEnvClient(base_url=URL).sync() as env:
    env.reset()
    step = env.step({"code": "x = 1", "tests": 0.5, "style": 1.0})
    result = {"reward": step.reward, "observation": step.observation, "metadata": getattr(step, "metadata", None)}
"""


def test_upstream_clients_get_our_rubric_scores_in_the_metadata(upstream: Peer) -> None:
    with serving("tests.support.apps:code") as server:
        step = upstream.run(SCORED, URL=server.base_url)
    scores = {"total": 0.6, "rubric_0": 1.0, "rubric_0.rubric": 1.0, "rubric_1": 0.6, "rubric_1.rubric_0": 0.5,
              "rubric_1.rubric_1": 1.0}
    assert step["reward"] == pytest.approx(0.6)
    assert step["observation"]["metadata"]["rubric"] == pytest.approx(scores)  # typed clients read it here
    if upstream.is_010:
        assert step["metadata"]["rubric"] == pytest.approx(scores)  # 0.10's StepResult.metadata

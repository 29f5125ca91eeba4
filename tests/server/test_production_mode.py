"""Production mode (``OPENENV_MODE=production`` / ``create_app(mode=...)``) on real servers."""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest

from openenv_gym import SyncEnvClient
from openenv_gym.envs.echo import EchoAction, EchoEnvironment, EchoObservation
from openenv_gym.server import create_app
from tests.support.servers import serving
from tests.support.upstream import peer

ECHO_APP = "openenv_gym.envs.echo.app:app"
SIMULATION_ROUTES = [("POST", "/reset"), ("POST", "/step"), ("GET", "/state")]


@pytest.fixture(scope="module")
def production_url():
    with serving(ECHO_APP, environment={"OPENENV_MODE": "production"}) as server:
        yield server.base_url


@pytest.mark.parametrize(("method", "path"), SIMULATION_ROUTES)
def test_a_production_server_has_no_simulation_controls(production_url, method, path):
    response = httpx.request(method, production_url + path, json={"action": {"message": "hi"}})
    assert response.status_code == 404
    assert path not in httpx.get(production_url + "/openapi.json").json()["paths"]


def test_a_production_server_still_serves_sessions_schema_and_tools(production_url):
    assert httpx.get(production_url + "/health").json() == {"status": "healthy"}
    assert "action" in httpx.get(production_url + "/schema").json()
    tools = httpx.post(production_url + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).json()
    assert [tool["name"] for tool in tools["result"]["tools"]] == ["echo_message", "echo_with_length"]
    with SyncEnvClient(production_url) as client:
        client.reset()
        assert client.step({"message": "still here"}).observation["echoed_message"] == "still here"


@pytest.mark.parametrize("mode", ["production", "PRODUCTION"])
def test_create_app_takes_the_mode_as_upstream(mode):
    paths = create_app(EchoEnvironment, EchoAction, EchoObservation, mode=mode).openapi()["paths"]
    assert "/step" not in paths and "/schema" in paths


def test_the_variable_chooses_the_mode_and_the_keyword_wins(monkeypatch):
    monkeypatch.setenv("OPENENV_MODE", "production")
    assert "/step" not in create_app(EchoEnvironment, EchoAction, EchoObservation).openapi()["paths"]
    assert "/step" in create_app(EchoEnvironment, EchoAction, EchoObservation,
                                 mode="simulation").openapi()["paths"]


def test_an_unknown_mode_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"invalid server mode 'prod'.*\['simulation', 'production'\]"):
        create_app(EchoEnvironment, EchoAction, EchoObservation, mode="prod")


def upstream_validate_url(url: str) -> dict:
    """Upstream's ``openenv validate --url`` (openenv 0.10, its own venv): the JSON report."""
    done = subprocess.run([str(peer("0.10.0").python.parent / "openenv"), "validate", "--url", url, "--json"],
                          capture_output=True, text=True, timeout=120)
    return json.loads(done.stdout)


@pytest.mark.parametrize("mode", ["production", "simulation"])
def test_upstreams_runtime_grader_passes_either_mode_and_tells_which(mode):
    with serving(ECHO_APP, environment={"OPENENV_MODE": mode}) as server:
        report = upstream_validate_url(server.base_url)
    assert report["passed"], report
    assert report["mode"] == mode

"""``openenv-gym validate --url URL``: a running server, ours or upstream's.

Upstream's criteria (``openenv validate --url``, same ids): ``/openapi.json`` has
``info.version``; ``/health`` is healthy; ``/metadata`` has ``name`` and ``description``;
``/schema`` has ``action``, ``observation`` and ``state``; ``POST /mcp {}`` answers JSON-RPC
2.0; the OpenAPI routes match a mode (``/reset``, ``/step``, ``/state`` all or none). Ours: a
session over ``/ws`` with our client resets and steps (a random action from the action space;
the server refusing it as invalid still proves the round trip), and the Gym spaces built from
the server's schema hold the observation it sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from ..errors import InvalidActionError, OpenEnvGymError
from .checks import Check


def check_server(url: str, timeout: float) -> list[Check]:
    """Every check of the server at ``url``."""
    with httpx.Client(base_url=url.rstrip("/"), timeout=timeout, trust_env=False) as http:
        openapi = _get(http, "/openapi.json")
        checks = [_openapi(openapi), _health(http), _metadata(http), _schema(http), _mcp(http),
                  _mode(openapi)]
    return checks + _session(url, timeout)


def _get(http: httpx.Client, path: str) -> httpx.Response | str:
    try:
        return http.get(path)
    except httpx.HTTPError as exc:
        return f"GET {path} failed: {type(exc).__name__}: {exc}"


def _json(response: httpx.Response | str) -> tuple[dict[str, Any], str]:
    """The body as a dict (empty if it is not one) and what is wrong with the reply, if anything."""
    if isinstance(response, str):
        return {}, response
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict):
        return {}, f"HTTP {response.status_code}, body {response.text[:200]!r}"
    return body, ""


def _criterion(check_id: str, description: str, response: httpx.Response | str,
               passes: Callable[[dict[str, Any]], bool], expected: str) -> Check:
    body, problem = _json(response)
    if problem:
        return Check(check_id, description, False, problem)
    ok = bool(passes(body))
    return Check(check_id, description, ok, "" if ok else f"expected {expected}, got {str(body)[:200]}")


def _openapi(response: httpx.Response | str) -> Check:
    return _criterion("openapi_version_available", "GET /openapi.json returns OpenAPI info.version",
                      response, lambda b: isinstance(b.get("info", {}).get("version"), str),
                      "info.version")


def _health(http: httpx.Client) -> Check:
    return _criterion("health_endpoint", "GET /health returns healthy status", _get(http, "/health"),
                      lambda b: b.get("status") == "healthy", '{"status": "healthy"}')


def _metadata(http: httpx.Client) -> Check:
    return _criterion("metadata_endpoint", "GET /metadata returns name and description",
                      _get(http, "/metadata"),
                      lambda b: isinstance(b.get("name"), str) and isinstance(b.get("description"), str),
                      "string fields name and description")


def _schema(http: httpx.Client) -> Check:
    return _criterion("schema_endpoint", "GET /schema returns action, observation, and state schemas",
                      _get(http, "/schema"),
                      lambda b: all(isinstance(b.get(k), dict) for k in ("action", "observation", "state")),
                      "objects action, observation and state")


def _mcp(http: httpx.Client) -> Check:
    try:
        response: httpx.Response | str = http.post("/mcp", json={})
    except httpx.HTTPError as exc:
        response = f"POST /mcp failed: {type(exc).__name__}: {exc}"
    return _criterion("mcp_endpoint", "POST /mcp is reachable and returns JSON-RPC payload", response,
                      lambda b: b.get("jsonrpc") == "2.0", '{"jsonrpc": "2.0", ...}')


def _mode(response: httpx.Response | str) -> Check:
    paths = _json(response)[0].get("paths") or {}
    present = {path: path in paths for path in ("/reset", "/step", "/state")}
    ok = bool(paths) and len(set(present.values())) == 1
    return Check("mode_endpoint_consistency", "OpenAPI endpoint set matches OpenEnv mode contract", ok,
                 "" if ok else f"/reset, /step, /state must be all present (simulation) or all absent "
                               f"(production); found {present if paths else 'no OpenAPI paths'}")


def _session(url: str, timeout: float) -> list[Check]:
    """Ours: reset and step over /ws with :class:`~openenv_gym.wrappers.env.GymEnv`; the spaces."""
    from openenv_gym.wrappers.env import GymEnv

    round_trip = "a session over /ws resets and steps (openenv-gym's client)"
    spaces = "the Gym spaces build from /schema and hold the observation"
    try:
        env = GymEnv(base_url=url, timeout=timeout)
    except OpenEnvGymError as exc:
        return [Check("ws_round_trip", round_trip, False, f"{type(exc).__name__}: {exc}")]
    try:
        observation, _ = env.reset(seed=0)
        try:
            env.step(env.action_space.sample())
            note = ""
        except InvalidActionError as exc:
            note = f"a random action was refused as invalid, as it may be: {exc}"
    except OpenEnvGymError as exc:
        return [Check("ws_round_trip", round_trip, False, f"{type(exc).__name__}: {exc}")]
    finally:
        env.close()
    inside = env.observation_space.contains(observation)
    return [Check("ws_round_trip", round_trip, True, note),
            Check("spaces", spaces, inside,
                  "" if inside else f"{observation!r:.200} is not in {env.observation_space}")]

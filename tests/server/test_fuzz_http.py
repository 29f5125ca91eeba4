"""schemathesis against the OpenAPI of ``create_app``, over real servers on real sockets.

Every operation of the echo app and of the chess app (a richer action model: a move and its
notation) is called with schema-conforming and non-conforming data; schemathesis' checks
require no 5xx, documented status codes and content types, responses that match their
schema, and invalid data rejected. Examples are derandomized (CI runs the same calls).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, positive_data_acceptance

from openenv_gym.providers import ProcessProvider
from tests.support.servers import serving

CALLS = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


calls: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def report(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    with request.config.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        print(f"\nschemathesis HTTP calls: {sum(calls.values())} ({dict(calls)})")


@pytest.fixture(scope="module")
def chess_server() -> Iterator[ProcessProvider]:
    with serving("openenv_gym.envs.chess.app:app") as provider:
        yield provider


@pytest.fixture
def echo_api(echo_server: ProcessProvider) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(echo_server.start() + "/openapi.json")


@pytest.fixture
def chess_api(chess_server: ProcessProvider) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(chess_server.start() + "/openapi.json")


echo = schemathesis.pytest.from_fixture("echo_api")
chess = schemathesis.pytest.from_fixture("chess_api")


def call_and_validate(case: schemathesis.Case) -> None:
    calls[f"{case.meta.generation.mode.value if case.meta else 'explicit'}"] += 1
    excluded = [positive_data_acceptance] if case.operation.path == "/step" else []
    if case.operation.path.startswith("/{env_name}/"):  # the task API: a documented 501 (as upstream)
        excluded.append(not_a_server_error)  # where the env has no such method; still checked: documented
    case.call_and_validate(timeout=30, excluded_checks=excluded)


@echo.parametrize()
@CALLS
def test_echo_http_api_conforms_to_its_openapi(case):
    call_and_validate(case)


@chess.parametrize()
@CALLS
def test_chess_http_api_conforms_to_its_openapi(case):
    call_and_validate(case)

"""Fixtures that start real servers on real sockets, and the ``fast`` selection's guard."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from openenv_gym.providers import ProcessProvider, build_image
from tests.support.docker import engine
from tests.support.servers import serving
from tests.support.system_parts import missing_parts_message, register_markers


def pytest_configure(config: pytest.Config) -> None:
    register_markers(config)
    config.addinivalue_line("markers", "fast: starts no server (no listening socket, no server "
                                       "process): `python -m pytest -m fast` runs these in under 2 minutes")


def _no_server(*args: object, **kwargs: object) -> None:
    raise AssertionError("a test marked `fast` starts no server: drop the marker, or the server")


@pytest.fixture(autouse=True)
def _fast_tests_start_no_server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keeps the ``fast`` marker honest: in such a test, listening on a socket or starting a
    server process fails the test."""
    if request.node.get_closest_marker("fast") is not None:
        monkeypatch.setattr(socket.socket, "listen", _no_server)
        monkeypatch.setattr(ProcessProvider, "start", _no_server)


@pytest.hookimpl(trylast=True)  # after -m and -k have deselected what the user left out
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Stop before the first test if a selected test needs a missing part (Docker, Chromium, ...)."""
    message = missing_parts_message(items)
    if message:
        pytest.exit(message, returncode=pytest.ExitCode.USAGE_ERROR)


def _serve(app: str) -> Iterator[ProcessProvider]:
    with serving(app) as provider:
        yield provider


@pytest.fixture(scope="session")
def echo_server() -> Iterator[ProcessProvider]:
    """The bundled echo server, shared by the tests that only open sessions on it."""
    yield from _serve("openenv_gym.envs.echo.app:app")


@pytest.fixture(scope="module")
def sleepy_server() -> Iterator[ProcessProvider]:
    """An env whose steps sleep or raise on request (tests.support.apps.SleepyEnvironment)."""
    yield from _serve("tests.support.apps:sleepy")


@pytest.fixture
def serve() -> Iterator:
    """Start a server for ``module:app`` for one test; stopped afterwards."""
    started: list[ProcessProvider] = []

    def start(app: str) -> ProcessProvider:
        provider = ProcessProvider(app)
        started.append(provider)
        provider.start()
        return provider

    yield start
    for provider in started:
        provider.stop()


@pytest.fixture(scope="session")
def docker_image() -> Iterator:
    """``docker_image("echo")``: the env's image, built once per test session from the current
    sources (cached layers); fails, not skips, without a Docker engine. Tagged
    ``$OPENENV_TEST_IMAGE_TAG`` (default ``latest``), so a branch's tests need not replace the
    images another checkout's tests use."""
    built: dict[str, str] = {}
    tag = os.environ.get("OPENENV_TEST_IMAGE_TAG", "latest")

    def image(env: str) -> str:
        engine()
        if env not in built:
            built[env] = build_image(env, f"openenv-gym/{env}:{tag}")
        return built[env]

    yield image

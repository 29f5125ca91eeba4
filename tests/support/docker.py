"""A real Docker engine for tests: its client (or a failure saying how to start one)."""

from __future__ import annotations

from typing import Any

import pytest

from openenv_gym.errors import ProviderError
from openenv_gym.providers.containers.engine import docker_client


def engine() -> Any:
    """The engine's client; a missing engine FAILS the test (CI must run these tests)."""
    try:
        return docker_client()
    except ProviderError as exc:
        pytest.fail(f"the Docker tests need a Docker engine: run .ci/docker-engine.sh from the repository "
                    f"root (it starts one and makes the python:3.11-slim base image). {exc}")


def exists(client: Any, container_id: str) -> bool:
    from docker.errors import NotFound

    try:
        client.containers.get(container_id)
    except NotFound:
        return False
    return True

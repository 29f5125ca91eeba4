"""Real servers on real sockets: ours (echo) and upstream's (the counter), each in a subprocess."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from openenv_gym.providers import ProcessProvider
from tests.support.servers import serving

ECHO_APP = "openenv_gym.envs.echo.app:app"
COUNTER_APP = "tests.interop.upstream_counter:app"


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    """Our echo server."""
    with serving(ECHO_APP) as server:
        assert server.base_url is not None
        yield server.base_url


@pytest.fixture(scope="module")
def counter_url() -> Iterator[str]:
    """Upstream's server running the upstream counter environment (shared by a module)."""
    with serving(COUNTER_APP) as server:
        assert server.base_url is not None
        yield server.base_url


@pytest.fixture
def own_counter() -> Iterator[ProcessProvider]:
    """An upstream counter server for one test (to fill up or to kill)."""
    with serving(COUNTER_APP) as server:
        yield server

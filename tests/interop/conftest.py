"""Real servers on real sockets: ours (echo) and upstream's (the counter), each in a subprocess."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from openenv_gym.providers import ProcessProvider

REPO_ROOT = Path(__file__).resolve().parents[2]
ECHO_APP = "openenv_gym.envs.echo.app:app"
COUNTER_APP = "tests.interop.upstream_counter:app"


@contextlib.contextmanager
def serving(app: str) -> Iterator[ProcessProvider]:
    """A started server process for ``app`` (importable from the repo root), stopped on exit."""
    provider = ProcessProvider(app)
    with pytest.MonkeyPatch.context() as env:  # the child imports ``tests.…`` from the repo root
        env.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO_ROOT),
                                                                os.environ.get("PYTHONPATH")])))
        provider.start()
    try:
        yield provider
    finally:
        provider.stop()


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

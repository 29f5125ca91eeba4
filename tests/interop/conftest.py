"""Real servers on real sockets: ours (echo) and upstream's (the counter), each in a subprocess.

Upstream's server runs in each upstream release's own venv (``tests/support/upstream.py``):
every test that uses ``counter_url``, ``own_counter`` or ``upstream`` runs once against
``openenv-core`` 0.3.0 and once against ``openenv`` 0.10.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.servers import serving
from tests.support.upstream import RELEASES, Peer, PeerServer, peer

ECHO_APP = "openenv_gym.envs.echo.app:app"
COUNTER_APP = "tests.interop.upstream_counter:app"


@pytest.fixture(scope="session", params=sorted(RELEASES), ids=lambda version: f"openenv-{version}")
def upstream(request: pytest.FixtureRequest) -> Peer:
    """An upstream release in its own venv (made on first use)."""
    return peer(request.param)


@pytest.fixture(scope="session")
def openenv010() -> Peer:
    """Upstream ``openenv`` 0.10 alone, for what 0.3.0 does not have (production mode, headers, ...)."""
    return peer("0.10.0")


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    """Our echo server."""
    with serving(ECHO_APP) as server:
        assert server.base_url is not None
        yield server.base_url


@pytest.fixture(scope="module")
def counter_url(upstream: Peer) -> Iterator[str]:
    """Upstream's server running the upstream counter environment (shared by a module)."""
    with upstream.serve(COUNTER_APP) as server:
        yield server.base_url


@pytest.fixture
def own_counter(upstream: Peer) -> Iterator[PeerServer]:
    """An upstream counter server for one test (to fill up or to kill)."""
    with upstream.serve(COUNTER_APP) as server:
        yield server

"""Starting real servers for tests."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from openenv_gym.providers import ProcessProvider

REPO_ROOT = Path(__file__).resolve().parents[2]


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

"""The parts of the machine some tests need beyond Python packages, and what installs each.

Each part has a pytest marker (``needs_docker``, ``needs_chromium``, ``needs_stockfish``) on the
tests that use it. Before any test runs, :func:`missing_parts_message` checks the parts the
collected tests need; if one is missing the run stops with one message saying what to install
(or which script does), instead of each test failing with its own traceback. Leave them out
with ``-m "not needs_docker"`` and so on.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pytest


def _has_docker_engine() -> bool:
    from openenv_gym.errors import ProviderError
    from openenv_gym.providers.containers.engine import docker_client

    try:
        docker_client()
    except ProviderError:
        return False
    return True


def _has_stockfish() -> bool:
    from openenv_gym.envs.chess.opponents import DEBIAN_STOCKFISH

    return os.access(DEBIAN_STOCKFISH, os.X_OK) or shutil.which("stockfish") is not None


@dataclass(frozen=True)
class SystemPart:
    marker: str
    what: str
    how: str
    """What installs or starts it."""
    available: Callable[[], bool]


PARTS = (
    SystemPart("needs_docker", "a running Docker engine with a python:3.11-slim image",
               "run .ci/docker-engine.sh from the repository root (it starts one and makes the image)",
               _has_docker_engine),
    SystemPart("needs_chromium", "Debian's Chromium at /usr/bin/chromium (the web interface's browser tests)",
               "apt-get install chromium", lambda: os.access("/usr/bin/chromium", os.X_OK)),
    SystemPart("needs_stockfish", "the Stockfish chess engine", "apt-get install stockfish",
               _has_stockfish),
)


def register_markers(config: pytest.Config) -> None:
    for part in PARTS:
        config.addinivalue_line("markers", f"{part.marker}: the test needs {part.what} ({part.how})")


def missing_parts_message(items: Iterable[pytest.Item]) -> str | None:
    """One message naming each missing part the tests need and what installs it; None if none is."""
    needed = Counter(mark.name for item in items for mark in item.iter_markers()
                     if mark.name.startswith("needs_"))
    missing = [part for part in PARTS if needed[part.marker] and not part.available()]
    if not missing:
        return None
    lines = [f"- {part.what}: {part.how} ({needed[part.marker]} tests, marker {part.marker})" for part in missing]
    leave_out = " and ".join(f"not {part.marker}" for part in missing)
    return ("Some of the selected tests need parts this machine lacks:\n" + "\n".join(lines)
            + f"\nInstall them (bash tests/run.sh does all of it, then runs the tests), or leave those tests out: -m \"{leave_out}\"")

"""A test run that needs a missing part of the machine stops at once with one message saying what
to install, and runs when the tests that need it are left out (``-m "not needs_..."``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parents[1]
DOCKER_TEST = "tests/openenv_gym/cli/test_cli_build.py"


def run_pytest(*args: str) -> subprocess.CompletedProcess[str]:
    no_engine = {**os.environ, "DOCKER_HOST": "unix:///nonexistent.sock"}  # as on a machine without one
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=ROOT,
                          env=no_engine, capture_output=True, text=True, timeout=120)


def test_a_missing_docker_engine_stops_the_run_with_one_message():
    done = run_pytest(DOCKER_TEST)
    assert done.returncode == 4, done.stdout[-2000:]
    assert "Some of the selected tests need parts this machine lacks:\n- a running Docker engine" in done.stdout
    assert "run .ci/docker-engine.sh" in done.stdout and '-m "not needs_docker"' in done.stdout
    assert "passed" not in done.stdout and "Traceback" not in done.stdout


def test_leaving_those_tests_out_runs_the_rest():
    done = run_pytest(DOCKER_TEST, "tests/test_lint.py", "-m", "not needs_docker")
    assert done.returncode == 0, done.stdout[-2000:]
    assert "1 passed, 4 deselected" in done.stdout

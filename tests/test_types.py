"""The package type-checks (mypy) from the checkout: one import root, every layer.

``openenv_gym/server``, ``openenv_gym/envs`` and ``openenv_gym/wrappers`` are links to the
top-level folders ``server/``, ``envs/`` and ``wrappers/``, so mypy and editors resolve
``openenv_gym.server`` from a checkout as Python does (no mapping that only setuptools knows).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_packaging import package_modules

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(600)  # mypy over every layer takes minutes on a loaded 2-core machine
def test_mypy_is_clean_from_the_checkout(tmp_path):
    mypy = shutil.which("mypy")
    assert mypy, "mypy is a test dependency: pip install -e '.[test]'"
    result = subprocess.run(
        [mypy, "--config-file", str(ROOT / "pyproject.toml"), "--python-executable", sys.executable,
         "--cache-dir", str(tmp_path / "cache"), "-p", "openenv_gym"],
        cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    checked = int(result.stdout.split(" source files")[0].rsplit(" ", 1)[1])
    assert checked >= len(package_modules())  # every module of every layer, not only the top folder's

"""The package type-checks (mypy), as installed: one import root, every layer, ``py.typed``.

mypy cannot follow setuptools' editable finder (``server/``, ``envs/`` and ``wrappers/`` are
mapped into ``openenv_gym``), so the test installs a copy into a temporary folder and checks
that, from outside the repository.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_PARTS = ("pyproject.toml", "README.md", "openenv_gym", "server", "envs", "wrappers")


def test_mypy_is_clean(tmp_path):
    mypy = shutil.which("mypy")
    assert mypy, "mypy is a test dependency: pip install -e '.[test]'"
    source, site = tmp_path / "source", tmp_path / "site"
    source.mkdir()
    for part in PACKAGE_PARTS:  # a copy, so the build leaves nothing in the checkout
        copy = shutil.copytree if (ROOT / part).is_dir() else shutil.copy
        copy(ROOT / part, source / part, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                            if (ROOT / part).is_dir() else {}))
    build = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                            "--target", str(site), str(source)], capture_output=True, text=True, cwd=tmp_path)
    assert build.returncode == 0, build.stdout + build.stderr
    assert (site / "openenv_gym" / "py.typed").exists()
    result = subprocess.run(
        [mypy, "--config-file", str(ROOT / "pyproject.toml"), "--python-executable", sys.executable,
         "--cache-dir", str(tmp_path / "cache"), "-p", "openenv_gym"],
        cwd=tmp_path, env={"MYPYPATH": str(site), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr

"""The build context of an env's image.

A bundled env's context is this repository (its project root). Any other project (an env made
by ``openenv-gym init``, say) is built from a staged copy of its project folder whose
``wheels/`` holds a wheel of the openenv-gym this process runs, when that is a source checkout
(not on a package index yet; ``pip wheel`` fetches its build backend from the package index):
the image runs the same openenv-gym as this machine, and the project folder itself is left as
it was.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ...errors import ProviderError

WHEELS = "wheels"
"""The folder of a staged context holding openenv-gym's wheel (the scaffold's Dockerfile installs it)."""


def source_checkout() -> Path | None:
    """The folder of the openenv-gym source checkout this process runs, if it runs one."""
    root = Path(__file__).resolve().parents[3]  # openenv_gym/providers/containers/context.py
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "openenv-gym"' in pyproject.read_text(encoding="utf-8"):
        return root
    return None


def project_root(folder: Path) -> Path:
    """The nearest folder at or above ``folder`` that holds a ``pyproject.toml``."""
    for candidate in (folder, *folder.parents):
        if (candidate / "pyproject.toml").is_file():
            return candidate
    raise ProviderError(f"no pyproject.toml in {folder} or above: the build context of an env's "
                        "image is its project's root")


@contextmanager
def build_context(folder: Path) -> Iterator[tuple[Path, Path]]:
    """The folder to send to ``docker build`` for the env in ``folder``, and the path of the env's
    Dockerfile relative to it."""
    root = project_root(folder)
    dockerfile = folder.relative_to(root) / "Dockerfile"
    checkout = source_checkout()
    if checkout is None or root == checkout:
        yield root, dockerfile
        return
    with tempfile.TemporaryDirectory(prefix="openenv-gym-build-") as staging:
        yield _stage(root, checkout, Path(staging)), dockerfile


def _stage(root: Path, checkout: Path, staging: Path) -> Path:
    """A copy of the project at ``root`` with ``wheels/openenv_gym-*.whl`` built from ``checkout``."""
    context = staging / root.name
    shutil.copytree(root, context, ignore=shutil.ignore_patterns(
        "__pycache__", "*.pyc", ".pytest_cache", "*.egg-info", ".venv", ".git"))
    source = staging / "openenv-gym"  # without build/ and *.egg-info landing in the checkout itself
    shutil.copytree(checkout, source, ignore=shutil.ignore_patterns(
        ".*", "build", "dist", "*.egg-info", "__pycache__", "*.pyc", "tests", "bench", "docs",
        "examples", "*.whl"))
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
               "--wheel-dir", str(context / WHEELS), str(source)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise ProviderError(f"could not build openenv-gym's wheel from {checkout}:\n{done.stderr[-2000:]}")
    return context

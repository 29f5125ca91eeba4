"""The wheel holds every package of the source tree (a package missing from pyproject's list
works from a checkout and is absent from a real install)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import tomllib

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("server", "envs", "wrappers")
"""Top-level folders that are sub-packages of ``openenv_gym`` (``openenv_gym/<name>`` links to them)."""


def package_modules() -> list[Path]:
    """Every module under ``openenv_gym``, through the links to the layers' folders."""
    return [Path(folder, name) for folder, _, names in os.walk(ROOT / "openenv_gym", followlinks=True)
            for name in names if name.endswith(".py")]


def test_the_layers_are_linked_into_the_package() -> None:
    for layer in LAYERS:
        link = ROOT / "openenv_gym" / layer
        assert link.is_symlink() and link.resolve() == (ROOT / layer).resolve(), link


def test_every_package_folder_is_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {".".join(module.parent.relative_to(ROOT).parts) for module in package_modules()
             if module.name == "__init__.py" and "templates" not in module.parts}
    assert found - set(config["packages"]) == set()

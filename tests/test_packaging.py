"""The wheel holds every package of the source tree (a package missing from pyproject's list
works from a checkout and is absent from a real install)."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = set()
    for name, folder in config["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            if "templates" not in relative.parts:
                found.add(".".join([name, *relative.parts]))
    assert found - set(config["packages"]) == set()

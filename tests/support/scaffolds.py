"""Environments made by ``openenv-gym init`` for tests, installed without touching this Python."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

NAME = "guess_env"
"""The scaffolded environment's name (nothing importable has it)."""


def install_in_venv(folder: Path, venv_dir: Path) -> Path:
    """``pip install -e folder`` into a new virtual environment that sees this one's packages
    (``--system-site-packages``; pip and setuptools are this Python's); returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv_dir)],
                   check=True)
    python = venv_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "-e", str(folder)], check=True, capture_output=True)
    return python

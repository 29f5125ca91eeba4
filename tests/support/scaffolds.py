"""Environments made by ``openenv-gym init`` for tests, installed without touching this Python."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

NAME = "guess_env"
"""The scaffolded environment's name (nothing importable has it)."""


def install_in_venv(folder: Path, venv_dir: Path) -> Path:
    """``pip install -e folder`` into a new virtual environment that sees this one's packages
    (``--system-site-packages``; pip is this Python's, the build backend comes from the package
    index as for a user's ``pip install -e``); returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv_dir)],
                   check=True)
    python = venv_dir / "bin" / "python"
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                           "--no-deps", "-e", str(folder)], capture_output=True, text=True)
    assert done.returncode == 0, f"pip install -e {folder} failed:\n{done.stderr[-3000:]}"
    return python

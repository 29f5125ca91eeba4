"""Environments made by ``openenv-gym init`` for tests, installed without touching this Python."""

from __future__ import annotations

import site
import subprocess
import sys
from pathlib import Path

NAME = "guess_env"
"""The scaffolded environment's name (nothing importable has it)."""


def install_in_venv(folder: Path, venv_dir: Path) -> Path:
    """``pip install -e folder`` into a new virtual environment that sees this Python's packages
    (:func:`venv_seeing_this_python`); returns its python (pip is this Python's, the build
    backend comes from the package index as for a user's ``pip install -e``)."""
    python = venv_seeing_this_python(venv_dir)
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                           "--no-deps", "-e", str(folder)], capture_output=True, text=True)
    assert done.returncode == 0, f"pip install -e {folder} failed:\n{done.stderr[-3000:]}"
    return python


def venv_seeing_this_python(venv_dir: Path) -> Path:
    """A new virtual environment (no pip) that imports what this Python imports; its python.

    ``venv --system-site-packages`` alone shows the new venv the *base* interpreter's packages:
    run from a venv (as a newcomer does), that is not this one's, so the new venv would import
    whatever openenv-gym the base interpreter has, or none. A ``.pth`` file makes the new venv
    add this Python's site folders after its own (their ``.pth`` files run: editable installs
    resolve as here).
    """
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv_dir)],
                   check=True)
    python = venv_dir / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "parent_site_packages.pth").write_text(
        "".join(f"import site; site.addsitedir({path!r})\n" for path in this_pythons_site_folders()))
    return python


def this_pythons_site_folders() -> list[str]:
    """The site-packages folders of the running Python (a venv's own first), and the user's."""
    folders = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        folders.append(site.getusersitepackages())
    return folders

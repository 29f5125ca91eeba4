"""Fixtures of the CLI tests: the command run in this process, scaffolds, an installed scaffold."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from openenv_gym.cli import main
from openenv_gym.cli.init import scaffold
from tests.support.scaffolds import NAME, install_in_venv


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """``cli("list", "--spaces")`` runs the command in this process: (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            code = main(list(argv))
        except SystemExit as exit_:  # argparse: --help, usage errors
            code = int(exit_.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def scaffolded(tmp_path: Path) -> Iterator[Path]:
    """A fresh ``openenv-gym init`` package, not installed; forgotten afterwards by this process
    (commands run here put its parent folder on ``sys.path`` and import it)."""
    yield scaffold(NAME, tmp_path)
    if str(tmp_path) in sys.path:
        sys.path.remove(str(tmp_path))
    for module in [m for m in sys.modules if m == NAME or m.startswith(f"{NAME}.")]:
        del sys.modules[module]


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A scaffold installed with ``pip install -e`` into a virtual environment that sees this
    one's packages: (the venv's python, the scaffold's folder). Nothing is installed here."""
    root = tmp_path_factory.mktemp("installed")
    folder = scaffold(NAME, root)
    yield install_in_venv(folder, root / "venv"), folder

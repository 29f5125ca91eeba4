"""``openenv-gym build PATH_OR_NAME``: the environment's Docker image.

Through :func:`openenv_gym.providers.images.build_image` (the Dockerfile of the env's folder,
its project root as the build context). An environment made by ``openenv-gym init`` is its own
project: it is built from a copy of its folder with ``wheels/`` holding a wheel of the
openenv-gym it runs on, when that is a source checkout (not yet on a package index), so the
image runs the same openenv-gym as this machine.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import ProviderError
from .targets import Target, resolve

WHEELS = "wheels"


def add_parser(commands: argparse._SubParsersAction) -> None:
    from ..providers.images import DEFAULT_BASE_IMAGE

    parser = commands.add_parser(
        "build", help="build an environment's Docker image",
        description="Build the Docker image of an environment folder or a bundled or installed "
                    "environment (its Dockerfile), and print its tag. Needs a Docker engine.")
    parser.add_argument("target", metavar="PATH_OR_NAME", help="an environment folder or name")
    parser.add_argument("--tag", help="the image's tag (default openenv-gym/<name>:latest)")
    parser.add_argument("--base-image", default=DEFAULT_BASE_IMAGE,
                        help=f"the Dockerfile's BASE_IMAGE (default {DEFAULT_BASE_IMAGE})")
    parser.add_argument("--verbose", "-v", action="store_true", help="print the build's output")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..providers.images import build_image, image_name

    target = resolve(args.target)
    tag = args.tag or image_name(target.folder)
    print(f"building {tag} from {target.folder} ...", flush=True)
    if target.import_root is None:  # part of an installed project (a bundled env: this repository)
        built = build_image(target.folder, tag, base_image=args.base_image, quiet=not args.verbose)
    else:
        with tempfile.TemporaryDirectory(prefix="openenv-gym-build-") as staging:
            context = _stage(target, Path(staging))
            built = build_image(context, tag, base_image=args.base_image, quiet=not args.verbose)
    print(f"built {built}\nrun it: docker run --rm -p 127.0.0.1:8000:8000 {built}")
    return 0


def source_checkout() -> Path | None:
    """The folder of the openenv-gym source checkout this process runs, if it runs one."""
    root = Path(__file__).resolve().parents[2]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "openenv-gym"' in pyproject.read_text(encoding="utf-8"):
        return root
    return None


def _copy_sources(checkout: Path, destination: Path) -> Path:
    """The checkout without what a wheel does not need, so that the build's ``build/`` and
    ``*.egg-info`` never land in the checkout itself."""
    shutil.copytree(checkout, destination, ignore=shutil.ignore_patterns(
        ".*", "build", "dist", "*.egg-info", "__pycache__", "*.pyc", "tests", "bench", "docs",
        "examples", "*.whl"))
    return destination


def _stage(target: Target, staging: Path) -> Path:
    """A copy of the env's folder with ``wheels/openenv_gym-*.whl`` where a checkout provides it."""
    context = staging / target.folder.name
    shutil.copytree(target.folder, context, ignore=shutil.ignore_patterns(
        "__pycache__", "*.pyc", ".pytest_cache", "*.egg-info", ".venv", ".git"))
    checkout = source_checkout()
    if checkout is not None:
        source = _copy_sources(checkout, staging / "openenv-gym")
        command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                   "--wheel-dir", str(context / WHEELS), str(source)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise ProviderError(f"could not build openenv-gym's wheel from {checkout}:\n"
                                f"{done.stderr[-2000:]}")
    return context

"""``openenv-gym build PATH_OR_NAME``: the environment's Docker image.

Through :func:`openenv_gym.providers.containers.images.build_image` (the Dockerfile of the env's folder,
its project as the build context; see :mod:`openenv_gym.providers.containers.context` for how an env made
by ``openenv-gym init`` gets the openenv-gym it runs on), as the Docker provider builds it.
"""

from __future__ import annotations

import argparse

from .targets import resolve


def add_parser(commands: argparse._SubParsersAction) -> None:
    from ..providers.containers.images import DEFAULT_BASE_IMAGE

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
    from ..providers.containers.images import build_image, image_name

    target = resolve(args.target)
    tag = args.tag or image_name(target.folder)
    print(f"building {tag} from {target.folder} ...", flush=True)
    built = build_image(target.folder, tag, base_image=args.base_image, quiet=not args.verbose)
    print(f"built {built}\nrun it: docker run --rm -p 127.0.0.1:8000:8000 {built}")
    return 0

"""Docker images of environments, built from an env folder's ``Dockerfile``; and
:class:`ImageProvider`, the base of the providers that run them.

The build context is the env folder's *project root* (the nearest folder above it that holds
a ``pyproject.toml``: this repository for the bundled envs), so a Dockerfile installs the
project it belongs to; another project gets openenv-gym's wheel beside it
(:mod:`~openenv_gym.providers.containers.context`).
Images are tagged ``openenv-gym/<name>:latest`` by default.
A Dockerfile that declares ``ARG OPENENV_GYM_BASE`` starts from the shared base beside its folder
(``envs/base.Dockerfile``: the user and the core dependencies), built first and passed by id.

>>> image_name("envs/coding")
'openenv-gym/coding:latest'
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import threading
from collections import deque
from pathlib import Path
from typing import Any

from ...catalog import CatalogEnv, bundled
from ...errors import ProviderError
from ...settings import ENV_KWARGS_VARIABLE, TOKEN_VARIABLE, resolve_token
from ..base import ServerProvider
from .context import build_context
from .engine import Cleanup, docker_client, docker_sdk, install_sigterm_handler, remove_leaked, remove_quietly

DEFAULT_BASE_IMAGE = "python:3.11-slim"
SHARED_BASE_ARG = "OPENENV_GYM_BASE"
"""The build argument naming the shared base image, for a Dockerfile that declares it."""
SHARED_BASE_DOCKERFILE = "base.Dockerfile"
"""The shared base's Dockerfile, in the folder that holds the env folders (``envs/``)."""
BUILD_LOG_LINES = 20
"""The server's environment variable holding its env's keyword arguments (JSON)."""
_build_locks: dict[str, threading.Lock] = {}


def image_name(env: str | os.PathLike[str]) -> str:
    """The default tag of an env's image: ``openenv-gym/<folder name>:latest``."""
    return f"openenv-gym/{Path(env).name}:latest"


def env_folder(env: str | os.PathLike[str]) -> Path:
    """The folder holding the env's Dockerfile: ``env`` itself, or a known env's package folder."""
    folder = Path(env)
    if (folder / "Dockerfile").is_file():
        return folder.resolve()
    try:
        module = bundled(str(env)).module
    except KeyError as exc:
        raise ProviderError(f"{env!r} is not a folder holding a Dockerfile, and {exc.args[0]}") from None
    spec = importlib.util.find_spec(module)  # found, not imported
    folder = Path(next(iter(spec.submodule_search_locations or ()))) if spec else folder
    if not (folder / "Dockerfile").is_file():
        raise ProviderError(f"the env {env!r} has no Dockerfile in {folder}: write one, or build its image "
                            "from a checkout of the openenv-gym repository")
    return folder


def build_image(path: str | os.PathLike[str], tag: str | None = None, *,
                base_image: str = DEFAULT_BASE_IMAGE, quiet: bool = True) -> str:
    """Build the image of an env and return its tag.

    Args:
        path: a folder holding a ``Dockerfile`` (``envs/coding``) or a bundled env's name.
        tag: the image's tag (default ``openenv-gym/<folder name>:latest``).
        base_image: the ``BASE_IMAGE`` build argument (of the shared base, for a Dockerfile
            that starts from it).
        quiet: False prints the build's output as it comes.

    Raises:
        ProviderError: the build failed (with its last output lines), or no engine answers.
    """
    folder = env_folder(path)
    tag = tag or image_name(folder)
    client = docker_client()
    previous = _image_id(client, tag)
    buildargs = {"BASE_IMAGE": base_image}
    with build_context(folder) as (context, dockerfile):
        if _uses_shared_base(folder):
            shared = dockerfile.parent.parent / SHARED_BASE_DOCKERFILE
            buildargs = {SHARED_BASE_ARG: _run_build(client, folder, context, shared, None, buildargs, quiet)}
        _run_build(client, folder, context, dockerfile, tag, buildargs, quiet)
    if previous not in (None, _image_id(client, tag)):
        _remove_replaced(client, previous)
    return tag


def _uses_shared_base(folder: Path) -> bool:
    """Whether the env's Dockerfile starts from the shared base (it declares ``ARG OPENENV_GYM_BASE``)."""
    dockerfile = (folder / "Dockerfile").read_text(encoding="utf-8")
    return re.search(rf"^\s*ARG\s+{SHARED_BASE_ARG}\b", dockerfile, re.MULTILINE) is not None


def _run_build(client: Any, folder: Path, context: Path, dockerfile: Path, tag: str | None,
               buildargs: dict[str, str], quiet: bool) -> str:
    """Build ``dockerfile`` and return the image's id (the image is untagged if ``tag`` is None)."""
    last: deque[str] = deque(maxlen=BUILD_LOG_LINES)
    image_id = ""
    stream = client.api.build(path=str(context), dockerfile=str(dockerfile), tag=tag,
                              buildargs=buildargs, forcerm=True, decode=True)
    for chunk in stream:
        text = chunk.get("stream") or chunk.get("status") or ""
        if not quiet and text:
            print(text, end="" if text.endswith("\n") else "\n", flush=True)
        last.extend(line for line in text.splitlines() if line.strip())
        image_id = chunk.get("aux", {}).get("ID", image_id)
        if "error" in chunk:
            raise ProviderError(f"docker build of {folder} failed: {chunk['error'].strip()}\n"
                                f"last output lines:\n" + "\n".join(last)
                                + _base_hint(buildargs.get("BASE_IMAGE"), chunk))
    return image_id


def _image_id(client: Any, tag: str) -> str | None:
    try:
        return client.images.get(tag).id
    except docker_sdk().errors.ImageNotFound:
        return None


def _remove_replaced(client: Any, image_id: str) -> None:
    """Remove the image a build replaced under its tag, unless a container still uses it."""
    try:
        client.images.remove(image_id)
    except docker_sdk().errors.APIError as exc:
        if exc.status_code not in (404, 409):  # 409: in use, or tagged elsewhere: it stays
            raise


def _base_hint(base_image: str | None, chunk: dict[str, str]) -> str:
    if base_image and base_image in chunk["error"]:
        return (f"\n(is the base image {base_image} there? `docker pull {base_image}`, or without a "
                "registry this repository's `.ci/docker-engine.sh`)")
    return ""


def ensure_image(env: str | os.PathLike[str], tag: str | None = None, *, rebuild: bool = False,
                 base_image: str = DEFAULT_BASE_IMAGE) -> str:
    """The env's image tag, built first if it is missing (or ``rebuild``); one build at a time
    per tag, so providers started in parallel share it."""
    tag = tag or image_name(env)
    with _build_locks.setdefault(tag, threading.Lock()):
        if rebuild or _image_id(docker_client(), tag) is None:
            return build_image(env, tag, base_image=base_image)
        return tag


class ImageProvider(ServerProvider):
    """Servers run from an env's image: what :class:`DockerProvider` and :class:`SwarmProvider`
    share (the image, the server's settings, and removing what was started)."""

    def __init__(self, env: str | os.PathLike[str], *, image: str | None, base_image: str,
                 env_kwargs: dict[str, Any] | None, token: str | None, startup_timeout: float):
        self.env = os.fspath(env)
        self.name = Path(self.env).name
        self.image = image
        self.base_image = base_image
        self.env_kwargs = env_kwargs or {}
        self.token = resolve_token(token)
        self.startup_timeout = startup_timeout
        self._cleanup: Cleanup | None = None
        install_sigterm_handler()

    @classmethod
    def from_catalog(cls, env: CatalogEnv, *, env_kwargs: dict[str, Any], token: str | None,
                     **options: Any) -> ImageProvider:
        return cls(env.name, env_kwargs=env_kwargs, token=token, **options)

    def server_environment(self) -> dict[str, str]:
        """The server's environment variables: the env's keyword arguments and the token."""
        environment = {ENV_KWARGS_VARIABLE: json.dumps(self.env_kwargs)}
        if self.token:
            environment[TOKEN_VARIABLE] = self.token
        return environment

    def _prepare(self, rebuild: bool = False) -> Any:
        """The engine's client, once leaked containers are gone and the image exists."""
        client = docker_client()
        remove_leaked(client)
        self.image = ensure_image(self.env, self.image, rebuild=rebuild, base_image=self.base_image)
        return client

    def _track(self, started: Any) -> None:
        """Remove ``started`` (a container or service) on :meth:`_remove` or any exit."""
        self._cleanup = Cleanup(self, remove_quietly, started)

    def _remove(self) -> bool:
        """Remove what :meth:`_track` tracks; False if nothing was tracked."""
        cleanup, self._cleanup = self._cleanup, None
        if cleanup is not None:
            cleanup()
        return cleanup is not None

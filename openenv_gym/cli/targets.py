"""What a command's ``PATH_OR_NAME`` names: an environment folder (with an ``openenv.yaml``)
or a known environment (bundled or installed, see :mod:`openenv_gym.catalog`).

>>> target = resolve("echo")
>>> target.name, target.app, target.folder.name
('echo', 'openenv_gym.envs.echo.app:app', 'echo')
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from ..catalog import CatalogEnv, from_manifest, known
from ..errors import UsageError, did_you_mean
from ..manifest import FILENAME, Manifest, load_manifest


@dataclass(frozen=True)
class Target:
    """An environment a command works on."""

    name: str
    folder: Path
    """The folder holding its ``openenv.yaml`` (and its Dockerfile, README, ...)."""
    app: str
    package: str
    """The package holding the environment's classes (the one ``openenv.yaml`` belongs to)."""
    import_root: Path | None = None
    """A folder to put on ``sys.path`` so that ``package`` imports (an environment folder that is
    itself its package, not installed); ``None`` if it is installed."""

    def manifest(self) -> Manifest:
        return load_manifest(self.folder)

    def make_importable(self) -> None:
        """Let this process import the environment's package."""
        if self.import_root is not None and str(self.import_root) not in sys.path:
            sys.path.insert(0, str(self.import_root))

    def entry(self) -> CatalogEnv:
        """The environment's classes and app, as the providers take them."""
        self.make_importable()
        return from_manifest(self.name, self.package)


def resolve(path_or_name: str) -> Target:
    """The environment in folder ``path_or_name``, else the known environment of that name.

    Raises:
        UsageError: neither; the message lists the known names and the closest one.
        ManifestError: the folder's ``openenv.yaml`` is invalid.
    """
    path = Path(path_or_name)
    if path.name == FILENAME:
        path = path.parent
    if (path / FILENAME).is_file():
        return _from_folder(path.resolve())
    environments = known()
    if path_or_name in environments:
        env = environments[path_or_name]
        return Target(env.name, env.folder, env.app, env.module)
    what = "folder without openenv.yaml" if path.is_dir() else "no such folder"
    raise UsageError(f"{path_or_name!r} is neither an environment folder ({what}) nor a known "
                     f"environment.{did_you_mean(path_or_name, environments)} "
                     f"Known: {', '.join(sorted(environments))}")


def _from_folder(folder: Path) -> Target:
    """A folder's environment. Its package is the folder itself when the app's top-level package
    has the folder's name (a scaffold); the app's package, imported from the folder, when the
    folder holds it (upstream's layout: ``app: server.app:app``); else the app's package as
    installed (``envs/echo``)."""
    manifest = load_manifest(folder)
    module = manifest.app.split(":")[0]
    top = module.split(".")[0]
    if top == folder.name:
        return Target(manifest.name, folder, manifest.app, folder.name, folder.parent)
    package = module.rpartition(".")[0] or module
    inside = (folder / top).is_dir() or (folder / f"{top}.py").is_file()
    return Target(manifest.name, folder, manifest.app, package, folder if inside else None)

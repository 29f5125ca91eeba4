"""The environments openenv-gym knows by name: bundled ones and installed ones.

Bundled environments live in ``openenv_gym.envs.<name>``. An *installed* environment is any
package (e.g. one made by ``openenv-gym init``) that declares an entry point in the group
``openenv_gym.envs``, name = the environment's name, value = the package holding its
``openenv.yaml``::

    [project.entry-points."openenv_gym.envs"]
    my_env = "my_env"

Its manifest names its app and classes (``app``, ``environment``, ``action``,
``observation``). Nothing is imported until an environment is used.

>>> bundled("echo").app
'openenv_gym.envs.echo.app:app'
>>> bundled("ecko")
Traceback (most recent call last):
...
KeyError: "no environment 'ecko'. Did you mean 'echo'? Known: atari, chess, coding, echo, finance"
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import warnings
from collections.abc import Container, Iterator
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ManifestError, did_you_mean

if TYPE_CHECKING:
    from .manifest import Manifest

ENTRY_POINT_GROUP = "openenv_gym.envs"


@dataclass(frozen=True)
class CatalogEnv:
    """Where an environment's classes live: ``openenv_gym.envs.<name>`` for a bundled one,
    ``module`` and ``app`` (from its manifest) for an installed one."""

    name: str
    environment: str
    action: str
    observation: str
    module: str = ""
    app: str = ""
    """The ASGI app as ``module:attribute``, for uvicorn and the process provider."""

    def __post_init__(self) -> None:
        if not self.module:
            object.__setattr__(self, "module", f"openenv_gym.envs.{self.name}")
        if not self.app:
            object.__setattr__(self, "app", f"{self.module}.app:app")

    @property
    def folder(self) -> Path:
        """The package's folder (found without importing the package)."""
        return package_folder(self.module)

    def manifest(self) -> Manifest:
        """The environment's ``openenv.yaml``."""
        from .manifest import load_manifest

        return load_manifest(self.folder)

    def load(self) -> tuple[Any, Any, Any]:
        """Import and return ``(EnvironmentClass, ActionModel, ObservationModel)``."""
        module = importlib.import_module(self.module)
        return (getattr(module, self.environment), getattr(module, self.action),
                getattr(module, self.observation))


def package_folder(module: str) -> Path:
    """The folder of package ``module``, without importing it (its parents are imported)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ManifestError(f"{module!r} is not an importable package; is it installed?")
    return Path(next(iter(spec.submodule_search_locations)))


BUNDLED: dict[str, CatalogEnv] = {
    env.name: env for env in (
        CatalogEnv("echo", "EchoEnvironment", "EchoAction", "EchoObservation"),
        CatalogEnv("chess", "ChessEnvironment", "ChessAction", "ChessObservation"),
        CatalogEnv("atari", "AtariEnvironment", "AtariAction", "AtariObservation"),
        CatalogEnv("coding", "CodingEnvironment", "CodingAction", "CodingObservation"),
        CatalogEnv("finance", "FinanceEnvironment", "FinanceAction", "FinanceObservation"),
    )
}


def from_manifest(name: str, module: str) -> CatalogEnv:
    """The environment installed as package ``module`` (its ``openenv.yaml`` names the rest)."""
    from .manifest import load_manifest

    manifest = load_manifest(package_folder(module))
    missing = [key for key in ("environment", "action", "observation") if not getattr(manifest, key)]
    if missing:
        raise ManifestError(f"the manifest of {module} lacks {', '.join(missing)}: name the classes "
                            f"(importable from {module}), e.g. 'environment: MyEnvironment'")
    assert manifest.environment and manifest.action and manifest.observation
    return CatalogEnv(name, manifest.environment, manifest.action, manifest.observation,
                      module=module, app=manifest.app)


def unclaimed_entry_points(group: str, taken: Container[str], what: str) -> Iterator[EntryPoint]:
    """The entry points of ``group`` whose names are free: one whose name is in ``taken`` (a
    bundled ``what``) or repeats an earlier one is left out with a warning."""
    seen: set[str] = set()
    for point in entry_points(group=group):
        if point.name in taken or point.name in seen:
            warnings.warn(f"{what} {point.name!r} of {point.value} is left out: the name is taken; "
                          "rename its entry point", stacklevel=3)
            continue
        seen.add(point.name)
        yield point


@functools.cache
def installed() -> dict[str, CatalogEnv]:
    """The environments other packages install (entry point group ``openenv_gym.envs``).

    A broken one is left out with a warning, so that it cannot break ``import openenv_gym``.
    """
    found = {}
    for point in unclaimed_entry_points(ENTRY_POINT_GROUP, BUNDLED, "environment"):
        try:
            found[point.name] = from_manifest(point.name, point.value)
        except ManifestError as exc:
            warnings.warn(f"installed environment {point.name!r} is left out: {exc}", stacklevel=2)
    return found


def known() -> dict[str, CatalogEnv]:
    """Every environment by name: the bundled ones, then the installed ones."""
    return {**BUNDLED, **installed()}


def bundled(name: str) -> CatalogEnv:
    """The environment called ``name``, bundled or installed; the error suggests the closest name."""
    environments = known()
    try:
        return environments[name]
    except KeyError:
        raise KeyError(f"no environment {name!r}.{did_you_mean(name, environments)} "
                       f"Known: {', '.join(sorted(environments))}") from None

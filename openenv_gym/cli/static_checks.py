"""``openenv-gym validate PATH_OR_NAME``: an environment's files and classes, without a server.

Manifest schema, the ``gym:`` section, the app imports, the classes the manifest names are an
``Environment`` and pydantic ``Action`` / ``Observation`` subclasses, the Gym spaces build and
an in-process ``reset`` lands in the observation space, a Dockerfile and a README exist.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import ManifestError, OpenEnvGymError
from ..manifest import Manifest
from .checks import Check
from .targets import Target, resolve

MANIFEST = "openenv.yaml is valid"


def check_path(path_or_name: str) -> tuple[str, list[Check]]:
    """Where the environment ``path_or_name`` is, and its checks; an invalid manifest is the one
    failed check (the others need it)."""
    try:
        target = resolve(path_or_name)
    except ManifestError as exc:
        return path_or_name, [Check("manifest", MANIFEST, False, str(exc))]
    return str(target.folder), check_folder(target)


def check_folder(target: Target) -> list[Check]:
    """Every static check of ``target`` (whose manifest is valid)."""
    checks = [Check("manifest", MANIFEST, True), _gym_section(target.manifest()), _app(target),
              _classes(target)]
    if checks[-1].passed:
        checks.append(_spaces(target))
    return checks + [_file(target, "dockerfile", "Dockerfile", "to build the server's image", True),
                     _file(target, "readme", "README.md", "for the environment's users", False)]


def _gym_section(manifest: Manifest) -> Check:
    return Check("gym_section", "openenv.yaml has a gym: section (the Gym id)", manifest.gym is not None,
                 f"add 'gym: {{id: openenv/{manifest.name}-v0}}'; the id defaults to that meanwhile",
                 required=False)


def _attempt(check_id: str, description: str, body: Callable[[], str]) -> Check:
    """Run ``body``; an error (the user's code may raise anything) fails the check, with its message."""
    try:
        return Check(check_id, description, True, body())
    except Exception as exc:  # safe: whatever the user's code raised is the finding, reported
        return Check(check_id, description, False, f"{type(exc).__name__}: {exc}")


def _app(target: Target) -> Check:
    def body() -> str:
        from uvicorn.importer import import_from_string

        target.make_importable()
        if not callable(import_from_string(target.app)):
            raise TypeError(f"{target.app} is not an ASGI app; build it with create_app(...)")
        return ""

    return _attempt("app_importable", f"the app {target.app} imports", body)


def _classes(target: Target) -> Check:
    def body() -> str:
        from openenv_gym.server import Environment
        from openenv_gym.types import Action, Observation

        environment, action, observation = target.entry().load()
        for cls, base in ((environment, Environment), (action, Action), (observation, Observation)):
            if not (isinstance(cls, type) and issubclass(cls, base)):
                raise TypeError(f"{cls!r} must subclass openenv_gym's {base.__name__}")
        return ""

    return _attempt("models", "environment, action and observation classes subclass Environment, "
                    "Action and Observation", body)


def _spaces(target: Target) -> Check:
    def body() -> str:
        from openenv_gym.providers import InProcessProvider
        from openenv_gym.wrappers.spaces import SpaceCodec

        client = InProcessProvider(target.entry()).connect()
        try:
            codec = SpaceCodec.from_schema(client.schema())
            observation = codec.observation_to_gym(client.reset().observation)
        finally:
            client.close()
        if not codec.observation_space.contains(observation):
            raise OpenEnvGymError(f"the reset observation {observation!r:.200} is not in "
                                  f"{codec.observation_space}")
        return ""

    return _attempt("spaces", "the Gym spaces build and a reset observation lies in its space", body)


def _file(target: Target, check_id: str, name: str, purpose: str, required: bool) -> Check:
    found = (target.folder / name).is_file()
    return Check(check_id, f"{name} is there, {purpose}", found, f"create {target.folder / name}",
                 required=required)

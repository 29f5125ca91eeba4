"""``openenv-gym validate PATH_OR_NAME``: an environment's files and classes, without a server.

Manifest schema, the ``gym:`` section, upstream's ``validation:`` block, the app imports, the
classes the manifest names are an ``Environment`` and pydantic ``Action`` / ``Observation``
subclasses, the Gym spaces build and an in-process ``reset`` lands in the observation space, a
Dockerfile and a README exist.

An upstream package (``openenv init``: the manifest names no classes, ``app: server.app:app``,
the Dockerfile in ``server/``) is checked through its app instead: ``/schema`` is read and a
reset is sent over ``/ws`` in this process (no socket), and its reset observation must lie in
the Gym space built from the schema.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import ManifestError, OpenEnvGymError
from ..manifest import Manifest
from .checks import Check
from .targets import Target, resolve

MANIFEST = "openenv.yaml is valid"
DOCKERFILES = ("Dockerfile", "server/Dockerfile")
"""Where a Dockerfile may be: ours at the root, upstream's scaffold in ``server/``."""
POLICY_BOUNDS = {"floor_margin": 0.1, "oracle_tolerance": 0.1, "episode_timeout_s": 3600.0}
"""Upstream's severity policy v1: the least floor margin, the most oracle tolerance and timeout."""


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
    manifest = target.manifest()
    checks = [Check("manifest", MANIFEST, True), _gym_section(manifest), _validation_block(manifest),
              _app(target)]
    if not names_classes(manifest):
        checks.append(_served_spaces(target))
    else:
        checks.append(_classes(target))
        if checks[-1].passed:
            checks.append(_spaces(target))
    return checks + [_dockerfile(target),
                     _file(target, "readme", "README.md", "for the environment's users", False)]


def names_classes(manifest: Manifest) -> bool:
    """Does the manifest name the environment's classes (ours), or not (upstream's)?"""
    return any((manifest.environment, manifest.action, manifest.observation))


def _validation_block(manifest: Manifest) -> Check:
    description = "openenv.yaml has upstream's validation: block (openenv validate --level static)"
    block = manifest.validation
    if block is None:
        return Check("validation_block", description, False,
                     "add 'validation:' with reward (range, floor_margin), resources (cpu, memory_mb, "
                     "disk_mb, episode_timeout_s), capabilities.verifier.kind and types.tags "
                     "(`openenv-gym init` writes one)", required=False)
    declared = {"floor_margin": block.reward.floor_margin, "oracle_tolerance": block.reward.oracle_tolerance,
                "episode_timeout_s": block.resources.episode_timeout_s}
    outside = [f"{key} {value:g} (policy: {'at least' if key == 'floor_margin' else 'at most'} "
               f"{POLICY_BOUNDS[key]:g})" for key, value in declared.items()
               if (value < POLICY_BOUNDS[key] if key == "floor_margin" else value > POLICY_BOUNDS[key])]
    return Check("validation_block", description, not outside,
                 "outside upstream's policy: " + "; ".join(outside), required=False)


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
        from openenv_gym.wrappers import SpaceCodec

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


def _served_spaces(target: Target) -> Check:
    def body() -> str:
        from starlette.testclient import TestClient
        from uvicorn.importer import import_from_string

        from openenv_gym.wrappers import SpaceCodec

        target.make_importable()
        with TestClient(import_from_string(target.app)) as client:
            response = client.get("/schema")
            response.raise_for_status()
            codec = SpaceCodec.from_schema(response.json())
            with client.websocket_connect("/ws") as socket:
                socket.send_json({"type": "reset", "data": {}})
                reply = socket.receive_json()
        if reply.get("type") != "observation":
            raise OpenEnvGymError(f"reset over /ws answered {reply!r:.300}")
        observation = codec.observation_to_gym(reply["data"]["observation"])
        if not codec.observation_space.contains(observation):
            raise OpenEnvGymError(f"the reset observation {observation!r:.200} is not in "
                                  f"{codec.observation_space}")
        return ""

    return _attempt("spaces", "the app serves /schema, the Gym spaces build from it and a reset "
                    "observation over /ws lies in its space (the manifest names no classes)", body)


def _dockerfile(target: Target) -> Check:
    found = [name for name in DOCKERFILES if (target.folder / name).is_file()]
    return Check("dockerfile", f"a Dockerfile is there ({' or '.join(DOCKERFILES)}), to build the "
                 "server's image", bool(found), f"create {target.folder / 'Dockerfile'}")


def _file(target: Target, check_id: str, name: str, purpose: str, required: bool) -> Check:
    found = (target.folder / name).is_file()
    return Check(check_id, f"{name} is there, {purpose}", found, f"create {target.folder / name}",
                 required=required)

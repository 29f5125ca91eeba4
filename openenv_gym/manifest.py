"""``openenv.yaml``: an environment's manifest, as upstream's plus a ``gym:`` section.

Upstream's fields (``spec_version``, ``name``, ``type``, ``runtime``, ``app``, ``port``,
``action``, ``observation``, ``description``, ``variables``, ...) are read as upstream writes
them; unknown keys are kept, so an upstream manifest loads unchanged. Ours:

- ``environment``: the ``Environment`` class's name (with ``action`` and ``observation``,
  importable from the environment's package), for the in-process provider;
- ``gym``: how the environment is registered with Gymnasium (``id``, ``max_episode_steps``,
  ``kwargs``, ``nondeterministic``, ``entry_point``).

>>> manifest = Manifest.model_validate({
...     "name": "my_env", "app": "my_env.app:app", "action": "MyEnvAction",
...     "observation": "MyEnvObservation", "gym": {"id": "openenv/my_env-v0", "max_episode_steps": 100}})
>>> manifest.gym.id, manifest.gym.max_episode_steps, manifest.port
('openenv/my_env-v0', 100, 8000)
>>> Manifest.model_validate({"name": "my_env", "app": "my_env.app"})
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for Manifest
app
  Value error, 'my_env.app' is not 'module:attribute' (e.g. 'my_env.app:app') ...
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from gymnasium.envs.registration import parse_env_id
from gymnasium.error import Error as GymnasiumError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ManifestError
from .protocol import summarize_errors

FILENAME = "openenv.yaml"
APP_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class GymSection(BaseModel):
    """How an environment is registered as a Gymnasium id (the manifest's ``gym:``)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="the Gymnasium id, e.g. 'openenv/my_env-v0'")
    max_episode_steps: int | None = Field(default=None, gt=0,
                                          description="episodes are truncated after this many steps")
    kwargs: dict[str, Any] = Field(default_factory=dict,
                                   description="default keyword arguments of the environment")
    nondeterministic: bool = Field(default=False,
                                   description="True if a seed does not fix the episode")
    entry_point: str | None = Field(default=None, description="the Gym class as 'module:Class' "
                                    "(default: openenv_gym.wrappers.env:GymEnv)")

    @field_validator("id")
    @classmethod
    def _gym_id(cls, value: str) -> str:
        try:
            _, _, version = parse_env_id(value)
        except GymnasiumError as exc:
            raise ValueError(f"{value!r} is not a Gymnasium id: {exc}") from None
        if version is None:
            raise ValueError(f"{value!r} has no version; end it with '-v0'")
        return value


class Manifest(BaseModel):
    """The contents of an environment's ``openenv.yaml``."""

    model_config = ConfigDict(extra="allow")

    spec_version: int = 1
    name: str = Field(min_length=1, description="the environment's name, e.g. 'my_env'")
    type: str = "space"
    runtime: str = "fastapi"
    app: str = Field(description="the ASGI app as 'module:attribute'")
    port: int = Field(default=8000, ge=1, le=65535)
    description: str = ""
    action: str | None = Field(default=None, description="the Action class's name")
    observation: str | None = Field(default=None, description="the Observation class's name")
    environment: str | None = Field(default=None, description="the Environment class's name")
    variables: dict[str, str] = Field(default_factory=dict)
    gym: GymSection | None = None

    @field_validator("app")
    @classmethod
    def _app(cls, value: str) -> str:
        if not APP_PATTERN.match(value):
            raise ValueError(f"{value!r} is not 'module:attribute' (e.g. 'my_env.app:app')")
        return value


def load_manifest(path: str | Path) -> Manifest:
    """Read and check ``path`` (an ``openenv.yaml``, or the folder holding one).

    Raises:
        ManifestError: the file is missing, is not YAML, or its fields are invalid; the message
            names the file and each field to fix.
    """
    import yaml  # imported on use: ``import openenv_gym`` stays cheap

    path = Path(path)
    if path.is_dir():
        path = path / FILENAME
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"no manifest at {path}: create {FILENAME} "
                            "(`openenv-gym init NAME` writes one)") from None
    except (OSError, yaml.YAMLError) as exc:
        raise ManifestError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ManifestError(f"{path} must hold a mapping of fields (name:, app:, ...), "
                            f"not {type(data).__name__}")
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(f"{path}: {summarize_errors(exc.errors())}") from None

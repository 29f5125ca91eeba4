"""``openenv.yaml``: an environment's manifest, as upstream's plus a ``gym:`` section.

Upstream's fields (``spec_version``, ``name``, ``type``, ``runtime``, ``app``, ``port``,
``action``, ``observation``, ``description``, ``variables``, ...) are read as upstream writes
them; unknown keys are kept, so an upstream manifest loads unchanged. Ours:

- ``environment``: the ``Environment`` class's name (with ``action`` and ``observation``,
  importable from the environment's package), for the in-process provider;
- ``gym``: how the environment is registered with Gymnasium (``id``, ``max_episode_steps``,
  ``kwargs``, ``nondeterministic``, ``entry_point``), and ``compute_bound`` (how many servers
  a vector env starts by default).

Upstream's ``validation:`` block (what ``openenv validate --level static`` requires: the
reward's range and margins, the resources, how the reward is verified, type tags) is checked
as upstream checks it: unknown keys inside its sections are refused, unknown sections ignored.

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
from typing import Any, Literal

from gymnasium.envs.registration import parse_env_id
from gymnasium.error import Error as GymnasiumError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

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
    compute_bound: bool = Field(default=False, description="True if a step's time is the environment's "
                                "own computation (an emulator): a vector env then starts one server "
                                "per core instead of leaving one core to its client")

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


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RewardDeclaration(_Section):
    """``validation.reward``: the declared reward range; how close an oracle gets to its top
    (``oracle_tolerance``) and how far below it a floor policy must stay (``floor_margin``)."""

    range: tuple[float, float] = (0.0, 1.0)
    oracle_tolerance: float = Field(default=0.0, ge=0.0)
    floor_margin: float = Field(ge=0.0)
    variance_tolerance: float | None = Field(default=None, ge=0.0)

    @model_validator(mode="after")
    def _increasing(self) -> RewardDeclaration:
        if not self.range[0] < self.range[1]:
            raise ValueError(f"the reward range must be increasing, got {list(self.range)}")
        return self


class ResourceDeclaration(_Section):
    """``validation.resources``: the budget one environment server needs."""

    cpu: float = Field(gt=0.0)
    memory_mb: int = Field(gt=0)
    disk_mb: int = Field(gt=0)
    episode_timeout_s: float = Field(gt=0.0)
    gpus: int = Field(default=0, ge=0)
    gpu_types: list[str] = Field(default_factory=list)


class VerifierBinding(_Section):
    """``validation.capabilities.verifier``: the served reward, or a script (``entry``)."""

    kind: Literal["reward_channel", "script"]
    entry: str | None = None

    @model_validator(mode="after")
    def _entry_iff_script(self) -> VerifierBinding:
        if (self.kind == "script") != (self.entry is not None):
            raise ValueError("verifier.entry is required with kind 'script' and refused otherwise")
        return self


class OracleDeclaration(_Section):
    form: Literal["injected_state", "script"]
    location: str


class CapabilitiesDeclaration(_Section):
    """``validation.capabilities``: what the environment offers its graders."""

    verifier: VerifierBinding
    oracle: OracleDeclaration | None = None
    set_state: bool = False
    llm_judged: bool = False
    rubric_tree: bool = False
    task_api: bool = False
    canaries: str | None = None
    declared_tools: list[str] = Field(default_factory=list)
    declared_task_count: dict[str, int] = Field(default_factory=dict)


class TypeTags(_Section):
    tags: list[str] = Field(min_length=1, description="at least one, e.g. [coding]")


class NetworkDeclaration(_Section):
    mode: Literal["public", "no-network", "allowlist"] = "public"
    allowed_hosts: list[str] = Field(default_factory=list)


class ValidationSection(BaseModel):
    """Upstream's ``validation:`` block (the sections ``openenv validate`` reads)."""

    model_config = ConfigDict(extra="allow")

    reward: RewardDeclaration
    resources: ResourceDeclaration
    capabilities: CapabilitiesDeclaration
    types: TypeTags
    network: NetworkDeclaration | None = None
    judge: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _judge_iff_llm_judged(self) -> ValidationSection:
        if self.capabilities.llm_judged != (self.judge is not None):
            raise ValueError("a judge: pin is required exactly when capabilities.llm_judged is true")
        return self


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
    validation: ValidationSection | None = None

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

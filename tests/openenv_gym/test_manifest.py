"""``openenv.yaml``: every bundled env's manifest validates and matches its catalog entry and
Gym registration; bad manifests get errors that name the file and the field."""

from __future__ import annotations

import gymnasium as gym
import pytest

import openenv_gym  # noqa: F401  (registers the ids)
from openenv_gym.catalog import BUNDLED, from_manifest
from openenv_gym.errors import ManifestError
from openenv_gym.manifest import load_manifest
from openenv_gym.registration import ENTRY_POINT

pytestmark = pytest.mark.fast


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_every_bundled_manifest_matches_the_catalog_and_the_registry(name):
    env = BUNDLED[name]
    manifest = env.manifest()
    assert (manifest.name, manifest.app) == (name, env.app)
    assert (manifest.environment, manifest.action, manifest.observation) == (
        env.environment, env.action, env.observation)
    assert manifest.gym is not None and manifest.gym.id == f"openenv/{name}-v0"
    spec = gym.spec(manifest.gym.id)
    assert spec.kwargs == {"env": name, **manifest.gym.kwargs}
    assert spec.max_episode_steps == manifest.gym.max_episode_steps
    assert spec.entry_point == (manifest.gym.entry_point or ENTRY_POINT)


@pytest.mark.parametrize(("text", "message"), [
    ("name: x\napp: x.app:app\ngym: {id: 'not an id'}\n", "gym.id: Value error, 'not an id' is not a Gymnasium id"),
    ("name: x\napp: x.app:app\ngym: {id: openenv/x-v0, max_episode_steps: 0}\n",
     "gym.max_episode_steps: Input should be greater than 0"),
    ("app: x.app:app\n", "name: Field required"),
    ("- a list\n", "must hold a mapping of fields"),
    ("name: [unclosed\n", "cannot read"),
])
def test_invalid_manifests_say_what_to_fix(tmp_path, text, message):
    (tmp_path / "openenv.yaml").write_text(text)
    with pytest.raises(ManifestError, match=str(tmp_path)) as caught:
        load_manifest(tmp_path)
    assert message in str(caught.value)


def test_upstream_manifests_load_unchanged(tmp_path):
    (tmp_path / "openenv.yaml").write_text("spec_version: 1\nname: my_env\ntype: space\nruntime: fastapi\n"
                                           "app: server.app:app\nport: 8000\nvariables: {MODE: fast}\n"
                                           "some_future_field: 3\n")
    manifest = load_manifest(tmp_path / "openenv.yaml")
    assert manifest.gym is None and manifest.variables == {"MODE": "fast"}
    assert manifest.model_extra == {"some_future_field": 3}


def test_an_installed_env_needs_its_classes_named(tmp_path, monkeypatch):
    package = tmp_path / "half_env"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "openenv.yaml").write_text("name: half_env\napp: half_env.app:app\naction: A\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ManifestError, match="lacks environment, observation: name the classes"):
        from_manifest("half_env", "half_env")

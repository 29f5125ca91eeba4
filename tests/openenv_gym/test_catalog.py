"""Installed environments: found through the ``openenv_gym.envs`` entry point group of a real
distribution's metadata (a ``*.dist-info`` folder on ``sys.path``, as pip leaves it)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import pytest

from openenv_gym.catalog import bundled, installed, known
from openenv_gym.cli.init import scaffold
from openenv_gym.registration import register_envs

pytestmark = pytest.mark.fast


def install(site: Path, name: str, package: str) -> None:
    """What ``pip install`` leaves of a distribution with the entry point ``name = package``."""
    info = site / f"{name}_dist-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}-dist\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[openenv_gym.envs]\n{name} = {package}\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A site folder on ``sys.path``; the catalog and ``sys.modules`` forget it afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    installed.cache_clear()
    yield tmp_path
    installed.cache_clear()
    for module in [m for m in sys.modules if m.split(".")[0] in ("tiny_env", "broken_env")]:
        del sys.modules[module]


def test_an_installed_scaffold_is_known_registered_and_made(site):
    scaffold("tiny_env", site)
    install(site, "tiny_env", "tiny_env")
    assert known()["tiny_env"].app == "tiny_env.app:app"
    assert "openenv/tiny_env-v0" in register_envs()
    try:
        env = gym.make("openenv/tiny_env-v0", provider="inprocess")
        env.reset(seed=0)
        assert env.step(50)[0]["guesses"] == 1
        assert env.spec.max_episode_steps == 20
        env.close()
    finally:
        del gym.registry["openenv/tiny_env-v0"]


def test_a_broken_or_clashing_installed_env_is_left_out_with_a_warning(site):
    (site / "broken_env").mkdir()
    (site / "broken_env" / "__init__.py").write_text("")
    (site / "broken_env" / "openenv.yaml").write_text("name: broken_env\n")
    install(site, "broken_env", "broken_env")
    install(site, "echo", "broken_env")
    with pytest.warns(UserWarning) as caught:
        found = installed()
    assert "broken_env" not in found and "echo" not in found
    messages = sorted(str(w.message) for w in caught)
    assert "the name is taken" in messages[0] and "app: Field required" in messages[1]
    assert bundled("echo").module == "openenv_gym.envs.echo"

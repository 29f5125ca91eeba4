"""Providers other packages install are found by name, through the ``openenv_gym.providers``
entry-point group, as installed environments are through ``openenv_gym.envs``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

PROVIDER = '''
from openenv_gym.providers import InProcessProvider

class EchoHereProvider(InProcessProvider):
    """An installed provider: the in-process one under another name, with an option of its own."""

    def __init__(self, *args, greeting="hi", **kwargs):
        super().__init__(*args, **kwargs)
        self.greeting = greeting


NOT_A_PROVIDER = 42
'''


def _install(site: Path, entry_points: str) -> None:
    """A package as pip installs it: its module and a dist-info with entry points, on a path."""
    (site / "my_providers.py").write_text(PROVIDER)
    info = site / "my_providers-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-providers\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[openenv_gym.providers]\n{entry_points}\n")


def _run(site: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-W", "always", "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env={"PYTHONPATH": f"{site}:{Path.cwd()}", "PATH": "/usr/bin:/bin"},
                          timeout=120)


def test_an_installed_provider_is_made_by_name_with_its_own_options(tmp_path):
    _install(tmp_path, "echo-here = my_providers:EchoHereProvider")
    done = _run(tmp_path, """
        import gymnasium as gym, openenv_gym
        env = gym.make("openenv/echo-v0", provider="echo-here", provider_options={"greeting": "hello"})
        print(type(env.unwrapped._provider).__name__, env.unwrapped._provider.greeting)
        print(env.reset(seed=0)[0]["echoed_message"])
        env.close()
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["EchoHereProvider hello", "Echo environment ready!"]


@pytest.mark.parametrize("entry, why", [
    ("process = my_providers:EchoHereProvider", "the name is taken"),
    ("broken = my_providers:NoSuchClass", "it does not import"),
    ("odd = my_providers:NOT_A_PROVIDER", "not a Provider subclass"),
])
def test_a_broken_or_clashing_provider_is_left_out_with_a_warning(tmp_path, entry, why):
    _install(tmp_path, entry)
    done = _run(tmp_path, """
        import openenv_gym.providers as p
        print(sorted(p.providers()))
    """)
    assert done.returncode == 0, done.stderr
    assert why in done.stderr
    assert done.stdout.strip() == "['docker', 'inprocess', 'process', 'ray', 'swarm']"

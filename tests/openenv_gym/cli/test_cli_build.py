"""``openenv-gym build``: a scaffold's image, built and run on a real Docker engine."""

from __future__ import annotations

import httpx

from openenv_gym.cli import main
from openenv_gym.providers import DockerProvider
from tests.support.docker import engine


def test_a_scaffold_builds_into_an_image_that_serves_it(scaffolded, capsys):
    client = engine()  # fails, not skips, without an engine
    tag = "openenv-gym/guess-env-test:latest"
    assert main(["build", str(scaffolded), "--tag", tag]) == 0
    assert f"built {tag}" in capsys.readouterr().out
    try:
        with DockerProvider(str(scaffolded), image=tag) as provider:
            url = provider.start()
            assert "guess" in httpx.get(f"{url}/schema").json()["action"]["properties"]
        assert not (scaffolded / "wheels").exists()  # the user's folder stays as it was
    finally:
        client.images.remove(tag, force=True)

"""``openenv-gym build``: a scaffold's image, built and run on a real Docker engine."""

from __future__ import annotations

import httpx
import pytest

from openenv_gym.cli import main
from openenv_gym.providers import DockerProvider
from tests.support.docker import engine

pytestmark = pytest.mark.needs_docker


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


def test_a_bundled_environment_builds_by_name(capsys):
    client = engine()
    assert main(["build", "echo"]) == 0
    assert "built openenv-gym/echo:latest" in capsys.readouterr().out
    assert "openenv_gym.envs.echo" in client.images.get("openenv-gym/echo:latest").attrs["Config"]["Cmd"]


def test_a_failed_build_exits_1_with_the_reason_and_leaves_no_container(scaffolded, capsys):
    client = engine()
    before = {c.id for c in client.containers.list(all=True)}
    (scaffolded / "Dockerfile").write_text("FROM python:3.11-slim\nRUN exit 3\n")
    assert main(["build", str(scaffolded), "--tag", "openenv-gym/never-built:latest"]) == 1
    assert "docker build of" in capsys.readouterr().err
    assert {c.id for c in client.containers.list(all=True)} <= before  # not the failed step's container


def test_the_docker_provider_builds_a_scaffold_it_has_no_image_of(scaffolded):
    client = engine()
    tag = "openenv-gym/guess-env-provider-test:latest"
    try:
        with DockerProvider(str(scaffolded), image=tag) as provider:  # no `openenv-gym build` first
            url = provider.start()
            assert "guess" in httpx.get(f"{url}/schema").json()["action"]["properties"]
        assert not (scaffolded / "wheels").exists()
    finally:
        client.images.remove(tag, force=True)

"""``openenv-gym validate``: static checks of a folder; a running server, ours and upstream's."""

from __future__ import annotations

import json

import pytest

from openenv_gym.catalog import BUNDLED
from openenv_gym.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from tests.support.servers import serving

STATIC = ["manifest", "gym_section", "validation_block", "app_importable", "models", "spaces", "dockerfile",
          "readme"]
UPSTREAM = ["openapi_version_available", "health_endpoint", "metadata_endpoint", "schema_endpoint",
            "mcp_endpoint", "mode_endpoint_consistency"]


def criteria(out: str) -> dict[str, bool]:
    return {c["id"]: c["passed"] for c in json.loads(out)["criteria"]}


@pytest.mark.parametrize("target", sorted(BUNDLED))
def test_every_bundled_environment_passes(cli, target):
    code, out, _ = cli("validate", target, "--json")
    assert code == EXIT_OK, out
    assert set(criteria(out)) == set(STATIC)


def test_a_fresh_scaffold_passes_before_it_is_installed(cli, scaffolded):
    code, out, _ = cli("validate", str(scaffolded))
    assert code == EXIT_OK, out
    assert out.rstrip().endswith("passed: 8/8 checks")


def test_an_invalid_manifest_fails_and_names_the_field(cli, scaffolded):
    manifest = scaffolded / "openenv.yaml"
    manifest.write_text(manifest.read_text().replace("app: guess_env.app:app", "app: guess_env/app.py"))
    code, out, _ = cli("validate", str(scaffolded))
    assert code == EXIT_FAILED
    assert "FAIL manifest" in out and "app: Value error, 'guess_env/app.py' is not 'module:attribute'" in out


def test_a_model_that_is_not_an_action_fails(cli, scaffolded):
    models = scaffolded / "models.py"
    models.write_text(models.read_text().replace("class GuessEnvAction(Action):",
                                                 "class GuessEnvAction(Observation):"))
    code, out, _ = cli("validate", str(scaffolded), "--json")
    assert code == EXIT_FAILED
    found = criteria(out)
    assert found["models"] is False and "spaces" not in found  # spaces need the models


def test_a_missing_dockerfile_fails_a_missing_readme_only_warns(cli, scaffolded):
    (scaffolded / "README.md").unlink()
    code, out, _ = cli("validate", str(scaffolded))
    assert code == EXIT_OK and "WARN readme" in out
    (scaffolded / "Dockerfile").unlink()
    code, out, _ = cli("validate", str(scaffolded))
    assert code == EXIT_FAILED
    assert "FAIL dockerfile" in out and f"create {scaffolded / 'Dockerfile'}" in out


def test_our_running_server_passes_upstreams_criteria_and_ours(cli, echo_server):
    code, out, _ = cli("validate", "--url", echo_server.base_url, "--json")
    assert code == EXIT_OK, out
    assert criteria(out) == dict.fromkeys([*UPSTREAM, "ws_round_trip", "spaces"], True)


def test_an_upstream_server_passes_too():
    with serving("tests.interop.upstream_counter:app") as server:
        from openenv_gym.cli import main

        assert main(["validate", "--url", server.base_url]) == EXIT_OK


def test_a_server_that_is_not_there_fails_every_check(cli, echo_server):
    with serving("openenv_gym.envs.echo.app:app") as server:
        url = server.base_url
    code, out, _ = cli("validate", "--url", url, "--timeout", "2", "--json")
    assert code == EXIT_FAILED
    assert not any(criteria(out).values())


@pytest.mark.parametrize("argv", [["validate"], ["validate", "echo", "--url", "http://127.0.0.1:1"],
                                  ["validate", "--url", "127.0.0.1:8000"]])
def test_usage_errors(cli, argv):
    code, _, err = cli(*argv)
    assert code == EXIT_USAGE and "error:" in err


def test_a_scaffold_declares_upstreams_validation_block(cli, scaffolded):
    code, out, _ = cli("validate", str(scaffolded), "--json")
    assert criteria(out)["validation_block"] is True


def test_a_manifest_without_the_block_warns_one_out_of_policy_says_why(cli, scaffolded):
    manifest = scaffolded / "openenv.yaml"
    text = manifest.read_text()
    manifest.write_text(text.replace("floor_margin: 0.1", "floor_margin: 0.01"))
    code, out, _ = cli("validate", str(scaffolded))
    assert code == EXIT_OK and "WARN validation_block" in out and "floor_margin 0.01 (policy: at least 0.1)" in out
    manifest.write_text(text[:text.index("# Upstream's `validation:` block")])
    code, out, _ = cli("validate", str(scaffolded))
    assert code == EXIT_OK and "WARN validation_block" in out


def test_a_broken_validation_block_fails_the_manifest_and_names_the_field(cli, scaffolded):
    manifest = scaffolded / "openenv.yaml"
    manifest.write_text(manifest.read_text().replace("kind: reward_channel", "kind: oracle"))
    code, out, _ = cli("validate", str(scaffolded))
    assert code == EXIT_FAILED and "FAIL manifest" in out and "validation.capabilities.verifier.kind" in out


def test_a_dockerfile_in_server_counts_as_upstreams_layout_has_it(cli, scaffolded):
    (scaffolded / "server").mkdir()
    (scaffolded / "Dockerfile").rename(scaffolded / "server" / "Dockerfile")
    code, out, _ = cli("validate", str(scaffolded))
    assert code == EXIT_OK and "PASS dockerfile" in out

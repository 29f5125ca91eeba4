"""``openenv-gym serve``: a bundled env by name, a scaffold folder, the web UI, auto-reload."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import httpx

from openenv_gym.cli import EXIT_USAGE
from tests.interop import upstream_counter
from tests.support.servers import served_by

SERVE = [sys.executable, "-m", "openenv_gym.cli", "serve"]


def test_serves_a_bundled_environment_by_name():
    with served_by([*SERVE, "echo", "--port", "{port}"]) as url:
        assert httpx.get(f"{url}/metadata").json()["name"] == "EchoEnvironment"
        assert httpx.get(f"{url}/web/").status_code == 404


def test_serves_a_scaffold_folder_with_the_web_interface(scaffolded):
    with served_by([*SERVE, str(scaffolded), "--port", "{port}", "--web"]) as url:
        assert "guess" in httpx.get(f"{url}/schema").json()["action"]["properties"]
        page = httpx.get(f"{url}/web/", follow_redirects=True)
        assert page.status_code == 200 and "<html" in page.text.lower()


def test_reload_picks_up_an_edit(scaffolded):
    models = scaffolded / "models.py"
    with served_by([*SERVE, str(scaffolded), "--port", "{port}", "--reload"]) as url:
        def description() -> str:
            try:
                return httpx.get(f"{url}/schema").json()["action"]["properties"]["guess"]["description"]
            except httpx.TransportError:  # the server is restarting
                return ""

        assert description() == "The number guessed."
        models.write_text(models.read_text().replace("The number guessed.", "Your guess."))
        deadline = time.monotonic() + 30
        while description() != "Your guess." and time.monotonic() < deadline:
            time.sleep(0.2)
        assert description() == "Your guess."


def test_serves_a_folder_in_upstreams_layout(tmp_path):
    """``app: server.app:app`` relative to the folder, as ``openenv init`` writes it."""
    (tmp_path / "openenv.yaml").write_text("spec_version: 1\nname: counter\ntype: space\nruntime: fastapi\n"
                                           "app: server.app:app\nport: 8000\n")
    (tmp_path / "server").mkdir()
    (tmp_path / "server" / "__init__.py").write_text("")
    shutil.copy(Path(upstream_counter.__file__), tmp_path / "server" / "app.py")
    with served_by([*SERVE, str(tmp_path), "--port", "{port}"]) as url:
        assert httpx.post(f"{url}/reset", json={}).json()["observation"] == {"value": 0, "note": "reset"}


def test_an_app_that_does_not_import_is_a_usage_error(cli, scaffolded):
    manifest = scaffolded / "openenv.yaml"
    manifest.write_text(manifest.read_text().replace("app: guess_env.app:app", "app: guess_env.app:application"))
    code, _, err = cli("serve", str(scaffolded))
    assert code == EXIT_USAGE
    assert "cannot import the app 'guess_env.app:application'" in err and "application" in err


def test_an_unknown_environment_is_a_usage_error(cli, tmp_path):
    code, _, err = cli("serve", str(tmp_path))
    assert code == EXIT_USAGE
    assert "folder without openenv.yaml" in err

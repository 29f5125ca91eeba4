"""``openenv-gym serve``: a bundled env by name, a scaffold folder, the web UI, auto-reload."""

from __future__ import annotations

import sys
import time

import httpx

from openenv_gym.cli import EXIT_USAGE
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


def test_an_unknown_environment_is_a_usage_error(cli, tmp_path):
    code, _, err = cli("serve", str(tmp_path))
    assert code == EXIT_USAGE
    assert "folder without openenv.yaml" in err

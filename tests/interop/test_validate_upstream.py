"""Upstream's validator (``openenv`` 0.10, its own venv) on our packages and servers, and ours on
an upstream package.

- ``openenv validate DIR --level static --skip-build`` passes every bundled environment and a
  fresh ``openenv-gym init`` scaffold (their ``validation:`` blocks);
- ``openenv-gym validate`` passes a package made by upstream's ``openenv init`` (manifest at the
  root, Dockerfile in ``server/``);
- upstream's runtime observation-schema check (its ``schema_worker``, the grader behind
  ``openenv validate --level runtime``) finds every observation our servers send within
  ``/schema``, chess in text mode included.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from openenv_gym.catalog import BUNDLED
from openenv_gym.cli import EXIT_OK, main
from openenv_gym.cli.init import scaffold
from tests.support.servers import serving
from tests.support.upstream import Peer

REPO_ROOT = Path(__file__).resolve().parents[2]


def upstream_cli(upstream: Peer, *args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(upstream.python.parent / "openenv"), *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_upstreams_static_validation_passes_every_bundled_environment(openenv010, name):
    done = upstream_cli(openenv010, "validate", f"envs/{name}", "--level", "static", "--skip-build")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS  static.manifest" in done.stdout and "Verdict: PASS" in done.stdout


def test_upstreams_static_validation_passes_our_scaffold(openenv010, tmp_path):
    folder = scaffold("guess_env", tmp_path)
    done = upstream_cli(openenv010, "validate", str(folder), "--level", "static", "--skip-build")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Verdict: PASS" in done.stdout


def test_our_validate_passes_an_upstream_init_package(openenv010, tmp_path, capsys):
    done = upstream_cli(openenv010, "init", "up_env", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "up_env"
    assert (folder / "server" / "Dockerfile").is_file() and not (folder / "Dockerfile").exists()
    assert main(["validate", str(folder), "--json"]) == EXIT_OK
    criteria = {c["id"]: c["passed"] for c in json.loads(capsys.readouterr().out)["criteria"]}
    assert criteria["spaces"] and criteria["dockerfile"] and criteria["validation_block"]


def episode_frames(url: str, reset: dict, actions: list[dict]) -> list[tuple[str, str]]:
    """Raw ``/ws`` replies of a reset and some steps, as an upstream client receives them."""
    frames = []
    with connect(url.replace("http", "ws", 1) + "/ws") as socket:
        for operation, message in [("reset", {"type": "reset", "data": reset}),
                                   *(("step", {"type": "step", "data": action}) for action in actions)]:
            socket.send(json.dumps(message))
            frames.append((operation, socket.recv()))
    return frames


def schema_problems(upstream: Peer, schema: dict, frames: list[tuple[str, str]]) -> list[str]:
    """Upstream's runtime observation-schema grader on ``frames`` against ``schema``."""
    payload = {"schema_json": json.dumps(schema["observation"]),
               "reset_schema_json": json.dumps(schema.get("reset_observation", schema["observation"])),
               "observations": [{"index": i, "operation": operation, "response_json": frame}
                                for i, (operation, frame) in enumerate(frames)]}
    worker = next(upstream.python.parent.parent.glob(  # run as upstream does: a script, not the package
        "lib/python*/site-packages/openenv/validation/runtime/schema_worker.py"))
    done = subprocess.run([str(upstream.python), str(worker)],
                          input=json.dumps(payload), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


EPISODES = {
    "chess": ({"seed": 0}, [{"move": "e2e4"}, {"move": "not a move"}, {"move": "d2d4"}]),
    "echo": ({}, [{"message": "hello"}, {"message": "héllo wörld"}]),
    "coding": ({"task_index": 0}, [{"code": "def fizzbuzz(n): return str(n)"}, {"code": "1/0"}]),
    "finance": ({"seed": 0}, [{"actions": "HOLD"}, {"actions": "BUY AAPL 1"}]),
}


@pytest.mark.parametrize("name", sorted(EPISODES))
def test_observations_pass_upstreams_runtime_schema_check(openenv010, name):
    reset, actions = EPISODES[name]
    with serving(f"openenv_gym.envs.{name}.app:app") as server:
        schema = httpx.get(server.base_url + "/schema").json()
        frames = episode_frames(server.base_url, reset, actions)
    assert all(json.loads(frame)["type"] == "observation" for _, frame in frames), frames
    assert schema_problems(openenv010, schema, frames) == []


def test_the_check_does_catch_a_hidden_field(openenv010):
    """The grader is strict: a field hidden from the schema is reported (chess sent
    ``planes: null`` before it was left out)."""
    with serving("openenv_gym.envs.chess.app:app") as server:
        schema = httpx.get(server.base_url + "/schema").json()
        operation, frame = episode_frames(server.base_url, {}, [])[0]
    tampered = json.loads(frame)
    tampered["data"]["observation"]["planes"] = None
    assert schema_problems(openenv010, schema, [(operation, json.dumps(tampered))]) != []

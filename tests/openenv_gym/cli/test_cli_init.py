"""``openenv-gym init``: the scaffold installs, its own tests pass, and it becomes a Gym id."""

from __future__ import annotations

import subprocess

import pytest

import openenv_gym
from openenv_gym.cli import EXIT_USAGE
from tests.support.scaffolds import NAME

FILES = {"pyproject.toml", "README.md", "openenv.yaml", "Dockerfile", "__init__.py", "__main__.py",
         "models.py", "environment.py", "app.py", f"tests/test_{NAME}.py"}


def test_init_writes_a_complete_package(cli, tmp_path):
    code, out, _ = cli("init", NAME, "--output-dir", str(tmp_path))
    assert code == 0
    assert f"openenv/{NAME}-v0" in out
    folder = tmp_path / NAME
    written = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert written == FILES
    for name in written:
        text = (folder / name).read_text()
        assert not any(f"${{{key}}}" in text for key in ("name", "cls", "title", "dist")), name
    assert "class GuessEnvEnvironment(" in (folder / "environment.py").read_text()
    assert 'guess_env = "guess_env"' in (folder / "pyproject.toml").read_text()


@pytest.mark.parametrize(("name", "reason"), [("MyEnv", "not a valid name"), ("1env", "not a valid name"),
                                              ("class", "not a valid name"),
                                              ("json", "already an importable module")])
def test_init_refuses_bad_names(cli, tmp_path, name, reason):
    code, _, err = cli("init", name, "--output-dir", str(tmp_path))
    assert code == EXIT_USAGE
    assert reason in err
    assert not (tmp_path / name).exists()


def test_init_never_overwrites(cli, scaffolded):
    code, _, err = cli("init", NAME, "--output-dir", str(scaffolded.parent))
    assert code == EXIT_USAGE
    assert "already exists" in err


def test_the_scaffolds_own_tests_pass_once_installed(venv):
    python, folder = venv
    done = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=folder,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "5 passed" in done.stdout


def test_the_scaffolds_venv_imports_this_pythons_openenv_gym(venv):
    python, folder = venv  # not the base interpreter's: a newcomer runs the tests from a venv
    done = subprocess.run([str(python), "-c", "import openenv_gym; print(openenv_gym.__file__)"],
                          cwd=folder.parent, capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == openenv_gym.__file__


def test_an_installed_scaffold_is_a_gym_id_served_by_server_processes(venv):
    python, folder = venv
    script = (f"import gymnasium as gym, openenv_gym\n"
              f"env = gym.make('openenv/{NAME}-v0')\n"
              f"obs, info = env.reset(seed=3)\n"
              f"obs, reward, terminated, truncated, info = env.step({{'guess': 50}})\n"
              f"print(env.spec.max_episode_steps, obs['hint'], obs['guesses'], env.unwrapped._provider.app)\n"
              f"env.close()\n"
              f"envs = gym.make_vec('openenv/{NAME}-v0', num_envs=2)\n"
              f"envs.reset(seed=0)\n"
              f"print(envs.step([50, 50])[0]['guesses'].tolist())\n"
              f"envs.close()\n")
    done = subprocess.run([str(python), "-c", script], cwd=folder.parent, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    single, vector = done.stdout.splitlines()
    limit, hint, guesses, app = single.split()
    assert (limit, guesses, app) == ("20", "1", f"{NAME}.app:app")
    assert vector == "[1, 1]"
    assert hint in ("1", "2", "3")  # a Literal is a Discrete space: higher, lower, correct


def test_list_shows_an_installed_scaffold(venv):
    python, folder = venv
    done = subprocess.run([str(python), "-m", "openenv_gym.cli", "list"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith(f"openenv/{NAME}-v0"))
    assert line.split()[1:] == [NAME, "installed", NAME]

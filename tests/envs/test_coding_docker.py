"""The coding environment in its Docker container: what the container adds to the sandbox.

The container is the fence around the server (no route out of its network, a read-only file
system but for ``/tmp``, a process limit); inside it each session's worker runs in bubblewrap as
a user id of its own (``bwrap`` mode), so sessions sharing the container do not meet.
Sessions-in-one-container attacks: ``test_coding_docker_sessions.py``.
"""

from __future__ import annotations

import gymnasium as gym
import pytest

import openenv_gym  # noqa: F401  (registers the ids)
from tests.envs.test_coding_isolation import CHEAT

pytestmark = [pytest.mark.timeout(300), pytest.mark.needs_docker]

ESCAPES = {
    "network socket": ("import socket; socket.create_connection(('1.1.1.1', 53), timeout=2)",
                       "Network is unreachable"),
    "write /etc": ("open('/etc/cron.hourly-x', 'w').write('x')", "Read-only file system"),
    # the package is not in the sandbox's view at all (an empty folder covers it in site-packages)
    "write the app": ("import openenv_gym.envs.coding as c, pathlib; "
                      "pathlib.Path(c.__file__).write_text('pwned')", "No module named 'openenv_gym.envs'"),
    "fork bomb": ("import os\nwhile True: os.fork()", "BlockingIOError"),
}


@pytest.fixture(scope="module")
def env(docker_image):
    environment = gym.make("openenv/coding-v0", provider="docker", timeout_s=5, max_processes=32,
                           provider_options={"image": docker_image("coding"), "memory": "512m"})
    environment.reset()
    yield environment
    environment.close()


@pytest.mark.parametrize("escape", ESCAPES, ids=list(ESCAPES))
def test_an_escape_fails_cleanly_and_the_next_step_works(env, escape):
    code, error = ESCAPES[escape]
    observation, *_ = env.step(code)
    assert observation["exit_code"] != 0
    assert error in observation["stderr"]
    observation, *_ = env.step("print('still here')")
    assert (observation["exit_code"], observation["stdout"]) == (0, "still here\n")


def test_scratch_files_are_writable(env):
    observation, *_ = env.step("import pathlib; pathlib.Path('notes.txt').write_text('ok'); "
                               "print(pathlib.Path('notes.txt').read_text(), pathlib.Path.cwd())")
    assert observation["stdout"] == "ok /tmp\n"  # the sandbox's own /tmp


def test_the_tasks_expected_values_are_out_of_reach_in_the_image(env):
    """The image installs the package in ``site-packages``, below ``/usr``, which every sandbox
    reads: an empty folder covers it, so a cheat that answers from ``tasks.py`` finds nothing."""
    env.reset(options={"task": "fizzbuzz"})
    observation, reward, *_ = env.step(CHEAT)
    assert observation["stdout"] == "readable []\n" and reward < 1.0, observation

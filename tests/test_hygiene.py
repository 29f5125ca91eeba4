"""Resource hygiene: repeating a scenario leaves no more processes, threads, fds or temp files.

Each scenario runs once to warm up (imports, caches, pools that live for the process), then
three more times; what this process holds afterwards must be what it held after the warm-up.
A leak of one thing per run shows as three. Docker containers: tests/openenv_gym/test_docker_provider.py;
coding sandboxes: tests/envs/test_coding_sandbox.py.
"""

from __future__ import annotations

import glob
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import pytest

import openenv_gym  # noqa: F401  (registers the ids)
from openenv_gym import StepTimeoutError, SyncEnvClient, TransportError
from tests.support.processes import process_gone
from tests.support.proxy import proxy_to
from tests.support.servers import serving, settled_sessions


@dataclass(frozen=True)
class Holdings:
    children: frozenset[int]
    threads: int
    fds: int
    temp_files: frozenset[str]


def _children() -> frozenset[int]:
    me = str(os.getpid())
    found = set()
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited while we looked
        if fields[1] == me and fields[0] != "Z":
            found.add(int(stat.split("/")[2]))
    return frozenset(found)


def holdings() -> Holdings:
    return Holdings(children=_children(), threads=threading.active_count(),
                    fds=len(os.listdir("/proc/self/fd")),
                    temp_files=frozenset(glob.glob(os.path.join(tempfile.gettempdir(), "openenv-gym-*"))))


def settled_holdings(expected: Holdings, within: float = 15.0) -> Holdings:
    """What this process holds once it has let go (servers exit and threads end asynchronously)."""
    deadline = time.monotonic() + within
    while (now := holdings()) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return now


def gym_env_over_a_server() -> None:
    env = gym.make("openenv/echo-v0")
    env.reset(seed=0)
    env.step("hello")
    env.close()


def vector_env_whose_server_is_killed() -> None:
    envs = gym.make_vec("openenv/echo-v0", num_envs=4, num_servers=2, keep_going=True)
    envs.reset(seed=0)
    provider = envs.unwrapped._pool.providers[1]
    pid = provider.pid
    os.kill(pid, signal.SIGKILL)
    _, _, _, truncated, _ = envs.step(["a", "b", "c", "d"])
    assert truncated.tolist() == [False, False, True, True]
    assert process_gone(pid)
    envs.step(["e", "f", "g", "h"])  # the killed server's sub-envs come back on a new server
    envs.close()


def resumed_session(server_url: str) -> None:
    with proxy_to(server_url) as proxy, SyncEnvClient(proxy.url) as client:
        client.reset()
        proxy.cut()
        assert client.step({"message": "again"}).info == {"steps_run": 1}


def timed_out_step(server_url: str) -> None:
    with SyncEnvClient(server_url) as client:
        client.reset()
        with pytest.raises(StepTimeoutError):
            client.step({"message": "hang", "sleep": 1.5})
    # its session is closed once the abandoned step returns: the next run must not find the
    # 4-session server full of sessions still closing
    assert settled_sessions(server_url, 0) == 0


def dead_server_client() -> None:
    with serving("tests.support.apps:sleepy") as server, SyncEnvClient(server.start()) as client:
        client.reset()
        os.kill(server.pid, signal.SIGKILL)
        with pytest.raises(TransportError):
            client.step({"message": "anyone?"})


@pytest.fixture(scope="module")
def resilient_url():
    with serving("tests.support.apps:resilient") as provider:
        yield provider.start()


SCENARIOS: dict[str, Callable[[str], None]] = {
    "gym env over a server process": lambda _: gym_env_over_a_server(),
    "vector env, a server killed, keep_going": lambda _: vector_env_whose_server_is_killed(),
    "session resumed after a network drop": resumed_session,
    "server-side step timeout": timed_out_step,
    "client of a killed server": lambda _: dead_server_client(),
}


@pytest.fixture
def own_temp_dir(tmp_path, monkeypatch):
    """A temporary directory of this test's own (its servers inherit it through ``TMPDIR``), so
    that temporary files other programs on the machine make are not taken for our leaks."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_scenario_repeated_leaks_nothing(scenario, resilient_url, own_temp_dir):
    run = SCENARIOS[scenario]
    run(resilient_url)
    after_warm_up = settled_holdings(holdings(), within=0)
    after_warm_up = settled_holdings(after_warm_up)
    for _ in range(3):
        run(resilient_url)
    assert settled_holdings(after_warm_up) == after_warm_up

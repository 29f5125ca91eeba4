"""Providers start real servers and leave nothing behind."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from openenv_gym import FactoryError, InvalidRequestError, ProviderError
from openenv_gym.catalog import bundled
from openenv_gym.providers import InProcessProvider, ProcessProvider, make_provider
from tests.support.processes import process_gone


def test_process_provider_starts_serves_and_stops():
    provider = ProcessProvider(bundled("echo").app)
    url = provider.start()
    assert provider.start() == url  # idempotent while alive
    client = provider.connect()
    assert client.step({"message": "x"}).observation["echoed_message"] == "x"
    client.close()
    pid = provider.pid
    provider.stop()
    provider.stop()
    assert process_gone(pid)


def test_garbage_collection_stops_the_server():
    provider = ProcessProvider(bundled("echo").app)
    provider.start()
    pid = provider.pid
    del provider
    gc.collect()
    assert process_gone(pid)


def test_a_server_that_cannot_start_is_reported_with_its_log():
    with pytest.raises(ProviderError, match=r"exited \(code 1\)[\s\S]*No module named 'no_such_module'"):
        ProcessProvider("no_such_module:app").start()


def test_env_kwargs_reach_the_environment_constructor():
    with ProcessProvider(bundled("echo").app, env_kwargs={"bogus": 1}) as provider:
        client = provider.connect()
        with pytest.raises(FactoryError, match="unexpected keyword argument 'bogus'"):
            client.reset()
        client.close()


def test_server_exits_when_its_parent_dies():
    script = ("import os, openenv_gym.providers as p; s = p.ProcessProvider('openenv_gym.envs.echo.app:app');"
              "s.start(); print(s.pid, flush=True); os._exit(0)")
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    server_pid = int(child.stdout.split()[0])
    assert process_gone(server_pid, within=10)


def test_inprocess_provider_shares_the_servers_validation():
    client = InProcessProvider(bundled("echo")).connect()
    assert client.reset().observation["echoed_message"] == "Echo environment ready!"
    with pytest.raises(InvalidRequestError, match="message: Field required"):
        client.step({})
    assert client.step({"message": "ok"}).info == {"step": 1}
    client.close()


@pytest.mark.parametrize(("args", "error"), [
    (("echo", "dokcer"), "unknown provider 'dokcer'; choose one of process, inprocess, docker, swarm"),
    ((None, "process"), "pass base_url"),
    (("ecko", "process"), "Did you mean 'echo'"),
])
def test_make_provider_errors_say_what_to_do(args, error):
    with pytest.raises((ValueError, KeyError), match=error):
        make_provider(*args)

"""The Docker provider with a real engine: containers start locked down, serve, and never stay behind."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import textwrap

import gymnasium as gym
import httpx
import numpy as np
import pytest

import openenv_gym  # noqa: F401  (registers the ids)
from openenv_gym import ProviderError, TransportError
from openenv_gym.providers import DockerProvider, build_image, make_provider
from openenv_gym.providers.containers.engine import owner_label
from tests.support.docker import engine, exists

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def echo_image(docker_image) -> str:
    return docker_image("echo")


@pytest.mark.needs_docker
@pytest.mark.parametrize("internet", [False, True])
def test_a_container_serves_locked_down_and_is_removed_on_stop(echo_image, internet):
    provider = DockerProvider("echo", image=echo_image, internet=internet, memory="256m", pids_limit=64,
                              env_kwargs={})
    url = provider.start()
    assert provider.start() == url  # idempotent while alive
    client = provider.connect()
    assert client.step({"message": "in a box"}).observation["echoed_message"] == "in a box"
    client.close()
    container = engine().containers.get(provider.container_id)
    host = container.attrs["HostConfig"]
    assert (host["ReadonlyRootfs"], host["CapDrop"], host["SecurityOpt"]) == (True, ["ALL"], ["no-new-privileges"])
    assert (host["Memory"], host["PidsLimit"], host["NanoCpus"]) == (256 << 20, 64, 10**9)
    assert container.labels["openenv-gym.owner"] == owner_label()
    assert container.attrs["Config"]["User"] == "openenv"
    reach_out = container.exec_run(["python", "-c", "import socket; socket.create_connection(('1.1.1.1', 53), 3)"])
    if internet:
        assert container.ports["8000/tcp"][0]["HostIp"] == "127.0.0.1"  # loopback only
    else:
        assert reach_out.exit_code != 0  # no route out of the isolated network
    assert container.exec_run(["touch", "/etc/x"]).exit_code != 0  # read-only root
    assert container.exec_run(["touch", "/tmp/x"]).exit_code == 0  # writable tmpfs
    provider.stop()
    provider.stop()
    assert not exists(engine(), container.id)


@pytest.mark.needs_docker
@pytest.mark.parametrize("internet", [False, True])
def test_a_container_refuses_a_dns_rebinding_host(echo_image, internet):
    """A page on this host whose site's name resolves to the container's address (or to the
    loopback port it is published on) sends its own name as ``Host``: refused, 400."""
    provider = DockerProvider("echo", image=echo_image, internet=internet)
    try:
        url = provider.start()
        with httpx.Client(trust_env=False) as http:
            refused = http.get(url + "/schema", headers={"Host": "evil.example"})
            assert refused.status_code == 400 and "OPENENV_ALLOWED_HOSTS" in refused.json()["detail"]
            assert http.get(url + "/schema").status_code == 200  # the address the provider gave
    finally:
        provider.stop()


@pytest.mark.needs_docker
def test_two_containers_start_in_parallel(echo_image):
    providers = [DockerProvider("echo", image=echo_image) for _ in range(2)]

    async def start_both():
        return await asyncio.gather(*(p.astart() for p in providers))

    try:
        urls = asyncio.run(start_both())
        assert len(set(urls)) == 2
        for provider in providers:
            client = provider.connect()
            assert client.reset().observation["echoed_message"] == "Echo environment ready!"
            client.close()
    finally:
        for provider in providers:
            provider.stop()


@pytest.fixture(scope="module")
def broken_env(tmp_path_factory):
    """A project whose env's server exits at once, saying why."""
    root = tmp_path_factory.mktemp("project")
    (root / "pyproject.toml").write_text("[project]\nname = 'broken'\n")
    (root / "broken").mkdir()
    (root / "broken" / "Dockerfile").write_text(
        "ARG BASE_IMAGE=python:3.11-slim\nFROM ${BASE_IMAGE}\n"
        "CMD [\"python\", \"-c\", \"import sys; sys.exit('no app here: fix the CMD')\"]\n")
    return root / "broken"


@pytest.mark.needs_docker
def test_a_server_that_cannot_start_is_reported_with_its_log(broken_env):
    engine()
    tag = build_image(broken_env, "openenv-gym/broken-test:latest")
    with pytest.raises(ProviderError, match=r"exited before it was healthy[\s\S]*no app here: fix the CMD"):
        DockerProvider(broken_env, image=tag, startup_timeout=30).start()
    engine().images.remove(tag, force=True)


def test_build_errors_say_what_to_fix(tmp_path):
    with pytest.raises(ProviderError, match="Did you mean 'echo'"):
        build_image("ecko")
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\n")
    with pytest.raises(ProviderError, match="no pyproject.toml"):
        build_image(tmp_path)


@pytest.mark.needs_docker
def test_a_dockerfile_can_start_from_the_shared_base(tmp_path):
    """A Dockerfile declaring ``ARG OPENENV_GYM_BASE`` gets ``base.Dockerfile`` beside its folder
    built first and left untagged, as the bundled envs' images are built."""
    engine()
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'shared'\n")
    (tmp_path / "envs" / "one").mkdir(parents=True)
    (tmp_path / "envs" / "base.Dockerfile").write_text(
        "ARG BASE_IMAGE=python:3.11-slim\nFROM ${BASE_IMAGE}\nRUN echo from the base > /base.txt\n")
    (tmp_path / "envs" / "one" / "Dockerfile").write_text(
        "ARG OPENENV_GYM_BASE=openenv-gym/base\nFROM ${OPENENV_GYM_BASE}\nCMD [\"cat\", \"/base.txt\"]\n")
    tag = build_image(tmp_path / "envs" / "one", "openenv-gym/shared-base-test:latest")
    try:
        assert engine().containers.run(tag, remove=True) == b"from the base\n"
        assert engine().images.get(engine().images.get(tag).attrs["Parent"]).tags == []  # the base
    finally:
        engine().images.remove(tag, force=True)


@pytest.mark.parametrize(("options", "error"), [
    ({"memroy": "1g"}, r"unknown provider_options \['memroy'\] for provider='docker'; it takes: base_image"),
    ({"replicas": 2}, r"unknown provider_options \['replicas'\]"),
])
def test_unknown_provider_options_are_refused(options, error):
    with pytest.raises(ValueError, match=error):
        make_provider("echo", "docker", options=options)


CHILD = textwrap.dedent("""
    import os, signal, sys, time
    from openenv_gym.providers import DockerProvider
    provider = DockerProvider("echo", image=sys.argv[1])
    provider.start()
    print(provider.container_id, flush=True)
    if sys.argv[2] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if sys.argv[2] == "wait":
        time.sleep(60)
""")


def _child(image: str, how: str) -> tuple[subprocess.Popen[str], str]:
    child = subprocess.Popen([sys.executable, "-c", CHILD, image, how], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    return child, child.stdout.readline().strip()


@pytest.mark.needs_docker
@pytest.mark.parametrize("how", ["exit", "sigterm"])
def test_no_container_outlives_its_process(echo_image, how):
    child, container_id = _child(echo_image, "wait" if how == "sigterm" else how)
    assert container_id
    if how == "sigterm":
        child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=60) == (-signal.SIGTERM if how == "sigterm" else 0)
    assert not exists(engine(), container_id)


@pytest.mark.needs_docker
def test_a_killed_process_leaves_a_container_the_next_start_removes(echo_image):
    child, container_id = _child(echo_image, "kill")
    assert child.wait(timeout=60) == -signal.SIGKILL
    assert exists(engine(), container_id)  # nothing could run in the killed process
    with DockerProvider("echo", image=echo_image) as provider:
        provider.start()
        assert not exists(engine(), container_id)


@pytest.mark.needs_docker
def test_a_killed_container_is_a_clear_error_and_a_keep_going_vector_env_recovers(echo_image):
    env = gym.make("openenv/echo-v0", provider="docker", provider_options={"image": echo_image, "internet": True})
    env.reset()
    engine().containers.get(env.unwrapped._provider.container_id).kill()
    with pytest.raises(TransportError, match=r"ws://127.0.0.1:\d+/ws"):  # names the server
        env.step("anyone there?")
    env.close()
    # on the isolated network (below) a dead container is noticed once its address is found gone (~10 s)

    envs = gym.make_vec("openenv/echo-v0", num_envs=2, provider="docker", num_servers=2,
                        provider_options={"image": echo_image}, keep_going=True)
    try:
        envs.reset(seed=0)
        dead = envs.unwrapped._pool.providers[1]
        engine().containers.get(dead.container_id).kill()
        _, _, _, truncated, infos = envs.step(np.array(["a", "b"]))
        assert truncated.tolist() == [False, True]
        assert "TransportError" in infos["error"][1]
        obs, _ = envs.reset()  # reopens the lost session in a new container
        assert obs["echoed_message"][1] == "Echo environment ready!"
        assert envs.step(np.array(["a", "bb"]))[0]["echoed_message"][1] == "bb"
    finally:
        envs.close()
    assert not exists(engine(), dead.container_id or "gone")


@pytest.fixture(scope="module")
def one_session_image(docker_image, tmp_path_factory):
    """The echo image serving one session per server, like an env without concurrent sessions."""
    root = tmp_path_factory.mktemp("single")
    (root / "pyproject.toml").write_text("[project]\nname = 'single'\n")
    (root / "Dockerfile").write_text(
        f"ARG BASE_IMAGE\nFROM {docker_image('echo')}\n"
        "CMD [\"python\", \"-c\", \"from openenv_gym.server import create_app; "
        "from openenv_gym.server.serve import serve; from openenv_gym.envs.echo import *; "
        "serve(create_app(EchoEnvironment, EchoAction, EchoObservation, max_concurrent_envs=1), "
        "host='0.0.0.0', port=8000)\"]\n")
    tag = build_image(root, "openenv-gym/echo-single-test:latest")
    yield tag
    engine().images.remove(tag, force=True)


@pytest.mark.needs_docker
def test_make_vec_runs_a_container_per_session_when_a_server_takes_one(one_session_image):
    envs = gym.make_vec("openenv/echo-v0", num_envs=3, provider="docker",
                        provider_options={"image": one_session_image})
    try:
        containers = [p.container_id for p in envs.unwrapped._pool.providers]
        assert len(set(containers)) == 3
        envs.reset(seed=0)
        assert envs.step(np.array(["a", "bb", "ccc"]))[0]["echoed_message"] == ("a", "bb", "ccc")
    finally:
        envs.close()
    assert not any(exists(engine(), c) for c in containers)


@pytest.mark.parametrize(("setup", "error"), [
    ("os.environ['DOCKER_HOST'] = 'unix:///nonexistent.sock'", r"ProviderError: no Docker engine answers .*`\.ci/docker-engine\.sh`"),
    ("sys.modules['docker'] = None", r"ProviderError: the Docker providers need the docker SDK: pip install 'openenv-gym\[docker\]'"),
])
def test_without_an_engine_or_the_sdk_the_error_says_what_to_do(setup, error):
    script = (f"import os, sys; {setup}\nfrom openenv_gym.providers import DockerProvider\n"
              "DockerProvider('echo').start()")
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert child.returncode == 1
    assert re.search(error, child.stderr), child.stderr[-2000:]
